use crate::runtime::set::BackendSet;
use crate::strategy::kernel::{scan_min, Cursor, PerWeight};
use crate::strategy::Strategy;
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
/// lock-free O(N) scan, ties round robin. Costs are compared by
/// cross-multiplying in `u128`, no floats.
///
/// O(N) by nature: the lightest backend per weight cannot be known without
/// reading every count (about 1.7 us at 1024 backends, `cargo bench --bench
/// pick -- weighted-least-connections/1024` in the crate's repository). For
/// large sets, [`P2c`](super::P2c) compares two random backends in O(1).
#[derive(Debug, Default, Clone, Copy)]
pub struct WeightedLeastConnections;

impl WeightedLeastConnections {
    /// Weighted least connections.
    pub fn new() -> Self {
        WeightedLeastConnections
    }
}

impl Strategy for WeightedLeastConnections {
    type Table = Cursor;

    fn build(&self, _set: &BackendSet) -> Result<Cursor, ConfigError> {
        Ok(Cursor::default())
    }

    fn select(&self, cursor: &Cursor, set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
        let load = |i| PerWeight::of(set.in_flight(i) + 1, set.effective_weight(i));
        let lighter = |a: PerWeight, b: PerWeight| a.cmp(b).is_lt();
        scan_min(cursor, set, ctx, load, lighter)
    }
}
