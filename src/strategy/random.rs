use crate::context::Context;
use crate::error::ConfigError;
use crate::rng::AtomicRng;
use crate::set::BackendSet;
use crate::strategy::Strategy;

/// Weighted random: each eligible backend with probability proportional to
/// its effective weight.
///
/// **Choose it** when many independent balancers (one per client, per
/// thread, per process) share the same backends and must not fall into step
/// with each other, as round robin cursors started together can; or as the
/// simplest baseline. It ignores load: prefer [`PowerOfTwoChoices`](super::PowerOfTwoChoices)
/// when request durations vary.
///
/// **Synchronisation**: no lock. One draw from a lock-free [`AtomicRng`]
/// (a `fetch_add`) and two O(N) scans of the effective weights (atomic
/// loads): the first sums the eligible weights, the second finds the drawn
/// one. A weight that changes between the two scans is tolerated: the pick
/// then falls on the last eligible backend seen.
#[derive(Debug, Default)]
pub struct Random {
    rng: AtomicRng,
}

impl Random {
    /// Weighted random with a random seed.
    pub fn new() -> Self {
        Random::default()
    }

    /// Weighted random with a fixed seed: the same sequence of picks for the
    /// same states (exactly so from one thread), for tests and simulations.
    pub fn seeded(seed: u64) -> Self {
        Random {
            rng: AtomicRng::seeded(seed),
        }
    }
}

/// A number in `0..n` (n > 0) by multiply-shift, as [`AtomicRng::below`]
/// but for totals that need all 64 bits.
#[inline]
pub(crate) fn below_u64(rng: &AtomicRng, n: u64) -> u64 {
    ((u128::from(rng.next_u64()) * u128::from(n)) >> 64) as u64
}

impl Strategy for Random {
    type Table = ();

    fn reads_in_flight(&self) -> bool {
        false
    }

    fn build(&self, _set: &BackendSet) -> Result<(), ConfigError> {
        Ok(())
    }

    fn select(&self, _: &(), set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
        // Effective weights are at most MAX_WEIGHT * WEIGHT_UNIT (1e8) and
        // there are at most MAX_BACKENDS (65536): the sum fits a u64.
        let total: u64 = (0..set.len())
            .filter(|&i| set.is_eligible(i, ctx))
            .map(|i| set.effective_weight(i))
            .sum();
        if total == 0 {
            return None;
        }
        let mut target = below_u64(&self.rng, total);
        let mut last = None;
        for i in 0..set.len() {
            if !set.is_eligible(i, ctx) {
                continue;
            }
            let w = set.effective_weight(i);
            if w == 0 {
                continue;
            }
            if target < w {
                return Some(i);
            }
            target -= w;
            last = Some(i);
        }
        last
    }
}
