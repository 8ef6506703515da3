//! Success-rate outlier detection (Envoy's): the settings
//! ([`OutlierConfig`]), each backend's counts of the current interval, and
//! the evaluation the first outcome after each interval runs (no timer).
//! An outlier is ejected through [`ejection`](super::ejection), under the
//! same cap.

use crate::runtime::slot::Slot;
use crate::runtime::sync::{AtomicU32, AtomicU64};
use crate::types::clock::saturating_nanos;
use crate::types::{ConfigError, MAX_BACKENDS};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64 as Deadline, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Success-rate outlier detection settings, for
/// [`PoolBuilder::outlier_detection`](crate::PoolBuilder::outlier_detection).
///
/// Off unless given to the builder. The defaults are Envoy's: every 10 s,
/// the backends with at least 100 outcomes in that interval are compared,
/// provided at least 5 of them qualify, and those below
/// `mean - 1.9 * stdev` of their success rates are ejected. A success is
/// [`OutcomeKind::Success`](crate::OutcomeKind::Success); server errors and
/// failures both count against the rate, client faults not at all. A
/// failure found after the head ([`Pick::record_late_failure`](crate::Pick::record_late_failure))
/// replaces the head's success.
///
/// Ejections share [`HealthConfig`](crate::health::HealthConfig)'s cap
/// (`max_ejected_percent`, never the last backend) and its ejection times:
/// `base_ejection` times the number of success-rate ejections in a row,
/// capped at `max_ejection`. The count starts over once the backend passes
/// an evaluation. This works whether or not the consecutive-failure rule is
/// on.
///
/// An interval is the time between two evaluations: at least `interval`,
/// longer when no outcome arrives to notice it ended.
///
/// ```
/// use pickwise::Pool;
/// use pickwise::health::OutlierConfig;
/// use pickwise::strategy::RoundRobin;
/// use std::time::Duration;
///
/// let outliers = OutlierConfig {
///     request_volume: 50,
///     ..OutlierConfig::default()
/// };
/// assert_eq!(outliers.interval, Duration::from_secs(10));
/// let pool = Pool::builder(RoundRobin::new())
///     .outlier_detection(outliers)
///     .build(vec![pickwise::BackendSpec::new("a", ())])?;
/// # Ok::<(), pickwise::ConfigError>(())
/// ```
///
/// With feature `serde` it deserializes, durations as text (`"30s"`),
/// unknown fields refused: the `[outlier_detection]` section of a
/// `pickwise::config::PoolConfig` file.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct OutlierConfig {
    /// How often backends are compared (Envoy's `interval`, 10 s).
    #[cfg_attr(
        feature = "serde",
        serde(deserialize_with = "crate::types::deserialize_duration")
    )]
    pub interval: Duration,
    /// Outcomes a backend needs in an interval to be compared at all
    /// (Envoy's `success_rate_request_volume`, 100). At least 1.
    pub request_volume: u64,
    /// Backends that must qualify before anyone is judged (Envoy's
    /// `success_rate_minimum_hosts`, 5). At least 2: a rate is an outlier
    /// only among peers.
    pub minimum_hosts: usize,
    /// How many standard deviations below the mean a success rate may fall
    /// (Envoy's `success_rate_stdev_factor` 1900, i.e. 1.9). Finite, at least 0.
    pub stdev_factor: f64,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        OutlierConfig {
            interval: Duration::from_secs(10),
            request_volume: 100,
            minimum_hosts: 5,
            stdev_factor: 1.9,
        }
    }
}

impl OutlierConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |setting, why: String| Err(ConfigError::Invalid { setting, why });
        if self.interval.is_zero() {
            return invalid(
                "outlier_detection.interval",
                "must be more than zero".into(),
            );
        }
        if self.request_volume == 0 {
            return invalid(
                "outlier_detection.request_volume",
                "must be at least 1".into(),
            );
        }
        if !(2..=MAX_BACKENDS).contains(&self.minimum_hosts) {
            return invalid(
                "outlier_detection.minimum_hosts",
                format!("{} is outside 2..={MAX_BACKENDS}", self.minimum_hosts),
            );
        }
        if !(self.stdev_factor.is_finite() && self.stdev_factor >= 0.0) {
            return invalid(
                "outlier_detection.stdev_factor",
                format!("{} is not a finite number of at least 0", self.stdev_factor),
            );
        }
        Ok(())
    }
}

/// One backend's outcomes in the current interval, and its success-rate
/// ejections in a row. Two counters rather than (successes, total): each
/// outcome bumps exactly one, so swapping them out one after the other never
/// splits an outcome across intervals.
#[derive(Debug)]
pub(crate) struct IntervalCounts {
    successes: AtomicU64,
    errors: AtomicU64,
    ejections: AtomicU32,
    /// Intervals taken so far: whether a success to revise is still counted.
    taken: AtomicU32,
}

impl IntervalCounts {
    pub(crate) fn new() -> Self {
        IntervalCounts {
            successes: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            ejections: AtomicU32::new(0),
            taken: AtomicU32::new(0),
        }
    }

    /// The current interval, for [`revise`](Self::revise); read before counting.
    #[inline]
    pub(crate) fn current(&self) -> u32 {
        self.taken.load(Ordering::Relaxed)
    }

    /// Turns a success counted in interval `counted_in` into an error. While
    /// that interval runs the success moves to the errors; once it has been
    /// taken, the error counts in the current interval and the old one keeps
    /// its success. (A revision racing the evaluation may land half in each
    /// interval: one outcome's worth, rarely.)
    pub(crate) fn revise(&self, counted_in: u32) {
        if self.current() == counted_in {
            // Never below zero: the success may have left with an interval
            // taken since the check.
            let _ = self
                .successes
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        }
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn count(&self, success: bool) {
        let counter = if success {
            &self.successes
        } else {
            &self.errors
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// (successes, total) since the last call, starting a new interval.
    fn take(&self) -> (u64, u64) {
        // First: a revision that still sees the old number finds its
        // success here, unless it races this swap.
        self.taken.fetch_add(1, Ordering::Relaxed);
        let successes = self.successes.swap(0, Ordering::Relaxed);
        let errors = self.errors.swap(0, Ordering::Relaxed);
        (successes, successes.saturating_add(errors))
    }

    /// Counts a success-rate ejection; the multiplier of its ejection time.
    pub(crate) fn count_ejection(&self) -> u32 {
        self.ejections
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1)
    }

    fn passed(&self) {
        if self.ejections.load(Ordering::Relaxed) != 0 {
            self.ejections.store(0, Ordering::Relaxed);
        }
    }
}

/// A success rate in basis points (hundredths of a percent): 10 000 is 100%.
/// Integers keep [`Reason`](crate::Reason) comparable.
pub(crate) const FULL_RATE: u32 = 10_000;

/// A backend found below the threshold, to eject once the lock is dropped.
pub(crate) struct Outlier {
    pub(crate) slot: Arc<Slot>,
    /// Its success rate, basis points.
    pub(crate) rate: u32,
    /// The threshold it fell below, basis points.
    pub(crate) threshold: u32,
}

/// The pool's detector: its settings, when it next runs, and the backends of
/// the current set.
pub(crate) struct Outliers {
    config: Option<OutlierConfig>,
    /// Clock nanoseconds of the next evaluation; `u64::MAX` when off.
    due: Deadline,
    /// Weak: slots point at the pool's shared state, which owns this.
    members: Mutex<Vec<Weak<Slot>>>,
}

impl Outliers {
    pub(crate) fn new(config: Option<OutlierConfig>, now: Duration) -> Self {
        let due = config.map_or(u64::MAX, |c| {
            saturating_nanos(now.saturating_add(c.interval))
        });
        Outliers {
            config,
            due: Deadline::new(due),
            members: Mutex::new(Vec::new()),
        }
    }

    /// Whether outcomes need counting per interval at all.
    #[inline]
    pub(crate) fn is_enabled(&self) -> bool {
        self.config.is_some()
    }

    /// Tracks the backends of a new set.
    pub(crate) fn set_members(&self, slots: &[Arc<Slot>]) {
        if self.is_enabled() {
            *self.members.lock() = slots.iter().map(Arc::downgrade).collect();
        }
    }

    /// The record path's check: one load; the outliers found if an interval
    /// ended and this caller got to run the evaluation.
    #[inline]
    pub(crate) fn check(&self, now: Duration) -> Option<Vec<Outlier>> {
        let now = saturating_nanos(now);
        if now < self.due.load(Ordering::Relaxed) {
            return None;
        }
        self.evaluate(now)
    }

    #[cold]
    fn evaluate(&self, now: u64) -> Option<Vec<Outlier>> {
        let config = self.config?;
        let members = self.members.try_lock()?;
        // Another record may have run it between our load and the lock.
        if now < self.due.load(Ordering::Relaxed) {
            return None;
        }
        let next = now.saturating_add(saturating_nanos(config.interval));
        self.due.store(next, Ordering::Relaxed);
        let now = Duration::from_nanos(now);
        let mut rates = Vec::with_capacity(members.len());
        for slot in members.iter().filter_map(Weak::upgrade) {
            let (successes, total) = slot.interval().take();
            // An ejected backend's stragglers say nothing about its peers.
            if total >= config.request_volume && !slot.is_ejected_at(now) {
                rates.push((slot, successes as f64 / total as f64));
            }
        }
        drop(members);
        Some(judge(rates, &config))
    }
}

/// The backends below `mean - stdev_factor * stdev` (population standard
/// deviation, as Envoy), worst first so that the cap spares the better ones.
fn judge(rates: Vec<(Arc<Slot>, f64)>, config: &OutlierConfig) -> Vec<Outlier> {
    if rates.len() < config.minimum_hosts {
        return Vec::new();
    }
    let n = rates.len() as f64;
    let mean = rates.iter().map(|(_, r)| r).sum::<f64>() / n;
    let variance = rates.iter().map(|(_, r)| (r - mean).powi(2)).sum::<f64>() / n;
    let threshold = mean - config.stdev_factor * variance.sqrt();
    // Equal rates can differ from their mean by rounding; with a factor of 0
    // that would make everyone an outlier. Nothing that close is.
    const ROUNDING: f64 = 1e-9;
    let mut outliers = Vec::new();
    for (slot, rate) in rates {
        if rate + ROUNDING < threshold {
            outliers.push((slot, rate));
        } else {
            slot.interval().passed();
        }
    }
    outliers.sort_by(|a, b| a.1.total_cmp(&b.1));
    outliers
        .into_iter()
        .map(|(slot, rate)| Outlier {
            slot,
            rate: basis_points(rate),
            threshold: basis_points(threshold),
        })
        .collect()
}

fn basis_points(rate: f64) -> u32 {
    (rate.clamp(0.0, 1.0) * f64::from(FULL_RATE)).round() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_are_refused() {
        let good = OutlierConfig::default();
        assert!(good.validate().is_ok());
        for bad in [
            OutlierConfig {
                interval: Duration::ZERO,
                ..good
            },
            OutlierConfig {
                request_volume: 0,
                ..good
            },
            OutlierConfig {
                minimum_hosts: 1,
                ..good
            },
            OutlierConfig {
                stdev_factor: f64::NAN,
                ..good
            },
            OutlierConfig {
                stdev_factor: -0.5,
                ..good
            },
            OutlierConfig {
                stdev_factor: f64::INFINITY,
                ..good
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn basis_points_round_and_clamp() {
        assert_eq!(basis_points(0.5), 5000);
        assert_eq!(basis_points(0.66666), 6667);
        assert_eq!(basis_points(-0.3), 0);
        assert_eq!(basis_points(1.0), FULL_RATE);
    }
}
