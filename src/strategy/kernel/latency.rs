//! The choice the feedback strategies share ([`PeakEwma`](crate::strategy::PeakEwma)
//! and [`SdnAdaptive`](crate::strategy::SdnAdaptive)): two distinct eligible
//! backends drawn at random, the one with the lower expected wait wins:
//!
//! ```text
//! cost = max(latency, floor) x (in_flight + 1) x (1 + error_penalty x error_rate)
//!        -----------------------------------------------------------------------
//!                                  effective_weight
//! ```
//!
//! The strategies differ only in the parameters of [`LatencyChoice`]: what
//! a backend with no latency sample yet counts as ([`Unknown`]) and the floor.
//!
//! Cold start: a backend with no latency sample never counts as slower than
//! its measured rival, and wins a tie against it. Without that, peak EWMA's
//! fixed 1 ms guess lost every comparison against backends measured below
//! 1 ms, so a new backend never got the request that would measure it (0 of
//! 200 sequential requests in a first user's run). Its in-flight count and
//! error rate still count, so a newcomer is not flooded, and one that fails
//! fast (no latency sample, errors) is not tried again and again.

use std::cmp::Ordering;
use std::time::Duration;

use super::rng::AtomicRng;
use super::two_choices::{settle, two_candidates};
use crate::runtime::set::BackendSet;
use crate::types::{ConfigError, Context};

/// The error penalty both feedback strategies default to: a 10% error rate
/// costs as much as doubling the latency, a backend failing every request
/// costs 11 times as much.
pub(crate) const DEFAULT_ERROR_PENALTY: f64 = 10.0;

/// What a candidate with no latency sample yet counts as.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Unknown {
    /// A fixed latency, or the rival's when that is lower (peak EWMA:
    /// optimistic, so new backends get tried).
    Fixed(Duration),
    /// The other candidate's latency, or the floor when neither has one (SDN
    /// adaptive: judge a newcomer by load alone against its rival).
    Peer,
}

/// Two random candidates compared by latency x load x errors / weight.
#[derive(Debug)]
pub(crate) struct LatencyChoice {
    pub(crate) rng: AtomicRng,
    pub(crate) unknown: Unknown,
    /// Lowest latency a cost uses, so a backend whose estimate decayed to
    /// almost nothing still counts its requests in flight.
    pub(crate) floor: Duration,
    pub(crate) error_penalty: f64,
}

impl LatencyChoice {
    /// Refuses parameters out of range; `name` prefixes the setting's name.
    pub(crate) fn validate(&self, name: &'static str) -> Result<(), ConfigError> {
        if let Unknown::Fixed(latency) = self.unknown {
            if latency.is_zero() {
                return Err(ConfigError::Invalid {
                    setting: name,
                    why: "the latency assumed for a backend with no history must be more than zero"
                        .into(),
                });
            }
        }
        let penalty = self.error_penalty;
        if penalty.is_finite() && penalty >= 0.0 {
            Ok(())
        } else {
            Err(ConfigError::Invalid {
                setting: name,
                why: format!("error penalty {penalty} is not a finite number >= 0"),
            })
        }
    }

    #[inline]
    pub(crate) fn select(&self, set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
        let (a, b) = match two_candidates(&self.rng, set, ctx)? {
            (a, Some(b)) => (a, b),
            (only, None) => return Some(only),
        };
        let now = set.now();
        let (known_a, known_b) = (set.latency(a, now), set.latency(b, now));
        let (la, lb) = self.latencies(known_a, known_b);
        let (cost_a, cost_b) = (self.cost(set, a, la, now), self.cost(set, b, lb, now));
        // Costs are never NaN (finite latency, counts, penalty; weight 0
        // gives +inf); `total_cmp` settles even that without a panic.
        let order = match (cost_a.total_cmp(&cost_b), known_a, known_b) {
            // A tie goes to the unmeasured candidate: it is tried first.
            (Ordering::Equal, None, Some(_)) => Ordering::Less,
            (Ordering::Equal, Some(_), None) => Ordering::Greater,
            (order, _, _) => order,
        };
        Some(settle(&self.rng, a, b, order))
    }

    /// The two candidates' latencies in nanoseconds, unknown ones filled in.
    #[inline]
    fn latencies(&self, a: Option<f64>, b: Option<f64>) -> (f64, f64) {
        match self.unknown {
            Unknown::Fixed(latency) => {
                let assumed = latency.as_nanos() as f64;
                match (a, b) {
                    (Some(a), Some(b)) => (a, b),
                    (Some(known), None) => (known, assumed.min(known)),
                    (None, Some(known)) => (assumed.min(known), known),
                    (None, None) => (assumed, assumed),
                }
            }
            Unknown::Peer => match (a, b) {
                (Some(a), Some(b)) => (a, b),
                (Some(known), None) | (None, Some(known)) => (known, known),
                (None, None) => (0.0, 0.0),
            },
        }
    }

    /// The time a new request would expect to wait, inflated by the share of
    /// requests that fail, per unit of capacity. A weight read as 0 (changed
    /// since the eligibility check) makes it infinite, and that backend loses.
    #[inline]
    fn cost(&self, set: &BackendSet, i: usize, latency_ns: f64, now: u64) -> f64 {
        let latency = latency_ns.max(self.floor.as_nanos() as f64);
        let load = (set.in_flight(i) + 1) as f64;
        let errors = 1.0 + self.error_penalty * set.error_rate(i, now).clamp(0.0, 1.0);
        latency * load * errors / set.effective_weight(i) as f64
    }
}
