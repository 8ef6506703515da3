//! Random, power of two choices and peak EWMA: shares, ties, and a slow
//! backend in a small discrete model, with round robin as the control.

mod common;

use std::collections::VecDeque;
use std::time::Duration;

use pickwise::strategy::{P2c, PeakEwma, Random, RoundRobin};
use pickwise::{BackendId, Balancer, Context, Outcome, Pick, Pool, Strategy as Balancing};
use proptest::prelude::*;

/// Picks `n` times, dropping each pick at once, and returns the count per backend.
fn idle_counts<S: Balancing>(pool: &Pool<S, usize>, backends: usize, n: usize) -> Vec<usize> {
    let mut counts = vec![0; backends];
    for _ in 0..n {
        counts[*pool.pick(&Context::new()).unwrap().backend()] += 1;
    }
    counts
}

/// How backend 3 misbehaves in the model.
#[derive(Clone, Copy)]
enum Slow {
    /// Holds its picks 40 ms instead of 4, and records that latency.
    Holds,
    /// Holds its picks 4 ms like the others but records 40 ms.
    Reports,
    /// Holds its picks 4 ms and answers every one with a server error.
    Fails,
}

fn slow_share<S: Balancing>(strategy: S, record: bool) -> f64 {
    slow_share_of(strategy, record, Slow::Holds)
}

/// The model: 4 backends on a manual clock; every millisecond 4 requests
/// arrive; a request holds its pick 4 ms, or as `slow` says on backend 3.
/// When `record` is set, each pick records an outcome when released.
/// Returns backend 3's share of all picks.
fn slow_share_of<S: Balancing>(strategy: S, record: bool, slow: Slow) -> f64 {
    const TICKS: u64 = 5_000;
    const SLOW: usize = 3;
    let (pool, clock) = common::pool_with_clock(strategy, common::equal(4));
    let mut held: VecDeque<(u64, u64, Pick<usize>)> = VecDeque::new();
    let mut counts = [0u64; 4];
    for tick in 0..TICKS {
        clock.advance(Duration::from_millis(1));
        let mut kept = VecDeque::new();
        for (due, hold, mut pick) in held.drain(..) {
            if due <= tick {
                if record {
                    let latency = Duration::from_millis(hold);
                    let outcome = match slow {
                        Slow::Reports if *pick.backend() == SLOW => Outcome::success(latency * 10),
                        Slow::Fails if *pick.backend() == SLOW => Outcome::server_error(latency),
                        _ => Outcome::success(latency),
                    };
                    pick.record(outcome);
                }
            } else {
                kept.push_back((due, hold, pick));
            }
        }
        held = kept;
        for _ in 0..4 {
            let pick = pool.pick(&Context::new()).unwrap();
            let b = *pick.backend();
            counts[b] += 1;
            let hold = match slow {
                Slow::Holds if b == SLOW => 40,
                _ => 4,
            };
            held.push_back((tick + hold, hold, pick));
        }
    }
    let share = counts[SLOW] as f64 / counts.iter().sum::<u64>() as f64;
    eprintln!("slow backend share {share:.4} of picks {counts:?}");
    share
}

#[test]
fn round_robin_control_gives_the_slow_backend_its_fair_share() {
    let share = slow_share(RoundRobin::new(), true);
    assert!((0.24..=0.26).contains(&share), "{share}");
}

#[test]
fn random_control_gives_the_slow_backend_about_its_fair_share() {
    let share = slow_share(Random::new().seeded(7), true);
    assert!((0.23..=0.27).contains(&share), "{share}");
}

#[test]
fn p2c_gives_a_slow_backend_less_than_half_its_fair_share() {
    let share = slow_share(P2c::new().seeded(7), false);
    assert!(share < 0.5 * 0.25, "{share}");
}

#[test]
fn peak_ewma_gives_a_slow_backend_less_than_half_its_fair_share() {
    let share = slow_share(PeakEwma::new().seeded(7), true);
    assert!(share < 0.5 * 0.25, "{share}");
}

#[test]
fn peak_ewma_avoids_a_backend_that_reports_slow_answers() {
    // Same holding time for everyone: only the recorded latency differs,
    // so in-flight counts alone would not see it.
    let share = slow_share_of(PeakEwma::new().seeded(8), true, Slow::Reports);
    assert!(share < 0.5 * 0.25, "{share}");
    let control = slow_share_of(RoundRobin::new(), true, Slow::Reports);
    assert!((0.24..=0.26).contains(&control), "{control}");
}

#[test]
fn peak_ewma_penalises_a_backend_that_fails_fast() {
    let share = slow_share_of(PeakEwma::new().seeded(9), true, Slow::Fails);
    assert!(share < 0.5 * 0.25, "{share}");
    // Without the penalty it gets its fair share: the test can fail.
    let share = slow_share_of(
        PeakEwma::new().seeded(9).error_penalty(0.0),
        true,
        Slow::Fails,
    );
    assert!(share > 0.2, "{share}");
}

#[test]
fn peak_ewma_rejects_nonsense_settings() {
    assert!(Pool::new(PeakEwma::new().error_penalty(f64::NAN), common::equal(2)).is_err());
    assert!(Pool::new(PeakEwma::new().error_penalty(-1.0), common::equal(2)).is_err());
    assert!(Pool::new(
        PeakEwma::new().default_latency(Duration::ZERO),
        common::equal(2)
    )
    .is_err());
}

#[test]
fn random_follows_the_weights() {
    let weights = [1, 2, 3, 4];
    let pool = Pool::new(Random::new().seeded(1), common::weighted(&weights)).unwrap();
    let counts = idle_counts(&pool, 4, 100_000);
    for (i, &w) in weights.iter().enumerate() {
        let share = counts[i] as f64 / 100_000.0;
        let want = f64::from(w) / 10.0;
        assert!(
            (share - want).abs() < 0.01,
            "backend {i}: {share} vs {want}"
        );
    }
}

/// Agent reports below the configured weight thin the fast draw; one above
/// it switches to the exact scan. Both must give shares by effective weight.
#[test]
fn random_follows_agent_weights_below_and_above_the_configured_ones() {
    for (reply, want) in [("50%", 1.0 / 3.0), ("weight:3", 0.75)] {
        let pool = Pool::new(Random::new().seeded(5), common::equal(2)).unwrap();
        pool.apply_agent_reply(&BackendId::new("b0"), reply.as_bytes())
            .unwrap();
        let counts = idle_counts(&pool, 2, 100_000);
        let share = counts[0] as f64 / 100_000.0;
        assert!((share - want).abs() < 0.01, "{reply}: {share} vs {want}");
    }
}

#[test]
fn random_and_p2c_honour_exclusions() {
    let excluded = [BackendId::new("b1")];
    let ctx = Context::new().exclude(&excluded);
    let random = Pool::new(Random::new().seeded(3), common::equal(2)).unwrap();
    let p2c = Pool::new(P2c::new().seeded(3), common::equal(2)).unwrap();
    for _ in 0..100 {
        assert_eq!(*random.pick(&ctx).unwrap().backend(), 0);
        assert_eq!(*p2c.pick(&ctx).unwrap().backend(), 0);
    }
    let both = [BackendId::new("b0"), BackendId::new("b1")];
    assert!(random.pick(&Context::new().exclude(&both)).is_err());
    assert!(p2c.pick(&Context::new().exclude(&both)).is_err());
}

#[test]
fn p2c_ties_do_not_favour_the_lower_index() {
    // All idle: every comparison is a tie. Settling ties by position would
    // give b0 every pick of two backends, and half the picks of four.
    let pool = Pool::new(P2c::new().seeded(11), common::equal(2)).unwrap();
    let counts = idle_counts(&pool, 2, 10_000);
    assert!((4_700..=5_300).contains(&counts[0]), "{counts:?}");
    let pool = Pool::new(P2c::new().seeded(12), common::equal(4)).unwrap();
    let counts = idle_counts(&pool, 4, 20_000);
    for c in counts {
        assert!((4_600..=5_400).contains(&c), "{c}");
    }
}

use common::{ops, Op};

proptest! {
    /// With two backends both are always the candidates, so every pick
    /// must be a minimum of (in_flight + 1) / weight.
    #[test]
    fn p2c_of_two_picks_the_less_loaded_per_weight(
        w0 in 1u32..10,
        w1 in 1u32..10,
        seed in any::<u64>(),
        ops in ops(),
    ) {
        let weights = [w0, w1];
        let pool = Pool::new(P2c::new().seeded(seed), common::weighted(&weights)).unwrap();
        let mut model = [0u64; 2];
        let mut held: Vec<Pick<usize>> = Vec::new();
        for op in &ops {
            match op {
                Op::Pick => {
                    let pick = pool.pick(&Context::new()).unwrap();
                    let c = *pick.backend();
                    let o = 1 - c;
                    prop_assert!(
                        (model[c] + 1) * u64::from(weights[o]) <= (model[o] + 1) * u64::from(weights[c]),
                        "chose {} with {:?} weights {:?}", c, model, weights
                    );
                    model[c] += 1;
                    held.push(pick);
                }
                Op::Drop(at) if !held.is_empty() => {
                    let pick = held.swap_remove(at % held.len());
                    model[*pick.backend()] -= 1;
                }
                Op::Drop(_) => {}
            }
        }
    }
}
