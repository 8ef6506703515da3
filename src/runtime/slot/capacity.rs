//! Agent weight arithmetic: the capacity an agent reported, combined with
//! the configured weight into the effective weight a pick reads.

use std::sync::atomic::Ordering;

use super::{Slot, WEIGHT_UNIT};
use crate::agent::Capacity;

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
