//! gRPC and HTTP/2 through hyper_proxy, with clients nobody here wrote:
//! Python's grpcio (Debian's `python3-grpcio`) and tonic. A gRPC client
//! keeps one HTTP/2 connection; the proxy balances each call of it on its
//! own, forwards it over HTTP/2 (h2c) with its trailers, and judges its
//! gRPC status.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::harness::{proxy, worker, Program};

const PYTHON: &str = "/usr/bin/python3";

/// Debian's Python with grpcio, or a clear failure saying what to install.
fn grpcio() -> Command {
    let probe = Command::new(PYTHON).args(["-c", "import grpc"]).output();
    match probe {
        Ok(out) if out.status.success() => {}
        other => panic!(
            "these tests need Python's grpcio as a client nobody here wrote: \
             apt-get install python3-grpcio (.ci/run installs it); {PYTHON} -c 'import grpc' \
             gave {other:?}"
        ),
    }
    let mut command = Command::new(PYTHON);
    command.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/e2e/grpc_client.py"
    ));
    command
}

/// Runs the Python client for `count` calls to `addr`; one line per call.
fn python_calls(addr: SocketAddr, count: usize) -> Vec<String> {
    let out = grpcio()
        .args([addr.to_string(), count.to_string()])
        .output()
        .expect("run the grpcio client");
    assert!(out.status.success(), "grpcio client: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn four_workers(extra: &[&str]) -> (Vec<Program>, Vec<String>) {
    let workers: Vec<Program> = ["w1", "w2", "w3", "w4"]
        .iter()
        .map(|name| worker(name, extra))
        .collect();
    let addrs = workers.iter().map(|w| w.addr.to_string()).collect();
    (workers, addrs)
}

fn tally(lines: &[String], names: &[&str]) -> Vec<usize> {
    names
        .iter()
        .map(|name| lines.iter().filter(|l| **l == format!("ok {name}")).count())
        .collect()
}

#[test]
fn grpcio_spreads_400_calls_of_one_channel_evenly_over_four_workers() {
    let (_workers, addrs) = four_workers(&[]);
    for strategy in ["round-robin", "least-connections"] {
        let front = proxy("hyper_proxy", strategy, &addrs, &[]);
        let lines = python_calls(front.addr, 400);
        let failed: Vec<&String> = lines.iter().filter(|l| !l.starts_with("ok ")).collect();
        assert!(failed.is_empty(), "{strategy}: failed calls {failed:?}");
        let counts = tally(&lines, &["w1", "w2", "w3", "w4"]);
        eprintln!("{strategy}: 400 grpcio calls over one channel: {counts:?}");
        assert_eq!(counts.iter().sum::<usize>(), 400, "{lines:?}");
        for count in &counts {
            // Within 5% of even: 100 +- 5.
            assert!(count.abs_diff(100) <= 5, "{strategy}: {counts:?}");
        }
    }
}

#[test]
fn a_worker_killed_mid_run_fails_no_grpcio_call() {
    let (mut workers, addrs) = four_workers(&[]);
    let front = proxy("hyper_proxy", "round-robin", &addrs, &[]);
    let mut client: Child = grpcio()
        .args([front.addr.to_string(), "400".into(), "100".into()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run the grpcio client");
    let mut lines = BufReader::new(client.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.expect("a line from the client");
        if line == "paused" {
            break;
        }
        seen.push(line);
    }
    assert_eq!(seen.len(), 100, "{seen:?}");
    // w3 dies between two calls of the client's one connection; the
    // proxy's connection to it goes with it.
    workers[2].kill();
    std::thread::sleep(Duration::from_millis(100));
    writeln!(client.stdin.take().unwrap()).expect("resume the client");
    seen.extend(lines.map(|line| line.expect("a line from the client")));
    assert!(client.wait().expect("the client ends").success());
    let failed: Vec<&String> = seen.iter().filter(|l| !l.starts_with("ok ")).collect();
    assert!(failed.is_empty(), "failed calls: {failed:?}");
    assert_eq!(seen.len(), 400);
    let after = tally(&seen[100..], &["w1", "w2", "w3", "w4"]);
    eprintln!("after w3 was killed: {after:?} of 300 calls");
    assert_eq!(after[2], 0, "{after:?}");
    front.wait_for_log("ejected", Duration::from_secs(5));
}

#[test]
fn unavailable_ejects_a_worker_and_an_application_status_counts_for_nothing() {
    let shedding = worker("shedding", &["--grpc-status", "14"]);
    let missing = worker("missing", &["--grpc-status", "5"]);
    let fine = worker("fine", &[]);
    let addrs = [&shedding, &missing, &fine].map(|w| w.addr.to_string());
    let front = proxy("hyper_proxy", "round-robin", &addrs, &[]);
    let lines = python_calls(front.addr, 60);
    let unavailable = lines
        .iter()
        .filter(|l| l.starts_with("err UNAVAILABLE"))
        .count();
    let not_found = lines
        .iter()
        .filter(|l| l.starts_with("err NOT_FOUND"))
        .count();
    // UNAVAILABLE is the backend's failure: 5 in a row eject it. NOT_FOUND
    // is the application's answer: its worker keeps its third.
    assert_eq!(unavailable, 5, "{lines:?}");
    assert!(not_found >= 25, "{lines:?}");
    let ejected = front.wait_for_log("ejected", Duration::from_secs(5));
    assert!(ejected.contains(&shedding.addr.to_string()), "{ejected}");
    assert!(ejected.contains("gateway"), "{ejected}");
}

/// `pickwise.lab.Worker/Name`'s reply, for tonic's prost codec.
#[derive(Clone, PartialEq, prost::Message)]
struct NameReply {
    #[prost(string, tag = "1")]
    name: String,
}

/// An empty request message.
#[derive(Clone, PartialEq, prost::Message)]
struct Empty {}

/// `grpc.health.v1.HealthCheckRequest` and its response.
#[derive(Clone, PartialEq, prost::Message)]
struct HealthCheckRequest {
    #[prost(string, tag = "1")]
    service: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct HealthCheckResponse {
    #[prost(int32, tag = "1")]
    status: i32,
}

#[test]
fn tonic_calls_over_one_channel_are_balanced_and_health_checks_pass() {
    let (_workers, addrs) = four_workers(&[]);
    let front = proxy("hyper_proxy", "round-robin", &addrs, &[]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let channel = tonic::transport::Channel::from_shared(format!("http://{}", front.addr))
            .unwrap()
            .connect()
            .await
            .expect("connect to the proxy");
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        let mut counts = std::collections::BTreeMap::new();
        for _ in 0..40 {
            grpc.ready().await.unwrap();
            let reply: tonic::Response<NameReply> = grpc
                .unary(
                    tonic::Request::new(Empty {}),
                    hyper::http::uri::PathAndQuery::from_static("/pickwise.lab.Worker/Name"),
                    tonic::codec::ProstCodec::default(),
                )
                .await
                .expect("a Name call through the proxy");
            *counts.entry(reply.into_inner().name).or_insert(0) += 1;
        }
        let even: Vec<usize> = counts.values().copied().collect();
        assert_eq!(even, [10, 10, 10, 10], "{counts:?}");
        for (service, want) in [
            ("", Ok(1)),
            ("pickwise.lab.Worker", Ok(1)),
            ("nope", Err(tonic::Code::NotFound)),
        ] {
            grpc.ready().await.unwrap();
            let answer: Result<tonic::Response<HealthCheckResponse>, tonic::Status> = grpc
                .unary(
                    tonic::Request::new(HealthCheckRequest {
                        service: service.into(),
                    }),
                    hyper::http::uri::PathAndQuery::from_static("/grpc.health.v1.Health/Check"),
                    tonic::codec::ProstCodec::default(),
                )
                .await;
            let got = answer.map(|r| r.into_inner().status).map_err(|s| s.code());
            assert_eq!(got, want, "health of {service:?}");
        }
    });
}
