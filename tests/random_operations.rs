//! Arbitrary sequences of everything a program can do to a pool (updates
//! with tiers, caps and empty sets, admin states, health-check results,
//! picks held and dropped, outcomes, clock jumps): no panic, bad input is an
//! `Err`, in-flight counts stay exact, and no pick goes to a backend at its
//! cap, held out by the operator, or in a tier the plan gives no traffic
//! while a better tier could have taken it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use pickwise::clock::ManualClock;
use pickwise::health::{CheckFailure, CheckResult};
use pickwise::spec::MAX_WEIGHT;
use pickwise::strategy::{AnyStrategy, StrategyKind};
use pickwise::{
    AdminState, BackendId, BackendSpec, BackendStatus, Balancer, Context, FailureKind, Outcome,
    Pick, Pool, Reason, TierStatus,
};
use proptest::prelude::*;

#[path = "rules/pick_rules.rs"]
mod pick_rules;

#[derive(Debug, Clone)]
enum Op {
    /// Backends as (id, weight, priority, cap; 0 for none).
    Update(Vec<(u8, u32, u8, u32)>),
    SetState(u8, u8),
    SetHealth(u8, bool),
    Pick(u8),
    /// A pick through the pool's `Picker`: kept (made owned) or dropped at once.
    PickLocal(u8, bool),
    Record(usize, u8),
    Drop(usize),
    Advance(u16),
}

fn op() -> impl Strategy<Value = Op> {
    let weight = prop_oneof![
        Just(0u32),
        1u32..5,
        Just(MAX_WEIGHT),
        Just(MAX_WEIGHT + 1),
        Just(u32::MAX)
    ];
    prop_oneof![
        1 => prop::collection::vec((0u8..6, weight, 0u8..3, 0u32..4), 0..6).prop_map(Op::Update),
        1 => (0u8..6, 0u8..3).prop_map(|(b, s)| Op::SetState(b, s)),
        1 => (0u8..6, any::<bool>()).prop_map(|(b, pass)| Op::SetHealth(b, pass)),
        3 => any::<u8>().prop_map(Op::Pick),
        2 => (any::<u8>(), any::<bool>()).prop_map(|(m, keep)| Op::PickLocal(m, keep)),
        2 => (any::<usize>(), 0u8..4).prop_map(|(i, o)| Op::Record(i, o)),
        2 => any::<usize>().prop_map(Op::Drop),
        1 => any::<u16>().prop_map(Op::Advance),
    ]
}

fn id(n: u8) -> BackendId {
    BackendId::new(format!("b{n}"))
}

fn valid(specs: &[(u8, u32, u8, u32)]) -> bool {
    let mut ids: Vec<u8> = specs.iter().map(|s| s.0).collect();
    ids.sort_unstable();
    ids.dedup();
    ids.len() == specs.len() && specs.iter().all(|s| (1..=MAX_WEIGHT).contains(&s.1))
}

fn spec(&(n, weight, priority, cap): &(u8, u32, u8, u32)) -> BackendSpec<u8> {
    let spec = BackendSpec::new(id(n), n).weight(weight).priority(priority);
    if cap > 0 {
        spec.max_conns(cap)
    } else {
        spec
    }
}

/// Checks one pick against the pool as it stood just before it.
fn check_pick(
    picked: &BackendId,
    before: &[BackendStatus],
    tiers: &[TierStatus],
    exclude: &[BackendId],
) -> Result<(), TestCaseError> {
    match pick_rules::broken_by_pick(picked, before, tiers, exclude) {
        Some(broken) => Err(TestCaseError::fail(broken)),
        None => Ok(()),
    }
}

fn run(kind: StrategyKind, ops: &[Op]) -> Result<(), TestCaseError> {
    let clock = Arc::new(ManualClock::new());
    let pool = Pool::builder(AnyStrategy::new(kind))
        .clock(clock.clone())
        .counts_in_flight(true)
        .build((0..3).map(|n| BackendSpec::new(id(n), n)))
        .unwrap();
    let mut held: Vec<Pick<u8>> = Vec::new();
    let mut picker = pool.picker();
    for op in ops {
        match op {
            Op::Update(specs) => {
                let result = pool.update(specs.iter().map(spec));
                prop_assert_eq!(result.is_ok(), valid(specs), "{:?} -> {:?}", specs, result);
                if result.is_ok() {
                    prop_assert_eq!(pool.is_empty(), specs.is_empty());
                }
            }
            Op::SetHealth(n, pass) => {
                let result = if *pass {
                    CheckResult::Passed
                } else {
                    CheckResult::Failed(CheckFailure::TimedOut)
                };
                pool.set_health(&id(*n), result);
            }
            Op::SetState(n, s) => {
                let state =
                    [AdminState::Up, AdminState::Draining, AdminState::Down][usize::from(*s)];
                pool.set_state(&id(*n), state, Reason::Admin("test".into()));
            }
            Op::Pick(mask) => {
                let exclude: Vec<BackendId> =
                    (0..6).filter(|b| mask & (1 << b) != 0).map(id).collect();
                let tiers = pool.tiers();
                let before = pool.backends();
                match pool.pick(&Context::new().exclude(&exclude)) {
                    Ok(pick) => {
                        check_pick(pick.id(), &before, &tiers, &exclude)?;
                        held.push(pick);
                    }
                    Err(_) => {
                        let broken = pick_rules::broken_by_no_pick(&before, &tiers, &exclude);
                        prop_assert!(broken.is_none(), "{}", broken.unwrap_or_default());
                    }
                }
            }
            Op::PickLocal(mask, keep) => {
                let exclude: Vec<BackendId> =
                    (0..6).filter(|b| mask & (1 << b) != 0).map(id).collect();
                let tiers = pool.tiers();
                let before = pool.backends();
                if let Ok(pick) = picker.pick(&Context::new().exclude(&exclude)) {
                    check_pick(pick.id(), &before, &tiers, &exclude)?;
                    prop_assert!(pool.status(pick.id()).is_some(), "picked from a stale set");
                    if *keep {
                        held.push(pick.into_owned());
                    }
                }
            }
            Op::Record(i, o) if !held.is_empty() => {
                let latency = Duration::from_millis(*i as u64 % 500);
                let outcome = match o {
                    0 => Outcome::success(latency),
                    1 => Outcome::server_error(latency),
                    2 => Outcome::failure(FailureKind::ConnectRefused, latency),
                    _ => Outcome::failure(FailureKind::Timeout, latency),
                };
                let n = held.len();
                held[i % n].record(outcome);
            }
            Op::Drop(i) if !held.is_empty() => {
                let n = held.len();
                drop(held.swap_remove(i % n));
            }
            Op::Advance(secs) => clock.advance(Duration::from_secs(u64::from(*secs))),
            Op::Record(..) | Op::Drop(_) => {}
        }
        let mut expected: HashMap<&BackendId, u64> = HashMap::new();
        for pick in &held {
            *expected.entry(pick.id()).or_default() += 1;
        }
        for status in pool.backends() {
            let want = expected.get(&status.id).copied().unwrap_or(0);
            prop_assert_eq!(status.in_flight.unwrap_or(0), want, "{}", status.id);
        }
    }
    drop(picker);
    held.clear();
    prop_assert!(pool
        .backends()
        .iter()
        .all(|s| s.in_flight.unwrap_or(0) == 0));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_sequence_of_operations_is_safe(ops in prop::collection::vec(op(), 1..120)) {
        for kind in StrategyKind::ALL {
            run(*kind, &ops)?;
        }
    }
}
