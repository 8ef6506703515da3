use std::time::Duration;

use crate::context::Context;
use crate::error::ConfigError;
use crate::rng::AtomicRng;
use crate::set::BackendSet;
use crate::strategy::cost::{check_error_weight, latency_cost};
use crate::strategy::p2c::{settle, two_candidates};
use crate::strategy::Strategy;

/// Peak EWMA (Finagle, Linkerd, tower): power of two choices on an expected
/// cost that counts how slow a backend has been, not only how busy it is.
///
/// ```text
/// cost = latency × (in_flight + 1) × (1 + error_penalty × error_rate) / weight
/// ```
///
/// - `latency` is the backend's peak-sensitive latency EWMA
///   ([`BackendSet::latency`]; see [`FeedbackConfig`](crate::FeedbackConfig)):
///   a slow response raises it at once, fast ones bring it down gradually.
///   A backend with no history yet counts [`default_latency`](Self::default_latency)
///   (1 ms by default: optimistic, so a new or returning backend gets tried
///   soon, while its in-flight factor stops a rush onto it; raise it for
///   services whose normal latency is far above 1 ms).
/// - `in_flight + 1` counts the pick being made, so idle backends still
///   differ by latency.
/// - `error_rate` is the backend's error-rate EWMA (0 to 1). With the
///   default penalty of 10, a backend failing 10% of its requests costs
///   twice as much and one failing every request 11 times as much: a
///   backend that answers errors fast must not win because it is fast.
/// - `weight` is the effective weight, so unequal backends share in
///   proportion.
///
/// The two candidates are distinct eligible backends drawn at random; the
/// cheaper wins, a tie is settled by a coin.
///
/// **Choose it** when backends differ in speed, or change speed (GC pauses,
/// noisy neighbours, a degraded node): it moves traffic off a slow backend
/// within a few requests, where least connections waits for requests to
/// pile up. Needs outcomes recorded with [`Pick::record`](crate::Pick::record).
///
/// **Synchronisation**: as [`PowerOfTwoChoices`](super::PowerOfTwoChoices):
/// no lock; two draws from a lock-free RNG, then per candidate one clock
/// read for the whole pick and a few atomic loads (the EWMAs are lock-free).
/// Costs are `f64` here because latencies and rates are.
#[derive(Debug)]
pub struct PeakEwma {
    rng: AtomicRng,
    default_latency: Duration,
    error_penalty: f64,
}

impl Default for PeakEwma {
    fn default() -> Self {
        PeakEwma {
            rng: AtomicRng::random(),
            default_latency: PeakEwma::DEFAULT_LATENCY,
            error_penalty: PeakEwma::DEFAULT_ERROR_PENALTY,
        }
    }
}

impl PeakEwma {
    /// Latency assumed for a backend with no history: 1 ms.
    pub const DEFAULT_LATENCY: Duration = Duration::from_millis(1);
    /// Cost multiplier per unit of error rate: 10.
    pub const DEFAULT_ERROR_PENALTY: f64 = 10.0;

    /// Peak EWMA with the defaults and a random seed.
    pub fn new() -> Self {
        PeakEwma::default()
    }

    /// Peak EWMA with a fixed seed, for tests and simulations.
    pub fn seeded(seed: u64) -> Self {
        PeakEwma {
            rng: AtomicRng::seeded(seed),
            ..PeakEwma::default()
        }
    }

    /// The latency assumed for a backend with no history (default 1 ms).
    /// Must be more than zero; checked when the pool builds.
    pub fn default_latency(mut self, latency: Duration) -> Self {
        self.default_latency = latency;
        self
    }

    /// The cost multiplier per unit of error rate (default 10). Must be
    /// finite and not negative; checked when the pool builds. Zero ignores
    /// errors.
    pub fn error_penalty(mut self, penalty: f64) -> Self {
        self.error_penalty = penalty;
        self
    }

    fn cost(&self, set: &BackendSet, i: usize, now: u64) -> f64 {
        // Reads decay towards zero; a floor of 1 ns keeps the in-flight
        // factor meaningful for a backend not heard from in a long while.
        let latency = set
            .latency(i, now)
            .unwrap_or(self.default_latency.as_nanos() as f64)
            .max(1.0);
        latency_cost(set, i, latency, self.error_penalty, now)
    }
}

impl Strategy for PeakEwma {
    type Table = ();

    fn build(&self, _set: &BackendSet) -> Result<(), ConfigError> {
        if self.default_latency.is_zero() {
            return Err(ConfigError::Invalid {
                setting: "peak-ewma default latency",
                why: "must be more than zero".into(),
            });
        }
        check_error_weight("peak-ewma error penalty", self.error_penalty)
    }

    fn select(&self, _: &(), set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
        let (a, b) = match two_candidates(&self.rng, set, ctx)? {
            (a, Some(b)) => (a, b),
            (only, None) => return Some(only),
        };
        let now = set.now();
        let (cost_a, cost_b) = (self.cost(set, a, now), self.cost(set, b, now));
        // Costs are never NaN (finite latency, counts, penalty; weight 0
        // gives +inf); `total_cmp` settles even that without a panic.
        Some(settle(&self.rng, a, b, cost_a.total_cmp(&cost_b)))
    }
}
