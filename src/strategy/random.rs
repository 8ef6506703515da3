use crate::runtime::set::BackendSet;
use crate::runtime::slot::WEIGHT_UNIT;
use crate::strategy::kernel::alias::AliasTable;
use crate::strategy::kernel::rng::AtomicRng;
use crate::strategy::Strategy;
use crate::types::{ConfigError, Context};

/// Weighted random: each eligible backend with probability proportional to
/// its effective weight.
///
/// **Choose it** when many independent balancers (one per client, per
/// thread, per process) share the same backends and must not fall into step
/// with each other, as round robin cursors started together can; or as the
/// simplest baseline. It ignores load: prefer [`P2c`](super::P2c)
/// when request durations vary.
///
/// **Synchronisation**: no lock. Draws from a per-thread random stream (a
/// shared lock-free sequence when [seeded](Self::seeded)) by configured
/// weight from an alias table (Vose's method) built with the set (O(1) at any size), thinned by effective weight. When an
/// agent has ever pushed a backend above its configured weight, or the draws
/// keep hitting backends that cannot take the pick, it falls back to an
/// exact O(N) draw (for the rest of the pool's life in the first case: the
/// boost is remembered, not tracked) over the effective weights (two scans of atomic loads; a
/// weight that changes between them is tolerated: the pick then falls on the
/// last eligible backend seen).
#[derive(Debug, Default)]
pub struct Random {
    rng: AtomicRng,
}

impl Random {
    /// Weighted random with a random seed.
    pub fn new() -> Self {
        Random::default()
    }

    /// Draws from one sequence seeded with `seed`: the same picks for the
    /// same states (exactly so from one thread), for tests and simulations.
    pub fn seeded(mut self, seed: u64) -> Self {
        self.rng = AtomicRng::seeded(seed);
        self
    }
}

/// A number in `0..n` (n > 0) by multiply-shift, as [`AtomicRng::below`]
/// but for totals that need all 64 bits.
#[inline]
pub(crate) fn below_u64(rng: &AtomicRng, n: u64) -> u64 {
    ((u128::from(rng.next_u64()) * u128::from(n)) >> 64) as u64
}

/// Draws by configured weight before the exact scan.
const DRAWS: usize = 4;

impl Strategy for Random {
    type Table = AliasTable;

    fn counts_in_flight(&self) -> bool {
        false
    }

    fn build(&self, set: &BackendSet) -> Result<AliasTable, ConfigError> {
        let weights: Vec<u32> = (0..set.len()).map(|i| set.weight(i)).collect();
        Ok(AliasTable::new(&weights))
    }

    #[inline]
    fn select(&self, table: &AliasTable, set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
        if !set.weights_boosted() {
            if let Some(i) = self.draw(table, set, ctx) {
                return Some(i);
            }
        }
        self.scan(set, ctx)
    }
}

impl Random {
    /// Rejection sampling: propose by configured weight, accept with
    /// probability effective / configured (0 when not eligible). Accepted
    /// picks are distributed exactly by effective weight as long as none
    /// exceeds its configured weight, which `weights_boosted` vouches for.
    /// With every backend up at full weight the first draw is accepted.
    #[inline]
    fn draw(&self, table: &AliasTable, set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
        for _ in 0..DRAWS {
            let i = table.draw(self.rng.next_u64());
            if i >= set.len() || !set.is_eligible(i, ctx) {
                continue;
            }
            let nominal = u64::from(set.weight(i)) * WEIGHT_UNIT;
            let effective = set.effective_weight(i);
            if effective >= nominal || below_u64(&self.rng, nominal) < effective {
                return Some(i);
            }
        }
        None
    }

    /// The exact O(N) draw over effective weights: when weights are boosted,
    /// or when the draws keep landing on backends that cannot take the pick.
    fn scan(&self, set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
        // Effective weights stay below 2^40 (MAX_WEIGHT x WEIGHT_UNIT x an
        // agent's 1000%) and sets below 2^17 backends: the sum fits a u64.
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
