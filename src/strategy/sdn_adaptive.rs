use crate::context::Context;
use crate::error::ConfigError;
use crate::rng::AtomicRng;
use crate::set::BackendSet;
use crate::strategy::cost::{check_error_weight, latency_cost};
use crate::strategy::p2c::two_candidates;
use crate::strategy::Strategy;

/// Default weight of the error rate in the cost: a 10% error rate costs as
/// much as doubling the latency, a backend failing half its requests looks
/// six times slower.
pub const DEFAULT_ERROR_WEIGHT: f64 = 10.0;

/// Latency floor in the cost, in nanoseconds (1 µs): a backend idle long
/// enough for its latency estimate to decay to zero still counts its
/// in-flight requests.
const LATENCY_FLOOR_NS: f64 = 1_000.0;

/// SDN adaptive: the survey's adaptive balancer that weighs both what each
/// node's agent says and what the balancer sees of the node from outside.
///
/// For each pick it draws two **distinct** eligible backends at random and
/// sends the request to the one with the lower cost:
///
/// ```text
/// cost = max(latency, 1 µs) × (in_flight + 1) × (1 + error_weight × error_rate)
///        ────────────────────────────────────────────────────────────────────
///                     effective_weight / WEIGHT_UNIT
/// ```
///
/// - *Application state* (agent `drain`/`maint`/`down`) and network health
///   (passive-health ejection) decide eligibility: such backends are never
///   candidates.
/// - *Capacity* is the effective weight: the agent's `75%` or `weight:N`
///   divides the cost, so a node at half capacity must be twice as good.
/// - *Latency* is the pool's peak-sensitive EWMA of successes and timeouts
///   (10 s decay by default, [`FeedbackConfig`](crate::FeedbackConfig)); a
///   fast failure never feeds it, so a node that answers 5xx in 1 ms does
///   not look fast. When one candidate has no latency yet it is taken to
///   equal the other's, so new backends get tried rather than flooded.
/// - *Errors* (server errors, gateway errors, timeouts, connect failures)
///   feed the error-rate EWMA; `error_weight` (default
///   [`DEFAULT_ERROR_WEIGHT`] = 10) turns it into a multiplier, as
///   congestion that latency alone would miss.
/// - *In flight* makes it a queue estimate (Finagle's peak EWMA): expected
///   wait grows with the requests already waiting.
///
/// Why two random candidates instead of the best of all: feedback is always
/// a little stale, and several balancers (or threads) that all chose the
/// single best node would herd onto it together. With two distinct random
/// candidates the best node takes at most the 2/N of picks in which it is
/// drawn, however stale the data, while still avoiding bad nodes almost
/// always ("the power of two choices").
///
/// **Choose it** for backends whose speed differs or changes (noisy
/// neighbours, GC pauses, a failing disk) and that may run agents, when you
/// want the balancer to route around trouble it can measure itself.
///
/// **Synchronisation**: no lock. Two draws from a lock-free [`AtomicRng`],
/// then a handful of atomic loads per candidate. If drawn candidates keep
/// being ineligible, a pass over the set draws two distinct eligible backends
/// uniformly (the same sampling as [`PowerOfTwoChoices`](super::PowerOfTwoChoices)).
#[derive(Debug)]
pub struct SdnAdaptive {
    rng: AtomicRng,
    error_weight: f64,
}

impl Default for SdnAdaptive {
    fn default() -> Self {
        SdnAdaptive::new()
    }
}

impl SdnAdaptive {
    /// SDN adaptive with a random seed and the default error weight.
    pub fn new() -> Self {
        SdnAdaptive::seeded(rand::random())
    }

    /// SDN adaptive with a fixed seed, for reproducible runs.
    pub fn seeded(seed: u64) -> Self {
        SdnAdaptive {
            rng: AtomicRng::seeded(seed),
            error_weight: DEFAULT_ERROR_WEIGHT,
        }
    }

    /// Sets how much the error rate weighs (see the formula above). A
    /// negative or non-finite value is refused when the table is built.
    pub fn error_weight(mut self, weight: f64) -> Self {
        self.error_weight = weight;
        self
    }
}

impl Strategy for SdnAdaptive {
    type Table = ();

    fn build(&self, _set: &BackendSet) -> Result<(), ConfigError> {
        check_error_weight("error_weight", self.error_weight)
    }

    fn select(&self, _: &(), set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
        let (a, b) = match two_candidates(&self.rng, set, ctx)? {
            (a, Some(b)) => (a, b),
            (only, None) => return Some(only),
        };
        let now = set.now();
        let (la, lb) = match (set.latency(a, now), set.latency(b, now)) {
            (Some(la), Some(lb)) => (la, lb),
            (Some(l), None) | (None, Some(l)) => (l, l),
            (None, None) => (LATENCY_FLOOR_NS, LATENCY_FLOOR_NS),
        };
        let cost = |i, latency: f64| {
            latency_cost(
                set,
                i,
                latency.max(LATENCY_FLOOR_NS),
                self.error_weight,
                now,
            )
        };
        // Ties go to `a`, itself a uniform draw.
        if cost(b, lb) < cost(a, la) {
            Some(b)
        } else {
            Some(a)
        }
    }
}
