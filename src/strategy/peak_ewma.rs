//! The latency-cost strategies: [`PeakEwma`] and [`SdnAdaptive`], one
//! generic ([`LatencyCost`]) with two profiles that differ in how they
//! treat a backend with no latency history and in the latency floor.

use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use crate::runtime::set::BackendSet;
use crate::strategy::kernel::latency::{LatencyChoice, Unknown, DEFAULT_ERROR_PENALTY};
use crate::strategy::kernel::rng::AtomicRng;
use crate::strategy::Strategy;
use crate::types::{ConfigError, Context};

/// Power of two choices on an expected cost:
///
/// ```text
/// cost = max(latency, floor) × (in_flight + 1) × (1 + error_penalty × error_rate)
///        ─────────────────────────────────────────────────────────────────────────
///                     effective_weight / WEIGHT_UNIT
/// ```
///
/// Two **distinct** eligible backends are drawn at random; the cheaper
/// wins, a tie is settled by a coin. Used through its two profiles,
/// [`PeakEwma`] and [`SdnAdaptive`] (see their docs); `P` says what a
/// backend with no latency history counts as, and the floor.
///
/// - `latency` is the backend's peak-sensitive latency EWMA
///   ([`BackendSet::latency`]; see [`FeedbackConfig`](crate::health::FeedbackConfig)):
///   a slow response raises it at once, fast ones bring it down gradually;
///   a fast failure never feeds it, so a backend answering 5xx in 1 ms
///   does not look fast.
/// - `in_flight + 1` counts the pick being made: the cost is a queue
///   estimate, and idle backends still differ by latency.
/// - `error_rate` is the backend's error-rate EWMA (0 to 1). With the
///   default penalty of 10, a backend failing 10% of its requests costs
///   twice as much and one failing every request 11 times as much.
/// - `effective_weight` is the configured weight as agents and slow start
///   leave it: a node at half capacity must be twice as good.
///
/// Why two random candidates rather than the best of all: feedback is
/// always a little stale, and balancers (or threads) that all chose the
/// single best node would herd onto it together. With two random
/// candidates the best node takes at most the 2/N of picks in which it is
/// drawn, however stale the data, while bad nodes are still avoided almost
/// always (Mitzenmacher, [The Power of Two Choices in Randomized Load
/// Balancing](https://www.eecs.harvard.edu/~michaelm/postscripts/tpds2001.pdf), 2001).
///
/// **Synchronisation**: no lock; two draws from a per-thread random stream
/// (a shared sequence only when [seeded](Self::seeded)), then per candidate
/// one clock read for the whole pick and a few atomic loads (the EWMAs are
/// lock-free). If drawn candidates keep being ineligible, a pass over the
/// set draws two distinct eligible backends uniformly (the same sampling
/// as [`P2c`](super::P2c)).
pub struct LatencyCost<P: Profile> {
    choice: LatencyChoice,
    profile: PhantomData<fn() -> P>,
}

/// What distinguishes the [`LatencyCost`] strategies: their name, what a
/// backend with no latency history counts as, and the latency floor.
/// Implemented by [`Finagle`] ([`PeakEwma`]) and [`Adaptive`]
/// ([`SdnAdaptive`]); sealed.
pub trait Profile: sealed::Sealed + Send + Sync + 'static {
    /// The strategy's name (as `--strategy` takes it).
    const NAME: &'static str;
    /// The lowest latency a cost uses.
    const FLOOR: Duration;
    /// Whether a backend with no history counts its rival's latency
    /// (`true`) or [`LatencyCost::DEFAULT_LATENCY`] (`false`).
    const PEER_LATENCY: bool;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Finagle {}
    impl Sealed for super::Adaptive {}
}

/// [`PeakEwma`]'s profile: a backend with no history counts a fixed
/// latency (1 ms, [`LatencyCost::default_latency`]); floor 1 ns.
#[derive(Debug, Clone, Copy)]
pub struct Finagle;

impl Profile for Finagle {
    const NAME: &'static str = "peak-ewma";
    const FLOOR: Duration = Duration::from_nanos(1);
    const PEER_LATENCY: bool = false;
}

/// [`SdnAdaptive`]'s profile: a backend with no history counts its
/// rival's latency (judged by load alone against it); floor 1 µs.
#[derive(Debug, Clone, Copy)]
pub struct Adaptive;

impl Profile for Adaptive {
    const NAME: &'static str = "sdn-adaptive";
    const FLOOR: Duration = Duration::from_micros(1);
    const PEER_LATENCY: bool = true;
}

/// Peak EWMA (Finagle, Linkerd, tower): power of two choices on an expected
/// cost that counts how slow a backend has been, not only how busy it is
/// ([`LatencyCost`] gives the formula).
///
/// A backend with no history yet counts [`default_latency`](LatencyCost::default_latency)
/// (1 ms by default), or its rival's latency when that is lower, and wins a
/// tie: optimistic, so a new or returning backend is tried the first time
/// it is drawn, while its in-flight factor stops a rush onto it and its
/// error rate stops a backend that fails fast from being retried (raise the
/// default for services whose normal latency is far above 1 ms). The floor
/// is 1 ns.
///
/// **Choose it** when backends differ in speed, or change speed (GC pauses,
/// noisy neighbours, a degraded node): it moves traffic off a slow backend
/// within a few requests, where least connections waits for requests to
/// pile up. Needs outcomes recorded with [`Pick::record`](crate::Pick::record).
///
/// The cost is Finagle's peak EWMA load metric, described in Linkerd's
/// [Beyond Round Robin: Load Balancing for
/// Latency](https://linkerd.io/2016/03/16/beyond-round-robin-load-balancing-for-latency/).
pub type PeakEwma = LatencyCost<Finagle>;

/// SDN adaptive: an adaptive balancer that weighs both what each node's
/// agent says and what the balancer sees of the node from outside; the
/// [`LatencyCost`] choice with a backend with no history counting its
/// rival's latency (peak EWMA: a fixed 1 ms) and a floor of 1 µs.
///
/// - *Application state* (agent `drain`/`maint`/`down`) and network health
///   (passive-health ejection) decide eligibility: such backends are never
///   candidates.
/// - *Capacity* is the effective weight: the agent's `75%` or `weight:N`
///   divides the cost.
/// - *Latency*, *errors* and *in flight* as in [`LatencyCost`]; a backend
///   with no latency yet is taken to equal its rival and wins a tie, so a
///   new backend is tried the first time it is drawn (with nothing in
///   flight) rather than flooded.
///
/// **Choose it** for backends whose speed differs or changes (noisy
/// neighbours, GC pauses, a failing disk) and that may run agents, when you
/// want the balancer to route around trouble it can measure itself.
pub type SdnAdaptive = LatencyCost<Adaptive>;

impl<P: Profile> Default for LatencyCost<P> {
    fn default() -> Self {
        LatencyCost {
            choice: LatencyChoice {
                rng: AtomicRng::random(),
                unknown: match P::PEER_LATENCY {
                    true => Unknown::Peer,
                    false => Unknown::Fixed(Self::DEFAULT_LATENCY),
                },
                floor: P::FLOOR,
                error_penalty: DEFAULT_ERROR_PENALTY,
            },
            profile: PhantomData,
        }
    }
}

impl<P: Profile> fmt::Debug for LatencyCost<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LatencyCost")
            .field("profile", &P::NAME)
            .field("choice", &self.choice)
            .finish()
    }
}

impl<P: Profile> LatencyCost<P> {
    /// Latency assumed for a backend with no history where the profile
    /// uses a fixed one: 1 ms.
    pub const DEFAULT_LATENCY: Duration = Duration::from_millis(1);
    /// Cost multiplier per unit of error rate: 10.
    pub const DEFAULT_ERROR_PENALTY: f64 = DEFAULT_ERROR_PENALTY;
    /// Latency floor in the cost: a backend idle long enough for its
    /// latency estimate to decay to zero still counts its in-flight
    /// requests.
    pub const LATENCY_FLOOR: Duration = P::FLOOR;

    /// The strategy with the profile's defaults, drawing from per-thread
    /// random streams.
    pub fn new() -> Self {
        Self::default()
    }

    /// Draws from one sequence seeded with `seed`, for reproducible tests and
    /// simulations (exactly so from one thread).
    pub fn seeded(mut self, seed: u64) -> Self {
        self.choice.rng = AtomicRng::seeded(seed);
        self
    }

    /// The latency assumed for a backend with no history when its rival's
    /// is higher (peak EWMA's default: 1 ms; for SDN adaptive this replaces
    /// counting the rival's). Must be more than zero; checked when the pool
    /// builds.
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

impl<P: Profile> Strategy for LatencyCost<P> {
    type Table = ();

    fn build(&self, _set: &BackendSet) -> Result<(), ConfigError> {
        self.choice.validate(P::NAME)
    }

    fn select(&self, _: &(), set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
        self.choice.select(set, ctx)
    }
}
