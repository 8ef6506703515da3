//! Strategies: each decides which backend of a set takes a request.
//!
//! A strategy is split in two. `build` turns a backend set into a table (a
//! cursor, a hash ring, a lookup table) off the pick path, whenever the set
//! changes; `select` reads the table and the set's live state on every pick.
//! The [`Pool`](crate::Pool) keeps the two in step. Tables are opaque: only
//! their strategy reads them.
//!
//! | name (`StrategyKind`) | type | idea |
//! |---|---|---|
//! | `round-robin` | [`RoundRobin`] | each backend in turn |
//! | `round-robin-sharded` | [`RoundRobinSharded`] | each in turn, a cursor per thread |
//! | `weighted-round-robin` | [`WeightedRoundRobin`] | nginx's smooth weighted round robin |
//! | `least-connections` | [`LeastConnections`] | fewest picks in flight |
//! | `weighted-least-connections` | [`WeightedLeastConnections`] | fewest in flight per unit of weight |
//! | `resource-based` | [`ResourceBased`] | shares follow agent-reported capacity |
//! | `sdn-adaptive` | [`SdnAdaptive`] | two random candidates by latency, errors, load, capacity |
//! | `source-ip-hash` | [`SourceIpHash`] | client address hashed, with a sticky table |
//! | `p2c` | [`P2c`] | power of two choices ([Mitzenmacher 2001](https://www.eecs.harvard.edu/~michaelm/postscripts/tpds2001.pdf)) |
//! | `peak-ewma` | [`PeakEwma`] | two choices on latency x load (Finagle, [Linkerd](https://linkerd.io/2016/03/16/beyond-round-robin-load-balancing-for-latency/)) |
//! | `maglev` | [`Maglev`] | [Maglev](https://research.google/pubs/maglev-a-fast-and-reliable-software-network-load-balancer/) lookup table (NSDI 2016) |
//! | `ring-hash` | [`RingHash`] | [consistent hashing](https://www.cs.princeton.edu/courses/archive/fall09/cos518/papers/chash.pdf) ring (Karger et al. 1997) |
//! | `rendezvous` | [`Rendezvous`] | highest random weight ([Thaler and Ravishankar 1998](https://doi.org/10.1109/90.663936)) |
//! | `bounded-load` | [`BoundedLoad`] | [consistent hashing with bounded loads](https://arxiv.org/abs/1608.01350) (Mirrokni et al. 2016) |
//! | `random` | [`Random`] | weighted random |
//! | `orca-wrr` | [`OrcaWrr`] | weights from backends' load reports ([gRFC A58](https://github.com/grpc/proposal/blob/master/A58-client-side-weighted-round-robin-lb-policy.md), [ORCA](crate::orca)) |
//! | `prequal` | [`Prequal`] | probe replies, hot-cold rule ([Prequal](https://www.usenix.org/conference/nsdi24/presentation/wydrowski), NSDI 2024) |
//!
//! Strategies chosen by name at run time go through [`AnyStrategy`]. What
//! several strategies share lives in one kernel module (crate-internal):
//! the least-cost scan, the two random candidates, the smooth weighted round
//! robin step, the stride scheduler, the latency-times-load choice, request hashing, the random
//! source.
//!
//! Randomised strategies draw from a per-thread stream unless
//! [seeded](P2c::seeded), so picking threads share no write; a seeded
//! strategy draws from one shared sequence, reproducibly.

mod bounded_load;
mod by_name;
pub(crate) mod kernel;
mod least_connections;
mod maglev;
mod orca_wrr;
mod p2c;
mod peak_ewma;
mod prequal;
mod random;
mod rendezvous;
mod ring_hash;
mod round_robin;
mod round_robin_sharded;
mod source_ip_hash;
mod weighted_least_connections;
mod weighted_round_robin;

pub use bounded_load::BoundedLoad;
pub use by_name::{AnyStrategy, FromOptions, StrategyKind, StrategyOptions};
pub use least_connections::LeastConnections;
pub use maglev::Maglev;
pub use orca_wrr::{OrcaTable, OrcaWrr};
pub use p2c::P2c;
pub use peak_ewma::{Adaptive, Finagle, LatencyCost, PeakEwma, Profile, SdnAdaptive};
pub use prequal::{Prequal, MAX_PROBE_POOL};
pub use random::Random;
pub use rendezvous::Rendezvous;
pub use ring_hash::RingHash;
pub use round_robin::RoundRobin;
pub use round_robin_sharded::RoundRobinSharded;
pub use source_ip_hash::{SourceIpHash, DEFAULT_STICKY_CAPACITY, DEFAULT_STICKY_TTL};
pub use weighted_least_connections::WeightedLeastConnections;
pub use weighted_round_robin::{
    InTurn, LightestFirst, ResourceBased, Turn, WeightedRoundRobin, WeightedSchedule,
};

pub use crate::hash::sticky::{StickyTable, MAX_STICKY_ENTRIES};
pub use crate::runtime::probe::{ProbeReading, ProbeReply};
pub use crate::runtime::set::BackendSet;
pub use crate::runtime::slot::WEIGHT_UNIT;

use crate::types::{ConfigError, Context};

/// A balancing algorithm.
///
/// ```
/// use pickwise::strategy::BackendSet;
/// use pickwise::{ConfigError, Context, Strategy};
///
/// /// Always the first eligible backend: a toy, but a complete strategy.
/// struct First;
///
/// impl Strategy for First {
///     type Table = ();
///     fn build(&self, _set: &BackendSet) -> Result<(), ConfigError> {
///         Ok(())
///     }
///     fn select(&self, _: &(), set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
///         (0..set.len()).find(|&i| set.is_eligible(i, ctx))
///     }
/// }
/// ```
pub trait Strategy: Send + Sync + 'static {
    /// What `build` precomputes for one backend set.
    type Table: Send + Sync + 'static;

    /// Precomputes the table for `set`. Runs on updates, never on picks.
    fn build(&self, set: &BackendSet) -> Result<Self::Table, ConfigError>;

    /// The index of the backend for this request, or `None` when no backend
    /// is eligible ([`BackendSet::is_eligible`]). Must not block for long.
    fn select(&self, table: &Self::Table, set: &BackendSet, ctx: &Context<'_>) -> Option<usize>;

    /// Whether this strategy reads in-flight counts. When it does not, picks
    /// skip counting them (two atomic writes on a shared line fewer per pick)
    /// unless [`PoolBuilder::counts_in_flight`](crate::PoolBuilder::counts_in_flight)
    /// asks for them anyway.
    fn counts_in_flight(&self) -> bool {
        true
    }

    /// Whether this strategy reads load reports ([`crate::orca`]). When it
    /// does, the tower layer reads them from responses' headers and
    /// trailers; when not, it does not look.
    fn reads_load_reports(&self) -> bool {
        false
    }
}
