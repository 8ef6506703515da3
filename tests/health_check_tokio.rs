//! The tokio driver on real sockets: a closed port fails its checks and is
//! taken out with the probe's cause, comes back once it listens again, and
//! the checker stops when asked.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pickwise::health::{CheckFailure, CheckResult};
use pickwise::health_check::{
    CheckConfig, CheckEvent, CheckKind, HealthChecker, HttpCheck, Verdict,
};
use pickwise::strategy::RoundRobin;
use pickwise::{BackendId, BackendSpec, BackendState, Pool};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::Instant;

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
    let pool = Arc::new(Pool::new(RoundRobin::new(), vec![BackendSpec::new("b", addr)]).unwrap());
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
    fn check(&self, addr: SocketAddr) -> pickwise::health_check::CheckFuture<'_> {
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
