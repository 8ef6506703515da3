//! [`StatusSource`]: what the metrics read from a pool at scrape time.

use crate::pool::Pool;
use crate::runtime::slot::BackendStatus;
use crate::runtime::tiers::TierStatus;
use crate::strategy::Strategy;

/// Anything that can say how its backends and tiers are doing: a [`Pool`]
/// of any strategy and payload, or a wrapper of the program's own.
///
/// [`PoolMetrics`](super::PoolMetrics) holds its pools as `Arc<dyn
/// StatusSource>` and reads them on every scrape.
pub trait StatusSource: Send + Sync + 'static {
    /// Every backend's picture, in set order ([`Pool::backends`]).
    fn backends(&self) -> Vec<BackendStatus>;
    /// Every tier's picture, best first ([`Pool::tiers`]).
    fn tiers(&self) -> Vec<TierStatus>;
}

impl<S: Strategy, B: Send + Sync + 'static> StatusSource for Pool<S, B> {
    fn backends(&self) -> Vec<BackendStatus> {
        Pool::backends(self)
    }

    fn tiers(&self) -> Vec<TierStatus> {
        Pool::tiers(self)
    }
}

/// One pool's pictures, taken at one moment, with its `pool` label.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub(crate) pool: Option<String>,
    pub(crate) backends: Vec<BackendStatus>,
    pub(crate) tiers: Vec<TierStatus>,
}

impl Snapshot {
    /// Reads `source` now.
    pub(crate) fn take(pool: Option<&str>, source: &(impl StatusSource + ?Sized)) -> Self {
        Snapshot {
            pool: pool.map(str::to_owned),
            backends: source.backends(),
            tiers: source.tiers(),
        }
    }
}
