//! Agents' reports at run time, one place: the capacity an agent reported
//! combined with the configured weight into the effective weight a pick
//! reads ([`AgentCapacity`], the `Slot` methods), and the expiry of those
//! reports, checked from the pick path with no timer ([`AgentExpiry`]).
//! Parsing the replies and querying an agent are [`crate::agent`]'s.

use crate::agent::Capacity;
use crate::runtime::slot::{Slot, WEIGHT_UNIT};
use crate::types::clock::saturating_nanos;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// The capacity an agent set on one backend, and until when it holds.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct AgentCapacity {
    pub(crate) capacity: Option<Capacity>,
    /// Clock nanoseconds at which it expires (meaningful when `capacity` is set).
    pub(crate) until: u64,
}

impl AgentCapacity {
    /// The effective weight for `configured`, in hundredths of a unit.
    pub(crate) fn effective(&self, configured: u32) -> u64 {
        match self.capacity {
            None => u64::from(configured) * WEIGHT_UNIT,
            // configured * UNIT * p / 100, exact since UNIT is 100.
            Some(Capacity::Percent(p)) => u64::from(configured) * WEIGHT_UNIT * u64::from(p) / 100,
            Some(Capacity::Weight(w)) => u64::from(w) * WEIGHT_UNIT,
        }
    }
}

impl Slot {
    pub(crate) fn set_configured_weight(&self, weight: u32) {
        let agent = self.agent.lock();
        self.configured_weight.store(weight, Ordering::Relaxed);
        self.store_effective(&agent);
    }

    /// Every write of the effective weight goes through here, under the
    /// agent lock (`agent` is its guard's contents), so a configured-weight
    /// update and an agent report combine, and a boost above the configured
    /// weight is never missed.
    fn store_effective(&self, agent: &AgentCapacity) {
        let configured = self.configured_weight.load(Ordering::Relaxed);
        let effective = agent.effective(configured);
        let before = self.hot.effective_weight.swap(effective, Ordering::Relaxed);
        if before != effective {
            self.shared.weights_changed();
        }
        if (before == 0) != (effective == 0) {
            // At weight 0 it is not available: its tier's share moved.
            self.shared.states_changed();
        }
        if effective > u64::from(configured) * WEIGHT_UNIT {
            self.shared.boosted.store(true, Ordering::Relaxed);
        }
    }

    /// Applies an agent's capacity, in force until `until` (clock nanoseconds).
    /// Returns whether one was already in force (so the pool tracks it).
    pub(crate) fn set_agent_capacity(&self, capacity: Capacity, until: u64) -> bool {
        let mut agent = self.agent.lock();
        let was = agent.capacity.replace(capacity).is_some();
        agent.until = until;
        self.store_effective(&agent);
        was
    }

    /// Drops the agent's capacity if it ran out by `now`, restoring the
    /// configured weight. Returns its expiry if one is still in force.
    pub(crate) fn expire_agent(&self, now: u64) -> Option<u64> {
        let mut agent = self.agent.lock();
        agent.capacity?;
        if now < agent.until {
            return Some(agent.until);
        }
        agent.capacity = None;
        self.store_effective(&agent);
        None
    }
}

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
