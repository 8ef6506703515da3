//! Success-rate outlier detection, as Envoy does it: once per interval, the
//! backends with enough outcomes are compared with each other, and those whose
//! success rate falls more than `stdev_factor` standard deviations below the
//! mean are ejected, under the same cap and ejection times as consecutive
//! failures.
//!
//! The library has no timers, so the evaluation runs lazily from the record
//! path: every recorded outcome compares the clock reading it takes anyway
//! with the next evaluation time (one relaxed atomic load), and the first
//! outcome past it runs the evaluation under a lock that no one waits for
//! (`try_lock`: a record that finds it taken just moves on). Why not a method
//! the program calls on a timer: every program would have to remember to run
//! one, and a pool that receives no outcomes has nothing to evaluate anyway.

use std::time::Duration;

use crate::types::ConfigError;

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
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutlierConfig {
    /// How often backends are compared (Envoy's `interval`, 10 s).
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
            return invalid("outlier interval", "must be more than zero".into());
        }
        if self.request_volume == 0 {
            return invalid("outlier request_volume", "must be at least 1".into());
        }
        if self.minimum_hosts < 2 {
            return invalid(
                "outlier minimum_hosts",
                format!("{} is less than 2", self.minimum_hosts),
            );
        }
        if !(self.stdev_factor.is_finite() && self.stdev_factor >= 0.0) {
            return invalid(
                "outlier stdev_factor",
                format!("{} is not a finite number of at least 0", self.stdev_factor),
            );
        }
        Ok(())
    }
}
