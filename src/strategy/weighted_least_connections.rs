use crate::runtime::floor::{least_loaded, FloorOwner, Load, Weighing};
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
/// ([`BackendSet::weights_boosted`]). In a set of 64 backends or more a
/// scan also stops at the set's *load floor*, a lower bound of every
/// backend's cost that releases keep (as least connections does with
/// counts): busy, a pick reads a few costs (about 0.07 us at 1,024 in
/// `cargo bench --bench pick -- busy`, in the crate's repository, against
/// 1.6 us for a scan of all). Smaller sets with no idle backend of the top
/// weight, and large ones while a slow-start ramp runs (its weight moves
/// with the clock, so no floor is kept), read every count, O(N).
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
    /// Which load floor is its own (none under 64 backends).
    owner: FloorOwner,
}

impl Strategy for WeightedLeastConnections {
    type Table = WeightedTurns;

    fn build(&self, set: &BackendSet) -> Result<WeightedTurns, ConfigError> {
        let top = (0..set.len()).map(|i| set.weight(i)).max().unwrap_or(0);
        Ok(WeightedTurns {
            turns: Turns::new(set.len()),
            top_weight: u64::from(top) * WEIGHT_UNIT,
            owner: FloorOwner::for_set(set, Weighing::PerWeight),
        })
    }

    fn select(&self, table: &WeightedTurns, set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
        let start = table.turns.next();
        if table.owner.keeps_floor() {
            // No load is below one pick on the top weight while no weight
            // is boosted; with a boost, only the floor stops a scan.
            let fallback = if set.weights_boosted() {
                Load::count(0)
            } else {
                Load::per_weight(1, table.top_weight)
            };
            let floor = (table.owner, Weighing::PerWeight);
            return least_loaded(start, set, ctx, floor.0, floor.1, fallback);
        }
        let load = |i| PerWeight::of(set.in_flight(i) + 1, set.effective_weight(i));
        let lighter = |a: PerWeight, b: PerWeight| a.cmp(b).is_lt();
        // One pick on the top weight: no cost is lower while no weight is
        // boosted (the flag is read only when a cost reaches the bound).
        let lowest = PerWeight::of(1, table.top_weight);
        let unbeatable = |c: PerWeight| c.cmp(lowest).is_le() && !set.weights_boosted();
        scan_min(start, set, ctx, load, lighter, unbeatable)
    }
}
