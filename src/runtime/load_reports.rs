//! Load reports at run time, one place: each backend's latest weight from
//! its reports (ORCA's, see [`crate::orca`]) with when it started and last
//! moved ([`LoadCell`]); whoever records a report also refreshes the tables
//! built from those weights, at most once a period and never on a pick
//! (through [`refresh`](crate::runtime::refresh)).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::orca::LoadReport;
use crate::runtime::slot::Slot;
use crate::types::clock::saturating_nanos;

/// No time yet: the weight has not been non-zero since any moment.
const NEVER: u64 = u64::MAX;

/// One backend's latest load report (the three numbers a weight is made
/// of), written by whoever records a report and read when a table is
/// refreshed, never on a pick. The three are stored one by one: a refresh
/// racing two reports of one backend may mix them, which moves a weight by
/// no more than the two reports differ.
#[derive(Debug)]
pub(crate) struct LoadCell {
    /// Queries per second, as `f64` bits.
    qps: AtomicU64,
    /// Errors per second, as `f64` bits.
    eps: AtomicU64,
    /// Utilization, as `f64` bits.
    utilization: AtomicU64,
    /// Clock nanoseconds since which reports have given a weight without a
    /// gap longer than the expiry ([`NEVER`] if none or since expired).
    non_empty_since: AtomicU64,
    /// Clock nanoseconds of the latest report with a weight ([`NEVER`] if none).
    updated: AtomicU64,
}

impl Default for LoadCell {
    fn default() -> Self {
        LoadCell {
            qps: AtomicU64::new(0),
            eps: AtomicU64::new(0),
            utilization: AtomicU64::new(0),
            non_empty_since: AtomicU64::new(NEVER),
            updated: AtomicU64::new(NEVER),
        }
    }
}

impl LoadCell {
    /// Stores a report at `now` (nanoseconds). A report that gives no
    /// weight (no queries or no utilization in it) changes nothing, as in
    /// gRFC A58: it says nothing about capacity.
    pub(crate) fn store(&self, report: &LoadReport, now: u64) {
        if report.weight(0.0).is_none() {
            return;
        }
        let _ =
            self.non_empty_since
                .compare_exchange(NEVER, now, Ordering::Relaxed, Ordering::Relaxed);
        self.qps
            .store(report.rps_fractional.to_bits(), Ordering::Relaxed);
        self.eps.store(report.eps.to_bits(), Ordering::Relaxed);
        self.utilization
            .store(report.load().to_bits(), Ordering::Relaxed);
        self.updated.store(now, Ordering::Release);
    }

    /// The latest report's weight ([`LoadReport::weight`] with
    /// `error_penalty`), whatever its age.
    pub(crate) fn latest(&self, error_penalty: f64) -> Option<f64> {
        if self.updated.load(Ordering::Acquire) == NEVER {
            return None;
        }
        let read = |cell: &AtomicU64| f64::from_bits(cell.load(Ordering::Relaxed));
        LoadReport {
            rps_fractional: read(&self.qps),
            eps: read(&self.eps),
            cpu_utilization: read(&self.utilization),
            ..LoadReport::default()
        }
        .weight(error_penalty)
    }

    /// The weight to use at `now`, or `None` when unknown: no report yet,
    /// the latest older than `expiry` (which also restarts the blackout),
    /// or reports given for less than `blackout` (a backend that just
    /// started reporting often reports a load it does not carry yet).
    pub(crate) fn weight(&self, now: u64, rules: &WeightRules) -> Option<f64> {
        let updated = self.updated.load(Ordering::Acquire);
        if updated == NEVER {
            return None;
        }
        if now.saturating_sub(updated) >= saturating_nanos(rules.expiry) {
            self.non_empty_since.store(NEVER, Ordering::Relaxed);
            return None;
        }
        let since = self.non_empty_since.load(Ordering::Relaxed);
        if since == NEVER || now.saturating_sub(since) < saturating_nanos(rules.blackout) {
            return None;
        }
        self.latest(rules.error_penalty)
    }
}

/// How reports become weights (a strategy's settings, gRFC A58's names).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct WeightRules {
    /// `weight_expiration_period`.
    pub(crate) expiry: Duration,
    /// `blackout_period`.
    pub(crate) blackout: Duration,
    /// `error_utilization_penalty`.
    pub(crate) error_penalty: f64,
}

impl Slot {
    /// Whether its pool's strategy reads load reports.
    pub(crate) fn reads_load_reports(&self) -> bool {
        self.shared.reads_load_reports
    }

    /// Stores a load report and, if the period ran out, refreshes the
    /// pool's tables built from reports.
    pub(crate) fn record_load(&self, report: &LoadReport) {
        let now = saturating_nanos(self.shared.now());
        self.load.store(report, now);
        self.shared.tables.refresh_if_due(now);
    }
}
