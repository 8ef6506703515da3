use crate::runtime::set::BackendSet;
use crate::strategy::kernel::{scan_min, Cursor};
use crate::strategy::Strategy;
use crate::types::{ConfigError, Context};

/// Least connections: the backend with the fewest picks in flight.
///
/// **Choose it** when request durations vary (long polls, uploads, slow
/// queries): a backend stuck on slow requests stops getting new ones. For
/// unequal backends use [`WeightedLeastConnections`](super::WeightedLeastConnections).
///
/// **Synchronisation**: no lock. Each pick scans the set's in-flight counters
/// (one atomic load each, O(N)); ties go round robin, starting the scan at a
/// rotating cursor, so idle backends share work instead of the first one
/// taking it all. Two picks racing may both choose the same minimum; the
/// counters are exact, the choice is as fresh as the scan.
#[derive(Debug, Default, Clone, Copy)]
pub struct LeastConnections;

impl LeastConnections {
    /// Least connections.
    pub fn new() -> Self {
        LeastConnections
    }
}

impl Strategy for LeastConnections {
    type Table = Cursor;

    fn build(&self, _set: &BackendSet) -> Result<Cursor, ConfigError> {
        Ok(Cursor::default())
    }

    fn select(&self, cursor: &Cursor, set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
        scan_min(cursor, set, ctx, |i| set.in_flight(i), |a, b| a < b)
    }
}
