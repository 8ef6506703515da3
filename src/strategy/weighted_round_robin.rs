use crate::runtime::set::BackendSet;
use crate::strategy::kernel::smooth::Scores;
use crate::strategy::Strategy;
use crate::types::{ConfigError, Context};

/// Smooth weighted round robin, nginx's scheme: every pick adds each eligible
/// backend's effective weight to its running score, takes the first highest
/// score in set order, and subtracts the total weight from the winner.
///
/// Over every window of sum(weights) picks each backend gets exactly its
/// weight, spread out rather than in bursts (weights 5,1,1 give
/// `a a b a c a a`, not `a a a a a b c`).
///
/// **Choose it** for unequal but steady backends whose relative capacity you
/// know (a machine twice as big gets weight 2). Weights follow agent reports
/// and slow start at run time, since it reads effective weights on each pick.
///
/// **Synchronisation**: the scores sit behind a short mutex held only for one
/// O(N) pass over the set; exactness needs every pick to see the previous
/// pick's scores, which a lock gives simply. At thousands of backends or very
/// hot paths, prefer [`RoundRobin`](super::RoundRobin) or `random`.
#[derive(Debug, Default, Clone, Copy)]
pub struct WeightedRoundRobin;

impl WeightedRoundRobin {
    /// Smooth weighted round robin.
    pub fn new() -> Self {
        WeightedRoundRobin
    }
}

impl Strategy for WeightedRoundRobin {
    type Table = Scores;

    fn counts_in_flight(&self) -> bool {
        false
    }

    fn build(&self, set: &BackendSet) -> Result<Scores, ConfigError> {
        Ok(Scores::new(set.len()))
    }

    fn select(&self, scores: &Scores, set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
        scores.smooth_pick(set, |i| set.is_eligible(i, ctx))
    }
}
