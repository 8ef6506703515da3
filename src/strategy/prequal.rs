use std::time::Duration;

use crate::runtime::set::BackendSet;
use crate::strategy::kernel::rng::AtomicRng;
use crate::strategy::kernel::two_choices::{settle, two_candidates};
use crate::strategy::kernel::PerWeight;
use crate::strategy::Strategy;
use crate::types::{ConfigError, Context};

/// Most probe replies a pick weighs ([`Prequal::pool_size`] at most).
pub const MAX_PROBE_POOL: usize = 64;

/// Prequal: picks by what the backends said in answer to probes, with the
/// hot-cold rule (Wydrowski et al., [Load is not what you should balance:
/// Introducing Prequal](https://www.usenix.org/conference/nsdi24/presentation/wydrowski),
/// NSDI 2024; in production at YouTube).
///
/// Each backend answers a probe with its requests in flight (from every
/// client, not only this balancer) and an estimate of the latency a request
/// would see now ([`ProbeReply`](crate::strategy::ProbeReply)). The program
/// sends the probes (a couple of random backends per request, off the pick
/// path) and applies each answer with
/// [`Pool::apply_probe`](crate::Pool::apply_probe), as it applies agent
/// replies. On each pick:
///
/// 1. **The probe pool**: the latest reply of each eligible backend, if it
///    is younger than [`max_age`](Self::max_age) and was used for fewer than
///    [`max_uses`](Self::max_uses) picks; of those, the
///    [`pool_size`](Self::pool_size) youngest. Used-up replies come back
///    only when fewer than two are left. A reply's in-flight count moves
///    with this pool's own in-flight count there since it came (picks sent
///    add, picks finished subtract), so a reused reply does not hide them.
/// 2. **PickFields or cold**: a reply is *hot* when its requests in flight exceed
///    the [`hot_quantile`](Self::hot_quantile) of the pool's.
/// 3. **The pick**: the cold reply with the lowest latency estimate (fewer
///    in flight breaks a tie); if every reply were hot, the one with the
///    fewest in flight. The reply counts one more use.
///
/// With no usable reply (probing not started, all aged out) it falls back
/// to the power of two choices on its own in-flight counts
/// ([`P2c`](super::P2c)). Weights are not read: capacity shows in the
/// replies.
///
/// **Choose it** when many balancers share the backends (each sees only
/// its own requests in flight, which probes correct), or when service times
/// are heavy-tailed, and backends can answer probes.
///
/// **Synchronisation**: no lock. A scan of the set reading each backend's
/// reply (a few atomic loads), a sort of at most [`MAX_PROBE_POOL`] counts on
/// the stack, one atomic add on the chosen reply.
#[derive(Debug)]
pub struct Prequal {
    rng: AtomicRng,
    max_age: Duration,
    max_uses: u32,
    hot_quantile: f64,
    pool_size: usize,
}

impl Default for Prequal {
    fn default() -> Self {
        Prequal {
            rng: AtomicRng::random(),
            max_age: Prequal::DEFAULT_MAX_AGE,
            max_uses: Prequal::DEFAULT_MAX_USES,
            hot_quantile: Prequal::DEFAULT_HOT_QUANTILE,
            pool_size: Prequal::DEFAULT_POOL_SIZE,
        }
    }
}

impl Prequal {
    /// Replies older than this are out of the pool: 1 s.
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(1);
    /// Picks one reply may serve: 2. Reuse is what lets several balancers
    /// herd on one stale reply: in the simulation's eight-proxy scenario,
    /// p99 rose from 50 ms at 2 uses to 59 ms at 4.
    pub const DEFAULT_MAX_USES: u32 = 2;
    /// The quantile of the pool's in-flight counts above which a reply is
    /// hot: 0.25, so only the least loaded quarter is cold. The paper's
    /// replicas report latencies that rise with load; where latency barely
    /// moves until requests queue (a few cores, FIFO), a wide cold set picks
    /// by noise: in the eight-proxy scenario p99 was 50 ms at 0.25, 51 ms at
    /// 0.5 and 51 ms at 0.8 (2 uses), and 59 ms at 0.8 with 4 uses.
    pub const DEFAULT_HOT_QUANTILE: f64 = 0.25;
    /// Replies a pick weighs, the youngest: 16, as in the paper.
    pub const DEFAULT_POOL_SIZE: usize = 16;

    /// Prequal with the defaults, drawing from per-thread random streams
    /// (for the fallback and ties).
    pub fn new() -> Self {
        Prequal::default()
    }

    /// Draws from one sequence seeded with `seed`, for reproducible runs.
    pub fn seeded(mut self, seed: u64) -> Self {
        self.rng = AtomicRng::seeded(seed);
        self
    }

    /// How old a reply may be and still count (default 1 s); more than zero.
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }

    /// How many picks one reply may serve (default 2); at least 1.
    pub fn max_uses(mut self, uses: u32) -> Self {
        self.max_uses = uses;
        self
    }

    /// The quantile of the pool's in-flight counts above which a reply is
    /// hot (default 0.25); from 0 to 1.
    pub fn hot_quantile(mut self, quantile: f64) -> Self {
        self.hot_quantile = quantile;
        self
    }

    /// How many of the youngest replies a pick weighs (default 16); from 1
    /// to [`MAX_PROBE_POOL`].
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size;
        self
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |why: String| {
            Err(ConfigError::Invalid {
                setting: "prequal",
                why,
            })
        };
        if self.max_age.is_zero() {
            return invalid("the probe max age must be more than zero".into());
        }
        if self.max_uses == 0 {
            return invalid("a probe reply must serve at least one pick (max uses 0)".into());
        }
        if !(0.0..=1.0).contains(&self.hot_quantile) {
            return invalid(format!(
                "hot quantile {} is not between 0 and 1",
                self.hot_quantile
            ));
        }
        if !(1..=MAX_PROBE_POOL).contains(&self.pool_size) {
            return invalid(format!(
                "probe pool size {} is not between 1 and {MAX_PROBE_POOL}",
                self.pool_size
            ));
        }
        Ok(())
    }

    /// Power of two choices on in-flight counts per unit of weight.
    fn fallback(&self, set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
        let (a, b) = match two_candidates(&self.rng, set, ctx)? {
            (a, Some(b)) => (a, b),
            (only, None) => return Some(only),
        };
        let cost = |i| PerWeight::of(set.in_flight(i) + 1, set.effective_weight(i));
        Some(settle(&self.rng, a, b, cost(a).cmp(cost(b))))
    }
}

/// One reply in the pick's pool.
#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    backend: usize,
    in_flight: u64,
    latency_ns: f64,
    age: Duration,
    /// Used for `max_uses` picks already.
    spent: bool,
}

impl Entry {
    /// Which replies a full pool keeps: the unspent, then the youngest.
    fn rank(&self) -> (bool, Duration) {
        (self.spent, self.age)
    }
}

impl Strategy for Prequal {
    type Table = ();

    fn build(&self, _set: &BackendSet) -> Result<(), ConfigError> {
        self.validate()
    }

    fn select(&self, _: &(), set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
        let now = set.now();
        let mut pool = [Entry::default(); MAX_PROBE_POOL];
        let mut len = 0;
        let size = self.pool_size.clamp(1, MAX_PROBE_POOL);
        // Start the scan at a random backend: among equals, none is favoured.
        let n = set.len();
        let start = if n > 1 { self.rng.below(n) } else { 0 };
        for i in (start..n).chain(0..start) {
            let Some(reply) = set.probe(i, now) else {
                continue;
            };
            if reply.age > self.max_age || !set.is_eligible(i, ctx) {
                continue;
            }
            let entry = Entry {
                backend: i,
                in_flight: reply.in_flight,
                latency_ns: reply.latency_ns,
                age: reply.age,
                spent: reply.uses >= self.max_uses,
            };
            if len < size {
                pool[len] = entry;
                len += 1;
            } else if let Some(worst) = (0..len).max_by_key(|&j| pool[j].rank()) {
                // Full: unspent replies first, then the youngest.
                if entry.rank() < pool[worst].rank() {
                    pool[worst] = entry;
                }
            }
        }
        // Spent replies count only when fewer than two are left unspent:
        // a used-up reply, corrected by the pool's own picks since, still
        // says more than no reply.
        if pool[..len].iter().filter(|e| !e.spent).count() >= 2 {
            let mut kept = 0;
            for j in 0..len {
                if !pool[j].spent {
                    pool[kept] = pool[j];
                    kept += 1;
                }
            }
            len = kept;
        }
        let pool = &pool[..len];
        // One reply alone is no comparison.
        if pool.len() < 2 {
            return self.fallback(set, ctx);
        }
        let mut counts = [0u64; MAX_PROBE_POOL];
        for (count, entry) in counts.iter_mut().zip(pool) {
            *count = entry.in_flight;
        }
        let counts = &mut counts[..len];
        counts.sort_unstable();
        // The quantile by nearest rank: at least one reply is cold.
        let rank = (self.hot_quantile * len as f64).ceil() as usize;
        let threshold = counts[rank.clamp(1, len) - 1];
        let cold = pool
            .iter()
            .filter(|e| e.in_flight <= threshold)
            .min_by(|a, b| {
                a.latency_ns
                    .total_cmp(&b.latency_ns)
                    .then(a.in_flight.cmp(&b.in_flight))
            });
        let chosen = match cold {
            Some(entry) => entry,
            None => pool.iter().min_by_key(|e| e.in_flight)?,
        };
        set.use_probe(chosen.backend);
        Some(chosen.backend)
    }
}
