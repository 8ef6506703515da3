use crate::runtime::set::BackendSet;
use crate::strategy::kernel::{scan_min, PerWeight, Turns};
use crate::strategy::{Strategy, WEIGHT_UNIT};
use crate::types::{ConfigError, Context};

/// Weighted least connections: the backend with the fewest in-flight picks per
/// unit of effective weight, counting the pick being made, i.e. the lowest
/// `(in_flight + 1) / weight` (HAProxy's `leastconn` measure).
///
/// Counting the new pick matters: with `in_flight / weight`, idle backends
/// would all tie at zero and a weight-3 backend would get no more than a
/// weight-1 one until load built up.
///
/// **Choose it** for unequal backends with varying request durations
/// (heterogeneous clusters: machines of several sizes, mixed requests).
///
/// **Synchronisation**: as [`LeastConnections`](super::LeastConnections): a
/// lock-free scan from a rotating start, ties round robin. Costs are
/// compared by cross-multiplying in `u128`, no floats.
///
/// The scan stops at the first idle backend of the set's highest
/// configured weight that may take the request: `1 / weight` is then the
/// lowest cost any backend can have, so it is the backend a scan of all N
/// would choose. With equal weights any idle backend ends it. That bound
/// holds while no agent has raised a weight above the configured one
/// ([`BackendSet::weights_boosted`]); in a pool where one has, and whenever
/// no backend of the top weight is idle, a pick reads every count, O(N)
/// (all 1024 took about 1.7 us in `cargo bench --bench pick`, in the
/// crate's repository). For large busy sets, [`P2c`](super::P2c) compares
/// two random backends in O(1).
#[derive(Debug, Default, Clone, Copy)]
pub struct WeightedLeastConnections;

impl WeightedLeastConnections {
    /// Weighted least connections.
    pub fn new() -> Self {
        WeightedLeastConnections
    }
}

/// Weighted least connections' table: the turns its scans start from, and
/// the highest weight a backend of the set can have unless an agent boosts
/// one, for stopping a scan early.
#[derive(Debug)]
pub struct WeightedTurns {
    turns: Turns,
    /// The largest configured weight of the set, in hundredths (as
    /// effective weights are): no effective weight exceeds it while the
    /// pool's weights are not boosted, since agents' percentages of 100 and
    /// below and slow-start ramps only lower a weight. Read from the set the
    /// table is built with, so a pick on the generation an update is
    /// replacing may stop at a backend whose weight that update raised a
    /// moment before the new generation was published: that pick is as
    /// fresh as a scan that ran just before the update.
    top_weight: u64,
}

impl Strategy for WeightedLeastConnections {
    type Table = WeightedTurns;

    fn build(&self, set: &BackendSet) -> Result<WeightedTurns, ConfigError> {
        let top = (0..set.len()).map(|i| set.weight(i)).max().unwrap_or(0);
        Ok(WeightedTurns {
            turns: Turns::new(set.len()),
            top_weight: u64::from(top) * WEIGHT_UNIT,
        })
    }

    fn select(&self, table: &WeightedTurns, set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
        let load = |i| PerWeight::of(set.in_flight(i) + 1, set.effective_weight(i));
        let lighter = |a: PerWeight, b: PerWeight| a.cmp(b).is_lt();
        // One pick on the top weight: no cost is lower while no weight is
        // boosted (the flag is read only when a cost reaches the bound).
        let lowest = PerWeight::of(1, table.top_weight);
        let unbeatable = |c: PerWeight| c.cmp(lowest).is_le() && !set.weights_boosted();
        scan_min(table.turns.next(), set, ctx, load, lighter, unbeatable)
    }
}
