//! The ejected backends of one pool, kept under the cap of
//! [`HealthConfig`](crate::health::HealthConfig).

use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;

use crate::health::HealthConfig;
use crate::runtime::slot::Slot;

/// The ejected backends of one pool: only touched when a backend crosses the
/// failure threshold, so a mutex is cheap here and keeps the cap exact.
#[derive(Debug, Default)]
pub(crate) struct Ejections {
    ejected: Mutex<Vec<Weak<Slot>>>,
}

impl Ejections {
    /// Ejects `slot` until `now + time` if the cap allows and it is not ejected
    /// already; returns the ejection time when it did. `nth` counts the
    /// ejection and says which one in a row it is (each rule keeps its own
    /// count); it is called only when the ejection happens.
    pub(crate) fn try_eject(
        &self,
        slot: &Arc<Slot>,
        config: &HealthConfig,
        backends: usize,
        now: Duration,
        nth: impl FnOnce() -> u32,
    ) -> Option<Duration> {
        let mut ejected = self.ejected.lock();
        // A late failure of a removed backend must not eject it: it would
        // come back ejected, uncounted, if re-added.
        if slot.is_removed() || slot.is_ejected_at(now) {
            return None;
        }
        ejected.retain(|weak| weak.upgrade().is_some_and(|s| s.is_ejected_at(now)));
        if ejected.len() >= config.ejection_cap(backends) {
            return None;
        }
        let time = config.ejection_time(nth());
        slot.eject_until(now.saturating_add(time));
        ejected.push(Arc::downgrade(slot));
        Some(time)
    }
}
