use std::cmp::Ordering;

use crate::context::Context;
use crate::error::ConfigError;
use crate::rng::AtomicRng;
use crate::set::BackendSet;
use crate::strategy::{PerWeight, Strategy};

/// Power of two choices: two distinct eligible backends drawn at random, the
/// one with fewer picks in flight per unit of effective weight wins, i.e. the
/// lower `(in_flight + 1) / weight`; a tie is settled by a coin.
///
/// Mitzenmacher's result: comparing just two random candidates brings the
/// maximum load down from `log n / log log n` to `log log n`, nearly as good
/// as scanning everyone, at O(1) cost and without every balancer herding onto
/// the same "least loaded" backend, as a full scan from many uncoordinated
/// balancers does.
///
/// **Choose it** for large sets, for many independent balancers in front of
/// the same backends (one per client, per thread), or whenever
/// [`WeightedLeastConnections`](super::WeightedLeastConnections)'s O(N) scan
/// is too much. Envoy's and Finagle's default.
///
/// **Synchronisation**: no lock. Two draws from a lock-free [`AtomicRng`]
/// and four atomic loads in the common case; when a drawn backend is not
/// eligible (down, excluded) it retries a few times, then draws from the
/// eligible ones by an O(N) scan. Costs are compared by cross-multiplying
/// in `u128`, no floats.
#[derive(Debug, Default)]
pub struct PowerOfTwoChoices {
    rng: AtomicRng,
}

impl PowerOfTwoChoices {
    /// Power of two choices with a random seed.
    pub fn new() -> Self {
        PowerOfTwoChoices::default()
    }

    /// Power of two choices with a fixed seed, for tests and simulations.
    pub fn seeded(seed: u64) -> Self {
        PowerOfTwoChoices {
            rng: AtomicRng::seeded(seed),
        }
    }
}

impl Strategy for PowerOfTwoChoices {
    type Table = ();

    fn build(&self, _set: &BackendSet) -> Result<(), ConfigError> {
        Ok(())
    }

    fn select(&self, _: &(), set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
        let (a, b) = match two_candidates(&self.rng, set, ctx)? {
            (a, Some(b)) => (a, b),
            (only, None) => return Some(only),
        };
        // A weight read as 0 (changed since the eligibility check) makes its
        // backend the costlier one, never a division by zero.
        let cost = |i| PerWeight::of(set.in_flight(i) + 1, set.effective_weight(i));
        Some(settle(&self.rng, a, b, cost(a).cmp(cost(b))))
    }
}

/// `a` if it costs less, `b` if it costs more, a coin on a tie: the
/// candidates come in random order anyway, but settling ties by position
/// would still favour whichever the drawing puts first.
#[inline]
pub(crate) fn settle(rng: &AtomicRng, a: usize, b: usize, order: Ordering) -> usize {
    match order {
        Ordering::Less => a,
        Ordering::Greater => b,
        Ordering::Equal => {
            if rng.next_u64() & 1 == 0 {
                a
            } else {
                b
            }
        }
    }
}

/// Attempts at drawing two eligible backends directly before falling back
/// to a scan: with half the set ineligible, four attempts all fail one time
/// in ~250.
const DIRECT_ATTEMPTS: usize = 4;

/// Two distinct eligible backends drawn uniformly at random, or the only
/// eligible one, or `None` when none is eligible.
///
/// Each direct attempt draws a uniform ordered pair of distinct indices and
/// keeps it only if both are eligible, so a kept pair is uniform over the
/// eligible pairs; the fallback counts the eligible backends and draws two
/// distinct ranks among them, uniform too.
pub(crate) fn two_candidates(
    rng: &AtomicRng,
    set: &BackendSet,
    ctx: &Context<'_>,
) -> Option<(usize, Option<usize>)> {
    let n = set.len();
    if n >= 2 {
        for _ in 0..DIRECT_ATTEMPTS {
            let (a, b) = distinct_pair(rng, n);
            if set.is_eligible(a, ctx) && set.is_eligible(b, ctx) {
                return Some((a, Some(b)));
            }
        }
    }
    let eligible = (0..n).filter(|&i| set.is_eligible(i, ctx)).count();
    if eligible == 0 {
        return None;
    }
    let (rank_a, rank_b) = if eligible >= 2 {
        let (a, b) = distinct_pair(rng, eligible);
        (a, Some(b))
    } else {
        (0, None)
    };
    let (mut a, mut b, mut first) = (None, None, None);
    for (rank, i) in (0..n).filter(|&i| set.is_eligible(i, ctx)).enumerate() {
        first.get_or_insert(i);
        if rank == rank_a {
            a = Some(i);
        }
        if Some(rank) == rank_b {
            b = Some(i);
        }
    }
    // Eligibility may change between the two scans; settle for what the
    // second one found.
    match (a, b) {
        (Some(a), b) => Some((a, b)),
        (None, Some(b)) => Some((b, None)),
        (None, None) => first.map(|i| (i, None)),
    }
}

/// An ordered pair of distinct numbers in `0..n` (n >= 2), uniformly.
#[inline]
fn distinct_pair(rng: &AtomicRng, n: usize) -> (usize, usize) {
    let a = rng.below(n);
    let mut b = rng.below(n - 1);
    if b >= a {
        b += 1;
    }
    (a, b)
}
