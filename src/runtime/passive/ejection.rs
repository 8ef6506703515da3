//! Ejection after failures in a row: the settings ([`HealthConfig`]), the
//! pool's register of ejected backends kept under the cap ([`Ejections`]),
//! and a slot's side: ejecting (for failures in a row, or as an outlier
//! found by [`outlier`](super::outlier)), and the ejection's end, settled
//! by the first reader past it (no timer).

use crate::runtime::slot::Slot;
use crate::types::ConfigError;
use parking_lot::Mutex;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::runtime::passive::outlier::Outlier;
use crate::types::clock::saturating_nanos;
use crate::types::{BackendState, FailureKind, Reason};

/// When passive health ejects a backend, and for how long.
///
/// The defaults are Envoy's outlier detection defaults: 5 failures in a row
/// eject for 30 s times the number of ejections since the backend last
/// succeeded (capped at 300 s), and at most 10% of the set is ejected at once,
/// but at least one backend. One backend always stays: a set is never ejected
/// whole, so a pick still has somewhere to go when everything fails.
///
/// ```
/// use pickwise::health::HealthConfig;
/// use std::time::Duration;
///
/// let health = HealthConfig {
///     consecutive_failures: 3,
///     base_ejection: Duration::from_secs(5),
///     ..HealthConfig::default()
/// };
/// assert_eq!(health.max_ejected_percent, 10);
/// ```
///
/// With feature `serde` it deserializes, durations as text (`"30s"`),
/// unknown fields refused: the `[health]` section of a
/// `pickwise::config::PoolConfig` file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct HealthConfig {
    /// Failures in a row that eject a backend; 0 turns passive health off.
    pub consecutive_failures: u32,
    /// Ejection time for a first ejection; later ones multiply it.
    #[cfg_attr(
        feature = "serde",
        serde(deserialize_with = "crate::types::deserialize_duration")
    )]
    pub base_ejection: Duration,
    /// Ceiling on one ejection's time.
    #[cfg_attr(
        feature = "serde",
        serde(deserialize_with = "crate::types::deserialize_duration")
    )]
    pub max_ejection: Duration,
    /// Share of the set that may be ejected at once, in percent (0..=100);
    /// at least one backend may always be ejected, and never the last one.
    pub max_ejected_percent: u8,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            consecutive_failures: 5,
            base_ejection: Duration::from_secs(30),
            max_ejection: Duration::from_secs(300),
            max_ejected_percent: 10,
        }
    }
}

impl HealthConfig {
    /// Passive health switched off.
    pub fn disabled() -> Self {
        HealthConfig {
            consecutive_failures: 0,
            ..HealthConfig::default()
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |setting, why: String| Err(ConfigError::Invalid { setting, why });
        if self.base_ejection.is_zero() {
            return invalid("health.base_ejection", "must be more than zero".into());
        }
        if self.max_ejection < self.base_ejection {
            return invalid(
                "health.max_ejection",
                format!(
                    "{:?} is less than base_ejection ({:?})",
                    self.max_ejection, self.base_ejection
                ),
            );
        }
        if self.max_ejected_percent > 100 {
            return invalid(
                "health.max_ejected_percent",
                format!("{} is outside 0..=100", self.max_ejected_percent),
            );
        }
        Ok(())
    }

    /// How many of `backends` may be ejected at once.
    pub fn ejection_cap(&self, backends: usize) -> usize {
        let share = backends * usize::from(self.max_ejected_percent) / 100;
        share.max(1).min(backends.saturating_sub(1))
    }

    /// Ejection time for the `nth` ejection in a row (1-based).
    pub fn ejection_time(&self, nth: u32) -> Duration {
        self.base_ejection
            .checked_mul(nth.max(1))
            .map_or(self.max_ejection, |d| d.min(self.max_ejection))
    }
}

/// The ejected backends of one pool: only touched when a backend crosses the
/// failure threshold, so a mutex is cheap here and keeps the cap exact.
#[derive(Debug, Default)]
pub(crate) struct Ejections {
    ejected: Mutex<Vec<Weak<Slot>>>,
}

impl Ejections {
    /// Ejects `slot` until `now + time` if the cap allows and it is not ejected
    /// already; returns the ejection time when it did. `nth` counts the
    /// ejection and says which one in a row it is (each rule keeps its own
    /// count); it is called only when the ejection happens.
    pub(crate) fn try_eject(
        &self,
        slot: &Arc<Slot>,
        config: &HealthConfig,
        backends: usize,
        now: Duration,
        nth: impl FnOnce() -> u32,
    ) -> Option<Duration> {
        let mut ejected = self.ejected.lock();
        // A late failure of a removed backend must not eject it: it would
        // come back ejected, uncounted, if re-added.
        if slot.is_removed() || slot.is_ejected_at(now) {
            return None;
        }
        ejected.retain(|weak| weak.upgrade().is_some_and(|s| s.is_ejected_at(now)));
        if ejected.len() >= config.ejection_cap(backends) {
            return None;
        }
        let time = config.ejection_time(nth());
        slot.eject_until(now.saturating_add(time));
        ejected.push(Arc::downgrade(slot));
        Some(time)
    }
}

/// A slot's side of passive health: ejecting it, and the end of an ejection.
impl Slot {
    pub(in crate::runtime) fn eject_after(self: &Arc<Self>, consecutive: u32, last: FailureKind) {
        let reason = |ejected_for| Reason::Failures {
            consecutive,
            last,
            ejected_for,
        };
        self.eject(self.shared.now(), || self.count_ejection(), reason);
    }

    /// Ejects it as a success-rate outlier, if the cap allows.
    pub(in crate::runtime) fn eject_outlier(
        self: &Arc<Self>,
        rate: u32,
        threshold: u32,
        now: Duration,
    ) {
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

    #[inline]
    pub(in crate::runtime) fn not_ejected(&self) -> bool {
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
}

/// Ejects what an evaluation found, worst first, after its lock is dropped:
/// observers hear of it with no lock of the pool held.
#[cold]
pub(in crate::runtime) fn eject_outliers(outliers: Vec<Outlier>, now: Duration) {
    for outlier in outliers {
        let Outlier {
            slot,
            rate,
            threshold,
        } = outlier;
        slot.eject_outlier(rate, threshold, now);
    }
}
