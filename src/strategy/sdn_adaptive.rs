use crate::context::Context;
use crate::error::ConfigError;
use crate::rng::AtomicRng;
use crate::set::BackendSet;
use crate::slot::WEIGHT_UNIT;
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
/// then a handful of atomic loads per candidate. If a drawn candidate is not
/// eligible, one pass over the set samples two distinct eligible backends
/// uniformly (reservoir sampling), still without a lock or allocation.
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

    fn cost(&self, set: &BackendSet, i: usize, latency: f64, now: u64) -> f64 {
        let weight = set.effective_weight(i) as f64 / WEIGHT_UNIT as f64;
        let queue = set.in_flight(i) as f64 + 1.0;
        let errors = 1.0 + self.error_weight * set.error_rate(i, now);
        // A weight that dropped to zero since the eligibility check makes
        // the cost infinite, never NaN.
        latency.max(LATENCY_FLOOR_NS) * queue * errors / weight
    }

    /// Two distinct eligible backends, uniformly, in one pass; `(i, None)`
    /// when only one is eligible.
    #[cold]
    fn sample_two(&self, set: &BackendSet, ctx: &Context<'_>) -> Option<(usize, Option<usize>)> {
        let mut chosen: (Option<usize>, Option<usize>) = (None, None);
        let mut seen = 0usize;
        for i in 0..set.len() {
            if !set.is_eligible(i, ctx) {
                continue;
            }
            seen += 1;
            match seen {
                1 => chosen.0 = Some(i),
                2 => chosen.1 = Some(i),
                // Keep each of the `seen` so far with probability 2/seen.
                _ => match self.rng.below(seen) {
                    0 => chosen.0 = Some(i),
                    1 => chosen.1 = Some(i),
                    _ => {}
                },
            }
        }
        match chosen {
            // Reservoir slots keep set order; a coin flip makes the first
            // one, which wins ties, uniform again.
            (Some(a), Some(b)) if self.rng.next_u64() & 1 == 1 => Some((b, Some(a))),
            (Some(a), b) => Some((a, b)),
            (None, _) => None,
        }
    }
}

impl Strategy for SdnAdaptive {
    type Table = ();

    fn build(&self, _set: &BackendSet) -> Result<(), ConfigError> {
        if !self.error_weight.is_finite() || self.error_weight < 0.0 {
            return Err(ConfigError::Invalid {
                setting: "error_weight",
                why: format!("{} is not a finite number >= 0", self.error_weight),
            });
        }
        Ok(())
    }

    fn select(&self, _: &(), set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
        let n = set.len();
        if n < 2 {
            return (n == 1 && set.is_eligible(0, ctx)).then_some(0);
        }
        let a = self.rng.below(n);
        let b = (a + 1 + self.rng.below(n - 1)) % n;
        let (a, b) = if set.is_eligible(a, ctx) && set.is_eligible(b, ctx) {
            (a, b)
        } else {
            match self.sample_two(set, ctx)? {
                (a, Some(b)) => (a, b),
                (only, None) => return Some(only),
            }
        };
        let now = set.now();
        let (la, lb) = match (set.latency(a, now), set.latency(b, now)) {
            (Some(la), Some(lb)) => (la, lb),
            (Some(l), None) | (None, Some(l)) => (l, l),
            (None, None) => (LATENCY_FLOOR_NS, LATENCY_FLOOR_NS),
        };
        // Ties go to `a`, itself a uniform draw.
        if self.cost(set, b, lb, now) < self.cost(set, a, la, now) {
            Some(b)
        } else {
            Some(a)
        }
    }
}
