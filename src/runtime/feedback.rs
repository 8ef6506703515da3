//! What the pool learns from recorded outcomes: latency and error rate as
//! exponentially weighted moving averages, decayed by time.

use std::time::Duration;

use crate::types::ConfigError;

/// How fast learned latency and error rate forget.
///
/// Both are EWMAs with weight `exp(-elapsed / decay)` on the old value, and
/// both are read decayed to the present: a backend that has not been picked
/// for a while drifts back towards "fast and healthy" and gets tried again,
/// instead of being starved by one bad sample. Reading never changes them.
///
/// Latency is peak-sensitive: a sample above the current estimate replaces
/// it at once (react fast to trouble, forget it gradually). Only successes
/// and timeouts feed latency: a connection refused in 80 µs must not make a
/// dead backend look fast; it feeds the error rate instead, as do server
/// errors, gateway errors and timeouts.
///
/// With feature `serde` it deserializes, durations as text (`"30s"`),
/// unknown fields refused: the `[feedback]` section of a
/// `pickwise::config::PoolConfig` file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub struct FeedbackConfig {
    /// Time constant of the latency EWMA (default 10 s, Finagle's and tower's).
    #[cfg_attr(
        feature = "serde",
        serde(deserialize_with = "crate::types::deserialize_duration")
    )]
    pub latency_decay: Duration,
    /// Time constant of the error-rate EWMA (default 10 s).
    #[cfg_attr(
        feature = "serde",
        serde(deserialize_with = "crate::types::deserialize_duration")
    )]
    pub error_decay: Duration,
}

impl Default for FeedbackConfig {
    fn default() -> Self {
        FeedbackConfig {
            latency_decay: Duration::from_secs(10),
            error_decay: Duration::from_secs(10),
        }
    }
}

impl FeedbackConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for (setting, value) in [
            ("feedback.latency_decay", self.latency_decay),
            ("feedback.error_decay", self.error_decay),
        ] {
            if value.is_zero() {
                return Err(ConfigError::Invalid {
                    setting,
                    why: "must be more than zero".into(),
                });
            }
        }
        Ok(())
    }
}
