//! Learning from outcomes: counters, the latency and error-rate EWMAs, and
//! the passive-health ejections (consecutive failures, success-rate
//! outliers) that outcomes trigger.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::Slot;
use crate::runtime::outliers::{IntervalCounts, Outlier};
use crate::runtime::sync::AtomicU32;
use crate::types::clock::saturating_nanos;
use crate::types::{FailureKind, Outcome, OutcomeKind, Reason};

impl Slot {
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

    fn eject_after(self: &Arc<Self>, consecutive: u32, last: FailureKind) {
        let reason = |ejected_for| Reason::Failures {
            consecutive,
            last,
            ejected_for,
        };
        self.eject(self.shared.now(), || self.count_ejection(), reason);
    }

    /// Ejects it as a success-rate outlier, if the cap allows.
    pub(super) fn eject_outlier(self: &Arc<Self>, rate: u32, threshold: u32, now: Duration) {
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
            self.times_ejected.fetch_add(1, Ordering::Relaxed);
            self.announce(from, reason(ejected_for), now);
        }
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

    pub(crate) fn is_ejected_at(&self, now: Duration) -> bool {
        !self.removed.load(Ordering::Relaxed)
            && self.hot.ejected_until.load(Ordering::Acquire) > saturating_nanos(now)
    }

    pub(crate) fn interval(&self) -> &IntervalCounts {
        &self.interval
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
