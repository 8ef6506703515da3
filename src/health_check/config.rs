//! How often and how patiently a checker checks, and how many results in a
//! row change its mind: [`CheckConfig`].

use std::time::Duration;

use crate::types::ConfigError;

/// When a checker checks and when it changes its verdict. The defaults are
/// HAProxy's `inter 2s rise 2 fall 3` with a 1 s timeout, 10% jitter and at
/// most 16 checks at once.
///
/// ```
/// use pickwise::health_check::CheckConfig;
/// use std::time::Duration;
///
/// let config = CheckConfig {
///     interval: Duration::from_secs(5),
///     fall: 2,
///     ..CheckConfig::default()
/// };
/// assert!(config.validate().is_ok());
///
/// let wrong = CheckConfig { rise: 0, ..CheckConfig::default() };
/// assert_eq!(
///     wrong.validate().unwrap_err().to_string(),
///     "bad health check rise: must be at least 1 (passes in a row that bring a backend back)"
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CheckConfig {
    /// Time from the start of one round of checks to the start of the next
    /// (HAProxy's `inter`). A round that takes longer is followed at once.
    pub interval: Duration,
    /// How much each wait may stray from `interval`, as a fraction of it
    /// (`0.0..1.0`): with `0.1` a 2 s interval becomes 1.8 s to 2.2 s, drawn
    /// afresh each round, so checkers started together drift apart.
    pub jitter: f64,
    /// The most one check may take, connect, request and reply together;
    /// a check still running then fails as [`TimedOut`](crate::health::CheckFailure::TimedOut).
    pub timeout: Duration,
    /// Passes in a row that bring an unhealthy backend back (HAProxy's `rise`).
    pub rise: u32,
    /// Failures in a row that take a healthy backend out (HAProxy's `fall`).
    pub fall: u32,
    /// The most checks running at once (tasks of the checker's runtime).
    /// Larger sets are checked in turns.
    pub concurrency: usize,
}

impl Default for CheckConfig {
    fn default() -> Self {
        CheckConfig {
            interval: Duration::from_secs(2),
            jitter: 0.1,
            timeout: Duration::from_secs(1),
            rise: 2,
            fall: 3,
            concurrency: 16,
        }
    }
}

impl CheckConfig {
    /// Checks every setting; the error names the first one out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |setting, why: &str| {
            Err(ConfigError::Invalid {
                setting,
                why: why.to_owned(),
            })
        };
        if self.interval.is_zero() {
            return invalid("health check interval", "must be more than zero");
        }
        if !(self.jitter.is_finite() && (0.0..1.0).contains(&self.jitter)) {
            return invalid(
                "health check jitter",
                &format!(
                    "{} is not a fraction of the interval in 0.0..1.0",
                    self.jitter
                ),
            );
        }
        if self.timeout.is_zero() {
            return invalid("health check timeout", "must be more than zero");
        }
        if self.rise == 0 {
            return invalid(
                "health check rise",
                "must be at least 1 (passes in a row that bring a backend back)",
            );
        }
        if self.fall == 0 {
            return invalid(
                "health check fall",
                "must be at least 1 (failures in a row that take a backend out)",
            );
        }
        if self.concurrency == 0 {
            return invalid(
                "health check concurrency",
                "must be at least 1 (checks running at once)",
            );
        }
        Ok(())
    }

    /// The wait before the next round: `interval` moved by `draw` (in
    /// `-1.0..=1.0`, clamped) times `jitter` of itself.
    pub(crate) fn jittered(&self, draw: f64) -> Duration {
        let draw = if draw.is_finite() {
            draw.clamp(-1.0, 1.0)
        } else {
            0.0
        };
        let jitter = if self.jitter.is_finite() {
            self.jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        Duration::try_from_secs_f64(self.interval.as_secs_f64() * (1.0 + draw * jitter))
            .unwrap_or(self.interval)
    }

    /// [`jittered`](Self::jittered) with a fresh random draw.
    pub(crate) fn next_wait(&self) -> Duration {
        self.jittered(rand::random::<f64>() * 2.0 - 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_haproxys_inter_2s_rise_2_fall_3_and_valid() {
        let config = CheckConfig::default();
        assert_eq!(config.interval, Duration::from_secs(2));
        assert_eq!((config.rise, config.fall), (2, 3));
        assert_eq!(config.timeout, Duration::from_secs(1));
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn each_setting_out_of_range_is_refused_by_name() {
        let cases = [
            (
                CheckConfig {
                    interval: Duration::ZERO,
                    ..CheckConfig::default()
                },
                "health check interval",
            ),
            (
                CheckConfig {
                    jitter: 1.0,
                    ..CheckConfig::default()
                },
                "health check jitter",
            ),
            (
                CheckConfig {
                    jitter: f64::NAN,
                    ..CheckConfig::default()
                },
                "health check jitter",
            ),
            (
                CheckConfig {
                    jitter: -0.1,
                    ..CheckConfig::default()
                },
                "health check jitter",
            ),
            (
                CheckConfig {
                    timeout: Duration::ZERO,
                    ..CheckConfig::default()
                },
                "health check timeout",
            ),
            (
                CheckConfig {
                    rise: 0,
                    ..CheckConfig::default()
                },
                "health check rise",
            ),
            (
                CheckConfig {
                    fall: 0,
                    ..CheckConfig::default()
                },
                "health check fall",
            ),
            (
                CheckConfig {
                    concurrency: 0,
                    ..CheckConfig::default()
                },
                "health check concurrency",
            ),
        ];
        for (config, name) in cases {
            match config.validate() {
                Err(ConfigError::Invalid { setting, .. }) => assert_eq!(setting, name),
                other => panic!("{name}: expected Invalid, got {other:?}"),
            }
        }
    }

    #[test]
    fn the_wait_strays_from_the_interval_by_at_most_the_jitter() {
        let config = CheckConfig {
            interval: Duration::from_secs(2),
            jitter: 0.1,
            ..CheckConfig::default()
        };
        assert_eq!(config.jittered(0.0), Duration::from_secs(2));
        assert_eq!(config.jittered(-1.0), Duration::from_millis(1800));
        assert_eq!(config.jittered(1.0), Duration::from_millis(2200));
        assert_eq!(config.jittered(7.0), Duration::from_millis(2200));
        assert_eq!(config.jittered(f64::NAN), Duration::from_secs(2));
        for _ in 0..1000 {
            let wait = config.next_wait();
            assert!(
                (Duration::from_millis(1800)..=Duration::from_millis(2200)).contains(&wait),
                "{wait:?}"
            );
        }
        let none = CheckConfig {
            jitter: 0.0,
            ..config
        };
        assert_eq!(none.next_wait(), Duration::from_secs(2));
    }
}
