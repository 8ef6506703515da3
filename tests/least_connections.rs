mod common;

use pickwise::strategy::{LeastConnections, WeightedLeastConnections};
use pickwise::{
    AdminState, BackendId, Balancer, Context, Pick, Pool, Reason, Strategy as Balancing,
};
use proptest::prelude::*;

use common::{ops, Op};

/// Runs `ops`, checking every pick against `is_minimum(model, chosen)` where
/// the model is the test's own count of outstanding picks per backend.
fn run<S: Balancing>(
    pool: &Pool<S, usize>,
    backends: usize,
    ops: &[Op],
    is_minimum: impl Fn(&[u64], usize) -> bool,
) -> Result<(), TestCaseError> {
    let mut model = vec![0u64; backends];
    let mut held: Vec<Pick<usize>> = Vec::new();
    for op in ops {
        match op {
            Op::Pick => {
                let pick = pool.pick(&Context::new()).unwrap();
                let chosen = *pick.backend();
                prop_assert!(
                    is_minimum(&model, chosen),
                    "chose {} with model {:?}",
                    chosen,
                    model
                );
                model[chosen] += 1;
                held.push(pick);
            }
            Op::Drop(at) if !held.is_empty() => {
                let pick = held.swap_remove(at % held.len());
                model[*pick.backend()] -= 1;
            }
            Op::Drop(_) => {}
        }
        for (i, status) in pool.backends().iter().enumerate() {
            prop_assert_eq!(status.in_flight, Some(model[i]));
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn least_connections_picks_a_minimum(n in 1usize..12, ops in ops()) {
        let pool = Pool::new(LeastConnections::new(), common::equal(n)).unwrap();
        run(&pool, n, &ops, |model, chosen| model[chosen] == *model.iter().min().unwrap())?;
    }

    /// The scan checks eligibility only for improving candidates: the
    /// choice must still be a minimum among the backends that are up and
    /// not excluded, whatever the others' counts.
    #[test]
    fn least_connections_picks_a_minimum_among_the_eligible(
        n in 2usize..12,
        down in any::<u16>(),
        steps in prop::collection::vec((any::<u16>(), any::<bool>(), any::<usize>()), 1..200),
    ) {
        let pool = Pool::new(LeastConnections::new(), common::equal(n)).unwrap();
        let id = |i: usize| BackendId::new(format!("b{i}"));
        let is_down = |i: usize| down & (1 << i) != 0;
        for i in (0..n).filter(|&i| is_down(i)) {
            pool.set_state(&id(i), AdminState::Down, Reason::Admin("test".into()));
        }
        let mut model = vec![0u64; n];
        let mut held: Vec<Pick<usize>> = Vec::new();
        for (excluded, pick, at) in steps {
            if !pick {
                if !held.is_empty() {
                    let dropped = held.swap_remove(at % held.len());
                    model[*dropped.backend()] -= 1;
                }
                continue;
            }
            let exclude: Vec<BackendId> = (0..n).filter(|i| excluded & (1 << i) != 0).map(id).collect();
            let eligible: Vec<usize> = (0..n)
                .filter(|&i| !is_down(i) && excluded & (1 << i) == 0)
                .collect();
            match pool.pick(&Context::new().exclude(&exclude)) {
                Ok(pick) => {
                    let chosen = *pick.backend();
                    prop_assert!(eligible.contains(&chosen), "chose {} of {:?}", chosen, eligible);
                    let least = eligible.iter().map(|&i| model[i]).min().unwrap();
                    prop_assert_eq!(model[chosen], least, "model {:?}", model);
                    model[chosen] += 1;
                    held.push(pick);
                }
                Err(_) => prop_assert!(eligible.is_empty()),
            }
        }
    }

    #[test]
    fn weighted_least_connections_picks_a_minimum_per_weight(
        weights in prop::collection::vec(1u32..10, 1..10),
        ops in ops(),
    ) {
        let pool = Pool::new(WeightedLeastConnections::new(), common::weighted(&weights)).unwrap();
        // (c + 1) / w as an exact fraction compared by cross-multiplying.
        let cost = |model: &[u64], i: usize| (model[i] + 1, u64::from(weights[i]));
        run(&pool, weights.len(), &ops, |model, chosen| {
            let (cn, cw) = cost(model, chosen);
            (0..model.len()).all(|i| {
                let (n, w) = cost(model, i);
                cn * w <= n * cw
            })
        })?;
    }
}

proptest! {
    /// From 64 backends a pick may stop at the set's in-flight floor, which
    /// releases lower and full scans settle: with every backend busy, after
    /// releases anywhere, backends going down, draining and coming back,
    /// health checks failing and passing (on 8 backends each, 4 of them
    /// shared, so that the tier stays out of panic, where health is not
    /// asked), and
    /// picks that exclude one, every pick must still be a minimum among the
    /// eligible.
    #[test]
    fn least_connections_over_a_busy_large_set_picks_a_minimum_among_the_eligible(
        n in 64usize..72,
        busy in 1usize..3,
        steps in prop::collection::vec((0u8..13, any::<usize>()), 1..600),
    ) {
        let pool = Pool::new(LeastConnections::new(), common::equal(n)).unwrap();
        let id = |i: usize| BackendId::new(format!("b{i}"));
        let mut model = vec![0u64; n];
        let mut down = vec![false; n];
        let mut admin = vec![AdminState::Up; n];
        let mut failed = vec![false; n];
        let mut held: Vec<Pick<usize>> = Vec::new();
        let pick = |exclude: Option<usize>, model: &mut Vec<u64>, down: &[bool], held: &mut Vec<Pick<usize>>| {
            let excluded: Vec<BackendId> = exclude.into_iter().map(id).collect();
            let eligible: Vec<usize> = (0..n).filter(|&i| !down[i] && Some(i) != exclude).collect();
            match pool.pick(&Context::new().exclude(&excluded)) {
                Ok(pick) => {
                    let chosen = *pick.backend();
                    prop_assert!(eligible.contains(&chosen), "chose {} of {:?}", chosen, eligible);
                    let least = eligible.iter().map(|&i| model[i]).min().unwrap();
                    prop_assert_eq!(model[chosen], least, "chose {} with model {:?}", chosen, model);
                    model[chosen] += 1;
                    held.push(pick);
                }
                Err(_) => prop_assert!(eligible.is_empty()),
            }
            Ok(())
        };
        for _ in 0..busy * n {
            pick(None, &mut model, &down, &mut held)?;
        }
        for (kind, at) in steps {
            match kind {
                0..=3 => pick(None, &mut model, &down, &mut held)?,
                4 => pick(Some(at % n), &mut model, &down, &mut held)?,
                5..=7 if !held.is_empty() => {
                    let dropped = held.swap_remove(at % held.len());
                    model[*dropped.backend()] -= 1;
                }
                8..=10 => {
                    let state = [AdminState::Down, AdminState::Up, AdminState::Draining][usize::from(kind - 8)];
                    admin[4 + at % 8] = state;
                    pool.set_state(&id(4 + at % 8), state, Reason::Admin("test".into()));
                }
                11 | 12 => {
                    let fails = kind == 11;
                    failed[at % 8] = fails;
                    let result = if fails {
                        pickwise::health::CheckResult::Failed(pickwise::health::CheckFailure::Refused)
                    } else {
                        pickwise::health::CheckResult::Passed
                    };
                    pool.set_health(&id(at % 8), result);
                }
                _ => {}
            }
            for i in 0..n {
                down[i] = admin[i] != AdminState::Up || failed[i];
            }
        }
    }
}

proptest! {
    /// The weighted kind keeps its floor in requests per unit of weight:
    /// with weights 1 to 4, busy backends, releases anywhere, backends
    /// going down and up, agents moving weights (which the floor must not
    /// outlive), and picks that exclude one, every pick must still be a
    /// minimum of (in flight + 1) / weight among the eligible.
    #[test]
    fn weighted_least_connections_over_a_busy_large_set_picks_a_minimum_per_weight(
        weights in prop::collection::vec(1u32..5, 64..70),
        busy in 1usize..3,
        steps in prop::collection::vec((0u8..11, any::<usize>()), 1..600),
    ) {
        let n = weights.len();
        let (pool, _clock) = common::pool_with_clock(WeightedLeastConnections::new(), common::weighted(&weights));
        let id = |i: usize| BackendId::new(format!("b{i}"));
        let mut weight = weights.clone();
        let mut model = vec![0u64; n];
        let mut down = vec![false; n];
        let mut held: Vec<Pick<usize>> = Vec::new();
        let pick = |exclude: Option<usize>, model: &mut Vec<u64>, down: &[bool], weight: &[u32], held: &mut Vec<Pick<usize>>| {
            let excluded: Vec<BackendId> = exclude.into_iter().map(id).collect();
            let eligible: Vec<usize> = (0..n).filter(|&i| !down[i] && Some(i) != exclude).collect();
            let cost = |i: usize| (model[i] + 1, u64::from(weight[i]));
            match pool.pick(&Context::new().exclude(&excluded)) {
                Ok(pick) => {
                    let chosen = *pick.backend();
                    prop_assert!(eligible.contains(&chosen), "chose {} of {:?}", chosen, eligible);
                    let (cn, cw) = cost(chosen);
                    for &i in &eligible {
                        let (m, w) = cost(i);
                        prop_assert!(cn * w <= m * cw, "chose {} ({}/{}) over {} ({}/{}), model {:?}", chosen, cn, cw, i, m, w, model);
                    }
                    model[chosen] += 1;
                    held.push(pick);
                }
                Err(_) => prop_assert!(eligible.is_empty()),
            }
            Ok(())
        };
        for _ in 0..busy * n {
            pick(None, &mut model, &down, &weight, &mut held)?;
        }
        for (kind, at) in steps {
            match kind {
                0..=3 => pick(None, &mut model, &down, &weight, &mut held)?,
                4 => pick(Some(at % n), &mut model, &down, &weight, &mut held)?,
                5..=7 if !held.is_empty() => {
                    let dropped = held.swap_remove(at % held.len());
                    model[*dropped.backend()] -= 1;
                }
                8 => {
                    down[at % n] = true;
                    pool.set_state(&id(at % n), AdminState::Down, Reason::Admin("test".into()));
                }
                9 => {
                    down[at % n] = false;
                    pool.set_state(&id(at % n), AdminState::Up, Reason::Admin("test".into()));
                }
                10 => {
                    let (i, w) = (at % n, 1 + (at / n % 6) as u32);
                    weight[i] = w;
                    pool.apply_agent_reply(&id(i), format!("weight:{w}").as_bytes()).unwrap();
                }
                _ => {}
            }
        }
    }
}

#[test]
fn over_a_busy_large_set_a_released_backend_gets_the_next_pick() {
    // 100 backends with two picks each; releasing one of b37's makes it
    // the only least loaded, whatever the rotating start.
    let pool = Pool::new(LeastConnections::new(), common::equal(100)).unwrap();
    let mut held: Vec<Pick<usize>> = (0..200)
        .map(|_| pool.pick(&Context::new()).unwrap())
        .collect();
    for round in 0..50 {
        let released = (round * 37 + 11) % 100;
        let at = held.iter().position(|p| *p.backend() == released).unwrap();
        drop(held.swap_remove(at));
        let pick = pool.pick(&Context::new()).unwrap();
        assert_eq!(*pick.backend(), released, "round {round}");
        held.push(pick);
    }
}

#[test]
fn ties_go_round_robin_rather_than_to_the_first_backend() {
    let pool = Pool::new(LeastConnections::new(), common::equal(4)).unwrap();
    let mut counts = [0; 4];
    for _ in 0..400 {
        counts[*pool.pick(&Context::new()).unwrap().backend()] += 1;
    }
    assert_eq!(counts, [100; 4]);
}

#[test]
fn weighted_least_connections_fills_by_weight_from_idle() {
    let pool = Pool::new(WeightedLeastConnections::new(), common::weighted(&[3, 1])).unwrap();
    let held: Vec<_> = (0..8)
        .map(|_| pool.pick(&Context::new()).unwrap())
        .collect();
    let on_heavy = held.iter().filter(|p| *p.backend() == 0).count();
    assert_eq!(on_heavy, 6);
}

#[test]
fn an_idle_backend_that_may_not_take_the_request_does_not_end_the_scan() {
    // b0 is idle but down, b1 busy, b2 and b3 idle: whatever the start,
    // the pick is the first idle backend that is up, never b0 or b1.
    let pool = Pool::new(LeastConnections::new(), common::equal(4)).unwrap();
    let only_b1: Vec<BackendId> = [0, 2, 3]
        .iter()
        .map(|i| BackendId::new(format!("b{i}")))
        .collect();
    let held = pool.pick(&Context::new().exclude(&only_b1)).unwrap();
    assert_eq!(*held.backend(), 1);
    pool.set_state(
        &BackendId::new("b0"),
        AdminState::Down,
        Reason::Admin("test".into()),
    );
    let mut counts = [0; 4];
    for _ in 0..40 {
        counts[*pool.pick(&Context::new()).unwrap().backend()] += 1;
    }
    assert_eq!((counts[0], counts[1]), (0, 0), "counts {counts:?}");
    assert!(counts[2] > 0 && counts[3] > 0, "counts {counts:?}");
}

#[test]
fn weighted_least_connections_does_not_stop_at_an_idle_backend_below_the_top_weight() {
    // Idle, b1's next request costs 1/3 and b0's 1/1: a scan starting at
    // b0 must not stop there.
    let pool = Pool::new(WeightedLeastConnections::new(), common::weighted(&[1, 3])).unwrap();
    for _ in 0..8 {
        assert_eq!(*pool.pick(&Context::new()).unwrap().backend(), 1);
    }
}

#[test]
fn weighted_least_connections_finds_a_backend_an_agent_weighs_above_its_configured_weight() {
    // Both configured at weight 1, so an idle backend of weight 1 would be
    // the lightest there can be; the agent's `weight:5` makes b1 lighter
    // still, and no pick may stop at b0.
    let (pool, _clock) = common::pool_with_clock(WeightedLeastConnections::new(), common::equal(2));
    pool.apply_agent_reply(&BackendId::new("b1"), b"weight:5")
        .unwrap();
    for _ in 0..8 {
        assert_eq!(*pool.pick(&Context::new()).unwrap().backend(), 1);
    }
}

#[test]
fn weighted_least_connections_over_a_busy_large_set_stays_exact_while_a_backend_ramps() {
    // 80 backends of weights 1 to 4, two picks each; b5 goes down and back
    // up, so it ramps over 10 s and its cost falls with the clock alone:
    // no floor may outlive that. Every pick is checked against the costs
    // the pool reports just before it.
    let clock = std::sync::Arc::new(pickwise::clock::ManualClock::new());
    let weights: Vec<u32> = (0..80).map(|i| 1 + i % 4).collect();
    let pool = Pool::builder(WeightedLeastConnections::new())
        .clock(clock.clone())
        .slow_start(pickwise::health::SlowStart::new(
            std::time::Duration::from_secs(10),
        ))
        .build(common::weighted(&weights))
        .unwrap();
    let mut held: Vec<Pick<usize>> = (0..160)
        .map(|_| pool.pick(&Context::new()).unwrap())
        .collect();
    let b5 = BackendId::new("b5");
    pool.set_state(&b5, AdminState::Down, Reason::Admin("test".into()));
    pool.set_state(&b5, AdminState::Up, Reason::Admin("test".into()));
    let ramped = pool.status(&b5).unwrap().effective_weight;
    assert!(ramped < u64::from(weights[5]) * 100, "b5 ramps: {ramped}");
    let mut picked_b5 = 0;
    for step in 0..400usize {
        clock.advance(std::time::Duration::from_millis(25));
        if step % 3 == 2 {
            drop(held.swap_remove(step * 7 % held.len()));
            continue;
        }
        let costs: Vec<(u64, u64)> = pool
            .backends()
            .iter()
            .map(|b| (b.in_flight.unwrap() + 1, b.effective_weight))
            .collect();
        let pick = pool.pick(&Context::new()).unwrap();
        let chosen = *pick.backend();
        let (cn, cw) = costs[chosen];
        for (i, &(n, w)) in costs.iter().enumerate() {
            assert!(
                u128::from(cn) * u128::from(w) <= u128::from(n) * u128::from(cw),
                "step {step}: chose b{chosen} ({cn}/{cw}) over b{i} ({n}/{w})"
            );
        }
        picked_b5 += usize::from(chosen == 5);
        held.push(pick);
    }
    assert!(picked_b5 > 0, "the ramping backend was never picked");
}

/// A pool of `weights.len()` backends on a manual clock that ejects after
/// one failure (up to half the set), with or without slow start.
fn large_pool<S: Balancing>(
    strategy: S,
    weights: &[u32],
    slow_start: bool,
) -> (Pool<S, usize>, std::sync::Arc<pickwise::clock::ManualClock>) {
    use pickwise::health::{HealthConfig, SlowStart};
    let clock = std::sync::Arc::new(pickwise::clock::ManualClock::new());
    let ramp = if slow_start {
        SlowStart::new(std::time::Duration::from_secs(10))
    } else {
        SlowStart::disabled()
    };
    let pool = Pool::builder(strategy)
        .clock(clock.clone())
        .slow_start(ramp)
        .health(HealthConfig {
            consecutive_failures: 1,
            max_ejected_percent: 50,
            ..HealthConfig::default()
        })
        .build(common::weighted(weights))
        .unwrap();
    (pool, clock)
}

/// Ejects `id` with one failed pick that excludes every other backend.
fn eject<S: Balancing>(pool: &Pool<S, usize>, n: usize, id: usize) {
    let others: Vec<BackendId> = (0..n)
        .filter(|&i| i != id)
        .map(|i| BackendId::new(format!("b{i}")))
        .collect();
    let mut pick = pool.pick(&Context::new().exclude(&others)).unwrap();
    assert_eq!(*pick.backend(), id);
    pick.record(pickwise::Outcome::failure(
        pickwise::FailureKind::ConnectRefused,
        std::time::Duration::ZERO,
    ));
    let status = pool.status(&BackendId::new(format!("b{id}"))).unwrap();
    assert_eq!(status.state, pickwise::BackendState::Ejected);
}

#[test]
fn an_ejected_backend_drained_and_set_up_again_is_not_left_below_the_floor() {
    // b0 keeps one pick while the others climb to 3; draining it while
    // ejected and setting it up again does not move the state observers
    // see ("ejected" outranks both), but must not leave it behind a floor
    // settled while it was plainly out.
    let (pool, clock) = large_pool(LeastConnections::new(), &[1; 64], false);
    let mut held: Vec<Pick<usize>> = (0..64)
        .map(|_| pool.pick(&Context::new()).unwrap())
        .collect();
    eject(&pool, 64, 0);
    let b0 = BackendId::new("b0");
    pool.set_state(&b0, AdminState::Draining, Reason::Admin("test".into()));
    for _ in 0..2 * 63 + 1 {
        held.push(pool.pick(&Context::new()).unwrap());
    }
    // One more pick and drop, so that the next pick's rotating start is
    // not b0 itself (the start's count is always read).
    drop(pool.pick(&Context::new()).unwrap());
    pool.set_state(&b0, AdminState::Up, Reason::Admin("test".into()));
    clock.advance(std::time::Duration::from_secs(31 * 60));
    let pick = pool.pick(&Context::new()).unwrap();
    assert_eq!(*pick.backend(), 0, "b0 has 1 in flight, every other 3 or 4");
}

#[test]
fn a_ramp_started_by_a_passing_check_and_releases_during_it_lower_the_weighted_floor() {
    // Weighted, slow start on: b0 is ejected holding two picks, a pick
    // settles the floor with it at full weight, a passing check ends the
    // ejection and starts a ramp (nothing else moves), then b0's picks
    // end: as its weight climbs back, its load falls below every other.
    let (pool, clock) = large_pool(WeightedLeastConnections::new(), &[1; 64], true);
    let mut held: Vec<Pick<usize>> = (0..128)
        .map(|_| pool.pick(&Context::new()).unwrap())
        .collect();
    eject(&pool, 64, 0);
    held.push(pool.pick(&Context::new()).unwrap());
    clock.advance(std::time::Duration::from_secs(31 * 60));
    let b0 = BackendId::new("b0");
    pool.set_health(&b0, pickwise::health::CheckResult::Passed);
    held.retain(|p| *p.backend() != 0);
    clock.advance(std::time::Duration::from_secs(9));
    let status = pool.status(&b0).unwrap();
    assert_eq!(status.in_flight, Some(0));
    assert!(
        status.effective_weight > 50,
        "ramped {}",
        status.effective_weight
    );
    let pick = pool.pick(&Context::new()).unwrap();
    assert_eq!(*pick.backend(), 0, "b0's load 1/0.9+ against 3/1 or 4/1");
}
