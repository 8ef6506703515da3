//! End to end over loopback: the programs as a user runs them.
//! Ports come from `:0`; every loop is bounded by a count and a deadline.

mod admin;
mod agents_hold;
mod flags;
mod grpc;
mod h2_abuse;
mod h2_raw;
mod harness;
mod holding_up;
mod lab_on_hosts;
mod orca;
mod resources;
mod subset;
mod tail;
mod tcp_bounds;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::{get, names, proxy, raw, tally, worker, Program};

const NAMES: [&str; 4] = ["w1", "w2", "w3", "w4"];

fn lab() -> (Vec<Program>, Vec<String>) {
    let workers: Vec<Program> = NAMES.iter().map(|n| worker(n, &[])).collect();
    let addrs = workers.iter().map(|w| w.addr.to_string()).collect();
    (workers, addrs)
}

#[test]
fn the_lab_round_robin_through_the_http_proxy_and_the_tcp_forwarder() {
    let (_workers, addrs) = lab();
    for program in ["hyper_proxy", "tcp_forwarder"] {
        let front = proxy(program, "round-robin", &addrs, &[]);
        let seen = names(front.addr, 8);
        assert_eq!(tally(&seen, &NAMES), [2, 2, 2, 2], "{program}: {seen:?}");
    }
}

#[test]
fn slow_start_and_outlier_detection_flags_leave_a_healthy_first_set_alone() {
    // The first set does not ramp (there is no one to spare it) and healthy
    // workers are no outliers: round robin stays exact with both on.
    let (_workers, addrs) = lab();
    for program in ["hyper_proxy", "tcp_forwarder"] {
        let flags = ["--slow-start-ms", "60000", "--outlier-detection", "on"];
        let front = proxy(program, "round-robin", &addrs, &flags);
        let seen = names(front.addr, 8);
        assert_eq!(tally(&seen, &NAMES), [2, 2, 2, 2], "{program}: {seen:?}");
    }
}

#[test]
fn weighted_round_robin_2_1_1_1_spreads_the_heavy_backend() {
    let (_workers, mut addrs) = lab();
    addrs[0].push_str(",weight=2");
    let front = proxy("hyper_proxy", "weighted-round-robin", &addrs, &[]);
    let seen = names(front.addr, 10);
    assert_eq!(tally(&seen, &["w1"]), [4], "{seen:?}");
    assert!(
        !seen.windows(3).any(|w| w.iter().all(|n| n == "w1")),
        "w1 three in a row: {seen:?}"
    );
}

/// 8 clients, 400 requests, one worker 200 ms slow: the share it gets.
fn slow_worker_share(strategy: &str) -> f64 {
    let slow = worker("slow", &["--delay-ms", "200"]);
    let fast: Vec<Program> = ["f1", "f2", "f3"].iter().map(|n| worker(n, &[])).collect();
    let mut addrs = vec![slow.addr.to_string()];
    addrs.extend(fast.iter().map(|w| w.addr.to_string()));
    let front = proxy("hyper_proxy", strategy, &addrs, &[]);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (addr, seen) = (front.addr, seen.clone());
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let reply = get(addr, "/").expect("GET");
                    assert_eq!(reply.status, 200);
                    seen.lock().unwrap().push(reply.name().to_owned());
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 400);
    tally(&seen, &["slow"])[0] as f64 / 400.0
}

#[test]
fn least_connections_starves_a_slow_worker_and_round_robin_does_not() {
    let fair = 0.25;
    let least = slow_worker_share("least-connections");
    let round = slow_worker_share("round-robin");
    assert!(
        least < 0.5 * fair,
        "least-connections gave the slow worker {least}"
    );
    assert!(
        (round - fair).abs() < 0.05,
        "round robin gave the slow worker {round}"
    );
}

#[test]
fn a_killed_worker_is_routed_around_and_comes_back_after_ejection() {
    let (mut workers, addrs) = lab();
    let front = proxy(
        "hyper_proxy",
        "round-robin",
        &addrs,
        &["--eject-ms", "300", "--failures", "2"],
    );
    assert_eq!(tally(&names(front.addr, 8), &NAMES), [2, 2, 2, 2]);

    let dead_addr: SocketAddr = workers[1].addr;
    workers[1].kill();
    // Every GET still succeeds: a refused connect is retried elsewhere.
    let seen = names(front.addr, 40);
    front.wait_for_log("connection refused", Duration::from_secs(5));
    let late = &seen[20..];
    assert_eq!(
        tally(late, &["w2"]),
        [0],
        "the dead worker answered? {seen:?}"
    );

    // Restarted on its port, it is picked again once its ejection ends: at
    // most the longest ejection (--eject-ms grows with repeats, capped at
    // ten times it: 3 s) plus a second of slack for the machine.
    let _revived = Program::start(
        "worker",
        &["--listen", &dead_addr.to_string(), "--name", "w2"],
    );
    let deadline = Instant::now() + Duration::from_millis(10 * 300 + 1000);
    loop {
        let seen = names(front.addr, 4);
        if seen.iter().any(|n| n == "w2") {
            break;
        }
        assert!(Instant::now() < deadline, "w2 never came back");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn no_backend_at_all_is_a_clear_502() {
    let front = proxy(
        "hyper_proxy",
        "least-connections",
        &["127.0.0.1:1".to_owned()],
        &[],
    );
    let reply = get(front.addr, "/").unwrap();
    assert_eq!(reply.status, 502, "{reply:?}");
    assert!(reply.body.contains("connection refused"), "{reply:?}");
}

/// Runs `program` with `args`, which must be refused as bad usage (exit
/// status 2, as clap does) with every one of `expected` on stderr.
fn refused(program: &str, args: &[&str], expected: &[&str]) {
    let output = std::process::Command::new(harness::program(program))
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{program} {args:?}: {stderr}"
    );
    for needle in expected {
        assert!(stderr.contains(needle), "{program} {args:?}: {stderr}");
    }
}

#[test]
fn bad_command_lines_exit_non_zero_with_a_clear_message() {
    for program in ["hyper_proxy", "tcp_forwarder"] {
        let base = ["--listen", "127.0.0.1:0", "--strategy", "round-robin"];
        let with = |extra: &[&'static str]| -> Vec<&'static str> {
            base.iter().chain(extra).copied().collect()
        };
        let cases: [(Vec<&str>, &[&str]); 8] = [
            (
                vec![
                    "--listen",
                    "127.0.0.1:0",
                    "--strategy",
                    "fastest",
                    "--backend",
                    "127.0.0.1:1",
                ],
                &["invalid value 'fastest' for '--strategy <NAME>': unknown strategy `fastest` (known: round-robin,"],
            ),
            (
                with(&["--backend", "localhost"]),
                &["invalid value 'localhost' for '--backend <SPEC>': bad backend `localhost`: `localhost` has no port"],
            ),
            (
                with(&[]),
                &["the following required arguments were not provided:\n  --backend <SPEC>"],
            ),
            (
                with(&["--backend", "127.0.0.1:1", "--outlier-detection", "maybe"]),
                &[
                    "invalid value 'maybe' for '--outlier-detection <MODE>'",
                    "[possible values: on, off]",
                ],
            ),
            (
                with(&["--backend", "127.0.0.1:1", "--slow-start-ms", "soon"]),
                &["invalid value 'soon' for '--slow-start-ms <MS>': invalid digit found in string"],
            ),
            (
                with(&["--backend", "127.0.0.1:1", "--hash-key", "12"]),
                &["invalid value '12' for '--hash-key <HEX>': bad hash key: expected 32 hex digits"],
            ),
            (
                with(&["--backend", "127.0.0.1:1", "--backend", "127.0.0.1:1"]),
                &["error: backend id `127.0.0.1:1` appears twice", "Usage: "],
            ),
            (
                with(&["--backend", "127.0.0.1:1", "--log-level", "info,[bad"]),
                &["invalid value 'info,[bad' for '--log-level <FILTER>'"],
            ),
        ];
        for (args, expected) in cases {
            refused(program, &args, expected);
        }
    }
    let listen = ["--listen", "127.0.0.1:0"];
    let worker_cases: [(&[&str], &[&str]); 4] = [
        (
            &[],
            &["the following required arguments were not provided:\n  --listen <HOST:PORT>"],
        ),
        (
            &["--capacity", "0"],
            &["invalid value '0' for '--capacity <N>': number would be zero for non-zero type"],
        ),
        (
            &["--delay-ms", "soon"],
            &["invalid value 'soon' for '--delay-ms <MS>': invalid digit found in string"],
        ),
        (
            &["--name", ""],
            &["the name \"\" must be non-empty and without control characters"],
        ),
    ];
    for (extra, expected) in worker_cases {
        let args: Vec<&str> = if extra.is_empty() {
            vec![]
        } else {
            listen.iter().chain(extra).copied().collect()
        };
        refused("worker", &args, expected);
    }
    refused(
        "simulate",
        &["--scenario", "zz"],
        &["invalid value 'zz' for '--scenario <NAME>': unknown scenario; known: identical,"],
    );
    refused(
        "simulate",
        &["--utilisation", "2"],
        &["invalid value '2' for '--utilisation <F>': must be between 0 and 1.5"],
    );
}

#[test]
fn every_program_answers_help_with_its_flags() {
    let programs: [(&str, &[&str]); 5] = [
        (
            "worker",
            &[
                "--listen <HOST:PORT>",
                "--agent <HOST:PORT>",
                "--admin <HOST:PORT>",
                "--capacity <N>",
                "--orca",
                "--grpc-status <CODE>",
                "--body-bytes <N>",
                "--log-level <FILTER>",
            ],
        ),
        (
            "hyper_proxy",
            &[
                "--strategy <NAME>",
                "--backend <SPEC>",
                "--timeout-ms <MS>",
                "--threads <N>",
                "--orca-blackout-ms <MS>",
                "--send-timeout-ms <MS>",
                "--try-timeout-floor-ms <MS>",
                "--adaptive-try-timeout <MODE>",
                "--retry-budget-percent <PERCENT>",
                "--retry-budget-floor <N>",
                "--hedge <MODE>",
                "least-connections",
                "orca-wrr",
            ],
        ),
        (
            "tcp_forwarder",
            &[
                "--strategy <NAME>",
                "--backend <SPEC>",
                "--max-connections <N>",
            ],
        ),
        (
            "simulate",
            &["--scenario <NAME>", "--svg <FILE>", "--seed <N>"],
        ),
        (
            "lab",
            &["--replay", "--chaos <", "--hosts <", "--strategy <"],
        ),
    ];
    for (program, flags) in programs {
        let output = std::process::Command::new(harness::program(program))
            .arg("--help")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{program} --help: {output:?}");
        assert!(
            stdout.contains(&format!("Usage: {program}")),
            "{program}: {stdout}"
        );
        for flag in flags {
            assert!(
                stdout.contains(flag),
                "{program} --help lacks {flag}: {stdout}"
            );
        }
    }
}

#[test]
fn malformed_and_stalled_requests_are_cut_off_without_holding_up_others() {
    let (_workers, addrs) = lab();
    let front = proxy(
        "hyper_proxy",
        "round-robin",
        &addrs,
        &["--header-timeout-ms", "500"],
    );
    let reply = raw(front.addr, b"NONSENSE\r\n\r\n").unwrap();
    assert!((400..500).contains(&reply.status), "{reply:?}");

    let started = Instant::now();
    let mut stalled = std::net::TcpStream::connect(front.addr).unwrap();
    std::io::Write::write_all(&mut stalled, b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    // Others are served while it stalls.
    assert_eq!(get(front.addr, "/").unwrap().status, 200);
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut rest = Vec::new();
    let _ = std::io::Read::read_to_end(&mut stalled, &mut rest);
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(5),
        "the stalled client was held {waited:?}"
    );
}

#[test]
fn source_ip_hash_keeps_each_client_on_one_worker_and_spreads_clients() {
    let (_workers, addrs) = lab();
    let key = "00112233445566778899aabbccddeeff";
    for program in ["hyper_proxy", "tcp_forwarder"] {
        let front = proxy(program, "source-ip-hash", &addrs, &["--hash-key", key]);
        let mut homes = std::collections::BTreeSet::new();
        for last in 2..=9u8 {
            let client = std::net::IpAddr::from([127, 0, 0, last]);
            let seen: Vec<String> = (0..10)
                .map(|_| {
                    harness::get_from(client, front.addr)
                        .expect("GET")
                        .name()
                        .to_owned()
                })
                .collect();
            assert!(
                seen.iter().all(|n| *n == seen[0]),
                "{program}: {client} moved: {seen:?}"
            );
            homes.insert(seen[0].clone());
        }
        assert!(homes.len() > 1, "{program}: every client on {homes:?}");
    }
}

/// Four workers with agents and admin listeners behind hyper_proxy, whose
/// `strategy` follows their agents (polled every 50 ms).
fn lab_with_agents(strategy: &str) -> (Vec<Program>, Program) {
    let workers: Vec<Program> = NAMES
        .iter()
        // A large capacity keeps one request in flight from moving the
        // reported percentage, so the weights (and the shares) stay equal.
        .map(|n| {
            let flags = [
                "--agent",
                "127.0.0.1:0",
                "--admin",
                "127.0.0.1:0",
                "--capacity",
                "1000",
            ];
            worker(n, &flags)
        })
        .collect();
    let addrs: Vec<String> = workers
        .iter()
        .map(|w| {
            let agent = w.agent.expect("agent address");
            format!("{},agent={agent},id={}", w.addr, w.name)
        })
        .collect();
    let front = proxy(
        "hyper_proxy",
        strategy,
        &addrs,
        &["--agent-interval-ms", "50"],
    );
    (workers, front)
}

#[test]
fn a_live_worker_drained_on_its_admin_listener_gets_no_new_requests_until_ready() {
    let (workers, front) = lab_with_agents("resource-based");
    assert_eq!(tally(&names(front.addr, 8), &NAMES), [2, 2, 2, 2]);

    let admin = workers[2].admin.expect("admin address");
    let reply = harness::post(admin, "/admin/drain").unwrap();
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, "drain\n"),
        "{reply:?}"
    );
    assert_eq!(harness::agent_reply(workers[2].agent.unwrap()), "drain\n");
    front.wait_for_log(
        "w3 up -> draining: agent said drain",
        Duration::from_secs(5),
    );
    let seen = names(front.addr, 30);
    assert_eq!(tally(&seen, &["w3"]), [0], "{seen:?}");

    let reply = harness::post(admin, "/admin/ready").unwrap();
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, "ready\n"),
        "{reply:?}"
    );
    front.wait_for_log("w3 draining -> up", Duration::from_secs(5));
    let seen = names(front.addr, 8);
    assert_eq!(tally(&seen, &NAMES), [2, 2, 2, 2], "{seen:?}");
}

#[test]
fn admin_paths_from_clients_are_ordinary_requests_and_drain_no_worker() {
    let (workers, front) = lab_with_agents("round-robin");
    // Through the proxy, in origin and absolute form: round robin over four
    // takes each form to every worker once, and each answers with its name.
    let attacks: [&[u8]; 2] = [
        b"POST /admin/drain HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        b"POST http://x/admin/drain HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    ];
    for attack in attacks {
        let answered: Vec<String> = (0..4)
            .map(|_| {
                let reply = raw(front.addr, attack).unwrap();
                assert_eq!(reply.status, 200, "{reply:?}");
                reply.name().to_owned()
            })
            .collect();
        assert_eq!(tally(&answered, &NAMES), [1, 1, 1, 1], "{answered:?}");
    }
    // Straight to each worker's public port too.
    for w in &workers {
        let reply = harness::post(w.addr, "/admin/drain").unwrap();
        assert_eq!(
            (reply.status, reply.name()),
            (200, w.name.as_str()),
            "{reply:?}"
        );
    }
    // Nobody drained: not the workers, not their agents, not the proxy,
    // after a dozen agent polls.
    std::thread::sleep(Duration::from_millis(600));
    for w in &workers {
        let status = get(w.admin.unwrap(), "/admin/status").unwrap();
        assert_eq!(
            (status.status, status.body.as_str()),
            (200, "ready\n"),
            "{}",
            w.name
        );
        assert_eq!(
            harness::agent_reply(w.agent.unwrap()),
            "up ready 100%\n",
            "{}",
            w.name
        );
    }
    let seen = names(front.addr, 8);
    assert_eq!(tally(&seen, &NAMES), [2, 2, 2, 2], "{seen:?}");
    let drained: Vec<String> = front
        .log
        .try_iter()
        .filter(|l| l.contains("drain"))
        .collect();
    assert!(drained.is_empty(), "{drained:?}");
}

#[test]
fn a_request_refused_by_a_dead_backend_is_sent_to_another_even_a_post() {
    let live = worker("live", &[]);
    let backends = ["127.0.0.1:1".to_owned(), live.addr.to_string()];
    let front = proxy("hyper_proxy", "round-robin", &backends, &[]);
    for _ in 0..4 {
        let reply = harness::post(front.addr, "/form").unwrap();
        assert_eq!((reply.status, reply.name()), (200, "live"), "{reply:?}");
    }
}

/// A backend that reads each request and hangs up without answering.
fn hang_up_backend(connections: usize) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(connections) {
            let mut stream = stream.unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut buf = [0u8; 4096];
            let _ = std::io::Read::read(&mut stream, &mut buf);
            // Dropping it closes the connection before any response byte.
        }
    });
    addr
}

#[test]
fn a_get_the_backend_dropped_unanswered_is_retried_but_a_post_is_not() {
    let live = worker("live", &[]);
    let backends = [hang_up_backend(8).to_string(), live.addr.to_string()];
    // Round robin starts on the hanging backend; --failures keeps it in.
    let front = proxy(
        "hyper_proxy",
        "round-robin",
        &backends,
        &["--failures", "0"],
    );
    let reply = get(front.addr, "/").unwrap();
    assert_eq!((reply.status, reply.name()), (200, "live"), "{reply:?}");
    // Next: live. Then the hanging one again, with a POST that has a body:
    // it reached the backend, so it is not sent twice.
    assert_eq!(get(front.addr, "/").unwrap().name(), "live");
    let post = raw(
        front.addr,
        b"POST /order HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
    )
    .unwrap();
    assert_eq!(post.status, 502, "{post:?}");
}

#[test]
fn a_chunked_post_gets_the_name_and_the_connection_carries_on() {
    let w = worker("w1", &[]);
    // Two requests on one connection: the chunked body is read to its end,
    // so the GET after it is understood.
    let text = harness::exchange(
        w.addr,
        b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
          5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n\
          GET /after HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(text.matches("HTTP/1.1 200 OK\r\n").count(), 2, "{text}");
    assert_eq!(text.matches("\r\n\r\nw1\n").count(), 2, "{text}");
    assert!(text.ends_with("\r\n\r\nw1\n"), "{text}");

    // And through the proxy, which streams the body on.
    let front = proxy("hyper_proxy", "round-robin", &[w.addr.to_string()], &[]);
    let reply = raw(
        front.addr,
        b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
          5\r\nhello\r\n0\r\n\r\n",
    )
    .unwrap();
    assert_eq!((reply.status, reply.name()), (200, "w1"), "{reply:?}");
}

#[test]
fn the_agent_reports_load_against_capacity() {
    let w = worker(
        "w1",
        &[
            "--agent",
            "127.0.0.1:0",
            "--capacity",
            "4",
            "--delay-ms",
            "1500",
        ],
    );
    let agent = w.agent.expect("agent address");
    assert_eq!(harness::agent_reply(agent), "up ready 100%\n");
    let addr = w.addr;
    let slow: Vec<_> = (0..2)
        .map(|_| std::thread::spawn(move || get(addr, "/").unwrap().name().to_owned()))
        .collect();
    // Two of four in flight, once both have arrived.
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut reply = harness::agent_reply(agent);
    while reply != "up ready 50%\n" && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        reply = harness::agent_reply(agent);
    }
    assert_eq!(reply, "up ready 50%\n");
    for answer in slow {
        assert_eq!(answer.join().unwrap(), "w1");
    }
    assert_eq!(harness::agent_reply(agent), "up ready 100%\n");
}

#[test]
fn max_connections_leaves_further_clients_waiting_until_one_closes() {
    let w = worker("w1", &["--max-connections", "1"]);
    let request = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n";
    // The first client is served and keeps its connection open.
    let mut first = std::net::TcpStream::connect(w.addr).unwrap();
    first
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    std::io::Write::write_all(&mut first, request).unwrap();
    let mut buf = [0u8; 1024];
    let n = std::io::Read::read(&mut first, &mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).ends_with("\r\n\r\nw1\n"));

    // The second connects (the kernel's backlog) but gets no answer...
    let mut second = std::net::TcpStream::connect(w.addr).unwrap();
    std::io::Write::write_all(&mut second, request).unwrap();
    second
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let waited = std::io::Read::read(&mut second, &mut buf);
    assert!(
        matches!(&waited, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut),
        "the second client was answered at once: {waited:?}"
    );
    // ...until the first closes.
    drop(first);
    second
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let n = std::io::Read::read(&mut second, &mut buf).unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).ends_with("\r\n\r\nw1\n"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
}

/// The pids of `parent`'s children, from /proc (every task's `children`).
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{parent}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|pid| pid.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// Whether `pid` still runs (a zombie does not).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat
            .rfind(')')
            .and_then(|close| stat[close + 1..].trim_start().chars().next());
        !matches!(state, Some('Z' | 'X'))
    })
}

#[test]
fn the_labs_programs_die_with_it_even_on_kill_9() {
    let mut lab = std::process::Command::new(harness::program("lab"))
        .args(["--hosts", "loopback"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the lab");
    // Four workers and the proxy.
    let deadline = Instant::now() + Duration::from_secs(30);
    let children = loop {
        let children = children_of(lab.id());
        if children.len() >= 5 {
            break children;
        }
        if Instant::now() > deadline {
            let _ = lab.kill();
            panic!("the lab started {} programs in 30 s, not 5", children.len());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    lab.kill().expect("kill -9 the lab");
    lab.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while children.iter().any(|&pid| running(pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<u32> = children.into_iter().filter(|&pid| running(pid)).collect();
    for &pid in &left {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    assert!(
        left.is_empty(),
        "still running 5 s after the lab was killed: {left:?}"
    );
}
