use std::time::Duration;

use crate::runtime::set::BackendSet;
use crate::strategy::kernel::latency::{LatencyChoice, Unknown, DEFAULT_ERROR_PENALTY};
use crate::strategy::kernel::rng::AtomicRng;
use crate::strategy::Strategy;
use crate::types::{ConfigError, Context};

/// Peak EWMA (Finagle, Linkerd, tower): power of two choices on an expected
/// cost that counts how slow a backend has been, not only how busy it is.
///
/// ```text
/// cost = latency × (in_flight + 1) × (1 + error_penalty × error_rate) / weight
/// ```
///
/// - `latency` is the backend's peak-sensitive latency EWMA
///   ([`BackendSet::latency`]; see [`FeedbackConfig`](crate::health::FeedbackConfig)):
///   a slow response raises it at once, fast ones bring it down gradually.
///   A backend with no history yet counts [`default_latency`](Self::default_latency)
///   (1 ms by default), or its rival's latency when that is lower, and wins
///   a tie: optimistic, so a new or returning backend is tried the first
///   time it is drawn, while its in-flight factor stops a rush onto it and
///   its error rate stops a backend that fails fast from being retried
///   (raise the default for services whose normal latency is far above
///   1 ms). The floor is 1 ns.
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
/// cheaper wins, a tie is settled by a coin. The same choice as
/// [`SdnAdaptive`](super::SdnAdaptive), which differs only in how it treats a
/// backend with no history and in its floor.
///
/// **Choose it** when backends differ in speed, or change speed (GC pauses,
/// noisy neighbours, a degraded node): it moves traffic off a slow backend
/// within a few requests, where least connections waits for requests to
/// pile up. Needs outcomes recorded with [`Pick::record`](crate::Pick::record).
///
/// The cost is Finagle's peak EWMA load metric, described in Linkerd's
/// [Beyond Round Robin: Load Balancing for
/// Latency](https://linkerd.io/2016/03/16/beyond-round-robin-load-balancing-for-latency/).
///
/// **Synchronisation**: as [`P2c`](super::P2c): no lock; two draws from a
/// per-thread random stream, then per candidate one clock read for the whole
/// pick and a few atomic loads (the EWMAs are lock-free).
#[derive(Debug)]
pub struct PeakEwma {
    choice: LatencyChoice,
}

impl Default for PeakEwma {
    fn default() -> Self {
        PeakEwma {
            choice: LatencyChoice {
                rng: AtomicRng::random(),
                unknown: Unknown::Fixed(PeakEwma::DEFAULT_LATENCY),
                floor: Duration::from_nanos(1),
                error_penalty: PeakEwma::DEFAULT_ERROR_PENALTY,
            },
        }
    }
}

impl PeakEwma {
    /// Latency assumed for a backend with no history: 1 ms.
    pub const DEFAULT_LATENCY: Duration = Duration::from_millis(1);
    /// Cost multiplier per unit of error rate: 10.
    pub const DEFAULT_ERROR_PENALTY: f64 = DEFAULT_ERROR_PENALTY;

    /// Peak EWMA with the defaults, drawing from per-thread random streams.
    pub fn new() -> Self {
        PeakEwma::default()
    }

    /// Draws from one sequence seeded with `seed`, for reproducible tests and
    /// simulations (exactly so from one thread).
    pub fn seeded(mut self, seed: u64) -> Self {
        self.choice.rng = AtomicRng::seeded(seed);
        self
    }

    /// The latency assumed for a backend with no history (default 1 ms)
    /// when its rival's is higher. Must be more than zero; checked when the
    /// pool builds.
    pub fn default_latency(mut self, latency: Duration) -> Self {
        self.choice.unknown = Unknown::Fixed(latency);
        self
    }

    /// The cost multiplier per unit of error rate (default 10). Must be
    /// finite and not negative; checked when the pool builds. Zero ignores
    /// errors.
    pub fn error_penalty(mut self, penalty: f64) -> Self {
        self.choice.error_penalty = penalty;
        self
    }
}

impl Strategy for PeakEwma {
    type Table = ();

    fn build(&self, _set: &BackendSet) -> Result<(), ConfigError> {
        self.choice.validate("peak-ewma")
    }

    fn select(&self, _: &(), set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
        self.choice.select(set, ctx)
    }
}
