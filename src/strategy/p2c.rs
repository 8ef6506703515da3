use crate::runtime::set::BackendSet;
use crate::strategy::kernel::rng::AtomicRng;
use crate::strategy::kernel::two_choices::{settle, two_candidates};
use crate::strategy::kernel::PerWeight;
use crate::strategy::Strategy;
use crate::types::{ConfigError, Context};

/// Power of two choices: two distinct eligible backends drawn at random, the
/// one with fewer picks in flight per unit of effective weight wins, i.e. the
/// lower `(in_flight + 1) / weight`; a tie is settled by a coin.
///
/// Mitzenmacher's result ([The Power of Two Choices in Randomized Load
/// Balancing](https://www.eecs.harvard.edu/~michaelm/postscripts/tpds2001.pdf), 2001): comparing just two random candidates brings the
/// maximum load down from `log n / log log n` to `log log n`, nearly as good
/// as scanning everyone, at O(1) cost and without every balancer herding onto
/// the same "least loaded" backend, as a full scan from many uncoordinated
/// balancers does.
///
/// **Choose it** for large sets, for many independent balancers in front of
/// the same backends (one per client, per thread), or whenever
/// [`WeightedLeastConnections`](super::WeightedLeastConnections)'s scan
/// (O(N) once no backend of the top weight is idle) is too much. Envoy's
/// and Finagle's default.
///
/// **Synchronisation**: no lock. Two draws from a per-thread random stream
/// (a shared lock-free sequence when [seeded](Self::seeded)) and four atomic loads in the common case; when a drawn backend is not
/// eligible (down, excluded) it retries a few times, then draws from the
/// eligible ones by an O(N) scan. Costs are compared by cross-multiplying
/// in `u128`, no floats.
#[derive(Debug, Default)]
pub struct P2c {
    rng: AtomicRng,
}

impl P2c {
    /// Power of two choices with a random seed.
    pub fn new() -> Self {
        P2c::default()
    }

    /// Draws from one sequence seeded with `seed`: the same picks for the
    /// same states (exactly so from one thread), for tests and simulations.
    pub fn seeded(mut self, seed: u64) -> Self {
        self.rng = AtomicRng::seeded(seed);
        self
    }
}

impl Strategy for P2c {
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
