use crate::runtime::set::BackendSet;
use crate::strategy::kernel::smooth::Smooth;
use crate::strategy::Strategy;
use crate::types::{ConfigError, Context};

/// Smooth weighted round robin, nginx's scheme: every pick adds each eligible
/// backend's effective weight to its running score, takes the first highest
/// score in set order, and subtracts the total weight from the winner
/// ([nginx's `ngx_http_upstream_get_peer`](https://github.com/nginx/nginx/blob/master/src/http/ngx_http_upstream_round_robin.c)).
///
/// Over every window of sum(weights) picks each backend gets exactly its
/// weight, spread out rather than in bursts (weights 5,1,1 give
/// `a a b a c a a`, not `a a a a a b c`).
///
/// **Choose it** for unequal but steady backends whose relative capacity you
/// know (a machine twice as big gets weight 2). Weights follow agent reports
/// and slow start at run time: it reads the effective weights.
///
/// **Synchronisation**: O(1) a pick, no lock. With the weights fixed the
/// sequence is periodic (period: the sum of the weights over their greatest
/// common divisor), so one period is precomputed and a pick is one atomic
/// `fetch_add` on a cursor plus one table load; the n-th pick across all
/// threads is entry n of the period, so over whole periods each backend gets
/// exactly its weight whatever the threads. When a weight changes (agent
/// report, update, slow-start ramp) the first pick to notice rebuilds the
/// period and the sequence starts again from zero scores. A backend that may
/// not take the request is skipped (its entries left out of the sequence,
/// as round robin does); where that differs from nginx, which re-smooths the
/// others' order, and the bounds past which picks take nginx's O(N) step
/// under a mutex (a ramp running, a period over 2^20 picks, most of the set
/// unavailable) are in the kernel's notes (`src/strategy/kernel/smooth.rs`).
#[derive(Debug, Default, Clone, Copy)]
pub struct WeightedRoundRobin;

impl WeightedRoundRobin {
    /// Smooth weighted round robin.
    pub fn new() -> Self {
        WeightedRoundRobin
    }
}

impl Strategy for WeightedRoundRobin {
    type Table = Smooth;

    fn counts_in_flight(&self) -> bool {
        false
    }

    fn build(&self, set: &BackendSet) -> Result<Smooth, ConfigError> {
        Ok(Smooth::new(set))
    }

    #[inline]
    fn select(&self, table: &Smooth, set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
        table.pick(set, |i| set.is_eligible(i, ctx))
    }
}
