//! Expiry of agents' capacity reports, checked from the pick path with no
//! timer: one atomic load while no report is in force.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;

use crate::runtime::slot::Slot;
use crate::types::clock::saturating_nanos;

/// No capacity report in force.
const NEVER: u64 = u64::MAX;

/// Expiry of agent capacities, per pool.
///
/// The pick path pays one relaxed atomic load of `deadline` while no
/// capacity report is in force. While one is, each pick also reads the
/// clock once to compare with the earliest expiry; the first pick past it
/// restores the configured weights of the expired backends (a short sweep,
/// under a `try_lock` so concurrent picks never wait for it).
pub(crate) struct AgentExpiry {
    /// How long a capacity report holds.
    pub(crate) ttl: Duration,
    /// Earliest expiry among the reports in force (clock nanoseconds), or NEVER.
    deadline: AtomicU64,
    /// Backends with a capacity in force. Weak: slots point at the pool's
    /// shared state, which owns this, so strong pointers would be a cycle.
    active: Mutex<Vec<Weak<Slot>>>,
}

impl AgentExpiry {
    pub(crate) fn new(ttl: Duration) -> Self {
        AgentExpiry {
            ttl,
            deadline: AtomicU64::new(NEVER),
            active: Mutex::new(Vec::new()),
        }
    }

    /// Notes that `slot` now holds a capacity until `until`; `already`
    /// says one was in force, so the slot is tracked already.
    ///
    /// Exactly the slots whose capacity is set are tracked: the slot's own
    /// lock orders a report against the sweep's expiry of the same slot, so
    /// either the sweep saw the renewed report and kept the slot, or it
    /// expired the old one first and this report finds none in force. That
    /// keeps a report O(1) with thousands of backends, with no list search.
    pub(crate) fn track(&self, slot: &Arc<Slot>, until: u64, already: bool) {
        if already {
            // The deadline is at or before the old report's expiry, which is
            // earlier than this one's: an early sweep at worst.
            return;
        }
        let mut active = self.active.lock();
        active.push(Arc::downgrade(slot));
        self.deadline.fetch_min(until, Ordering::Relaxed);
    }

    /// The pick path's check: one load unless a report is in force.
    #[inline]
    pub(crate) fn check(&self, now: impl FnOnce() -> Duration) {
        let deadline = self.deadline.load(Ordering::Relaxed);
        if deadline != NEVER {
            self.due(deadline, now);
        }
    }

    #[cold]
    fn due(&self, deadline: u64, now: impl FnOnce() -> Duration) {
        let now = saturating_nanos(now());
        if now < deadline {
            return;
        }
        let Some(mut active) = self.active.try_lock() else {
            return; // another pick is sweeping
        };
        let mut next = NEVER;
        active.retain(|weak| match weak.upgrade() {
            Some(slot) => match slot.expire_agent(now) {
                Some(until) => {
                    next = next.min(until);
                    true
                }
                None => false,
            },
            None => false,
        });
        // Under the lock, so no `track` can slip a new deadline in between.
        self.deadline.store(next, Ordering::Relaxed);
    }
}
