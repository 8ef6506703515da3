//! Strategies: each decides which backend of a set takes a request.
//!
//! A strategy is split in two. `build` turns a backend set into a table (a
//! cursor, a hash ring, a lookup table) off the pick path, whenever the set
//! changes; `select` reads the table and the set's live state on every pick.
//! The [`Pool`](crate::Pool) keeps the two in step.

mod alias;
mod any;
mod bounded_load;
mod cost;
mod least_connections;
mod maglev;
mod p2c;
mod peak_ewma;
mod random;
mod rendezvous;
mod resource_based;
mod ring_hash;
mod round_robin;
mod sdn_adaptive;
mod sharded_round_robin;
mod source_ip_hash;
mod weighted_least_connections;
mod weighted_round_robin;

pub use alias::AliasTable;
pub use any::{AnyStrategy, AnyTable, FromOptions, StrategyKind, StrategyOptions};
pub use bounded_load::BoundedLoad;
pub use least_connections::LeastConnections;
pub use maglev::Maglev;
pub use p2c::PowerOfTwoChoices;
pub use peak_ewma::PeakEwma;
pub use random::Random;
pub use rendezvous::RendezvousHash;
pub use resource_based::ResourceBased;
pub use ring_hash::RingHash;
pub use round_robin::RoundRobin;
pub use sdn_adaptive::{SdnAdaptive, DEFAULT_ERROR_WEIGHT};
pub use sharded_round_robin::ShardedRoundRobin;
pub use source_ip_hash::{
    SourceIpHash, SourceIpTable, DEFAULT_STICKY_CAPACITY, DEFAULT_STICKY_TTL,
};
pub use weighted_least_connections::WeightedLeastConnections;
pub use weighted_round_robin::Scores;
pub use weighted_round_robin::WeightedRoundRobin;

use crate::context::Context;
use crate::error::ConfigError;
use crate::set::BackendSet;

/// A balancing algorithm.
///
/// ```
/// use pickwise::{BackendSet, ConfigError, Context, Strategy};
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
    /// unless [`PoolBuilder::track_in_flight`](crate::PoolBuilder::track_in_flight)
    /// asks for them anyway.
    fn reads_in_flight(&self) -> bool {
        true
    }
}

/// The table of the cursor-based strategies: one counter on its own cache
/// line, the one word every pick of such a strategy writes.
#[repr(align(128))]
#[derive(Debug, Default)]
pub struct Cursor(std::sync::atomic::AtomicUsize);

impl Cursor {
    /// The next value, wrapping.
    #[inline]
    pub(crate) fn next(&self) -> usize {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }
}

/// Requests per unit of weight as an exact fraction, compared by
/// cross-multiplying in `u128`: no floats, no division, and a weight of 0
/// reads as infinitely loaded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PerWeight {
    load: u64,
    weight: u64,
}

impl PerWeight {
    #[inline]
    pub(crate) fn of(load: u64, weight: u64) -> Self {
        PerWeight { load, weight }
    }

    /// `self.load / self.weight` against `other.load / other.weight`.
    #[inline]
    pub(crate) fn cmp(self, other: PerWeight) -> std::cmp::Ordering {
        let mine = u128::from(self.load) * u128::from(other.weight);
        let theirs = u128::from(other.load) * u128::from(self.weight);
        mine.cmp(&theirs)
    }
}
