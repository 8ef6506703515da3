use parking_lot::Mutex;

use crate::context::Context;
use crate::error::ConfigError;
use crate::set::BackendSet;
use crate::strategy::Strategy;

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

/// Running scores, one per backend of the set.
#[derive(Debug)]
pub struct Scores(Mutex<Vec<i64>>);

impl Strategy for WeightedRoundRobin {
    type Table = Scores;

    fn reads_in_flight(&self) -> bool {
        false
    }

    fn build(&self, set: &BackendSet) -> Result<Scores, ConfigError> {
        Ok(Scores(Mutex::new(vec![0; set.len()])))
    }

    fn select(&self, scores: &Scores, set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
        scores.smooth_pick(set, |i| set.is_eligible(i, ctx))
    }
}

impl Scores {
    /// One step of nginx's smooth weighted round robin among the backends
    /// `takes_part` admits; the others' scores stay as they are.
    pub(crate) fn smooth_pick(
        &self,
        set: &BackendSet,
        takes_part: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        let mut scores = self.0.lock();
        let mut total: i64 = 0;
        let mut best: Option<(usize, i64)> = None;
        for (i, score) in scores.iter_mut().enumerate() {
            if !takes_part(i) {
                continue;
            }
            // Effective weights stay below 2^40 and sets below 2^17 backends,
            // so neither a score nor the total can overflow an i64.
            let weight = set.effective_weight(i) as i64;
            *score += weight;
            total += weight;
            if best.is_none_or(|(_, top)| *score > top) {
                best = Some((i, *score));
            }
        }
        let (winner, _) = best?;
        scores[winner] -= total;
        Some(winner)
    }
}
