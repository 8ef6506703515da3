//! Slow start: the ramp's shape, and the backends that ramp.

mod common;

use std::sync::Arc;
use std::time::Duration;

use pickwise::clock::ManualClock;
use pickwise::health::{HealthConfig, SlowStart};
use pickwise::strategy::{Random, RoundRobin};
use pickwise::{
    AdminState, BackendId, Balancer, Context, FailureKind, Outcome, Pool, Reason,
    Strategy as Balancing,
};
use proptest::prelude::*;

const WINDOW: Duration = Duration::from_secs(10);

fn ramping_pool<S: Balancing>(strategy: S, n: usize) -> (Pool<S, usize>, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new());
    let pool = Pool::builder(strategy)
        .clock(clock.clone())
        .slow_start(SlowStart::new(WINDOW))
        .health(HealthConfig {
            consecutive_failures: 1,
            max_ejected_percent: 50,
            ..HealthConfig::default()
        })
        .build(common::equal(n))
        .unwrap();
    (pool, clock)
}

fn weight_of<S: Balancing>(pool: &Pool<S, usize>, id: &str) -> u64 {
    pool.status(&BackendId::new(id)).unwrap().effective_weight
}

proptest! {
    #[test]
    fn the_ramp_is_monotone_from_the_floor_to_full(
        window_ms in 1u64..10_000_000,
        floor in 1u8..=100,
        mut at in prop::collection::vec(0u64..20_000_000, 2..50),
    ) {
        let ramp = SlowStart { window: Duration::from_millis(window_ms), floor_percent: floor };
        prop_assert_eq!(ramp.permille(Duration::ZERO), u64::from(floor) * 10);
        prop_assert_eq!(ramp.permille(ramp.window), 1000);
        at.sort_unstable();
        let values: Vec<u64> = at.iter().map(|&ms| ramp.permille(Duration::from_millis(ms))).collect();
        for pair in values.windows(2) {
            prop_assert!(pair[0] <= pair[1], "{:?} at {:?}", values, at);
        }
        for &v in &values {
            prop_assert!((u64::from(floor) * 10..=1000).contains(&v));
        }
    }

    /// A backend added by an update ramps, through the pool, monotonically
    /// over the window, whatever the steps of the clock.
    #[test]
    fn an_added_backend_ramps_monotonically(steps in prop::collection::vec(0u64..2_000, 1..40)) {
        let (pool, clock) = ramping_pool(RoundRobin::new(), 2);
        pool.update(common::equal(3)).unwrap();
        let mut last = weight_of(&pool, "b2");
        prop_assert_eq!(last, 10, "starts at 10% of 100");
        for ms in steps {
            clock.advance(Duration::from_millis(ms));
            let now = weight_of(&pool, "b2");
            prop_assert!(now >= last, "{} after {}", now, last);
            last = now;
        }
        clock.advance(WINDOW);
        prop_assert_eq!(weight_of(&pool, "b2"), 100);
    }
}

#[test]
fn the_first_set_starts_at_full_weight_and_disabled_never_ramps() {
    let (pool, _clock) = ramping_pool(RoundRobin::new(), 2);
    assert_eq!(weight_of(&pool, "b0"), 100);
    let plain = Pool::new(RoundRobin::new(), common::equal(2)).unwrap();
    plain.update(common::equal(3)).unwrap();
    assert_eq!(weight_of(&plain, "b2"), 100);
}

#[test]
fn a_ramping_backend_gets_its_reduced_share_from_a_weighted_strategy() {
    let (pool, clock) = ramping_pool(Random::new().seeded(4), 1);
    pool.update(common::equal(2)).unwrap();
    clock.advance(WINDOW / 2); // 55%
    let picks = 20_000;
    let new = (0..picks)
        .filter(|_| *pool.pick(&Context::new()).unwrap().backend() == 1)
        .count();
    let share = new as f64 / picks as f64;
    let want = 55.0 / 155.0;
    assert!((share - want).abs() < 0.02, "{share} vs {want}");
}

#[test]
fn a_backend_back_from_ejection_or_down_ramps_again() {
    let (pool, clock) = ramping_pool(RoundRobin::new(), 2);
    // One failure ejects (consecutive_failures = 1).
    loop {
        let mut pick = pool.pick(&Context::new()).unwrap();
        if *pick.backend() == 1 {
            pick.record(Outcome::failure(
                FailureKind::ConnectRefused,
                Duration::ZERO,
            ));
            break;
        }
    }
    clock.advance(Duration::from_secs(60));
    // The next picks notice the ejection ended; the ramp starts then.
    for _ in 0..4 {
        drop(pool.pick(&Context::new()).unwrap());
    }
    assert_eq!(weight_of(&pool, "b1"), 10);
    clock.advance(WINDOW);
    assert_eq!(weight_of(&pool, "b1"), 100);

    let id = BackendId::new("b0");
    pool.set_state(&id, AdminState::Down, Reason::Admin("test".into()));
    clock.advance(Duration::from_secs(1));
    pool.set_state(&id, AdminState::Up, Reason::Admin("test".into()));
    assert_eq!(weight_of(&pool, "b0"), 10);
}

#[test]
fn a_floor_outside_1_to_100_is_refused() {
    for floor in [0, 101] {
        let ramp = SlowStart {
            window: WINDOW,
            floor_percent: floor,
        };
        assert!(Pool::builder(RoundRobin::new())
            .slow_start(ramp)
            .build(common::equal(1))
            .is_err());
    }
}
