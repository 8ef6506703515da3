//! The public picture of one backend: [`BackendStatus`], read from its slot.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Slot;
use crate::types::{BackendId, BackendState, Reason};

/// A backend's runtime picture, from [`Pool::backends`](crate::Pool::backends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendStatus {
    /// The backend.
    pub id: BackendId,
    /// Its state now.
    pub state: BackendState,
    /// Why it last changed state.
    pub reason: Reason,
    /// When it last changed state, on the pool's clock.
    pub since: Duration,
    /// Configured weight.
    pub weight: u32,
    /// Effective weight in hundredths of a weight unit ([`WEIGHT_UNIT`](crate::strategy::WEIGHT_UNIT)).
    pub effective_weight: u64,
    /// Picks of it alive now (0 when the pool does not count them: see
    /// [`PoolBuilder::counts_in_flight`](crate::PoolBuilder::counts_in_flight)).
    pub in_flight: u64,
    /// Outcomes recorded as success.
    pub successes: u64,
    /// Outcomes recorded as server errors.
    pub server_errors: u64,
    /// Outcomes recorded as failures.
    pub failures: u64,
    /// Outcomes recorded as client faults: counted for neither side.
    pub client_faults: u64,
    /// Failures since the last success.
    pub consecutive_failures: u32,
}

impl Slot {
    pub(crate) fn status(&self) -> BackendStatus {
        // Settles an ejection that ran out, so the reason shown is current.
        self.not_ejected();
        let now = self.shared.now();
        let last = self.last_change.lock().clone();
        BackendStatus {
            id: self.id.clone(),
            state: self.state_at(now),
            reason: last.reason,
            since: last.at,
            weight: self.configured_weight.load(Ordering::Relaxed),
            effective_weight: self.effective_weight(),
            in_flight: self.in_flight(),
            successes: self.successes.load(Ordering::Relaxed),
            server_errors: self.server_errors.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            client_faults: self.client_faults.load(Ordering::Relaxed),
            consecutive_failures: self.consecutive_failures.load(Ordering::Relaxed),
        }
    }
}
