//! Drawing two distinct eligible backends at random and settling between
//! them: the sampling every power-of-two-choices strategy shares
//! (Mitzenmacher, [The Power of Two Choices in Randomized Load
//! Balancing](https://www.eecs.harvard.edu/~michaelm/postscripts/tpds2001.pdf), 2001).

use std::cmp::Ordering;

use super::rng::AtomicRng;
use crate::runtime::set::BackendSet;
use crate::types::Context;

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
