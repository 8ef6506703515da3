//! Passive health: consecutive failures eject a backend for a while, with a
//! cap on how much of the set may be ejected at once.

use std::time::Duration;

use crate::types::ConfigError;

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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthConfig {
    /// Failures in a row that eject a backend; 0 turns passive health off.
    pub consecutive_failures: u32,
    /// Ejection time for a first ejection; later ones multiply it.
    pub base_ejection: Duration,
    /// Ceiling on one ejection's time.
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
        let invalid = |setting, why: &str| {
            Err(ConfigError::Invalid {
                setting,
                why: why.to_owned(),
            })
        };
        if self.base_ejection.is_zero() {
            return invalid("base_ejection", "must be more than zero");
        }
        if self.max_ejection < self.base_ejection {
            return invalid("max_ejection", "must be at least base_ejection");
        }
        if self.max_ejected_percent > 100 {
            return invalid("max_ejected_percent", "must be at most 100");
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
