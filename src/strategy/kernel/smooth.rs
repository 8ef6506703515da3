//! nginx's smooth weighted round robin step, shared by weighted round robin
//! and resource-based.

use parking_lot::Mutex;

use crate::runtime::set::BackendSet;

/// Running scores, one per backend of the set.
#[derive(Debug)]
pub struct Scores(Mutex<Vec<i64>>);

impl Scores {
    /// Scores of zero for `n` backends.
    pub(crate) fn new(n: usize) -> Self {
        Scores(Mutex::new(vec![0; n]))
    }

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
