//! The per-thread `Picker`: the same choices as `Pool::pick`, updates seen
//! at the next pick, and borrowed picks that count exactly like owned ones.

mod common;

use common::equal;
use pickwise::health::HealthConfig;
use pickwise::strategy::{LeastConnections, RoundRobin, WeightedRoundRobin};
use pickwise::{BackendSpec, Balancer, Context, FailureKind, Outcome, Pool};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn a_picker_follows_the_pools_order_and_shares_its_cursor() {
    let pool = Pool::new(WeightedRoundRobin::new(), common::weighted(&[3, 1, 2])).unwrap();
    let reference = Pool::new(WeightedRoundRobin::new(), common::weighted(&[3, 1, 2])).unwrap();
    let mut picker = pool.picker();
    let mut got = Vec::new();
    let mut want = Vec::new();
    for round in 0..60 {
        // Alternate the two ways of picking from one pool: one sequence.
        let chosen = if round % 2 == 0 {
            *picker.pick(&Context::new()).unwrap().backend()
        } else {
            *pool.pick(&Context::new()).unwrap().backend()
        };
        got.push(chosen);
        want.push(*reference.pick(&Context::new()).unwrap().backend());
    }
    assert_eq!(got, want);
}

#[test]
fn a_picker_sees_an_update_at_its_next_pick() {
    let pool = Pool::new(RoundRobin::new(), equal(3)).unwrap();
    let mut picker = pool.picker();
    assert!(picker.pick(&Context::new()).is_ok());
    pool.update(vec![BackendSpec::new("new", 9)]).unwrap();
    for _ in 0..5 {
        let pick = picker.pick(&Context::new()).unwrap();
        assert_eq!((pick.id().as_str(), *pick.backend()), ("new", 9));
    }
}

#[test]
fn borrowed_picks_count_in_flight_and_release_on_drop() {
    let pool = Pool::new(LeastConnections::new(), equal(2)).unwrap();
    let in_flight = |pool: &Pool<LeastConnections, usize>| -> Vec<u64> {
        pool.backends()
            .iter()
            .map(|s| s.in_flight.unwrap_or(0))
            .collect()
    };
    let mut picker = pool.picker();
    let first = picker.pick(&Context::new()).unwrap().into_owned();
    let second = picker.pick(&Context::new()).unwrap();
    // Least connections saw the first pick's count: the second goes elsewhere.
    assert_ne!(first.id(), second.id());
    assert_eq!(in_flight(&pool), [1, 1]);
    drop(second);
    assert_eq!(in_flight(&pool), [1, 0]);
    drop(first);
    assert_eq!(in_flight(&pool), [0, 0]);
}

#[test]
fn outcomes_recorded_on_a_borrowed_pick_reach_passive_health() {
    let health = HealthConfig {
        consecutive_failures: 2,
        ..HealthConfig::default()
    };
    let pool = Pool::builder(RoundRobin::new())
        .health(health)
        .build(equal(4))
        .unwrap();
    let mut picker = pool.picker();
    let failing = pickwise::BackendId::new("b2");
    // Round robin over 4 backends: b2 comes up every 4th pick; 2 failures eject it.
    for _ in 0..8 {
        let mut pick = picker.pick(&Context::new()).unwrap();
        if pick.id() == &failing {
            pick.record(Outcome::failure(
                FailureKind::ConnectRefused,
                Duration::from_millis(1),
            ));
            // Only the first outcome of a pick counts.
            pick.record(Outcome::success(Duration::from_millis(1)));
            assert!(pick.is_recorded());
            assert!(pick.into_owned().is_recorded());
        }
    }
    assert_eq!(
        pool.status(&failing).unwrap().state,
        pickwise::BackendState::Ejected
    );
    for _ in 0..8 {
        assert_ne!(picker.pick(&Context::new()).unwrap().id(), &failing);
    }
}

#[test]
fn each_thread_with_its_own_picker_leaves_every_count_at_zero() {
    let pool = Arc::new(Pool::new(LeastConnections::new(), equal(4)).unwrap());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                let mut picker = pool.picker();
                let mut kept = Vec::new();
                for i in 0..2_000 {
                    let pick = picker.pick(&Context::new()).unwrap();
                    if i % 3 == 0 {
                        kept.push(pick.into_owned());
                    }
                    if kept.len() > 8 {
                        kept.clear();
                    }
                }
            });
        }
        scope.spawn(|| {
            for round in 0..200 {
                pool.update(equal(3 + round % 3)).unwrap();
            }
        });
    });
    assert!(pool.backends().iter().all(|s| s.in_flight == Some(0)));
}
