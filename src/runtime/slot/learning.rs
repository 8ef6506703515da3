//! Learning from outcomes: counters, the latency and error-rate EWMAs, and
//! the passive-health ejections (consecutive failures, success-rate
//! outliers) that outcomes trigger.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
#[cfg(feature = "tower")]
use std::time::Instant;

use super::Slot;
use crate::runtime::passive::ejection::eject_outliers;
use crate::runtime::passive::outlier::IntervalCounts;
use crate::runtime::sync::{AtomicU32, AtomicU64};
use crate::types::clock::saturating_nanos;
use crate::types::{FailureKind, Outcome, OutcomeKind};

/// How finely the time of a backend's last answer is kept, nanoseconds.
const ANSWER_GRAIN: u64 = 1_000_000;

/// What recording a success or a server error at the response head cleared,
/// kept by the pick so that a failure found later can take its place
/// ([`Slot::revise`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Revisable {
    /// A success; else a server error.
    success: bool,
    /// The outlier-detection interval it counted in.
    interval: u32,
    /// The failures in a row it reset.
    consecutive: u32,
    /// The ejections in a row it reset.
    ejections: u32,
}

impl Slot {
    /// Counts an outcome, feeds the EWMAs, and ejects the backend when it
    /// crosses the failure threshold. The first outcome after an outlier
    /// interval ends runs the evaluation first, so the outcome belongs to
    /// the new interval. A client fault is only counted, apart; an outpaced
    /// try ([`FailureKind::Outpaced`]) only in the failures in a row and the
    /// latency. Returns what a success or a server error cleared, for
    /// [`revise`](Self::revise).
    pub(crate) fn observe(self: &Arc<Self>, outcome: &Outcome) -> Option<Revisable> {
        self.observe_at(outcome, self.shared.now())
    }

    /// As [`observe`](Self::observe), for an outcome seen at `ended`, an
    /// `Instant` the caller read for its latency: with the system clock the
    /// pool's time is taken from it, so recording reads no clock.
    #[cfg(feature = "tower")]
    #[inline]
    pub(crate) fn observe_ended(
        self: &Arc<Self>,
        outcome: &Outcome,
        ended: Instant,
    ) -> Option<Revisable> {
        self.observe_at(outcome, self.shared.now_at(ended))
    }

    fn observe_at(self: &Arc<Self>, outcome: &Outcome, now: Duration) -> Option<Revisable> {
        let shared = &self.shared;
        if let Some(outliers) = shared.outliers.check(now) {
            eject_outliers(outliers, now);
        }
        match outcome.kind {
            OutcomeKind::ClientFault => {
                self.client_faults.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            OutcomeKind::Failure(FailureKind::Outpaced) => {
                // A latency of at least this long; and in the failures in a
                // row only if the backend answered nothing while it waited.
                let now = saturating_nanos(now);
                self.learn_latency(outcome.latency, now);
                let sent = now.saturating_sub(saturating_nanos(outcome.latency));
                if !self.answered_since(sent) {
                    self.in_a_row(FailureKind::Outpaced, 1);
                }
                return None;
            }
            _ => {}
        }
        let interval = self.interval.current();
        if shared.outliers.is_enabled() {
            self.interval.count(outcome.is_success());
        }
        self.learn(outcome, saturating_nanos(now));
        if matches!(
            outcome.kind,
            OutcomeKind::Success | OutcomeKind::ServerError
        ) {
            self.answered(saturating_nanos(now));
        }
        match outcome.kind {
            OutcomeKind::Success => {
                self.successes.fetch_add(1, Ordering::Relaxed);
                Some(Revisable {
                    success: true,
                    interval,
                    consecutive: reset(&self.consecutive_failures),
                    ejections: reset(&self.ejections),
                })
            }
            OutcomeKind::ServerError => {
                self.server_errors.fetch_add(1, Ordering::Relaxed);
                Some(Revisable {
                    success: false,
                    interval,
                    consecutive: reset(&self.consecutive_failures),
                    ejections: 0,
                })
            }
            OutcomeKind::Failure(kind) => {
                self.fail(kind, 1);
                None
            }
            // Counted above.
            OutcomeKind::ClientFault => None,
        }
    }

    /// Replaces the success or server error `was` with a failure of `kind`
    /// found after the response head: the counters move it to the failures,
    /// the failures in a row resume from where it reset them (plus this
    /// one), as does the ejection multiplier, and a success becomes an error
    /// for the error rate and the outlier interval (see
    /// [`IntervalCounts::revise`]). The latency the head brought stays.
    pub(crate) fn revise(self: &Arc<Self>, was: Revisable, kind: FailureKind) {
        let shared = &self.shared;
        let now = shared.now();
        if let Some(outliers) = shared.outliers.check(now) {
            eject_outliers(outliers, now);
        }
        if was.success {
            if shared.outliers.is_enabled() {
                self.interval.revise(was.interval);
            }
            // A server error taught the error rate its error already.
            let decay = shared.feedback.error_decay;
            self.errors
                .observe(1.0, saturating_nanos(now), decay, false);
            take_back(&self.successes);
            self.ejections.fetch_max(was.ejections, Ordering::Relaxed);
        } else {
            take_back(&self.server_errors);
        }
        self.fail(kind, was.consecutive.saturating_add(1));
    }

    /// Counts a failure of `kind` that adds `in_a_row` to the failures in a
    /// row, and ejects the backend at the threshold.
    fn fail(self: &Arc<Self>, kind: FailureKind, in_a_row: u32) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.in_a_row(kind, in_a_row);
    }

    /// Adds `in_a_row` to the failures in a row, the last of `kind`, and
    /// ejects the backend at the threshold.
    fn in_a_row(self: &Arc<Self>, kind: FailureKind, in_a_row: u32) {
        let before = self
            .consecutive_failures
            .fetch_add(in_a_row, Ordering::Relaxed);
        let in_a_row = before.saturating_add(in_a_row);
        let threshold = self.shared.health.consecutive_failures;
        if threshold > 0 && in_a_row >= threshold {
            self.eject_after(in_a_row, kind);
        }
    }

    fn learn(&self, outcome: &Outcome, now: u64) {
        let feedback = &self.shared.feedback;
        let slow = matches!(
            outcome.kind,
            OutcomeKind::Success | OutcomeKind::Failure(FailureKind::Timeout)
        );
        if slow {
            self.learn_latency(outcome.latency, now);
        }
        let error = if outcome.is_success() { 0.0 } else { 1.0 };
        self.errors.observe(error, now, feedback.error_decay, false);
    }

    /// Notes an answer at `now` (at most one write a millisecond: a write
    /// on every answer would bounce the cache line between threads).
    fn answered(&self, now: u64) {
        let stamp = now.saturating_add(1);
        if stamp.saturating_sub(self.last_answer.load(Ordering::Relaxed)) >= ANSWER_GRAIN {
            self.last_answer.store(stamp, Ordering::Relaxed);
        }
    }

    /// Whether it may have answered at or after `sent` (pool nanoseconds):
    /// the last answer noted, give or take the grain it is noted at.
    pub(crate) fn answered_since(&self, sent: u64) -> bool {
        let last = self.last_answer.load(Ordering::Relaxed);
        last != 0 && last.saturating_add(ANSWER_GRAIN) > sent
    }

    fn learn_latency(&self, latency: Duration, now: u64) {
        let decay = self.shared.feedback.latency_decay;
        self.latency
            .observe(latency.as_nanos() as f64, now, decay, true);
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

    pub(crate) fn interval(&self) -> &IntervalCounts {
        &self.interval
    }
}

/// Zeroes a counter and returns what it held. Writes only when needed: a
/// write on every success would bounce the cache line between threads for
/// nothing.
fn reset(counter: &AtomicU32) -> u32 {
    if counter.load(Ordering::Relaxed) == 0 {
        return 0;
    }
    counter.swap(0, Ordering::Relaxed)
}

/// Takes one back from a counter, never below zero.
fn take_back(counter: &AtomicU64) {
    let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
}
