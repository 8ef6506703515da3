//! The state machine: up, draining, down (the operator's or an agent's
//! word), unhealthy (the active health check's word), ejected (passive
//! health), removed (left the set); every change recorded with its reason
//! and time and told to the observers.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Slot;
use crate::runtime::arena::{ADMIN_DOWN, ADMIN_DRAINING, ADMIN_MASK, ADMIN_UP, HEALTH_FAILED};
use crate::types::{AdminState, BackendState, CheckResult, Reason, StateChange};

impl Slot {
    pub(crate) fn state_at(&self, now: Duration) -> BackendState {
        if self.removed.load(Ordering::Relaxed) {
            return BackendState::Removed;
        }
        let ejected = if self.is_ejected_at(now) {
            BackendState::Ejected
        } else {
            BackendState::Up
        };
        self.state_with(ejected)
    }

    /// The state given the ejection part of it, the strongest word first:
    /// an operator's `down`, then a failed health check, then an ejection,
    /// then draining.
    pub(in crate::runtime) fn state_with(&self, ejection: BackendState) -> BackendState {
        let gate = self.hot.gate.load(Ordering::Relaxed);
        match gate & ADMIN_MASK {
            ADMIN_DOWN => BackendState::Down,
            _ if gate & HEALTH_FAILED != 0 => BackendState::Unhealthy,
            _ if ejection == BackendState::Ejected => BackendState::Ejected,
            ADMIN_DRAINING => BackendState::Draining,
            _ => BackendState::Up,
        }
    }

    pub(crate) fn set_admin(&self, state: AdminState, reason: Reason) {
        let now = self.shared.now();
        let from = self.state_at(now);
        let code = match state {
            AdminState::Up => ADMIN_UP,
            AdminState::Draining => ADMIN_DRAINING,
            AdminState::Down => ADMIN_DOWN,
        };
        if code == ADMIN_UP && from == BackendState::Down {
            // Back from down: ramp like a backend that joins.
            self.start_ramp();
        }
        // The health bit stays as the check left it.
        let mut gate = self.hot.gate.load(Ordering::Relaxed);
        while let Err(seen) = self.hot.gate.compare_exchange_weak(
            gate,
            (gate & !ADMIN_MASK) | code,
            Ordering::Release,
            Ordering::Relaxed,
        ) {
            gate = seen;
        }
        if gate & ADMIN_MASK != code {
            // Whether or not the state observers see moves (an ejected
            // backend drained and set up again stays "ejected"), the
            // backend may have become available: tier plans and the load
            // floor (`runtime::floor`) must not outlive that.
            self.shared.states_changed();
        }
        self.announce(from, reason, now);
    }

    /// Applies an active health check's verdict. A failure holds the backend
    /// out until a check passes; a pass lifts that and also ends a passive
    /// ejection (the check has just seen it serve). The admin state is left
    /// alone either way. The result is kept for the status even when the
    /// state does not move.
    pub(crate) fn set_health(&self, result: CheckResult) {
        let now = self.shared.now();
        let from = self.state_at(now);
        if result.passed() {
            let gate = self.hot.gate.fetch_and(!HEALTH_FAILED, Ordering::Release);
            let ejected = self.hot.ejected_until.swap(0, Ordering::AcqRel) != 0;
            if ejected || gate & HEALTH_FAILED != 0 {
                self.consecutive_failures.store(0, Ordering::Relaxed);
                self.start_ramp();
            }
        } else {
            self.hot.gate.fetch_or(HEALTH_FAILED, Ordering::Release);
        }
        *self.last_check.lock() = Some((result.clone(), now));
        self.announce(from, Reason::HealthCheck(result), now);
    }

    pub(crate) fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Relaxed)
    }

    /// Marks it removed (under the pool's update lock, so a later update
    /// re-adding it sees the mark); returns what `announce_removed` needs.
    pub(crate) fn retire(&self) -> (BackendState, Duration) {
        let now = self.shared.now();
        let from = self.state_at(now);
        self.removed.store(true, Ordering::Release);
        (from, now)
    }

    /// Tells observers about a `retire`, after the pool's locks are released.
    pub(crate) fn announce_removed(&self, (from, at): (BackendState, Duration)) {
        self.announce(from, Reason::Removed, at);
    }

    /// A removed backend added again: up, with its counters intact.
    pub(crate) fn rejoin(&self) {
        self.hot.gate.store(ADMIN_UP, Ordering::Relaxed);
        self.hot.ejected_until.store(0, Ordering::Release);
        self.removed.store(false, Ordering::Release);
        let mut last = self.last_change.lock();
        last.from = BackendState::Removed;
        last.to = BackendState::Up;
        last.reason = Reason::Added;
        last.at = self.shared.now();
    }

    pub(crate) fn announce_added(&self) {
        let change = self.last_change.lock().clone();
        self.shared.notify(&change);
    }

    /// Records and reports a change if the state really moved.
    pub(in crate::runtime) fn announce(&self, from: BackendState, reason: Reason, now: Duration) {
        // Reading the new state under the lock orders concurrent changes:
        // the one recorded last is the one that saw the latest state.
        let mut last = self.last_change.lock();
        let to = self.state_at(now);
        if from == to {
            return;
        }
        self.shared.states_changed();
        let change = StateChange {
            id: self.id.clone(),
            from,
            to,
            reason,
            at: now,
        };
        *last = change.clone();
        drop(last);
        self.shared.notify(&change);
    }
}
