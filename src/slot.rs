//! Per-backend runtime state that outlives set updates: outcome counters,
//! state and its reason, and its entry of pick-path fields (in-flight
//! count, weight, ejection; see `hot`). Keyed by `BackendId` in the pool.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::agent::{AgentCapacity, Capacity};
use crate::backend::BackendId;
use crate::clock::saturating_nanos;
use crate::feedback::Ewma;
use crate::hot::{self, HotRef, ADMIN_DOWN, ADMIN_DRAIN, ADMIN_UP};
use crate::outcome::{FailureKind, Outcome, OutcomeKind};
use crate::outlier::{IntervalCounts, Outlier};
use crate::shared::Shared;
use crate::state::{AdminState, BackendState, Reason, StateChange};
use crate::sync::{AtomicBool, AtomicU32, AtomicU64};

/// Effective weights count in hundredths of a configured weight unit, so a
/// backend reported at 50% of weight 1 still has a non-zero weight.
pub const WEIGHT_UNIT: u64 = 100;

pub(crate) struct Slot {
    pub(crate) id: BackendId,
    /// What a pick reads, in the contiguous arena (see `hot`).
    pub(crate) hot: HotRef,
    configured_weight: AtomicU32,
    removed: AtomicBool,
    consecutive_failures: AtomicU32,
    /// Ejections since the last success: the multiplier of the next one.
    ejections: AtomicU32,
    successes: AtomicU64,
    server_errors: AtomicU64,
    failures: AtomicU64,
    /// Outcomes of the current outlier-detection interval.
    interval: IntervalCounts,
    /// Peak-sensitive latency EWMA, nanoseconds.
    latency: Ewma,
    /// EWMA of the share of outcomes that were errors, 0..=1.
    errors: Ewma,
    last_change: Mutex<StateChange>,
    /// The agent's capacity report in force, if any. Every write of
    /// `effective_weight` happens under this lock, so a configured-weight
    /// update and an agent report combine instead of overwriting each other.
    agent: Mutex<AgentCapacity>,
    shared: Arc<Shared>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        // No set and no pick holds the slot any more, so none holds its entry.
        hot::give_back(&self.hot);
    }
}

impl Slot {
    pub(crate) fn new(id: BackendId, weight: u32, shared: Arc<Shared>) -> Self {
        let at = shared.now();
        Slot {
            last_change: Mutex::new(StateChange {
                id: id.clone(),
                from: BackendState::Removed,
                to: BackendState::Up,
                reason: Reason::Added,
                at,
            }),
            id,
            hot: hot::take(u64::from(weight) * WEIGHT_UNIT),
            configured_weight: AtomicU32::new(weight),
            removed: AtomicBool::new(false),
            consecutive_failures: AtomicU32::new(0),
            ejections: AtomicU32::new(0),
            successes: AtomicU64::new(0),
            server_errors: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            interval: IntervalCounts::new(),
            latency: Ewma::default(),
            errors: Ewma::default(),
            agent: Mutex::new(AgentCapacity::default()),
            shared,
        }
    }

    // ---- the pick path: loads only, unless an ejection has run out ----

    #[inline]
    pub(crate) fn in_flight(&self) -> u64 {
        self.hot.in_flight()
    }

    #[inline]
    pub(crate) fn acquire(&self) {
        let before = self.hot.in_flight.fetch_add(1, Ordering::Relaxed);
        debug_assert_ne!(before, u32::MAX, "in-flight count overflow");
    }

    #[inline]
    pub(crate) fn release(&self) {
        let before = self.hot.in_flight.fetch_sub(1, Ordering::Release);
        debug_assert_ne!(before, 0, "in-flight count released twice");
    }

    /// The effective weight, scaled down while slow start ramps it.
    #[inline]
    pub(crate) fn effective_weight(&self) -> u64 {
        let weight = self.hot.effective_weight.load(Ordering::Relaxed);
        let start = self.hot.ramp_start.load(Ordering::Relaxed);
        if start == 0 {
            return weight;
        }
        self.ramped(weight, start)
    }

    /// The weight partway up its ramp; the first reader past the window
    /// ends the ramp, so later reads skip the clock.
    #[cold]
    fn ramped(&self, weight: u64, start: u64) -> u64 {
        let ramp = &self.shared.slow_start;
        let now = saturating_nanos(self.shared.now());
        let elapsed = Duration::from_nanos(now.saturating_sub(start - 1));
        if elapsed >= ramp.window {
            let _ = self.hot.ramp_start.compare_exchange(
                start,
                0,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            return weight;
        }
        // Never down to 0: a ramping backend stays eligible.
        (weight * ramp.permille(elapsed) / 1000).max(weight.min(1))
    }

    /// Starts a slow-start ramp now, if slow start is on.
    pub(crate) fn start_ramp(&self) {
        if self.shared.slow_start.is_enabled() {
            let now = saturating_nanos(self.shared.now());
            self.hot
                .ramp_start
                .store(now.saturating_add(1), Ordering::Relaxed);
        }
    }

    /// May take a new client: up, not ejected, weight above zero.
    #[inline]
    pub(crate) fn is_up(&self) -> bool {
        // Ejection first: its end must be noticed (and announced) even while
        // an agent holds the weight at zero.
        self.hot.admin.load(Ordering::Relaxed) == ADMIN_UP
            && self.not_ejected()
            && self.effective_weight() > 0
    }

    /// May keep a sticky client: up or draining, and not ejected.
    #[inline]
    pub(crate) fn keeps_sticky(&self) -> bool {
        self.hot.admin.load(Ordering::Relaxed) != ADMIN_DOWN && self.not_ejected()
    }

    pub(crate) fn is_draining(&self) -> bool {
        self.hot.admin.load(Ordering::Relaxed) == ADMIN_DRAIN
    }

    #[inline]
    fn not_ejected(&self) -> bool {
        let until = self.hot.ejected_until.load(Ordering::Acquire);
        until == 0 || self.ejection_ran_out(until)
    }

    /// The first caller to see an ejection's end clears it and reports it.
    #[cold]
    fn ejection_ran_out(&self, until: u64) -> bool {
        let now = self.shared.now();
        if saturating_nanos(now) < until {
            return false;
        }
        if self
            .hot
            .ejected_until
            .compare_exchange(until, 0, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            // Failures recorded by requests that were in flight during the
            // ejection say nothing about the backend as it comes back.
            self.consecutive_failures.store(0, Ordering::Relaxed);
            self.start_ramp();
            let from = self.state_with(BackendState::Ejected);
            self.announce(from, Reason::EjectionEnded, now);
        }
        true
    }

    // ---- health ----

    pub(crate) fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Relaxed)
    }

    pub(crate) fn is_ejected_at(&self, now: Duration) -> bool {
        !self.removed.load(Ordering::Relaxed)
            && self.hot.ejected_until.load(Ordering::Acquire) > saturating_nanos(now)
    }

    pub(crate) fn count_ejection(&self) -> u32 {
        self.ejections
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1)
    }

    pub(crate) fn eject_until(&self, until: Duration) {
        self.consecutive_failures.store(0, Ordering::Relaxed);
        self.hot
            .ejected_until
            .store(saturating_nanos(until).max(1), Ordering::Release);
    }

    /// The latency estimate now, in nanoseconds; `None` before any sample.
    #[inline]
    pub(crate) fn latency_ns(&self, now: u64) -> Option<f64> {
        self.latency.get(now, self.shared.feedback.latency_decay)
    }

    /// The error-rate estimate now, 0..=1 (0 before any outcome).
    #[inline]
    pub(crate) fn error_rate(&self, now: u64) -> f64 {
        let rate = self.errors.get(now, self.shared.feedback.error_decay);
        rate.unwrap_or(0.0)
    }

    /// Counts an outcome, feeds the EWMAs, and ejects the backend when it
    /// crosses the failure threshold. The first outcome after an outlier
    /// interval ends runs the evaluation first, so the outcome belongs to
    /// the new interval.
    pub(crate) fn observe(self: &Arc<Self>, outcome: &Outcome) {
        let shared = &self.shared;
        let now = shared.now();
        if let Some(outliers) = shared.outliers.check(now) {
            eject_outliers(outliers, now);
        }
        if shared.outliers.is_enabled() {
            self.interval.count(outcome.is_success());
        }
        self.learn(outcome, saturating_nanos(now));
        match outcome.kind {
            OutcomeKind::Success => {
                self.successes.fetch_add(1, Ordering::Relaxed);
                reset(&self.consecutive_failures);
                reset(&self.ejections);
            }
            OutcomeKind::ServerError => {
                self.server_errors.fetch_add(1, Ordering::Relaxed);
                reset(&self.consecutive_failures);
            }
            OutcomeKind::Failure(kind) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                let in_a_row = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
                let threshold = self.shared.health.consecutive_failures;
                if threshold > 0 && in_a_row >= threshold {
                    self.eject_after(in_a_row, kind);
                }
            }
        }
    }

    fn learn(&self, outcome: &Outcome, now: u64) {
        let feedback = &self.shared.feedback;
        let slow = matches!(
            outcome.kind,
            OutcomeKind::Success | OutcomeKind::Failure(FailureKind::Timeout)
        );
        if slow {
            let latency = outcome.latency.as_nanos() as f64;
            self.latency
                .observe(latency, now, feedback.latency_decay, true);
        }
        let error = if outcome.is_success() { 0.0 } else { 1.0 };
        self.errors.observe(error, now, feedback.error_decay, false);
    }

    fn eject_after(self: &Arc<Self>, consecutive: u32, last: FailureKind) {
        let reason = |ejected_for| Reason::Failures {
            consecutive,
            last,
            ejected_for,
        };
        self.eject(self.shared.now(), || self.count_ejection(), reason);
    }

    pub(crate) fn interval(&self) -> &IntervalCounts {
        &self.interval
    }

    /// Ejects it as a success-rate outlier, if the cap allows.
    fn eject_outlier(self: &Arc<Self>, rate: u32, threshold: u32, now: Duration) {
        let reason = |ejected_for| Reason::SuccessRateOutlier {
            rate,
            threshold,
            ejected_for,
        };
        self.eject(now, || self.interval.count_ejection(), reason);
    }

    /// Ejects it if the cap allows, counting the ejection with `nth` (each
    /// rule keeps its own count), and announces why.
    fn eject(
        self: &Arc<Self>,
        now: Duration,
        nth: impl FnOnce() -> u32,
        reason: impl FnOnce(Duration) -> Reason,
    ) {
        let shared = &self.shared;
        let from = self.state_at(now);
        let ejected =
            shared
                .ejections
                .try_eject(self, &shared.health, shared.backend_count(), now, nth);
        if let Some(ejected_for) = ejected {
            self.announce(from, reason(ejected_for), now);
        }
    }

    // ---- state and its reasons ----

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

    /// The state given the ejection part of it, with the admin state first:
    /// an operator's `down` outranks an ejection.
    fn state_with(&self, ejection: BackendState) -> BackendState {
        match self.hot.admin.load(Ordering::Relaxed) {
            ADMIN_DOWN => BackendState::Down,
            _ if ejection == BackendState::Ejected => BackendState::Ejected,
            ADMIN_DRAIN => BackendState::Draining,
            _ => BackendState::Up,
        }
    }

    pub(crate) fn set_admin(&self, state: AdminState, reason: Reason) {
        let now = self.shared.now();
        let from = self.state_at(now);
        let code = match state {
            AdminState::Up => ADMIN_UP,
            AdminState::Drain => ADMIN_DRAIN,
            AdminState::Down => ADMIN_DOWN,
        };
        if code == ADMIN_UP && from == BackendState::Down {
            // Back from down: ramp like a backend that joins.
            self.start_ramp();
        }
        self.hot.admin.store(code, Ordering::Release);
        self.announce(from, reason, now);
    }

    pub(crate) fn set_configured_weight(&self, weight: u32) {
        let agent = self.agent.lock();
        self.configured_weight.store(weight, Ordering::Relaxed);
        self.store_effective(agent.effective(weight), weight);
    }

    /// Every write of the effective weight goes through here (under the
    /// agent lock), so a boost above the configured weight is never missed.
    fn store_effective(&self, effective: u64, configured: u32) {
        self.hot
            .effective_weight
            .store(effective, Ordering::Relaxed);
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
        let configured = self.configured_weight.load(Ordering::Relaxed);
        self.store_effective(agent.effective(configured), configured);
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
        let configured = self.configured_weight.load(Ordering::Relaxed);
        self.store_effective(agent.effective(configured), configured);
        None
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

    /// Records and reports a change if the state really moved.
    fn announce(&self, from: BackendState, reason: Reason, now: Duration) {
        // Reading the new state under the lock orders concurrent changes:
        // the one recorded last is the one that saw the latest state.
        let mut last = self.last_change.lock();
        let to = self.state_at(now);
        if from == to {
            return;
        }
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

    /// A removed backend added again: up, with its counters intact.
    pub(crate) fn rejoin(&self) {
        self.hot.admin.store(ADMIN_UP, Ordering::Relaxed);
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
            consecutive_failures: self.consecutive_failures.load(Ordering::Relaxed),
        }
    }
}

/// Ejects what an evaluation found, worst first, after its lock is dropped:
/// observers hear of it with no lock of the pool held.
#[cold]
fn eject_outliers(outliers: Vec<Outlier>, now: Duration) {
    for outlier in outliers {
        let Outlier {
            slot,
            rate,
            threshold,
        } = outlier;
        slot.eject_outlier(rate, threshold, now);
    }
}

/// Stores zero only when needed: a store on every success would bounce the
/// cache line between threads for nothing.
fn reset(counter: &AtomicU32) {
    if counter.load(Ordering::Relaxed) != 0 {
        counter.store(0, Ordering::Relaxed);
    }
}

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
    /// Effective weight in hundredths of a weight unit ([`WEIGHT_UNIT`]).
    pub effective_weight: u64,
    /// Picks of it alive now (0 when the pool does not count them: see
    /// [`PoolBuilder::track_in_flight`](crate::PoolBuilder::track_in_flight)).
    pub in_flight: u64,
    /// Outcomes recorded as success.
    pub successes: u64,
    /// Outcomes recorded as server errors.
    pub server_errors: u64,
    /// Outcomes recorded as failures.
    pub failures: u64,
    /// Failures since the last success.
    pub consecutive_failures: u32,
}
