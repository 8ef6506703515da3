use crate::runtime::set::BackendSet;
use crate::strategy::kernel::Turns;
use crate::strategy::Strategy;
use crate::types::{ConfigError, Context};

/// Round robin: each backend in turn, one global order.
///
/// **Choose it** for identical backends and short, similar requests (a few
/// identical nodes behind a proxy). It ignores weights and load.
///
/// **Synchronisation**: one atomic cursor per set, advanced with `fetch_add`
/// and reduced modulo N without a division; no lock. Between updates the order is exact across threads: the n-th pick
/// gets backend n mod N. A backend that is not eligible is skipped by taking
/// the next cursor value, so the others keep equal shares.
#[derive(Debug, Default, Clone, Copy)]
pub struct RoundRobin;

impl RoundRobin {
    /// Round robin.
    pub fn new() -> Self {
        RoundRobin
    }
}

impl Strategy for RoundRobin {
    type Table = Turns;

    fn counts_in_flight(&self) -> bool {
        false
    }

    fn build(&self, set: &BackendSet) -> Result<Turns, ConfigError> {
        Ok(Turns::new(set.len()))
    }

    #[inline]
    fn select(&self, turns: &Turns, set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
        for _ in 0..set.len() {
            let i = turns.next();
            if set.is_eligible(i, ctx) {
                return Some(i);
            }
        }
        None
    }
}
