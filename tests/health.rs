mod common;

use std::time::Duration;

use pickwise::health::HealthConfig;
use pickwise::strategy::RoundRobin;
use pickwise::{BackendId, BackendState, Balancer, Context, FailureKind, Outcome, Pool};

fn fail_next(pool: &Pool<RoundRobin, usize>, target: usize) {
    // Round robin: walk to the target, failing only it.
    loop {
        let mut pick = pool.pick(&Context::new()).unwrap();
        if *pick.backend() == target {
            pick.record(Outcome::failure(
                FailureKind::ConnectRefused,
                Duration::ZERO,
            ));
            return;
        }
    }
}

fn share_of(pool: &Pool<RoundRobin, usize>, target: usize, picks: usize) -> usize {
    (0..picks)
        .filter(|_| *pool.pick(&Context::new()).unwrap().backend() == target)
        .count()
}

fn health(max_ejected_percent: u8) -> HealthConfig {
    HealthConfig {
        consecutive_failures: 3,
        base_ejection: Duration::from_secs(10),
        max_ejection: Duration::from_secs(25),
        max_ejected_percent,
    }
}

#[test]
fn failures_in_a_row_eject_and_time_brings_it_back_for_longer_on_repeats() {
    let clock = std::sync::Arc::new(pickwise::clock::ManualClock::new());
    let pool = Pool::builder(RoundRobin::new())
        .clock(clock.clone())
        .health(health(50))
        .build(common::equal(4))
        .unwrap();

    for _ in 0..2 {
        fail_next(&pool, 1);
    }
    assert_eq!(share_of(&pool, 1, 40), 10, "two failures must not eject");
    fail_next(&pool, 1);
    let status = pool.status(&BackendId::new("b1")).unwrap();
    assert_eq!(status.state, BackendState::Ejected);
    assert_eq!(share_of(&pool, 1, 40), 0);

    clock.advance(Duration::from_secs(10));
    assert_eq!(
        share_of(&pool, 1, 40),
        10,
        "back after the base ejection time"
    );
    assert_eq!(
        pool.status(&BackendId::new("b1")).unwrap().state,
        BackendState::Up
    );

    // Fails again with no success in between: ejected for twice as long.
    for _ in 0..3 {
        fail_next(&pool, 1);
    }
    clock.advance(Duration::from_secs(19));
    assert_eq!(share_of(&pool, 1, 40), 0);
    clock.advance(Duration::from_secs(1));
    assert_eq!(share_of(&pool, 1, 40), 10);
}

#[test]
fn a_success_resets_the_failure_count() {
    let (pool, _clock) = common::pool_with_clock(RoundRobin::new(), common::equal(2));
    for round in 0..20 {
        let mut pick = pool.pick(&Context::new()).unwrap();
        let outcome = if round % 6 >= 4 {
            Outcome::success(Duration::ZERO)
        } else {
            Outcome::failure(FailureKind::Timeout, Duration::ZERO)
        };
        pick.record(outcome);
    }
    assert!(pool.backends().iter().all(|s| s.state == BackendState::Up));
}

/// 200 picks, every one failing with `kind`; each must still find a backend.
fn fail_every_pick(pool: &Pool<RoundRobin, usize>, kind: FailureKind) {
    for _ in 0..200 {
        let mut pick = pool.pick(&Context::new()).expect("never ejects everything");
        pick.record(Outcome::failure(kind, Duration::ZERO));
    }
}

fn count_in(pool: &Pool<RoundRobin, usize>, state: BackendState) -> usize {
    pool.backends().iter().filter(|s| s.state == state).count()
}

#[test]
fn the_cap_holds_and_every_backend_failing_still_leaves_one_to_pick() {
    let clock = std::sync::Arc::new(pickwise::clock::ManualClock::new());
    let pool = Pool::builder(RoundRobin::new())
        .clock(clock.clone())
        .health(health(10))
        .build(common::equal(10))
        .unwrap();
    fail_every_pick(&pool, FailureKind::ConnectTimeout);
    assert_eq!(
        count_in(&pool, BackendState::Ejected),
        1,
        "10% of 10 backends"
    );

    let pool = Pool::builder(RoundRobin::new())
        .clock(clock)
        .health(health(100))
        .build(common::equal(3))
        .unwrap();
    fail_every_pick(&pool, FailureKind::ConnectRefused);
    assert_eq!(
        count_in(&pool, BackendState::Up),
        1,
        "even at 100% the last backend stays"
    );
}

#[test]
fn server_errors_do_not_eject_but_gateway_errors_do() {
    let (pool, _clock) = common::pool_with_clock(RoundRobin::new(), common::equal(2));
    for _ in 0..20 {
        let mut pick = pool.pick(&Context::new()).unwrap();
        pick.record(Outcome::server_error(Duration::ZERO));
    }
    assert!(pool.backends().iter().all(|s| s.state == BackendState::Up));
    for _ in 0..10 {
        let mut pick = pool.pick(&Context::new()).unwrap();
        pick.record(Outcome::failure(FailureKind::GatewayError, Duration::ZERO));
    }
    assert!(pool
        .backends()
        .iter()
        .any(|s| s.state == BackendState::Ejected));
}

#[test]
fn bad_health_settings_are_errors() {
    for bad in [
        HealthConfig {
            base_ejection: Duration::ZERO,
            ..HealthConfig::default()
        },
        HealthConfig {
            max_ejection: Duration::from_secs(1),
            ..HealthConfig::default()
        },
        HealthConfig {
            max_ejected_percent: 101,
            ..HealthConfig::default()
        },
    ] {
        assert!(Pool::builder(RoundRobin::new())
            .health(bad)
            .build(common::equal(2))
            .is_err());
    }
}

#[test]
fn failures_recorded_during_an_ejection_do_not_count_once_it_ends() {
    let clock = std::sync::Arc::new(pickwise::clock::ManualClock::new());
    let pool = Pool::builder(RoundRobin::new())
        .clock(clock.clone())
        .health(health(50))
        .build(common::equal(4))
        .unwrap();
    // Requests to b1 already in flight when it gets ejected.
    let mut late: Vec<_> = (0..12)
        .map(|_| pool.pick(&Context::new()).unwrap())
        .filter(|p| *p.backend() == 1)
        .collect();
    assert_eq!(late.len(), 3);
    for _ in 0..3 {
        fail_next(&pool, 1);
    }
    assert_eq!(
        pool.status(&BackendId::new("b1")).unwrap().state,
        BackendState::Ejected
    );
    for pick in &mut late {
        pick.record(Outcome::failure(FailureKind::Timeout, Duration::ZERO));
    }
    clock.advance(Duration::from_secs(10));
    assert_eq!(share_of(&pool, 1, 40), 10, "back after the ejection");
    fail_next(&pool, 1);
    assert_eq!(
        pool.status(&BackendId::new("b1")).unwrap().state,
        BackendState::Up,
        "one failure after coming back must not eject again"
    );
}

/// A try beaten by its hedge (`FailureKind::Outpaced`) counts in the
/// failures in a row only if its backend answered nobody while it waited:
/// a backend still answering others is slow, not silent.
#[test]
fn an_outpaced_try_counts_in_a_row_only_when_its_backend_answered_nobody_meanwhile() {
    let clock = std::sync::Arc::new(pickwise::clock::ManualClock::new());
    let pool = Pool::builder(RoundRobin::new())
        .clock(clock.clone())
        .health(health(50))
        .build(common::equal(2))
        .unwrap();
    let id = BackendId::new("b0");
    // Every pick on b0; b1 keeps the cap from holding b0 in.
    let only_b0 = [BackendId::new("b1")];
    let on_b0 = || Context::new().exclude(&only_b0);
    let outpaced = |waited| Outcome::failure(FailureKind::Outpaced, waited);
    let ms = Duration::from_millis;
    clock.advance(Duration::from_secs(1));
    // Three tries outpaced while the backend answered others: no count.
    for _ in 0..3 {
        let mut waiting = pool.pick(&on_b0()).unwrap();
        clock.advance(ms(20));
        pool.pick(&on_b0()).unwrap().record(Outcome::success(ms(2)));
        clock.advance(ms(20));
        waiting.record(outpaced(ms(40)));
    }
    let status = pool.status(&id).unwrap();
    assert_eq!(status.consecutive_failures, 0, "{status:?}");
    assert_eq!(status.state, BackendState::Up);
    // Three outpaced with no answer at all: ejected, yet no failure counted.
    for _ in 0..3 {
        let mut waiting = pool.pick(&on_b0()).unwrap();
        clock.advance(ms(40));
        waiting.record(outpaced(ms(40)));
    }
    let status = pool.status(&id).unwrap();
    assert_eq!(status.state, BackendState::Ejected, "{status:?}");
    assert_eq!(status.failures, 0);
    assert!(
        status
            .reason
            .to_string()
            .contains("no answer while a later hedge"),
        "{}",
        status.reason
    );
}
