//! The static stride scheduler of gRPC's weighted round robin (gRFC A58):
//! weights scaled to 16 bits, and a pick that is one shared counter and a
//! test, O(1) expected, whatever the weights. Building one is O(N) and
//! happens off the pick path; a pick reads the current one through an
//! atomic pointer, so weights change without a pick ever rebuilding.
//!
//! The n-th value of the counter visits backend `n mod N` in round
//! `n / N`; backend i with scaled weight `w` takes the visit when
//! `(w * round + i * OFFSET) mod MAX` falls in the last `w` of `MAX`
//! values: `w` rounds in every `MAX`, spread out, the offset keeping
//! backends of equal weight out of step. With weights held within
//! [`MAX_RATIO`] times their mean either way, a pick needs at most
//! `MAX_RATIO` squared visits on average, and about one when weights are
//! near each other.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::Modulus;
use crate::runtime::sync::Swap;

/// The largest scaled weight.
const MAX: u64 = u16::MAX as u64;
/// Steps backends of one weight apart (half the range, as gRPC does).
const OFFSET: u64 = MAX / 2;
/// No weight counts for more than this many times the mean, nor less than
/// the mean over it: a wild report cannot take all traffic, starve a
/// backend for good, or make picks spin.
pub(crate) const MAX_RATIO: f64 = 10.0;

/// Scaled weights, one per backend of the set, in set order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stride {
    scaled: Box<[u16]>,
}

impl Stride {
    /// Every backend alike: round robin.
    pub(crate) fn even(n: usize) -> Self {
        Stride {
            scaled: vec![MAX as u16; n].into_boxed_slice(),
        }
    }

    /// From weights (`None`: unknown). Unknown weights take the mean of the
    /// known ones; with fewer than two known, every backend alike (one
    /// report is no comparison). Weights are held within [`MAX_RATIO`] times
    /// the mean (either way), then scaled so the largest is [`MAX`].
    pub(crate) fn from_weights(weights: &[Option<f64>]) -> Self {
        let known: Vec<f64> = weights
            .iter()
            .flatten()
            .copied()
            .filter(|w| w.is_finite() && *w > 0.0)
            .collect();
        if known.len() < 2 {
            return Stride::even(weights.len());
        }
        let mean = known.iter().sum::<f64>() / known.len() as f64;
        let (floor, cap) = (mean / MAX_RATIO, mean * MAX_RATIO);
        let filled: Vec<f64> = weights
            .iter()
            .map(|w| match w {
                Some(w) if w.is_finite() && *w > 0.0 => w.clamp(floor, cap),
                _ => mean,
            })
            .collect();
        let largest = filled.iter().copied().fold(0.0, f64::max);
        let scaled = filled
            .iter()
            .map(|w| ((w / largest * MAX as f64).round() as u64).clamp(1, MAX) as u16)
            .collect();
        Stride { scaled }
    }

    /// Backend `i`'s scaled weight.
    #[cfg(test)]
    pub(crate) fn scaled(&self, i: usize) -> u16 {
        self.scaled[i]
    }
}

/// A stride schedule that may be replaced while picks read it.
pub(crate) struct StrideTable {
    stride: Swap<Stride>,
    cursor: AtomicU64,
    modulus: Modulus,
    n: usize,
}

impl StrideTable {
    pub(crate) fn new(stride: Stride) -> Self {
        let n = stride.scaled.len();
        StrideTable {
            stride: Swap::new(stride),
            cursor: AtomicU64::new(0),
            modulus: Modulus::new(n),
            n,
        }
    }

    /// Replaces the weights (same set: same length). Picks in flight
    /// finish on the old ones; the counter goes on.
    pub(crate) fn replace(&self, stride: Stride) {
        debug_assert_eq!(stride.scaled.len(), self.n);
        if *self.stride.load().as_ref() != stride {
            self.stride.store(Arc::new(stride));
        }
    }

    /// The next backend by the schedule that `eligible` accepts; after a
    /// bounded number of visits (most backends refused), the first eligible
    /// one from where the counter stands, so a pick never spins.
    #[inline]
    pub(crate) fn pick(&self, eligible: impl Fn(usize) -> bool) -> Option<usize> {
        let n = self.n;
        if n == 0 {
            return None;
        }
        let stride = self.stride.load();
        let visits = 4 * n + 64;
        for _ in 0..visits {
            let at = self.cursor.fetch_add(1, Ordering::Relaxed);
            let i = self.modulus.of(at);
            let round = at / n as u64;
            let weight = u64::from(stride.scaled[i]);
            let phase = (weight * (round % MAX) + i as u64 * OFFSET) % MAX;
            if phase >= MAX - weight && eligible(i) {
                return Some(i);
            }
        }
        let start = self.modulus.of(self.cursor.load(Ordering::Relaxed));
        (0..n).map(|k| (start + k) % n).find(|&i| eligible(i))
    }
}

impl std::fmt::Debug for StrideTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StrideTable")
            .field("stride", self.stride.load().as_ref())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shares(table: &StrideTable, picks: usize) -> Vec<usize> {
        let mut counts = vec![0; table.n];
        for _ in 0..picks {
            counts[table.pick(|_| true).unwrap()] += 1;
        }
        counts
    }

    #[test]
    fn picks_follow_the_weights_within_a_percent() {
        let weights = [Some(100.0), Some(300.0), Some(600.0)];
        let table = StrideTable::new(Stride::from_weights(&weights));
        let counts = shares(&table, 300_000);
        for (count, want) in counts.iter().zip([0.1, 0.3, 0.6]) {
            let share = *count as f64 / 300_000.0;
            assert!((share - want).abs() < 0.01, "{counts:?}");
        }
    }

    #[test]
    fn fewer_than_two_known_weights_mean_round_robin() {
        let stride = Stride::from_weights(&[Some(5.0), None, None]);
        assert_eq!(stride, Stride::even(3));
        let counts = shares(&StrideTable::new(stride), 3_000);
        assert_eq!(counts, vec![1_000; 3]);
    }

    #[test]
    fn unknown_weights_take_the_mean_and_wild_ones_are_held_near_it() {
        let stride = Stride::from_weights(&[Some(10.0), Some(30.0), None]);
        let scaled = (stride.scaled(0), stride.scaled(1), stride.scaled(2));
        assert_eq!(scaled, (21_845, 65_535, 43_690));
        // 1e12 against 1: the small ones are raised to a tenth of the mean.
        let wild = Stride::from_weights(&[Some(1.0), Some(1.0), Some(1e12)]);
        let ratio = f64::from(wild.scaled(2)) / f64::from(wild.scaled(0));
        assert!((29.0..=31.0).contains(&ratio), "{wild:?}");
    }

    #[test]
    fn a_refused_backend_is_skipped_and_a_pick_ends_when_all_are_refused() {
        let table = StrideTable::new(Stride::from_weights(&[Some(1.0), Some(1.0)]));
        for _ in 0..100 {
            assert_eq!(table.pick(|i| i == 1), Some(1));
        }
        assert_eq!(table.pick(|_| false), None);
    }
}
