//! [`PoolMetrics`]: a prometheus-client collector over one or more pools.

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

use super::families;
use super::render::render_snapshots;
use super::source::{Snapshot, StatusSource};

/// The metrics of one or more pools, read at scrape time: register it in a
/// prometheus-client [`Registry`](prometheus_client::registry::Registry)
/// with `register_collector` so the pools' series join the program's
/// other metrics, or call [`PoolMetrics::render`].
///
/// One pool needs no label ([`PoolMetrics::new`]); several are told apart
/// by a `pool` label the caller gives (`PoolMetrics::default()` then
/// [`PoolMetrics::with`] for each). Give each pool its own label: two pools under
/// one label would repeat the same series. Register one `PoolMetrics` for
/// all of a program's pools, not one per pool, so every family is written
/// once.
///
/// Cloning is cheap (the pools are shared).
#[derive(Clone, Default)]
pub struct PoolMetrics {
    pools: Vec<(Option<String>, Arc<dyn StatusSource>)>,
}

impl PoolMetrics {
    /// The metrics of one pool, without a `pool` label.
    pub fn new(pool: Arc<dyn StatusSource>) -> Self {
        PoolMetrics {
            pools: vec![(None, pool)],
        }
    }

    /// Adds a pool whose series carry `pool="<label>"`.
    pub fn with(mut self, label: impl Into<String>, pool: Arc<dyn StatusSource>) -> Self {
        self.pools.push((Some(label.into()), pool));
        self
    }

    /// Every pool's series now, in the Prometheus text format (version
    /// 0.0.4, served as [`CONTENT_TYPE`](super::CONTENT_TYPE)).
    pub fn render(&self) -> String {
        render_snapshots(self.snapshots())
    }

    fn snapshots(&self) -> Vec<Snapshot> {
        self.pools
            .iter()
            .map(|(label, pool)| Snapshot::take(label.as_deref(), pool.as_ref()))
            .collect()
    }
}

impl fmt::Debug for PoolMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let labels: Vec<Option<&str>> = self.pools.iter().map(|(l, _)| l.as_deref()).collect();
        f.debug_struct("PoolMetrics")
            .field("pools", &labels)
            .finish()
    }
}

impl Collector for PoolMetrics {
    fn encode(&self, encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        families::encode(&self.snapshots(), encoder)
    }
}

/// Snapshots already taken, as a collector (for rendering a borrowed pool).
#[derive(Debug)]
pub(crate) struct Frozen(pub(crate) Vec<Snapshot>);

impl Collector for Frozen {
    fn encode(&self, encoder: DescriptorEncoder<'_>) -> Result<(), fmt::Error> {
        families::encode(&self.0, encoder)
    }
}
