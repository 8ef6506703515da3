//! Per-backend caps on requests in flight (`max_conns`), checked with
//! nginx's own expectations for its `max_conns`, for every strategy, through
//! both the owned pick and the per-thread picker.

use std::collections::HashMap;

use pickwise::strategy::{AnyStrategy, RoundRobin, StrategyKind};
use pickwise::{BackendId, BackendSpec, Balancer, Context, NoBackend, Pick, Pool};

/// Holds `n` picks at once (keyless, clientless: hash strategies spread
/// them at random); returns the picks held per backend and the errors.
fn hold(
    pool: &Pool<AnyStrategy, &'static str>,
    n: usize,
) -> (
    Vec<Pick<&'static str>>,
    HashMap<&'static str, usize>,
    Vec<NoBackend>,
) {
    let mut held = Vec::new();
    let mut per_backend = HashMap::new();
    let mut errors = Vec::new();
    for _ in 0..n {
        match pool.pick(&Context::new()) {
            Ok(pick) => {
                *per_backend.entry(*pick.backend()).or_default() += 1;
                held.push(pick);
            }
            Err(err) => errors.push(err),
        }
    }
    (held, per_backend, errors)
}

fn every_strategy(
    specs: impl Fn() -> Vec<BackendSpec<&'static str>>,
    check: impl Fn(StrategyKind, &Pool<AnyStrategy, &'static str>),
) {
    for &kind in StrategyKind::ALL {
        let pool = Pool::new(AnyStrategy::new(kind), specs()).unwrap();
        check(kind, &pool);
    }
}

#[test]
fn a_capped_primary_overflows_to_its_backup() {
    // nginx: A max_conns=2 and backup B, 6 requests held: A 2, B 4.
    every_strategy(
        || {
            vec![
                BackendSpec::new("a", "a").max_conns(2),
                BackendSpec::new("b", "b").backup(),
            ]
        },
        |kind, pool| {
            let (_held, per_backend, errors) = hold(pool, 6);
            assert_eq!((per_backend["a"], per_backend["b"]), (2, 4), "{kind}");
            assert!(errors.is_empty(), "{kind}: {errors:?}");
        },
    );
}

#[test]
fn when_the_backup_is_capped_too_the_sixth_pick_fails_at_capacity() {
    every_strategy(
        || {
            vec![
                BackendSpec::new("a", "a").max_conns(2),
                BackendSpec::new("b", "b").backup().max_conns(3),
            ]
        },
        |kind, pool| {
            let (held, per_backend, errors) = hold(pool, 6);
            assert_eq!((per_backend["a"], per_backend["b"]), (2, 3), "{kind}");
            assert_eq!(errors, [NoBackend::AtCapacity], "{kind}");
            assert_eq!(
                errors[0].to_string(),
                "no backend: every available backend is at its max_conns cap"
            );
            // A place freed is a place taken again.
            drop(held);
            assert_eq!(hold(pool, 5).2, [], "{kind}");
        },
    );
}

#[test]
fn a_heavy_backend_with_a_cap_of_one_leaves_the_rest_to_its_peer() {
    // nginx: A weight=2 max_conns=1 with B, 4 held: A 1, B 3.
    every_strategy(
        || {
            vec![
                BackendSpec::new("a", "a").weight(2).max_conns(1),
                BackendSpec::new("b", "b"),
            ]
        },
        |kind, pool| {
            // Four held: A at most its one place, B the rest (nginx: A 1, B 3,
            // which the deterministic strategies give exactly).
            let (held, per_backend, errors) = hold(pool, 4);
            let a = per_backend.get("a").copied().unwrap_or(0);
            assert!(a <= 1, "{kind}: A holds {a} over its cap of 1");
            assert_eq!(a + per_backend.get("b").copied().unwrap_or(0), 4, "{kind}");
            assert!(errors.is_empty(), "{kind}: {errors:?}");
            if matches!(
                kind,
                StrategyKind::RoundRobin
                    | StrategyKind::WeightedRoundRobin
                    | StrategyKind::LeastConnections
                    | StrategyKind::WeightedLeastConnections
            ) {
                assert_eq!(a, 1, "{kind}");
            }
            // Sixteen more: the randomised strategies, too, have met A by now
            // (a miss every time is a chance below 1 in 10^9), and it still
            // holds exactly its one place.
            let (_more, per_backend, errors) = hold(pool, 16);
            let a_more = per_backend.get("a").copied().unwrap_or(0);
            assert_eq!(a + a_more, 1, "{kind}");
            assert!(errors.is_empty(), "{kind}: {errors:?}");
            drop(held);
        },
    );
}

#[test]
fn two_backends_capped_at_one_serve_two_of_four_and_refuse_two_at_capacity() {
    every_strategy(
        || {
            vec![
                BackendSpec::new("a", "a").max_conns(1),
                BackendSpec::new("b", "b").max_conns(1),
            ]
        },
        |kind, pool| {
            let (_held, per_backend, errors) = hold(pool, 4);
            assert_eq!((per_backend["a"], per_backend["b"]), (1, 1), "{kind}");
            assert_eq!(
                errors,
                [NoBackend::AtCapacity, NoBackend::AtCapacity],
                "{kind}"
            );
        },
    );
}

#[test]
fn a_picker_respects_caps_as_the_pool_does() {
    let specs = vec![
        BackendSpec::new("a", "a").max_conns(1),
        BackendSpec::new("b", "b").max_conns(2),
    ];
    let pool = Pool::new(RoundRobin::new(), specs).unwrap();
    let mut picker = pool.picker();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(picker.pick(&Context::new()).unwrap().into_owned());
    }
    assert_eq!(
        picker.pick(&Context::new()).err(),
        Some(NoBackend::AtCapacity)
    );
    drop(held.pop());
    assert!(picker.pick(&Context::new()).is_ok());
}

#[test]
fn a_pool_with_caps_counts_in_flight_whatever_its_strategy_and_shows_the_cap() {
    let specs = vec![
        BackendSpec::new("a", ()).max_conns(3),
        BackendSpec::new("b", ()),
    ];
    let pool = Pool::new(RoundRobin::new(), specs).unwrap();
    let held: Vec<_> = (0..4)
        .map(|_| pool.pick(&Context::new()).unwrap())
        .collect();
    let a = pool.status(&BackendId::new("a")).unwrap();
    let b = pool.status(&BackendId::new("b")).unwrap();
    assert_eq!(
        (a.in_flight, a.max_conns, a.picks),
        (Some(2), Some(3), Some(2))
    );
    assert_eq!((b.in_flight, b.max_conns), (Some(2), None));
    drop(held);
    assert_eq!(
        pool.status(&BackendId::new("a")).unwrap().in_flight,
        Some(0)
    );
    // Without caps, round robin does not count: the status says so.
    let plain = Pool::new(RoundRobin::new(), vec![BackendSpec::new("a", ())]).unwrap();
    let _held = plain.pick(&Context::new()).unwrap();
    let status = plain.status(&BackendId::new("a")).unwrap();
    assert_eq!((status.in_flight, status.picks), (None, None));
}

#[test]
fn a_cap_lowered_by_an_update_applies_to_the_next_picks() {
    let pool = Pool::new(
        RoundRobin::new(),
        vec![BackendSpec::new("a", "a").max_conns(3)],
    )
    .unwrap();
    let held: Vec<_> = (0..2)
        .map(|_| pool.pick(&Context::new()).unwrap())
        .collect();
    pool.update(vec![BackendSpec::new("a", "a").max_conns(1)])
        .unwrap();
    assert_eq!(
        pool.pick(&Context::new()).err(),
        Some(NoBackend::AtCapacity)
    );
    drop(held);
    assert!(pool.pick(&Context::new()).is_ok());
}

#[test]
fn a_sticky_client_whose_backend_is_full_is_served_elsewhere_and_keeps_its_entry() {
    let specs = vec![
        BackendSpec::new("a", "a").max_conns(1),
        BackendSpec::new("b", "b").max_conns(1),
    ];
    let pool = Pool::new(AnyStrategy::new(StrategyKind::SourceIpHash), specs).unwrap();
    let client = Context::new().client("10.9.8.7".parse().unwrap());
    let first = pool.pick(&client).unwrap();
    let second = pool.pick(&client).unwrap();
    assert_ne!(first.id(), second.id(), "the full backend was skipped");
    let home = first.id().clone();
    drop((first, second));
    assert_eq!(pool.pick(&client).unwrap().id(), &home, "the entry stayed");
}
