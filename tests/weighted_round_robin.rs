mod common;

use pickwise::strategy::WeightedRoundRobin;
use pickwise::{Balancer, Context, Pool};
use proptest::prelude::*;

/// nginx's smooth weighted round robin, written plainly: the reference.
fn nginx_sequence(weights: &[i64], picks: usize) -> Vec<usize> {
    let mut current = vec![0i64; weights.len()];
    let total: i64 = weights.iter().sum();
    (0..picks)
        .map(|_| {
            let mut best = 0;
            for i in 0..weights.len() {
                current[i] += weights[i];
                if current[i] > current[best] {
                    best = i;
                }
            }
            current[best] -= total;
            best
        })
        .collect()
}

fn sequence(pool: &Pool<WeightedRoundRobin, usize>, picks: usize) -> Vec<usize> {
    (0..picks)
        .map(|_| *pool.pick(&Context::new()).unwrap().backend())
        .collect()
}

#[test]
fn matches_the_known_nginx_example() {
    let pool = Pool::new(WeightedRoundRobin::new(), common::weighted(&[5, 1, 1])).unwrap();
    assert_eq!(sequence(&pool, 7), vec![0, 0, 1, 0, 2, 0, 0]);
}

proptest! {
    #[test]
    fn equals_the_nginx_reference(weights in prop::collection::vec(1u32..50, 1..12), picks in 0usize..600) {
        let pool = Pool::new(WeightedRoundRobin::new(), common::weighted(&weights)).unwrap();
        let reference = nginx_sequence(&weights.iter().map(|&w| i64::from(w)).collect::<Vec<_>>(), picks);
        prop_assert_eq!(sequence(&pool, picks), reference);
    }

    #[test]
    fn every_window_gives_each_backend_its_weight(weights in prop::collection::vec(1u32..20, 1..10), windows in 1usize..5) {
        let pool = Pool::new(WeightedRoundRobin::new(), common::weighted(&weights)).unwrap();
        let total: u32 = weights.iter().sum();
        for _ in 0..windows {
            let mut counts = vec![0u32; weights.len()];
            for i in sequence(&pool, total as usize) {
                counts[i] += 1;
            }
            prop_assert_eq!(&counts, &weights);
        }
    }
}

#[test]
fn follows_weight_changes_made_by_an_update() {
    let pool = Pool::new(WeightedRoundRobin::new(), common::weighted(&[1, 1])).unwrap();
    pool.update(common::weighted(&[3, 1])).unwrap();
    let mut counts = [0; 2];
    for i in sequence(&pool, 40) {
        counts[i] += 1;
    }
    assert_eq!(counts, [30, 10]);
}

/// Weights as the reference takes them.
fn wide(weights: &[u32]) -> Vec<i64> {
    weights.iter().map(|&w| i64::from(w)).collect()
}

/// Backend `b{i}`'s id.
fn id(i: usize) -> pickwise::BackendId {
    format!("b{i}").into()
}

/// The reference's sequence from position `from` on, leaving out the
/// entries of `missing`, `picks` long: what skipping gives while `missing`
/// is unavailable (the pool's cursor moves past its entries).
fn reference_without(weights: &[i64], from: usize, missing: usize, picks: usize) -> Vec<usize> {
    let total: i64 = weights.iter().sum();
    let period = nginx_sequence(weights, total as usize);
    (from..)
        .map(|n| period[n % period.len()])
        .filter(|&i| i != missing)
        .take(picks)
        .collect()
}

#[test]
fn after_an_agent_changes_a_weight_the_order_is_the_nginx_sequence_of_the_new_weights() {
    let pool = Pool::new(WeightedRoundRobin::new(), common::weighted(&[5, 1, 1])).unwrap();
    assert_eq!(sequence(&pool, 3), nginx_sequence(&[5, 1, 1], 3));
    // b1 now counts as weight 4.
    pool.apply_agent_reply(&id(1), b"weight:4").unwrap();
    assert_eq!(sequence(&pool, 40), nginx_sequence(&[5, 4, 1], 40));
    // And at half of its configured weight 1 (the weights in hundredths: 500, 50, 100).
    pool.apply_agent_reply(&id(1), b"50%").unwrap();
    assert_eq!(sequence(&pool, 60), nginx_sequence(&[10, 1, 2], 60));
}

#[test]
fn a_backend_that_goes_down_is_left_out_and_the_order_resumes_where_the_cursor_is_when_it_returns()
{
    let weights = [3, 2, 1, 1];
    let pool = Pool::new(WeightedRoundRobin::new(), common::weighted(&weights)).unwrap();
    let reference = nginx_sequence(&wide(&weights), 70);
    assert_eq!(sequence(&pool, 3), reference[..3]);
    pool.set_state(
        &id(2),
        pickwise::AdminState::Down,
        pickwise::Reason::Program("test".into()),
    );
    // Two periods without b2: its entries are skipped, the others keep
    // their places and each gets its weight over each period.
    let down = sequence(&pool, 12);
    assert_eq!(down, reference_without(&wide(&weights), 3, 2, 12));
    // The cursor went past the 12 picks and the entries of b2 among them.
    let mut at = 3;
    let mut taken = 0;
    while taken < 12 {
        if reference[at] != 2 {
            taken += 1;
        }
        at += 1;
    }
    pool.set_state(
        &id(2),
        pickwise::AdminState::Up,
        pickwise::Reason::Program("test".into()),
    );
    assert_eq!(sequence(&pool, 30), reference[at..at + 30]);
}

#[test]
fn a_request_that_excludes_a_backend_skips_its_entry_without_moving_the_others() {
    let weights = [2, 1, 1];
    let pool = Pool::new(WeightedRoundRobin::new(), common::weighted(&weights)).unwrap();
    let excluded = [id(0)];
    let picks: Vec<usize> = (0..8)
        .map(|_| {
            *pool
                .pick(&Context::new().exclude(&excluded))
                .unwrap()
                .backend()
        })
        .collect();
    assert_eq!(picks, reference_without(&wide(&weights), 0, 0, 8));
}

#[test]
fn weights_past_the_schedule_bound_take_the_exact_step_and_still_follow_nginx() {
    // No common factor and a period of 1,999,999 picks: past the schedule's
    // bound of 2^20, so every pick takes nginx's step itself.
    let big = [1_000_000, 999_999];
    let pool = Pool::new(WeightedRoundRobin::new(), common::weighted(&big)).unwrap();
    assert_eq!(
        sequence(&pool, 500),
        nginx_sequence(&[1_000_000, 999_999], 500)
    );
}

#[test]
fn the_order_stays_nginx_s_when_weights_move_between_a_schedule_and_the_exact_step() {
    let pool = Pool::new(WeightedRoundRobin::new(), common::weighted(&[3, 1])).unwrap();
    assert_eq!(sequence(&pool, 5), nginx_sequence(&[3, 1], 5));
    // Past the bound: the exact step, from scores of zero.
    pool.update(common::weighted(&[1_000_000, 999_999]))
        .unwrap();
    assert_eq!(
        sequence(&pool, 50),
        nginx_sequence(&[1_000_000, 999_999], 50)
    );
    // Back under it: a schedule again, from its start.
    pool.update(common::weighted(&[2, 5, 1])).unwrap();
    assert_eq!(sequence(&pool, 50), nginx_sequence(&[2, 5, 1], 50));
}

#[test]
fn two_threads_picking_at_once_give_each_backend_its_weight_over_whole_periods() {
    let weights = [5u32, 3, 1, 1];
    let pool = Pool::new(WeightedRoundRobin::new(), common::weighted(&weights)).unwrap();
    // 2 x 5,000 picks: 1,000 whole periods of 10, however they interleave.
    let counts: Vec<Vec<u32>> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut counts = vec![0u32; weights.len()];
                    for _ in 0..5_000 {
                        counts[*pool.pick(&Context::new()).unwrap().backend()] += 1;
                    }
                    counts
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let total: Vec<u32> = (0..weights.len())
        .map(|i| counts[0][i] + counts[1][i])
        .collect();
    assert_eq!(total, vec![5_000, 3_000, 1_000, 1_000]);
}

#[test]
fn a_slow_start_ramp_keeps_every_pick_on_an_eligible_backend_and_the_order_returns_to_nginx_after_it(
) {
    use pickwise::health::SlowStart;
    use std::time::Duration;
    let clock = std::sync::Arc::new(pickwise::clock::ManualClock::new());
    let pool = Pool::builder(WeightedRoundRobin::new())
        .clock(clock.clone())
        .slow_start(SlowStart::new(Duration::from_secs(10)))
        .build(common::weighted(&[2, 1]))
        .unwrap();
    pool.set_state(
        &id(0),
        pickwise::AdminState::Down,
        pickwise::Reason::Program("test".into()),
    );
    assert!(sequence(&pool, 5).iter().all(|&i| i == 1));
    // Back up: b0 ramps from a small weight over 10 s.
    pool.set_state(
        &id(0),
        pickwise::AdminState::Up,
        pickwise::Reason::Program("test".into()),
    );
    clock.advance(Duration::from_secs(1));
    let ramping = sequence(&pool, 40);
    let zeros = ramping.iter().filter(|&&i| i == 0).count();
    assert!(zeros > 0 && zeros < 20, "b0 ramps: {zeros} of 40 picks");
    // The ramp ends: the schedule, built from the weights without ramps,
    // goes on where its cursor is, so the picks are nginx's order again
    // (a window of its periodic sequence).
    clock.advance(Duration::from_secs(10));
    let after = sequence(&pool, 30);
    let period = nginx_sequence(&[2, 1], 33);
    assert!(
        (0..3).any(|shift| after[..] == period[shift..shift + 30]),
        "not nginx's order after the ramp: {after:?}"
    );
}

#[test]
fn a_ramping_backend_gets_its_ramped_share_without_leaving_the_schedule() {
    use pickwise::health::SlowStart;
    use std::time::Duration;
    let clock = std::sync::Arc::new(pickwise::clock::ManualClock::new());
    let pool = Pool::builder(WeightedRoundRobin::new())
        .clock(clock.clone())
        .slow_start(SlowStart::new(Duration::from_secs(10)))
        .build(common::weighted(&[1, 1, 1, 1]))
        .unwrap();
    pool.set_state(
        &id(3),
        pickwise::AdminState::Down,
        pickwise::Reason::Program("t".into()),
    );
    pool.set_state(
        &id(3),
        pickwise::AdminState::Up,
        pickwise::Reason::Program("t".into()),
    );
    clock.advance(Duration::from_secs(5));
    let ramped = pool.status(&id(3)).unwrap().effective_weight as f64;
    let full = pool.status(&id(0)).unwrap().effective_weight as f64;
    let picks = 40_000;
    let got = sequence(&pool, picks).iter().filter(|&&i| i == 3).count() as f64;
    let want = picks as f64 * ramped / (3.0 * full + ramped);
    let sigma = (picks as f64 * 0.25).sqrt();
    assert!(
        ramped < full && (got - want).abs() < 4.0 * sigma,
        "b3 at {ramped} of {full}: {got} picks of {picks}, want {want:.0}"
    );
}
