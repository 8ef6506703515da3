//! The latency-times-load cost that the feedback strategies (peak EWMA,
//! SDN adaptive) compare between two candidates.

use crate::error::ConfigError;
use crate::set::BackendSet;

/// `latency x (in_flight + 1) x (1 + error_weight x error_rate) / weight`:
/// the time a new request would expect to wait, inflated by the share of
/// requests that fail, per unit of capacity. Never NaN: a weight read as 0
/// (changed since the eligibility check) makes it infinite, and that backend
/// loses.
#[inline]
pub(crate) fn latency_cost(
    set: &BackendSet,
    i: usize,
    latency_ns: f64,
    error_weight: f64,
    now: u64,
) -> f64 {
    let load = (set.in_flight(i) + 1) as f64;
    let errors = 1.0 + error_weight * set.error_rate(i, now).clamp(0.0, 1.0);
    latency_ns * load * errors / set.effective_weight(i) as f64
}

/// Refuses an error weight that is negative or not a number.
pub(crate) fn check_error_weight(setting: &'static str, weight: f64) -> Result<(), ConfigError> {
    if weight.is_finite() && weight >= 0.0 {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            setting,
            why: format!("{weight} is not a finite number >= 0"),
        })
    }
}
