//! Health control: an active check's verdict is its own reason and its own
//! state, apart from the operator's; a passing check ends a passive
//! ejection; every reason shows its true cause; the status tells the rest.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pickwise::health::HealthConfig;
use pickwise::health::{CheckFailure, CheckResult};
use pickwise::strategy::RoundRobin;
use pickwise::{
    AdminState, BackendId, BackendState, Balancer, Context, FailureKind, Outcome, Pool, Reason,
    StateChange,
};

fn picks_of(pool: &Pool<RoundRobin, usize>, picks: usize) -> Vec<usize> {
    let mut seen: Vec<usize> = (0..picks)
        .map(|_| *pool.pick(&Context::new()).unwrap().backend())
        .collect();
    seen.sort_unstable();
    seen.dedup();
    seen
}

fn b(n: usize) -> BackendId {
    BackendId::new(format!("b{n}"))
}

#[test]
fn a_failed_check_holds_a_backend_out_with_the_probes_cause_until_a_check_passes() {
    let pool = Pool::new(RoundRobin::new(), common::equal(3)).unwrap();
    assert!(pool.set_health(&b(1), CheckResult::Failed(CheckFailure::BadStatus(503))));
    let status = pool.status(&b(1)).unwrap();
    assert_eq!(status.state, BackendState::Unhealthy);
    assert_eq!(status.admin, AdminState::Up);
    assert_eq!(status.reason.to_string(), "health check failed: status 503");
    assert_eq!(picks_of(&pool, 30), [0, 2]);
    pool.set_health(&b(1), CheckResult::Passed);
    let status = pool.status(&b(1)).unwrap();
    assert_eq!(status.state, BackendState::Up);
    assert_eq!(status.reason.to_string(), "health check passed");
    assert_eq!(picks_of(&pool, 30), [0, 1, 2]);
    assert!(!pool.set_health(&BackendId::new("nobody"), CheckResult::Passed));
}

#[test]
fn a_passing_check_ends_a_passive_ejection_at_once() {
    let health = HealthConfig {
        consecutive_failures: 2,
        base_ejection: Duration::from_secs(30),
        ..HealthConfig::default()
    };
    let pool = Pool::builder(RoundRobin::new())
        .health(health)
        .build(common::equal(3))
        .unwrap();
    for _ in 0..2 {
        let mut pick = loop {
            let pick = pool.pick(&Context::new()).unwrap();
            if *pick.backend() == 0 {
                break pick;
            }
        };
        pick.record(Outcome::failure(FailureKind::Reset, Duration::ZERO));
    }
    let status = pool.status(&b(0)).unwrap();
    assert_eq!((status.state, status.ejections), (BackendState::Ejected, 1));
    pool.set_health(&b(0), CheckResult::Passed);
    let status = pool.status(&b(0)).unwrap();
    assert_eq!(status.state, BackendState::Up);
    assert_eq!(status.reason, Reason::HealthCheck(CheckResult::Passed));
    assert_eq!(status.consecutive_failures, 0);
    assert_eq!(picks_of(&pool, 30), [0, 1, 2]);
}

#[test]
fn down_by_health_and_down_by_operator_never_override_each_other() {
    let pool = Pool::new(RoundRobin::new(), common::equal(2)).unwrap();
    let admin = |state| pool.set_state(&b(0), state, Reason::Admin("ticket 42".into()));
    // The operator's down outlives a passing check.
    admin(AdminState::Down);
    pool.set_health(&b(0), CheckResult::Passed);
    assert_eq!(pool.status(&b(0)).unwrap().state, BackendState::Down);
    // A failing check outlives the operator's up.
    pool.set_health(&b(0), CheckResult::Failed(CheckFailure::TimedOut));
    admin(AdminState::Up);
    let status = pool.status(&b(0)).unwrap();
    assert_eq!(
        (status.state, status.admin),
        (BackendState::Unhealthy, AdminState::Up)
    );
    assert_eq!(picks_of(&pool, 10), [1]);
    // Both clear: up.
    pool.set_health(&b(0), CheckResult::Passed);
    assert_eq!(pool.status(&b(0)).unwrap().state, BackendState::Up);
    // Draining and failing: the check's word shows, the drain is kept.
    admin(AdminState::Draining);
    pool.set_health(&b(0), CheckResult::Failed(CheckFailure::Refused));
    pool.set_health(&b(0), CheckResult::Passed);
    let status = pool.status(&b(0)).unwrap();
    assert_eq!(
        (status.state, status.admin),
        (BackendState::Draining, AdminState::Draining)
    );
}

#[test]
fn every_reason_shows_its_true_cause() {
    let heard = Arc::new(Mutex::new(Vec::<String>::new()));
    let log = Arc::clone(&heard);
    let pool = Pool::builder(RoundRobin::new())
        .observer(move |change: &StateChange| log.lock().unwrap().push(change.to_string()))
        .build(common::equal(2))
        .unwrap();
    heard.lock().unwrap().clear();
    pool.set_state(&b(0), AdminState::Draining, Reason::Admin("deploy".into()));
    pool.set_state(
        &b(0),
        AdminState::Up,
        Reason::Program("canary finished".into()),
    );
    pool.set_health(&b(1), CheckResult::Failed(CheckFailure::Unreachable));
    // The same verdict again is no change: not told twice.
    pool.set_health(&b(1), CheckResult::Failed(CheckFailure::Unreachable));
    pool.set_health(
        &b(1),
        CheckResult::Failed(CheckFailure::BadReply("no `ok` in the body".into())),
    );
    pool.set_health(&b(1), CheckResult::Passed);
    assert_eq!(
        *heard.lock().unwrap(),
        [
            "backend b0 up -> draining: operator: deploy",
            "backend b0 draining -> up: canary finished",
            "backend b1 up -> unhealthy: health check failed: host unreachable",
            "backend b1 unhealthy -> up: health check passed",
        ]
    );
}

#[test]
fn the_status_keeps_the_last_check_even_when_the_state_does_not_move() {
    let (pool, clock) = common::pool_with_clock(RoundRobin::new(), common::equal(1));
    pool.set_health(&b(0), CheckResult::Passed);
    clock.advance(Duration::from_secs(2));
    let failed = CheckResult::Failed(CheckFailure::Other("TLS handshake failed".into()));
    pool.set_health(&b(0), failed.clone());
    clock.advance(Duration::from_secs(2));
    pool.set_health(&b(0), failed.clone());
    let status = pool.status(&b(0)).unwrap();
    assert_eq!(status.last_check, Some((failed, Duration::from_secs(4))));
    assert_eq!(
        status.since,
        Duration::from_secs(2),
        "the change was at 2 s"
    );
    assert_eq!(
        status.reason.to_string(),
        "health check failed: TLS handshake failed"
    );
}

#[test]
fn the_status_shows_latency_error_rate_picks_and_ejections() {
    let (pool, clock) = common::pool_with_clock(
        pickwise::strategy::LeastConnections::new(),
        common::equal(1),
    );
    let fresh = pool.status(&b(0)).unwrap();
    assert_eq!(
        (fresh.latency, fresh.error_rate, fresh.ejections),
        (None, 0.0, 0)
    );
    assert_eq!(fresh.picks, Some(0));
    for _ in 0..3 {
        let mut pick = pool.pick(&Context::new()).unwrap();
        pick.record(Outcome::success(Duration::from_millis(20)));
    }
    // The averages weigh samples by the time between them.
    clock.advance(Duration::from_secs(1));
    let mut pick = pool.pick(&Context::new()).unwrap();
    pick.record(Outcome::server_error(Duration::from_millis(20)));
    drop(pick);
    let status = pool.status(&b(0)).unwrap();
    assert_eq!(status.picks, Some(4));
    let latency = status.latency.unwrap();
    assert!(
        latency > Duration::from_millis(10) && latency <= Duration::from_millis(20),
        "{latency:?}"
    );
    assert!(
        status.error_rate > 0.0 && status.error_rate < 1.0,
        "{}",
        status.error_rate
    );
    assert_eq!((status.successes, status.server_errors), (3, 1));
}
