//! Outcomes beyond the response head: a failure found in the body replaces
//! the success recorded at the head, client faults count for nobody, and
//! errors are classified through their wrappers. On a manual clock.

mod common;

use std::error::Error;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use std::{fmt, io};

use pickwise::clock::ManualClock;
use pickwise::health::{HealthConfig, OutlierConfig};
use pickwise::strategy::{BackendSet, RoundRobin};
use pickwise::{
    BackendId, BackendState, BackendStatus, Balancer, ConfigError, Context, FailureKind, Outcome,
    Pool, Reason, StateChange, Strategy,
};

const HEAD: Duration = Duration::from_millis(2);
const BODY: Duration = Duration::from_millis(40);

fn status(pool: &Pool<RoundRobin, usize>, i: usize) -> BackendStatus {
    pool.status(&BackendId::new(format!("b{i}"))).unwrap()
}

/// (successes, server errors, failures, client faults, failures in a row).
fn counts(status: &BackendStatus) -> (u64, u64, u64, u64, u32) {
    (
        status.successes,
        status.server_errors,
        status.failures,
        status.client_faults,
        status.consecutive_failures,
    )
}

/// Round robin over `n` backends with `health`, and an observer keeping
/// every state change after the build.
fn observed_pool(
    n: usize,
    health: HealthConfig,
) -> (Pool<RoundRobin, usize>, Arc<Mutex<Vec<StateChange>>>) {
    let changes = Arc::new(Mutex::new(Vec::new()));
    let heard = Arc::clone(&changes);
    let pool = Pool::builder(RoundRobin::new())
        .clock(Arc::new(ManualClock::new()))
        .health(health)
        .observer(move |change: &StateChange| heard.lock().unwrap().push(change.clone()))
        .build(common::equal(n))
        .unwrap();
    changes.lock().unwrap().clear(); // the backends' arrivals
    (pool, changes)
}

/// One request to backend `target` (round robin: walk to it; the others
/// succeed), handled by `request`.
fn request_to(
    pool: &Pool<RoundRobin, usize>,
    target: usize,
    request: impl FnOnce(&mut pickwise::Pick<usize>),
) {
    loop {
        let mut pick = pool.pick(&Context::new()).unwrap();
        if *pick.backend() == target {
            request(&mut pick);
            return;
        }
        pick.record(Outcome::success(HEAD));
    }
}

fn cut_body(pick: &mut pickwise::Pick<usize>) {
    pick.record(Outcome::success(HEAD));
    pick.record_late_failure(FailureKind::BodyCut, BODY);
}

#[test]
fn a_late_failure_moves_the_outcome_from_successes_to_failures() {
    let (pool, _clock) = common::pool_with_clock(RoundRobin::new(), common::equal(1));
    let mut pick = pool.pick(&Context::new()).unwrap();
    pick.record(Outcome::success(HEAD));
    assert_eq!(counts(&status(&pool, 0)), (1, 0, 0, 0, 0));
    pick.record_late_failure(FailureKind::BodyCut, BODY);
    assert!(pick.is_recorded());
    assert_eq!(counts(&status(&pool, 0)), (0, 0, 1, 0, 1));
}

#[test]
fn a_late_failure_moves_a_server_error_to_the_failures() {
    let (pool, _clock) = common::pool_with_clock(RoundRobin::new(), common::equal(1));
    let mut pick = pool.pick(&Context::new()).unwrap();
    pick.record(Outcome::server_error(HEAD));
    pick.record_late_failure(FailureKind::BodyStalled, BODY);
    assert_eq!(counts(&status(&pool, 0)), (0, 0, 1, 0, 1));
}

#[test]
fn a_late_failure_after_nothing_recorded_is_a_plain_failure() {
    let (pool, _clock) = common::pool_with_clock(RoundRobin::new(), common::equal(1));
    let mut pick = pool.pick(&Context::new()).unwrap();
    pick.record_late_failure(FailureKind::BodyStalled, BODY);
    assert!(pick.is_recorded());
    assert_eq!(counts(&status(&pool, 0)), (0, 0, 1, 0, 1));
    // It was the pick's outcome: a success after it does not count.
    pick.record(Outcome::success(HEAD));
    pick.record_late_failure(FailureKind::BodyCut, BODY);
    assert_eq!(counts(&status(&pool, 0)), (0, 0, 1, 0, 1));
}

#[test]
fn revising_twice_counts_once() {
    let (pool, _clock) = common::pool_with_clock(RoundRobin::new(), common::equal(1));
    let mut pick = pool.pick(&Context::new()).unwrap();
    pick.record(Outcome::success(HEAD));
    pick.record_late_failure(FailureKind::BodyCut, BODY);
    pick.record_late_failure(FailureKind::BodyCut, BODY);
    pick.record_late_failure(FailureKind::BodyStalled, BODY);
    assert_eq!(counts(&status(&pool, 0)), (0, 0, 1, 0, 1));
}

#[test]
fn a_late_failure_after_a_failure_or_a_client_fault_changes_nothing() {
    let (pool, _clock) = common::pool_with_clock(RoundRobin::new(), common::equal(1));
    let mut failed = pool.pick(&Context::new()).unwrap();
    failed.record(Outcome::failure(FailureKind::Reset, HEAD));
    failed.record_late_failure(FailureKind::BodyCut, BODY);
    assert_eq!(counts(&status(&pool, 0)), (0, 0, 1, 0, 1));

    let mut faulted = pool.pick(&Context::new()).unwrap();
    faulted.record(Outcome::client_fault(HEAD));
    faulted.record_late_failure(FailureKind::BodyCut, BODY);
    assert_eq!(counts(&status(&pool, 0)), (0, 0, 1, 1, 1));
}

#[test]
fn a_pick_ref_revises_and_its_owned_form_keeps_what_it_may_revise() {
    let (pool, _clock) = common::pool_with_clock(RoundRobin::new(), common::equal(1));
    let mut picker = pool.picker();
    let mut pick = picker.pick(&Context::new()).unwrap();
    pick.record(Outcome::success(HEAD));
    pick.record_late_failure(FailureKind::BodyCut, BODY);
    drop(pick);
    assert_eq!(counts(&status(&pool, 0)), (0, 0, 1, 0, 1));

    let mut pick = picker.pick(&Context::new()).unwrap();
    pick.record(Outcome::success(HEAD));
    let mut owned = pick.into_owned();
    owned.record_late_failure(FailureKind::BodyStalled, BODY);
    owned.record_late_failure(FailureKind::BodyStalled, BODY);
    assert_eq!(counts(&status(&pool, 0)), (0, 0, 2, 0, 2));
}

#[test]
fn a_backend_that_cuts_bodies_is_ejected_after_the_failure_threshold() {
    let health = HealthConfig::default();
    let threshold = health.consecutive_failures;
    assert_eq!(threshold, 5, "the default");
    let (pool, changes) = observed_pool(2, health);
    for n in 1..threshold {
        request_to(&pool, 1, cut_body);
        let b1 = status(&pool, 1);
        assert_eq!(b1.state, BackendState::Up, "after {n} cut bodies");
        assert_eq!(counts(&b1), (0, 0, u64::from(n), 0, n));
    }
    assert!(changes.lock().unwrap().is_empty());

    request_to(&pool, 1, cut_body);
    let b1 = status(&pool, 1);
    assert_eq!(b1.state, BackendState::Ejected);
    assert_eq!((b1.successes, b1.failures), (0, u64::from(threshold)));
    match b1.reason {
        Reason::Failures {
            consecutive, last, ..
        } => assert_eq!((consecutive, last), (threshold, FailureKind::BodyCut)),
        other => panic!("ejected for {other:?}"),
    }
    let changes = changes.lock().unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].to, BackendState::Ejected);
    assert_eq!(status(&pool, 0).state, BackendState::Up);
}

#[test]
fn cut_bodies_of_requests_in_flight_side_by_side_still_count_in_a_row() {
    let (pool, _changes) = observed_pool(2, HealthConfig::default());
    // Five requests to b1 at once: every head arrives before any body fails.
    let mut picks = Vec::new();
    while picks.len() < 5 {
        let pick = pool.pick(&Context::new()).unwrap();
        if *pick.backend() == 1 {
            picks.push(pick);
        }
    }
    for pick in &mut picks {
        pick.record(Outcome::success(HEAD));
    }
    assert_eq!(counts(&status(&pool, 1)), (5, 0, 0, 0, 0));
    for (n, pick) in picks.iter_mut().enumerate() {
        assert_eq!(status(&pool, 1).state, BackendState::Up, "after {n}");
        pick.record_late_failure(FailureKind::BodyCut, BODY);
    }
    let b1 = status(&pool, 1);
    assert_eq!(b1.state, BackendState::Ejected);
    assert_eq!((b1.successes, b1.failures), (0, 5));
}

#[test]
fn a_success_between_cut_bodies_starts_the_count_again() {
    let (pool, _changes) = observed_pool(2, HealthConfig::default());
    for _ in 0..4 {
        request_to(&pool, 1, cut_body);
    }
    request_to(&pool, 1, |pick| pick.record(Outcome::success(HEAD)));
    for _ in 0..4 {
        request_to(&pool, 1, cut_body);
    }
    let b1 = status(&pool, 1);
    assert_eq!(b1.state, BackendState::Up);
    assert_eq!(counts(&b1), (1, 0, 8, 0, 4));
}

#[test]
fn client_faults_never_eject_a_backend() {
    let (pool, changes) = observed_pool(2, HealthConfig::default());
    for _ in 0..100 {
        let mut pick = pool.pick(&Context::new()).unwrap();
        pick.record(Outcome::client_fault(BODY));
    }
    for i in 0..2 {
        let b = status(&pool, i);
        assert_eq!(b.state, BackendState::Up);
        assert_eq!(counts(&b), (0, 0, 0, 50, 0));
    }
    assert!(changes.lock().unwrap().is_empty());
}

#[test]
fn a_client_fault_leaves_the_failures_in_a_row_as_they_were() {
    let (pool, _changes) = observed_pool(2, HealthConfig::default());
    let refused = |pick: &mut pickwise::Pick<usize>| {
        pick.record(Outcome::failure(FailureKind::ConnectRefused, HEAD));
    };
    for _ in 0..4 {
        request_to(&pool, 1, refused);
    }
    for _ in 0..3 {
        request_to(&pool, 1, |pick| pick.record(Outcome::client_fault(HEAD)));
    }
    assert_eq!(counts(&status(&pool, 1)), (0, 0, 4, 3, 4));
    request_to(&pool, 1, refused);
    let b1 = status(&pool, 1);
    assert_eq!(
        b1.state,
        BackendState::Ejected,
        "the fifth failure in a row"
    );
    assert!(matches!(
        b1.reason,
        Reason::Failures {
            consecutive: 5,
            last: FailureKind::ConnectRefused,
            ..
        }
    ));
}

/// What the spy saw of backend 0 at each pick: (error rate, latency).
type Notes = Arc<Mutex<Vec<(f64, Option<f64>)>>>;

/// Always picks backend 0, noting its error rate and latency estimates.
#[derive(Default)]
struct Spy {
    seen: Notes,
}

impl Strategy for Spy {
    type Table = ();
    fn build(&self, _set: &BackendSet) -> Result<(), ConfigError> {
        Ok(())
    }
    fn select(&self, _: &(), set: &BackendSet, _ctx: &Context<'_>) -> Option<usize> {
        let now = set.now();
        let seen = (set.error_rate(0, now), set.latency(0, now));
        self.seen.lock().unwrap().push(seen);
        Some(0)
    }
}

/// A pool of one backend on `Spy`, its notes and its clock.
fn spied() -> (Pool<Spy, usize>, Notes, Arc<ManualClock>) {
    let spy = Spy::default();
    let seen = Arc::clone(&spy.seen);
    let (pool, clock) = common::pool_with_clock(spy, common::equal(1));
    (pool, seen, clock)
}

/// The spy's note at a new pick.
fn estimates(pool: &Pool<Spy, usize>, seen: &Notes) -> (f64, Option<f64>) {
    drop(pool.pick(&Context::new()).unwrap());
    *seen.lock().unwrap().last().unwrap()
}

#[test]
fn client_faults_teach_the_error_rate_and_the_latency_nothing() {
    let (pool, seen, _clock) = spied();
    for _ in 0..3 {
        let mut pick = pool.pick(&Context::new()).unwrap();
        pick.record(Outcome::client_fault(Duration::from_secs(1)));
    }
    assert_eq!(estimates(&pool, &seen), (0.0, None));
    assert_eq!(pool.backends()[0].client_faults, 3);
}

#[test]
fn a_late_failure_teaches_the_error_rate_an_error() {
    let (pool, seen, clock) = spied();
    let mut pick = pool.pick(&Context::new()).unwrap();
    pick.record(Outcome::success(HEAD));
    drop(pick);
    assert_eq!(estimates(&pool, &seen).0, 0.0);

    // One error-rate time constant (10 s by default) later: the error
    // weighs 1 - 1/e against the success.
    let mut pick = pool.pick(&Context::new()).unwrap();
    clock.advance(Duration::from_secs(10));
    pick.record(Outcome::success(HEAD));
    assert_eq!(estimates(&pool, &seen).0, 0.0, "the head's success");
    clock.advance(Duration::from_secs(10));
    pick.record_late_failure(FailureKind::BodyCut, BODY);
    let (rate, latency) = estimates(&pool, &seen);
    let expected = 1.0 - (-1f64).exp();
    assert!((rate - expected).abs() < 1e-9, "{rate} != {expected}");
    let head = HEAD.as_nanos() as f64 * (-1f64).exp();
    let latency = latency.unwrap();
    assert!(
        (latency - head).abs() < 1e-3,
        "the head's latency stays: {latency}"
    );
}

#[test]
fn a_late_failure_counts_against_the_success_rate_instead_of_the_success() {
    let clock = Arc::new(ManualClock::new());
    let pool = Pool::builder(RoundRobin::new())
        .clock(clock.clone())
        .health(HealthConfig {
            // Only outlier detection ejects here.
            consecutive_failures: 0,
            max_ejected_percent: 50,
            ..HealthConfig::default()
        })
        .outlier_detection(OutlierConfig::default())
        .build(common::equal(5))
        .unwrap();
    // 100 outcomes each; every body b4 sends is cut.
    for _ in 0..500 {
        let mut pick = pool.pick(&Context::new()).unwrap();
        pick.record(Outcome::success(HEAD));
        if *pick.backend() == 4 {
            pick.record_late_failure(FailureKind::BodyCut, BODY);
        }
    }
    clock.advance(OutlierConfig::default().interval);
    let mut pick = pool.pick(&Context::new()).unwrap();
    pick.record(Outcome::success(HEAD));

    let b4 = status(&pool, 4);
    assert_eq!(b4.state, BackendState::Ejected);
    // Had the success stayed beside the error, b4 would be at 50%.
    match b4.reason {
        Reason::SuccessRateOutlier {
            rate, threshold, ..
        } => assert_eq!((rate, threshold), (0, 400)),
        other => panic!("ejected for {other:?}"),
    }
    assert!((0..4).all(|i| status(&pool, i).state == BackendState::Up));
}

/// An HTTP client's error that keeps its cause as its source.
#[derive(Debug)]
struct Wrapper(&'static str, Box<dyn Error + Send + Sync>);

impl fmt::Display for Wrapper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Error for Wrapper {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&*self.1)
    }
}

#[test]
fn failure_kind_from_error_finds_the_io_error_under_wrappers() {
    let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
    let connect = Wrapper("client", Box::new(Wrapper("connect", Box::new(refused))));
    assert_eq!(
        FailureKind::from_error(&connect),
        FailureKind::ConnectRefused
    );

    // io::Error's own source skips the error it wraps: looked through.
    let reset = io::Error::other(io::Error::from(io::ErrorKind::ConnectionReset));
    assert_eq!(FailureKind::from_error(&reset), FailureKind::Reset);
    let deep = io::Error::new(
        io::ErrorKind::InvalidData,
        Wrapper("tls", Box::new(io::Error::from(io::ErrorKind::TimedOut))),
    );
    assert_eq!(
        FailureKind::from_error(&Wrapper("send", Box::new(deep))),
        FailureKind::ConnectTimeout
    );

    // A telling kind outside wins over what it wraps.
    let unreachable = io::Error::new(
        io::ErrorKind::HostUnreachable,
        io::Error::from(io::ErrorKind::ConnectionRefused),
    );
    assert_eq!(
        FailureKind::from_error(&unreachable),
        FailureKind::Unreachable
    );

    // No io error anywhere, or none that tells: Other.
    assert_eq!(
        FailureKind::from_error(&Wrapper("h2", Box::new(fmt::Error))),
        FailureKind::Other
    );
    assert_eq!(
        FailureKind::from_error(&io::Error::other("no cause")),
        FailureKind::Other
    );
}

#[test]
fn failure_kind_from_error_classifies_a_real_hyper_util_connect_error() {
    use http_body_util::Empty;
    use hyper::body::Bytes;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let error = runtime.block_on(async {
        // A port that was free a moment ago: nothing listens there.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
        let uri = format!("http://{addr}/").parse().unwrap();
        client.get(uri).await.unwrap_err()
    });
    assert!(error.is_connect(), "{error:?}");
    assert_eq!(
        FailureKind::from_error(&error),
        FailureKind::ConnectRefused,
        "{error:?}"
    );
}

#[test]
fn body_failures_say_plainly_what_happened() {
    assert_eq!(FailureKind::BodyCut.to_string(), "response body cut short");
    assert_eq!(
        FailureKind::BodyStalled.to_string(),
        "response body stalled"
    );
    assert_eq!(FailureKind::InvalidResponse.to_string(), "invalid response");
}
