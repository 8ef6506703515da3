use crate::context::Context;
use crate::error::ConfigError;
use crate::set::BackendSet;
use crate::strategy::{Scores, Strategy, WeightedRoundRobin};

/// Resource-based (adaptive): each backend's share follows the capacity its
/// agent reports. An agent on each node says `75%` (of the configured
/// weight), `weight:N`, `drain` or `down`; the program feeds the replies to
/// [`Pool::apply_agent_reply`](crate::Pool::apply_agent_reply), which sets the
/// backend's effective weight and state, and this strategy shares requests
/// in proportion to the effective weights.
///
/// It is smooth weighted round robin over effective weights: it reuses
/// [`WeightedRoundRobin`] rather than a weighted least-connections, because
/// the agent's report already is the load signal; mixing in-flight counts
/// would blur what the agent asked for, and smooth round robin gives each
/// backend exactly its reported share, spread out, with no randomness.
/// A stale report (older than the pool's
/// [`agent_expiry`](crate::PoolBuilder::agent_expiry)) falls back to the
/// configured weight; `drain` and `down` hold until the agent says otherwise.
///
/// **Choose it** when each node can tell its own headroom (CPU, queue depth,
/// memory) through an agent, and nodes are unequal or change over time.
/// Without agents it is exactly weighted round robin.
///
/// **Synchronisation**: as [`WeightedRoundRobin`]: a short mutex over the
/// running scores, held for one O(N) pass. Agent reports are written off the
/// pick path and read with one atomic load per backend.
#[derive(Debug, Default, Clone, Copy)]
pub struct ResourceBased {
    inner: WeightedRoundRobin,
}

impl ResourceBased {
    /// Resource-based balancing over agent-reported capacity.
    pub fn new() -> Self {
        ResourceBased::default()
    }
}

impl Strategy for ResourceBased {
    type Table = Scores;

    fn reads_in_flight(&self) -> bool {
        false
    }

    fn build(&self, set: &BackendSet) -> Result<Scores, ConfigError> {
        self.inner.build(set)
    }

    #[inline]
    fn select(&self, scores: &Scores, set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
        self.inner.select(scores, set, ctx)
    }
}
