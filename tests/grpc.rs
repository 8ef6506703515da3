//! Feature `grpc` against real gRPC servers in process: tonic's
//! `tonic-health` Health service (`grpc.health.v1.Health`, code nobody
//! here wrote) on 127.0.0.1, called through tonic channels balanced by
//! pickwise, and checked by pickwise's gRPC health check.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use pickwise::grpc::{GrpcClassifier, GrpcHealthCheck, HeaderKey};
use pickwise::health::{CheckFailure, CheckResult};
use pickwise::health_check::{CheckConfig, HealthChecker};
use pickwise::strategy::{Maglev, RoundRobin};
use pickwise::tower::Balance;
use pickwise::{BackendId, BackendSpec, BackendState, Balancer, Context, Pool, Strategy};
use tokio::net::TcpListener;
use tonic::transport::Channel;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

/// A tonic Health server on 127.0.0.1 (the whole server SERVING), until
/// the test's runtime ends.
async fn health_server() -> (SocketAddr, HealthReporter) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (reporter, service) = tonic_health::server::health_reporter();
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tokio::spawn(tonic::transport::Server::builder().serve_with_incoming(service, incoming));
    (addr, reporter)
}

/// A gRPC server that answers every call `UNAVAILABLE` (a server
/// shedding load), through tonic's own status encoding.
#[derive(Clone)]
struct Unavailable;

impl tonic::server::NamedService for Unavailable {
    const NAME: &'static str = "grpc.health.v1.Health";
}

impl tower::Service<http::Request<tonic::body::Body>> for Unavailable {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: http::Request<tonic::body::Body>) -> Self::Future {
        std::future::ready(Ok(tonic::Status::unavailable("shedding load").into_http()))
    }
}

async fn unavailable_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tokio::spawn(tonic::transport::Server::builder().serve_with_incoming(Unavailable, incoming));
    addr
}

/// A port nothing listens on.
async fn dead_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
}

/// One lazily connected tonic channel per backend.
fn channels(backends: &[(&str, SocketAddr)]) -> Vec<BackendSpec<Channel>> {
    backends
        .iter()
        .map(|(id, addr)| {
            let channel = Channel::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect_timeout(Duration::from_secs(2))
                .connect_lazy();
            BackendSpec::new(*id, channel)
        })
        .collect()
}

fn status<S: Strategy, B>(pool: &Pool<S, B>, id: &str) -> pickwise::BackendStatus {
    pool.status(&BackendId::new(id)).unwrap()
}

fn check(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.to_owned(),
    }
}

#[tokio::test]
async fn calls_over_tonic_channels_leave_a_dead_server_and_an_application_status_counts_for_nothing(
) {
    let (one, _r1) = health_server().await;
    let (two, _r2) = health_server().await;
    let dead = dead_port().await;
    let pool = Arc::new(
        Pool::new(
            RoundRobin::new(),
            channels(&[("one", one), ("two", two), ("dead", dead)]),
        )
        .unwrap(),
    );
    let balance = Balance::new(Arc::clone(&pool)).classify(GrpcClassifier);
    let mut client = HealthClient::new(balance);
    let mut failed = 0;
    for _ in 0..30 {
        if client.check(check("")).await.is_err() {
            failed += 1;
        }
    }
    let dead_status = status(&pool, "dead");
    assert_eq!(dead_status.state, BackendState::Ejected, "{dead_status:?}");
    assert_eq!(failed, 5, "the dead server fails until ejected, no more");
    assert!(
        dead_status.reason.to_string().contains("refused"),
        "{}",
        dead_status.reason
    );
    for id in ["one", "two"] {
        let live = status(&pool, id);
        assert_eq!(
            (live.failures, live.successes >= 10),
            (0, true),
            "{id}: {live:?}"
        );
    }
    // A service the servers do not know: NOT_FOUND, the application's
    // answer. It reaches the caller and counts against no server.
    let before: u64 = ["one", "two"]
        .iter()
        .map(|id| status(&pool, id).successes)
        .sum();
    for _ in 0..10 {
        let refused = client.check(check("no.such.Service")).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::NotFound);
    }
    let after: u64 = ["one", "two"]
        .iter()
        .map(|id| status(&pool, id).successes)
        .sum();
    assert_eq!(after - before, 10);
    for id in ["one", "two"] {
        assert_eq!(status(&pool, id).failures, 0, "{id}");
        assert_eq!(status(&pool, id).in_flight, None);
    }
}

#[tokio::test]
async fn unavailable_from_a_live_server_counts_against_it_and_passive_health_ejects_it() {
    let (ok, _reporter) = health_server().await;
    let shedding = unavailable_server().await;
    let pool = Arc::new(
        Pool::new(
            RoundRobin::new(),
            channels(&[("ok", ok), ("shedding", shedding)]),
        )
        .unwrap(),
    );
    let mut client = HealthClient::new(Balance::new(Arc::clone(&pool)).classify(GrpcClassifier));
    let mut unavailable = 0;
    for _ in 0..20 {
        if let Err(status) = client.check(check("")).await {
            assert_eq!(status.code(), tonic::Code::Unavailable, "{status}");
            unavailable += 1;
        }
    }
    assert_eq!(unavailable, 5);
    let shed = status(&pool, "shedding");
    assert_eq!((shed.state, shed.failures), (BackendState::Ejected, 5));
    assert_eq!(status(&pool, "ok").failures, 0);
}

/// A response whose status comes in its trailers after a message, as a
/// streaming call's does, read the way a client reads it.
#[tokio::test]
async fn a_status_in_the_trailers_is_recorded_when_the_body_ends() {
    let pool = Arc::new(
        Pool::new(
            pickwise::strategy::LeastConnections::new(),
            vec![BackendSpec::new("a", ())],
        )
        .unwrap(),
    );
    let respond = |code: &'static str| {
        let mut trailers = http::HeaderMap::new();
        trailers.insert("grpc-status", http::HeaderValue::from_static(code));
        let frames = vec![
            Ok::<_, Infallible>(http_body::Frame::data(Bytes::from_static(b"\0\0\0\0\0"))),
            Ok(http_body::Frame::trailers(trailers)),
        ];
        http::Response::new(http_body_util::StreamBody::new(tokio_stream::iter(frames)))
    };
    for (code, failures, successes) in [("14", 1, 0), ("5", 1, 1), ("0", 1, 2)] {
        let ticket = pool
            .pick(&Context::new())
            .unwrap()
            .into_ticket(Instant::now());
        let response = <GrpcClassifier as pickwise::tower::Classify<_, std::io::Error>>::attach(
            &GrpcClassifier,
            respond(code),
            ticket,
        );
        assert_eq!(
            status(&pool, "a").in_flight,
            Some(1),
            "held while the body streams"
        );
        let body = response.into_body().collect().await.unwrap();
        assert!(body.trailers().is_some());
        let a = status(&pool, "a");
        assert_eq!(
            (a.failures, a.successes, a.in_flight),
            (failures, successes, Some(0)),
            "{code}"
        );
    }
}

type KeyedClient = HealthClient<Balance<Maglev, Channel, GrpcClassifier, HeaderKey>>;

fn successes(pool: &Pool<Maglev, Channel>) -> Vec<u64> {
    pool.backends().iter().map(|b| b.successes).collect()
}

/// Where each of 20 keys goes: its 3 calls, all on one server.
async fn homes(client: &mut KeyedClient, pool: &Pool<Maglev, Channel>) -> Vec<BackendId> {
    let mut homes = Vec::new();
    for user in 0..20 {
        let before = successes(pool);
        for _ in 0..3 {
            let mut request = tonic::Request::new(check(""));
            request
                .metadata_mut()
                .insert("x-user", user.to_string().parse().unwrap());
            client.check(request).await.unwrap();
        }
        let after = successes(pool);
        let was = |i: usize| before.get(i).copied().unwrap_or(0);
        let took: Vec<usize> = (0..after.len()).filter(|&i| after[i] != was(i)).collect();
        assert_eq!(took.len(), 1, "key {user} went to {took:?}");
        assert_eq!(after[took[0]] - was(took[0]), 3, "key {user}");
        homes.push(pool.backends()[took[0]].id.clone());
    }
    homes
}

#[tokio::test]
async fn a_header_key_keeps_each_key_on_one_server_and_most_keys_stay_when_a_server_joins() {
    let mut servers = Vec::new();
    for _ in 0..4 {
        servers.push(health_server().await);
    }
    let ids = ["s0", "s1", "s2", "s3"];
    let specs = |n: usize| -> Vec<(&str, SocketAddr)> {
        ids[..n]
            .iter()
            .copied()
            .zip(servers.iter().map(|s| s.0))
            .collect()
    };
    let pool = Arc::new(Pool::new(Maglev::new(), channels(&specs(3))).unwrap());
    let balance = Balance::new(Arc::clone(&pool))
        .classify(GrpcClassifier)
        .make_context(HeaderKey::new("x-user").unwrap());
    let mut client = HealthClient::new(balance);
    let first = homes(&mut client, &pool).await;
    pool.update(channels(&specs(4))).unwrap();
    let second = homes(&mut client, &pool).await;
    let moved = first.iter().zip(&second).filter(|(a, b)| a != b).count();
    // A fourth server should take about a quarter of the keys.
    assert!(
        moved <= 10,
        "{moved} of 20 keys moved: {first:?} -> {second:?}"
    );
    assert!(
        second.iter().any(|home| home.as_str() == "s3"),
        "{second:?}"
    );
    // Without the header, calls spread (A76's random hash).
    let before = successes(&pool);
    for _ in 0..40 {
        client.check(check("")).await.unwrap();
    }
    let after = successes(&pool);
    let used = (0..4).filter(|&i| after[i] > before[i]).count();
    assert!(used >= 3, "{before:?} -> {after:?}");
}

/// Fast checks: 50 ms apart, a verdict after one check.
fn fast() -> CheckConfig {
    CheckConfig {
        interval: Duration::from_millis(50),
        jitter: 0.0,
        timeout: Duration::from_secs(1),
        rise: 1,
        fall: 1,
        ..CheckConfig::default()
    }
}

async fn within_5s(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "not within 5 s: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn the_grpc_health_check_follows_a_tonic_servers_serving_status_with_its_words() {
    let (serving, reporter) = health_server().await;
    // An HTTP/1.1 server: the check must say it is not HTTP/2.
    let http1 = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http1_addr = http1.local_addr().unwrap();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut conn, _)) = http1.accept().await {
            let _ = conn
                .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    let pool = Arc::new(
        Pool::new(
            RoundRobin::new(),
            vec![
                BackendSpec::new("grpc", serving),
                BackendSpec::new("http1", http1_addr),
                BackendSpec::new("dead", dead_port().await),
            ],
        )
        .unwrap(),
    );
    let checker = HealthChecker::new(fast(), GrpcHealthCheck::new())
        .unwrap()
        .spawn_tokio(Arc::clone(&pool), |spec| Some(spec.value))
        .unwrap();
    let reason = |id: &str| status(&pool, id).reason.to_string();
    within_5s("all checked", || {
        ["grpc", "http1", "dead"]
            .iter()
            .all(|id| status(&pool, id).last_check.is_some())
    })
    .await;
    assert_eq!(
        status(&pool, "grpc").last_check.map(|c| c.0),
        Some(CheckResult::Passed)
    );
    assert_eq!(
        status(&pool, "dead").last_check.map(|c| c.0),
        Some(CheckResult::Failed(CheckFailure::Refused))
    );
    assert!(
        reason("http1").contains("HTTP/2 failed (is it an h2c server?)"),
        "{}",
        reason("http1")
    );
    reporter
        .set_service_status("", ServingStatus::NotServing)
        .await;
    within_5s("grpc out", || {
        status(&pool, "grpc").state == BackendState::Unhealthy
    })
    .await;
    assert_eq!(
        reason("grpc"),
        "health check failed: bad reply: NOT_SERVING"
    );
    reporter
        .set_service_status("", ServingStatus::Serving)
        .await;
    within_5s("grpc back", || {
        status(&pool, "grpc").state == BackendState::Up
    })
    .await;
    checker.stop().await;

    // One service by name: unknown to the server, it is NOT_FOUND.
    let named = HealthChecker::new(fast(), GrpcHealthCheck::service("helloworld.Greeter"))
        .unwrap()
        .spawn_tokio(Arc::clone(&pool), |spec| Some(spec.value))
        .unwrap();
    within_5s("grpc out for its unknown service", || {
        status(&pool, "grpc").state == BackendState::Unhealthy
    })
    .await;
    assert!(
        reason("grpc").starts_with("health check failed: bad reply: NOT_FOUND"),
        "{}",
        reason("grpc")
    );
    reporter
        .set_service_status("helloworld.Greeter", ServingStatus::Serving)
        .await;
    within_5s("grpc back for its service", || {
        status(&pool, "grpc").state == BackendState::Up
    })
    .await;
    named.stop().await;
}
