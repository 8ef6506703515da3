use crate::runtime::set::BackendSet;
use crate::strategy::kernel::{scan_min, Turns};
use crate::strategy::Strategy;
use crate::types::{ConfigError, Context};

/// Least connections: the backend with the fewest picks in flight.
///
/// **Choose it** when request durations vary (long polls, uploads, slow
/// queries): a backend stuck on slow requests stops getting new ones. For
/// unequal backends use [`WeightedLeastConnections`](super::WeightedLeastConnections).
///
/// **Synchronisation**: no lock. A pick reads the set's in-flight counters
/// (one atomic load each) from a rotating start and stops at the first
/// idle backend that may take the request: none can have fewer than none
/// in flight, so that is the backend a scan of all N would choose. While
/// some backend is idle a pick reads few counters (one, in a loop that
/// picks and drops); with every backend busy it reads all N, O(N). Ties go
/// round robin: the start is the set's next turn (one `fetch_add`), so idle
/// backends share work instead of the first one taking it all, as HAProxy's
/// `leastconn` rotates among servers of equal load and nginx's `least_conn`
/// among its lightest peers. Two picks racing may both choose the same
/// minimum; the counters are exact, the choice is as fresh as the scan.
#[derive(Debug, Default, Clone, Copy)]
pub struct LeastConnections;

impl LeastConnections {
    /// Least connections.
    pub fn new() -> Self {
        LeastConnections
    }
}

impl Strategy for LeastConnections {
    type Table = Turns;

    fn build(&self, set: &BackendSet) -> Result<Turns, ConfigError> {
        Ok(Turns::new(set.len()))
    }

    fn select(&self, turns: &Turns, set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
        let count = |i| set.in_flight(i);
        let idle = |count: u64| count == 0;
        scan_min(turns.next(), set, ctx, count, |a, b| a < b, idle)
    }
}
