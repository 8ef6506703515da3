//! One call renders a pool: [`render`], [`render_labelled`].

use prometheus_client::encoding::prometheus_text;
use prometheus_client::registry::Registry;

use super::collector::Frozen;
use super::source::{Snapshot, StatusSource};

/// The `Content-Type` of what [`render`] returns: the Prometheus text
/// format, version 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// A pool's series now, in the Prometheus text format (version 0.0.4):
/// what a `/metrics` endpoint serves, with [`CONTENT_TYPE`].
pub fn render(pool: &(impl StatusSource + ?Sized)) -> String {
    render_snapshots(vec![Snapshot::take(None, pool)])
}

/// The same as [`render`], every series labelled `pool="<label>"`.
pub fn render_labelled(pool: &(impl StatusSource + ?Sized), label: &str) -> String {
    render_snapshots(vec![Snapshot::take(Some(label), pool)])
}

pub(crate) fn render_snapshots(snapshots: Vec<Snapshot>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Frozen(snapshots)));
    let mut text = String::new();
    // Writing to a String cannot fail, nor can our encoder (it only writes).
    if prometheus_text::encode(&mut text, &registry).is_err() {
        text.clear();
    }
    text
}
