use crate::runtime::floor::{least_loaded, FloorOwner, Load, Weighing};
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
/// backend that may take the request and that none can beat: an idle one
/// (none can have fewer than none in flight), or, in a set of 64 backends
/// or more, one at the set's *in-flight floor*, a lower bound of every
/// count that releases keep (they also leave a hint of the backend they
/// took down to it). That is the backend a scan of all N would choose.
/// While some backend is idle, or while the floor holds, a pick reads few
/// counters (one, in a loop that picks and drops); only a pick that finds
/// none at the bound reads all N and settles the floor again. Ties go
/// round robin: the start is the set's next turn (one `fetch_add`), so
/// backends of equal load share work instead of the first one taking it
/// all, as HAProxy's `leastconn` rotates among servers of equal load and
/// nginx's `least_conn` among its lightest peers. Two picks racing may both
/// choose the same minimum; the counters are exact, the choice is as fresh
/// as the scan.
#[derive(Debug, Default, Clone, Copy)]
pub struct LeastConnections;

impl LeastConnections {
    /// Least connections.
    pub fn new() -> Self {
        LeastConnections
    }
}

/// Least connections' table: the turns its scans start from, and which
/// floor is its own (none under 64 backends).
#[derive(Debug)]
pub struct LeastTurns {
    turns: Turns,
    owner: FloorOwner,
}

impl Strategy for LeastConnections {
    type Table = LeastTurns;

    fn build(&self, set: &BackendSet) -> Result<LeastTurns, ConfigError> {
        Ok(LeastTurns {
            turns: Turns::new(set.len()),
            owner: FloorOwner::for_set(set, Weighing::Count),
        })
    }

    fn select(&self, table: &LeastTurns, set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
        let start = table.turns.next();
        if table.owner.keeps_floor() {
            let idle = Load::count(0);
            least_loaded(start, set, ctx, table.owner, Weighing::Count, idle)
        } else {
            let count = |i| set.in_flight(i);
            let idle = |count: u64| count == 0;
            scan_min(start, set, ctx, count, |a, b| a < b, idle)
        }
    }
}
