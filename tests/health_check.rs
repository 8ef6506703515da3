//! Active health checks on real sockets (127.0.0.1, ports chosen at run
//! time), driven by the checker on a thread of its own: each check's
//! failure reaches the pool with its true cause after `fall` checks, a
//! backend comes back after `rise` passes, agent replies are applied, and
//! the checker follows the pool's membership and stops at once. The same
//! driver as a task of the caller's runtime, and a check a program writes,
//! in `on_the_callers_runtime`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use pickwise::agent::Capacity;
use pickwise::health::HealthConfig;
use pickwise::health::{CheckFailure, CheckResult};
use pickwise::health_check::{
    AgentPoll, Check, CheckConfig, CheckEvent, CheckKind, CheckerHandle, HealthChecker, HttpCheck,
    Verdict,
};
use pickwise::strategy::{RoundRobin, WEIGHT_UNIT};
use pickwise::{
    BackendId, BackendSpec, BackendState, Balancer, ConfigError, Context, FailureKind, Outcome,
    Pool,
};

type Events = Arc<Mutex<Vec<CheckEvent>>>;

/// Fast checks: 50 ms apart, no jitter, HAProxy's rise 2 fall 3.
fn fast() -> CheckConfig {
    CheckConfig {
        interval: Duration::from_millis(50),
        jitter: 0.0,
        timeout: Duration::from_secs(1),
        rise: 2,
        fall: 3,
        ..CheckConfig::default()
    }
}

/// A pool of `(id, addr)` backends.
fn pool_of(backends: &[(&str, SocketAddr)]) -> Arc<Pool<RoundRobin, SocketAddr>> {
    let specs = backends
        .iter()
        .map(|(id, addr)| BackendSpec::new(*id, *addr));
    Arc::new(Pool::new(RoundRobin::new(), specs).unwrap())
}

/// Starts a checker on `pool` that records its events.
fn start(
    pool: &Arc<Pool<RoundRobin, SocketAddr>>,
    config: CheckConfig,
    probe: impl Check,
) -> (CheckerHandle, Events) {
    let events: Events = Arc::default();
    let sink = Arc::clone(&events);
    let handle = HealthChecker::new(config, probe)
        .unwrap()
        .on_event(move |event| sink.lock().unwrap().push(event.clone()))
        .spawn(Arc::clone(pool), |spec| Some(spec.value))
        .unwrap();
    (handle, events)
}

/// A port nothing listens on: bound, then let go.
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Polls `done` every 10 ms for at most 5 s.
fn within_5s(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "not within 5 s: {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

fn state(pool: &Pool<RoundRobin, SocketAddr>, id: &str) -> BackendState {
    pool.status(&BackendId::new(id)).unwrap().state
}

fn reason(pool: &Pool<RoundRobin, SocketAddr>, id: &str) -> String {
    pool.status(&BackendId::new(id)).unwrap().reason.to_string()
}

fn last_check(pool: &Pool<RoundRobin, SocketAddr>, id: &str) -> Option<CheckResult> {
    pool.status(&BackendId::new(id))
        .unwrap()
        .last_check
        .map(|(result, _)| result)
}

fn events_of(events: &Events, id: &str) -> Vec<CheckEvent> {
    let events = events.lock().unwrap();
    events
        .iter()
        .filter(|e| e.id.as_str() == id)
        .cloned()
        .collect()
}

/// A server on its own thread that answers each of its first 1000
/// connections with `reply` (after reading the request head) and closes.
fn http_server(reply: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for stream in listener.incoming().take(1000) {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    addr
}

/// A server that accepts its first 100 connections and never answers.
fn silent_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let held: Vec<TcpStream> = listener.incoming().take(100).flatten().collect();
        drop(held);
    });
    addr
}

/// An agent that answers each of its first 1000 connections with the
/// current line and closes.
fn agent(line: &Arc<Mutex<String>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let line = Arc::clone(line);
    thread::spawn(move || {
        for stream in listener.incoming().take(1000) {
            let Ok(mut stream) = stream else { continue };
            let reply = format!("{}\n", line.lock().unwrap());
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    addr
}

#[test]
fn a_backend_that_accepts_passes_and_stays_up() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let pool = pool_of(&[("live", listener.local_addr().unwrap())]);
    let (checker, events) = start(&pool, fast(), CheckKind::Tcp);
    within_5s("three checks", || events_of(&events, "live").len() >= 3);
    checker.stop();
    assert_eq!(state(&pool, "live"), BackendState::Up);
    assert_eq!(last_check(&pool, "live"), Some(CheckResult::Passed));
    assert!(events_of(&events, "live")
        .iter()
        .all(|e| e.verdict == Verdict::Healthy && e.applied()));
}

#[test]
fn a_closed_port_is_refused_after_fall_checks_then_up_after_rise_passes_once_it_listens() {
    let addr = free_port();
    let pool = pool_of(&[("b", addr)]);
    let (checker, events) = start(&pool, fast(), CheckKind::Tcp);
    within_5s("b unhealthy", || {
        state(&pool, "b") == BackendState::Unhealthy
    });
    assert_eq!(
        reason(&pool, "b"),
        "health check failed: connection refused"
    );
    assert_eq!(
        last_check(&pool, "b"),
        Some(CheckResult::Failed(CheckFailure::Refused))
    );
    let seen = events_of(&events, "b");
    let verdicts: Vec<Verdict> = seen.iter().take(3).map(|e| e.verdict).collect();
    assert_eq!(
        verdicts,
        [
            Verdict::Failing { count: 1, fall: 3 },
            Verdict::Failing { count: 2, fall: 3 },
            Verdict::WentDown { fall: 3 },
        ]
    );
    assert_eq!(
        seen[0].to_string(),
        format!("backend b ({addr}): health check failed: connection refused (1 of 3)")
    );

    // Listening again on the same port: back after two passes.
    let listener = TcpListener::bind(addr).unwrap();
    within_5s("b up", || state(&pool, "b") == BackendState::Up);
    checker.stop();
    assert_eq!(reason(&pool, "b"), "health check passed");
    let seen = events_of(&events, "b");
    let came_up = seen
        .iter()
        .position(|e| e.verdict == Verdict::CameUp { rise: 2 })
        .expect("a CameUp event");
    assert_eq!(
        seen[came_up - 1].verdict,
        Verdict::Rising { count: 1, rise: 2 }
    );
    assert!(!seen[came_up - 1].applied());
    drop(listener);
}

#[test]
fn an_http_503_fails_the_check_with_its_status() {
    let addr = http_server("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
    let pool = pool_of(&[("web", addr)]);
    let probe = CheckKind::http("/health");
    let (checker, _) = start(&pool, fast(), probe);
    within_5s("web unhealthy", || {
        state(&pool, "web") == BackendState::Unhealthy
    });
    checker.stop();
    assert_eq!(
        last_check(&pool, "web"),
        Some(CheckResult::Failed(CheckFailure::BadStatus(503)))
    );
    assert_eq!(reason(&pool, "web"), "health check failed: status 503");
}

#[test]
fn an_http_200_without_the_expected_body_text_is_a_bad_reply_and_with_it_passes() {
    let starting = http_server("HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nstarting");
    let ready = http_server("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nready");
    let pool = pool_of(&[("starting", starting), ("ready", ready)]);
    let probe: CheckKind = HttpCheck::new("/health").expect_body("ready").into();
    let (checker, _) = start(&pool, fast(), probe);
    within_5s("starting unhealthy", || {
        state(&pool, "starting") == BackendState::Unhealthy
    });
    checker.stop();
    assert_eq!(
        last_check(&pool, "starting"),
        Some(CheckResult::Failed(CheckFailure::BadReply(
            "body lacks `ready`".into()
        )))
    );
    assert_eq!(state(&pool, "ready"), BackendState::Up);
    assert_eq!(last_check(&pool, "ready"), Some(CheckResult::Passed));
}

#[test]
fn a_server_that_accepts_and_never_answers_times_out() {
    let addr = silent_server();
    let pool = pool_of(&[("mute", addr)]);
    let config = CheckConfig {
        timeout: Duration::from_millis(200),
        fall: 2,
        ..fast()
    };
    let (checker, _) = start(&pool, config, CheckKind::http("/"));
    within_5s("mute unhealthy", || {
        state(&pool, "mute") == BackendState::Unhealthy
    });
    checker.stop();
    assert_eq!(
        last_check(&pool, "mute"),
        Some(CheckResult::Failed(CheckFailure::TimedOut))
    );
    assert_eq!(reason(&pool, "mute"), "health check failed: timed out");
}

#[test]
fn agent_replies_drain_then_up_50_percent_are_applied_to_the_backend() {
    let line = Arc::new(Mutex::new("drain".to_owned()));
    let agent_addr = agent(&line);
    let backend = TcpListener::bind("127.0.0.1:0").unwrap();
    let spec = BackendSpec::new("a", backend.local_addr().unwrap())
        .weight(4)
        .agent(agent_addr);
    let pool = Arc::new(Pool::new(RoundRobin::new(), vec![spec]).unwrap());
    let (checker, events) = start(&pool, fast(), CheckKind::Agent);
    within_5s("a draining", || state(&pool, "a") == BackendState::Draining);
    assert_eq!(reason(&pool, "a"), "agent said drain");
    *line.lock().unwrap() = "up 50%".to_owned();
    within_5s("a up at half weight", || {
        let status = pool.status(&BackendId::new("a")).unwrap();
        status.state == BackendState::Up && status.effective_weight == 2 * WEIGHT_UNIT
    });
    checker.stop();
    assert!(events_of(&events, "a")
        .iter()
        .all(|e| e.addr == agent_addr && e.result.passed()));
}

#[test]
fn an_agent_reply_that_does_not_parse_or_an_agent_that_refuses_fails_the_check() {
    let line = Arc::new(Mutex::new("sideways".to_owned()));
    let babbling = agent(&line);
    let backend = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = backend.local_addr().unwrap();
    let pool = Arc::new(
        Pool::new(
            RoundRobin::new(),
            vec![
                BackendSpec::new("babbling", addr).agent(babbling),
                BackendSpec::new("silent", addr).agent(free_port()),
            ],
        )
        .unwrap(),
    );
    let (checker, _) = start(&pool, fast(), CheckKind::Agent);
    within_5s("both unhealthy", || {
        state(&pool, "babbling") == BackendState::Unhealthy
            && state(&pool, "silent") == BackendState::Unhealthy
    });
    checker.stop();
    assert_eq!(
        reason(&pool, "babbling"),
        "health check failed: bad reply: unknown agent word `sideways`"
    );
    assert_eq!(
        reason(&pool, "silent"),
        "health check failed: connection refused"
    );
}

#[test]
fn an_agent_poll_applies_replies_but_an_agent_that_fails_never_takes_its_backend_out() {
    let good_line = Arc::new(Mutex::new("up 50%".to_owned()));
    let good = agent(&good_line);
    let babbling = agent(&Arc::new(Mutex::new("sideways".to_owned())));
    let backend = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = backend.local_addr().unwrap();
    let pool = Arc::new(
        Pool::new(
            RoundRobin::new(),
            vec![
                BackendSpec::new("good", addr).weight(4).agent(good),
                BackendSpec::new("babbling", addr).agent(babbling),
                BackendSpec::new("silent", addr).agent(free_port()),
                BackendSpec::new("no-agent", addr),
            ],
        )
        .unwrap(),
    );
    let (poller, events) = start(&pool, fast(), AgentPoll);
    // More polls than `fall` (3) of each failing agent.
    within_5s("five polls of each agent", || {
        ["good", "babbling", "silent"]
            .iter()
            .all(|id| events_of(&events, id).len() >= 5)
    });
    poller.stop();
    for id in ["good", "babbling", "silent", "no-agent"] {
        assert_eq!(state(&pool, id), BackendState::Up, "{id}");
        assert_eq!(last_check(&pool, id), None, "{id}: no health verdict");
    }
    let good_status = pool.status(&BackendId::new("good")).unwrap();
    assert_eq!(good_status.effective_weight, 2 * WEIGHT_UNIT);
    let last = events_of(&events, "good").pop().unwrap();
    assert_eq!(last.verdict, Verdict::NotJudged);
    assert_eq!(
        last.report.map(|r| r.capacity),
        Some(Some(Capacity::Percent(50)))
    );
    let babbled = events_of(&events, "babbling").pop().unwrap();
    assert_eq!(
        babbled.to_string(),
        format!(
            "backend babbling (agent {babbling}): agent poll failed: bad reply: unknown agent word `sideways`"
        )
    );
    let silent = events_of(&events, "silent").pop().unwrap();
    assert_eq!(
        silent.result,
        CheckResult::Failed(CheckFailure::Refused),
        "{silent}"
    );
    assert!(events_of(&events, "no-agent").is_empty());
}

#[test]
fn a_reply_cut_short_is_incomplete_and_no_reply_at_all_timed_out() {
    // Sends the start of a status line, then holds the connection.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let trickling = listener.local_addr().unwrap();
    thread::spawn(move || {
        let held: Vec<TcpStream> = listener
            .incoming()
            .take(100)
            .flatten()
            .map(|mut stream| {
                let _ = stream.write_all(b"HTTP/1.1 20");
                stream
            })
            .collect();
        drop(held);
    });
    let pool = pool_of(&[("trickling", trickling), ("mute", silent_server())]);
    let config = CheckConfig {
        timeout: Duration::from_millis(200),
        ..fast()
    };
    let (checker, _) = start(&pool, config, CheckKind::http("/health"));
    within_5s("both checked", || {
        last_check(&pool, "trickling").is_some() && last_check(&pool, "mute").is_some()
    });
    checker.stop();
    assert_eq!(
        last_check(&pool, "trickling"),
        Some(CheckResult::Failed(CheckFailure::Incomplete))
    );
    assert_eq!(
        last_check(&pool, "mute"),
        Some(CheckResult::Failed(CheckFailure::TimedOut))
    );
}

#[test]
fn a_passing_check_ends_a_passive_ejection() {
    let one = TcpListener::bind("127.0.0.1:0").unwrap();
    let two = TcpListener::bind("127.0.0.1:0").unwrap();
    let health = HealthConfig {
        consecutive_failures: 1,
        base_ejection: Duration::from_secs(60),
        ..HealthConfig::default()
    };
    let pool = Arc::new(
        Pool::builder(RoundRobin::new())
            .health(health)
            .build(vec![
                BackendSpec::new("one", one.local_addr().unwrap()),
                BackendSpec::new("two", two.local_addr().unwrap()),
            ])
            .unwrap(),
    );
    let mut pick = pool.pick(&Context::new()).unwrap();
    let ejected = pick.id().clone();
    pick.record(Outcome::failure(
        FailureKind::ConnectRefused,
        Duration::from_millis(1),
    ));
    drop(pick);
    assert_eq!(pool.status(&ejected).unwrap().state, BackendState::Ejected);

    let (checker, _) = start(&pool, fast(), CheckKind::Tcp);
    within_5s("the ejected backend back up", || {
        pool.status(&ejected).unwrap().state == BackendState::Up
    });
    checker.stop();
    assert_eq!(
        pool.status(&ejected).unwrap().reason.to_string(),
        "health check passed"
    );
}

#[test]
fn the_checker_follows_the_pools_membership() {
    let live = TcpListener::bind("127.0.0.1:0").unwrap();
    let live_addr = live.local_addr().unwrap();
    let pool = pool_of(&[("live", live_addr)]);
    let (checker, events) = start(&pool, fast(), CheckKind::Tcp);
    within_5s("live checked", || !events_of(&events, "live").is_empty());

    // A backend added later is checked from the next round.
    let mut specs = pool.specs();
    specs.push(BackendSpec::new("gone", free_port()));
    pool.update(specs).unwrap();
    within_5s("gone unhealthy", || {
        state(&pool, "gone") == BackendState::Unhealthy
    });

    // A removed one is forgotten: at most a round in flight still reports it.
    pool.update(vec![BackendSpec::new("live", live_addr)])
        .unwrap();
    let before = events_of(&events, "gone").len();
    let live_before = events_of(&events, "live").len();
    within_5s("three more rounds", || {
        events_of(&events, "live").len() >= live_before + 3
    });
    checker.stop();
    assert!(events_of(&events, "gone").len() <= before + 1);
}

#[test]
fn stop_returns_at_once_between_rounds_and_a_dropped_handle_checks_no_more() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let pool = pool_of(&[("b", listener.local_addr().unwrap())]);
    let slow = CheckConfig {
        interval: Duration::from_secs(600),
        ..fast()
    };
    let (checker, events) = start(&pool, slow, CheckKind::Tcp);
    within_5s("a first check", || !events_of(&events, "b").is_empty());
    let asked = Instant::now();
    checker.stop();
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "stop waited out the 600 s interval"
    );

    let (checker, events) = start(&pool, fast(), CheckKind::Tcp);
    within_5s("a first check", || !events_of(&events, "b").is_empty());
    drop(checker);
    // A round in flight when dropped may still finish; none after it.
    thread::sleep(Duration::from_millis(300));
    let seen = events.lock().unwrap().len();
    thread::sleep(Duration::from_millis(300));
    assert_eq!(events.lock().unwrap().len(), seen);
}

#[test]
fn a_checker_with_settings_out_of_range_is_refused_with_the_settings_name() {
    let config = CheckConfig {
        fall: 0,
        ..CheckConfig::default()
    };
    let err = HealthChecker::new(config, CheckKind::Tcp).unwrap_err();
    assert!(matches!(
        err,
        ConfigError::Invalid {
            setting: "health check fall",
            ..
        }
    ));
    let err = HealthChecker::new(CheckConfig::default(), CheckKind::http("health")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad health check path: `health` does not start with `/`"
    );
}

/// The checker as a task of the test's tokio runtime (`spawn_tokio`): a
/// closed port fails its checks and is taken out with the check's cause,
/// comes back once it listens again, and the checker stops when asked.
mod on_the_callers_runtime {
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use pickwise::health::{CheckFailure, CheckResult};
    use pickwise::health_check::{
        CheckConfig, CheckEvent, CheckKind, HealthChecker, HttpCheck, Verdict,
    };

    use super::fast;
    use pickwise::strategy::RoundRobin;
    use pickwise::{BackendId, BackendSpec, BackendState, Pool};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    use tokio::time::Instant;

    /// Polls `done` every 10 ms for at most 5 s.
    async fn within_5s(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !done() {
            assert!(Instant::now() < deadline, "not within 5 s: {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn free_port() -> SocketAddr {
        TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
    }

    #[tokio::test]
    async fn the_tokio_checker_takes_a_refused_backend_out_and_brings_it_back_when_it_listens() {
        let addr = free_port().await;
        let pool =
            Arc::new(Pool::new(RoundRobin::new(), vec![BackendSpec::new("b", addr)]).unwrap());
        let events: Arc<Mutex<Vec<CheckEvent>>> = Arc::default();
        let sink = Arc::clone(&events);
        let checker = HealthChecker::new(fast(), CheckKind::Tcp)
            .unwrap()
            .on_event(move |event| sink.lock().unwrap().push(event.clone()))
            .spawn_tokio(Arc::clone(&pool), |spec| Some(spec.value))
            .unwrap();
        let b = BackendId::new("b");
        let state = || pool.status(&b).unwrap().state;

        within_5s("b unhealthy", || state() == BackendState::Unhealthy).await;
        let status = pool.status(&b).unwrap();
        assert_eq!(
            status.reason.to_string(),
            "health check failed: connection refused"
        );
        let verdicts: Vec<Verdict> = events
            .lock()
            .unwrap()
            .iter()
            .take(3)
            .map(|e| e.verdict)
            .collect();
        assert_eq!(
            verdicts,
            [
                Verdict::Failing { count: 1, fall: 3 },
                Verdict::Failing { count: 2, fall: 3 },
                Verdict::WentDown { fall: 3 },
            ]
        );

        let listener = TcpListener::bind(addr).await.unwrap();
        within_5s("b up", || state() == BackendState::Up).await;
        assert_eq!(
            pool.status(&b).unwrap().reason.to_string(),
            "health check passed"
        );
        checker.stop().await;
        let seen = events.lock().unwrap().len();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(events.lock().unwrap().len(), seen, "no check after stop");
        drop(listener);
    }

    #[tokio::test]
    async fn the_tokio_checker_reads_http_statuses_and_times_out_a_silent_server() {
        // Answers 503 to every request, for its first 1000 connections.
        let failing = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let failing_addr = failing.local_addr().unwrap();
        tokio::spawn(async move {
            for _ in 0..1000 {
                let Ok((mut stream, _)) = failing.accept().await else {
                    continue;
                };
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
                    .await;
            }
        });
        // Accepts and never answers, for its first 100 connections.
        let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent_addr = silent.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            for _ in 0..100 {
                if let Ok((stream, _)) = silent.accept().await {
                    held.push(stream);
                }
            }
        });
        let pool = Arc::new(
            Pool::new(
                RoundRobin::new(),
                vec![
                    BackendSpec::new("failing", failing_addr),
                    BackendSpec::new("silent", silent_addr),
                ],
            )
            .unwrap(),
        );
        let config = CheckConfig {
            timeout: Duration::from_millis(200),
            fall: 2,
            ..fast()
        };
        let checker = HealthChecker::new(config, CheckKind::Http(HttpCheck::new("/health")))
            .unwrap()
            .spawn_tokio(Arc::clone(&pool), |spec| Some(spec.value))
            .unwrap();
        let last_check = |id: &str| {
            pool.status(&BackendId::new(id))
                .unwrap()
                .last_check
                .map(|(result, _)| result)
        };
        within_5s("both checked out", || {
            last_check("failing").is_some() && last_check("silent").is_some()
        })
        .await;
        checker.stop().await;
        assert_eq!(
            last_check("failing"),
            Some(CheckResult::Failed(CheckFailure::BadStatus(503)))
        );
        assert_eq!(
            last_check("silent"),
            Some(CheckResult::Failed(CheckFailure::TimedOut))
        );
    }

    #[test]
    fn starting_the_tokio_checker_outside_a_runtime_is_an_error_not_a_panic() {
        let pool = Arc::new(Pool::new(RoundRobin::new(), vec![BackendSpec::new("b", ())]).unwrap());
        let err = HealthChecker::new(fast(), CheckKind::Tcp)
            .unwrap()
            .spawn_tokio(pool, |_| None)
            .unwrap_err();
        assert!(err.to_string().contains("needs a runtime"), "{err}");
    }

    /// A check of the test's own: passes for the backend listed as serving,
    /// fails with a reply that says why for the other, without any socket.
    #[derive(Debug)]
    struct Serving(SocketAddr);

    impl std::fmt::Display for Serving {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "serving {}", self.0)
        }
    }

    impl pickwise::health_check::Check for Serving {
        fn check(
            &self,
            addr: SocketAddr,
            _timeout: Duration,
        ) -> pickwise::health_check::CheckFuture<'_> {
            Box::pin(async move {
                match addr == self.0 {
                    true => Ok(pickwise::health_check::Answer::Passed),
                    false => Err(CheckFailure::BadReply("NOT_SERVING".into())),
                }
            })
        }
    }

    #[tokio::test]
    async fn a_check_a_program_writes_takes_the_backends_it_fails_out_with_its_own_cause() {
        let (serving, not_serving) = (free_port().await, free_port().await);
        let pool = Arc::new(
            Pool::new(
                RoundRobin::new(),
                vec![
                    BackendSpec::new("serving", serving),
                    BackendSpec::new("not-serving", not_serving),
                ],
            )
            .unwrap(),
        );
        let checker = HealthChecker::new(fast(), Serving(serving))
            .unwrap()
            .spawn_tokio(Arc::clone(&pool), |spec| Some(spec.value))
            .unwrap();
        let state = |id: &str| pool.status(&BackendId::new(id)).unwrap().state;
        within_5s("the failing backend is taken out", || {
            state("not-serving") == BackendState::Unhealthy
        })
        .await;
        let status = pool.status(&BackendId::new("not-serving")).unwrap();
        assert_eq!(
            status.reason.to_string(),
            "health check failed: bad reply: NOT_SERVING"
        );
        assert_eq!(state("serving"), BackendState::Up);
        assert_eq!(
            pool.status(&BackendId::new("serving"))
                .unwrap()
                .last_check
                .map(|(result, _)| result),
            Some(CheckResult::Passed)
        );
        checker.stop().await;
    }
}
