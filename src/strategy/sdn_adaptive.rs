use std::time::Duration;

use crate::runtime::set::BackendSet;
use crate::strategy::kernel::latency::{LatencyChoice, Unknown, DEFAULT_ERROR_PENALTY};
use crate::strategy::kernel::rng::AtomicRng;
use crate::strategy::Strategy;
use crate::types::{ConfigError, Context};

/// SDN adaptive: the survey's adaptive balancer that weighs both what each
/// node's agent says and what the balancer sees of the node from outside.
///
/// For each pick it draws two **distinct** eligible backends at random and
/// sends the request to the one with the lower cost (a tie is settled by a
/// coin):
///
/// ```text
/// cost = max(latency, 1 µs) × (in_flight + 1) × (1 + error_penalty × error_rate)
///        ─────────────────────────────────────────────────────────────────────
///                     effective_weight / WEIGHT_UNIT
/// ```
///
/// - *Application state* (agent `drain`/`maint`/`down`) and network health
///   (passive-health ejection) decide eligibility: such backends are never
///   candidates.
/// - *Capacity* is the effective weight: the agent's `75%` or `weight:N`
///   divides the cost, so a node at half capacity must be twice as good.
/// - *Latency* is the pool's peak-sensitive EWMA of successes and timeouts
///   (10 s decay by default, [`FeedbackConfig`](crate::health::FeedbackConfig)); a
///   fast failure never feeds it, so a node that answers 5xx in 1 ms does
///   not look fast. When one candidate has no latency yet it is taken to
///   equal the other's and wins a tie, so a new backend is tried the first
///   time it is drawn (with nothing in flight) rather than flooded.
/// - *Errors* (server errors, gateway errors, timeouts, connect failures)
///   feed the error-rate EWMA; `error_penalty` (default
///   [`DEFAULT_ERROR_PENALTY`](Self::DEFAULT_ERROR_PENALTY) = 10) turns it
///   into a multiplier, as congestion that latency alone would miss.
/// - *In flight* makes it a queue estimate (Finagle's peak EWMA): expected
///   wait grows with the requests already waiting.
///
/// It is [`PeakEwma`](super::PeakEwma)'s choice with two parameters changed:
/// a backend with no history counts its rival's latency (peak EWMA: a fixed
/// 1 ms), and the latency floor is 1 µs (peak EWMA: 1 ns).
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
/// **Synchronisation**: no lock. Two draws from a per-thread random stream
/// (a shared sequence only when [seeded](Self::seeded)), then a handful of
/// atomic loads per candidate. If drawn candidates keep being ineligible, a
/// pass over the set draws two distinct eligible backends uniformly (the
/// same sampling as [`P2c`](super::P2c)).
#[derive(Debug)]
pub struct SdnAdaptive {
    choice: LatencyChoice,
}

impl Default for SdnAdaptive {
    fn default() -> Self {
        SdnAdaptive {
            choice: LatencyChoice {
                rng: AtomicRng::random(),
                unknown: Unknown::Peer,
                floor: SdnAdaptive::LATENCY_FLOOR,
                error_penalty: SdnAdaptive::DEFAULT_ERROR_PENALTY,
            },
        }
    }
}

impl SdnAdaptive {
    /// Cost multiplier per unit of error rate: 10.
    pub const DEFAULT_ERROR_PENALTY: f64 = DEFAULT_ERROR_PENALTY;
    /// Latency floor in the cost (1 µs): a backend idle long enough for its
    /// latency estimate to decay to zero still counts its in-flight requests.
    pub const LATENCY_FLOOR: Duration = Duration::from_micros(1);

    /// SDN adaptive with the default error penalty, drawing from per-thread
    /// random streams.
    pub fn new() -> Self {
        SdnAdaptive::default()
    }

    /// Draws from one sequence seeded with `seed`, for reproducible runs
    /// (exactly so from one thread).
    pub fn seeded(mut self, seed: u64) -> Self {
        self.choice.rng = AtomicRng::seeded(seed);
        self
    }

    /// Sets how much the error rate weighs (see the formula above). A
    /// negative or non-finite value is refused when the pool builds.
    pub fn error_penalty(mut self, penalty: f64) -> Self {
        self.choice.error_penalty = penalty;
        self
    }
}

impl Strategy for SdnAdaptive {
    type Table = ();

    fn build(&self, _set: &BackendSet) -> Result<(), ConfigError> {
        self.choice.validate("sdn-adaptive")
    }

    fn select(&self, _: &(), set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
        self.choice.select(set, ctx)
    }
}
