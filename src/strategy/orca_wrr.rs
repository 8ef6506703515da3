//! [`OrcaWrr`]: weighted round robin whose weights follow the backends'
//! own load reports, as gRPC's `weighted_round_robin` policy does
//! ([gRFC A58](https://github.com/grpc/proposal/blob/master/A58-client-side-weighted-round-robin-lb-policy.md)).

use std::sync::Arc;
use std::time::Duration;

use crate::runtime::load_reports::WeightRules;
use crate::runtime::refresh::Refresh;
use crate::runtime::set::BackendSet;
use crate::runtime::slot::Slot;
use crate::strategy::kernel::stride::{Stride, StrideTable};
use crate::strategy::Strategy;
use crate::types::{ConfigError, Context};

/// Client-side weighted round robin on load reports (gRFC A58): each
/// backend's weight is `qps / (utilization + eps / qps * penalty)` from its
/// latest [ORCA](crate::orca) report, and picks follow the weights through
/// gRPC's static stride scheduler.
///
/// Reports come with responses ([`Pick::record_load_report`](crate::Pick::record_load_report),
/// [`Ticket::record_load_report`](crate::Ticket::record_load_report),
/// [`Pool::apply_load_report`](crate::Pool::apply_load_report); the tower
/// layer reads the `endpoint-load-metrics` headers itself). As in A58:
///
/// - a backend's weight counts only after it has reported for the
///   **blackout period** (default 10 s: a backend that just started often
///   reports load it does not carry yet), and stops counting when its last
///   report is older than the **expiration period** (default 3 min),
///   which starts the blackout again;
/// - a backend without a weight takes the mean of the others'; with fewer
///   than two weights known, every backend is alike (round robin);
/// - weights are recomputed every **update period** (default 1 s).
///
/// Unlike gRPC, no timer runs: the recomputation is done by whoever records
/// a report once the period has run out (one atomic load on that path
/// otherwise), and never by a pick. A pick reads the current weights
/// through one atomic pointer, so weights change every second without a
/// pick ever rebuilding anything. Weights are held within ten times their
/// mean either way, so a wild report can neither take every request nor
/// starve a backend for good. When no backend reports at all, weights stay
/// as they last were until a report or [`Pool::update`](crate::Pool::update)
/// comes.
///
/// **Choose it** when backends are unequal in ways nobody configured, or
/// their capacity shifts slowly (shared hosts, mixed request costs), and
/// they can say how busy they are: gRPC servers with ORCA, or any HTTP
/// backend adding an `endpoint-load-metrics` header. Weights are
/// open-loop: they follow each backend's last reports, not its queue, so a
/// backend that turns slow at once keeps its old share until reports say
/// so (a report window, then the next refresh), and the queue built
/// meanwhile drains slowly. In this crate's simulation
/// (`docs/simulation.md`, scenario (i): nodes of 2, 4, 4 and 8 cores at
/// weight 1) it gives the evenest utilisation and the best median after
/// the oracle, but least connections and peak EWMA give a lower p99, and a
/// node turning 10x slow costs it seconds of p99 where they stay near
/// 70 ms.
///
/// **Synchronisation**: a pick is one atomic pointer load, one `fetch_add`
/// on a shared counter and a test, repeated about `max weight / mean
/// weight` times; no lock. A refresh is O(N), off the pick path.
///
/// ```
/// use pickwise::clock::ManualClock;
/// use pickwise::orca::LoadReport;
/// use pickwise::strategy::OrcaWrr;
/// use pickwise::{BackendSpec, Balancer, Context, Pool};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let clock = Arc::new(ManualClock::new());
/// let pool = Pool::builder(OrcaWrr::new())
///     .clock(clock.clone())
///     .build(vec![BackendSpec::new("big", ()), BackendSpec::new("small", ())])?;
/// // Both serve 100 qps; "small" is three times as busy doing it.
/// let report = |cpu| LoadReport { rps_fractional: 100.0, cpu_utilization: cpu, ..Default::default() };
/// for _ in 0..12 {
///     pool.apply_load_report(&"big".into(), &report(0.2))?;
///     pool.apply_load_report(&"small".into(), &report(0.6))?;
///     clock.advance(Duration::from_secs(1)); // past the 10 s blackout
/// }
/// let big = (0..400)
///     .filter(|_| pool.pick(&Context::new()).unwrap().id().as_str() == "big")
///     .count();
/// assert_eq!(big, 300);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrcaWrr {
    rules: WeightRules,
    period: Duration,
}

impl OrcaWrr {
    /// The strategy with A58's defaults: blackout 10 s, expiration 3 min,
    /// update every second, error utilization penalty 1.0.
    pub fn new() -> Self {
        OrcaWrr {
            rules: WeightRules {
                expiry: Duration::from_secs(180),
                blackout: Duration::from_secs(10),
                error_penalty: 1.0,
            },
            period: Duration::from_secs(1),
        }
    }

    /// How long a backend must have reported before its weight counts
    /// (`blackout_period`, default 10 s; zero: at once).
    pub fn blackout_period(mut self, period: Duration) -> Self {
        self.rules.blackout = period;
        self
    }

    /// How old a backend's last report may be before its weight stops
    /// counting (`weight_expiration_period`, default 3 min).
    pub fn weight_expiration_period(mut self, period: Duration) -> Self {
        self.rules.expiry = period;
        self
    }

    /// How often weights are recomputed (`weight_update_period`, default
    /// 1 s, at least 100 ms as in gRPC).
    pub fn weight_update_period(mut self, period: Duration) -> Self {
        self.period = period;
        self
    }

    /// How much errors per second count against a backend
    /// (`error_utilization_penalty`, default 1.0; zero ignores errors).
    pub fn error_utilization_penalty(mut self, penalty: f64) -> Self {
        self.rules.error_penalty = penalty;
        self
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |setting, why: &str| {
            Err(ConfigError::Invalid {
                setting,
                why: why.into(),
            })
        };
        if self.period < Duration::from_millis(100) {
            return invalid("weight_update_period", "must be at least 100ms");
        }
        if self.rules.expiry.is_zero() {
            return invalid("weight_expiration_period", "must be more than zero");
        }
        let penalty = self.rules.error_penalty;
        if !(penalty.is_finite() && penalty >= 0.0) {
            return invalid(
                "error_utilization_penalty",
                "must be a finite number at or above zero",
            );
        }
        Ok(())
    }
}

impl Default for OrcaWrr {
    fn default() -> Self {
        Self::new()
    }
}

/// [`OrcaWrr`]'s table: the stride schedule, refreshed from the set's
/// reports off the pick path.
pub struct OrcaTable {
    weighted: Arc<Weighted>,
}

impl std::fmt::Debug for OrcaTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrcaTable")
            .field("schedule", &self.weighted.schedule)
            .finish()
    }
}

/// What a refresh needs: the set's backends and the rules.
struct Weighted {
    slots: Vec<Arc<Slot>>,
    strategy: OrcaWrr,
    schedule: StrideTable,
}

impl Weighted {
    fn stride(&self, now: u64) -> Stride {
        let weights: Vec<Option<f64>> = self
            .slots
            .iter()
            .map(|slot| slot.load.weight(now, &self.strategy.rules))
            .collect();
        Stride::from_weights(&weights)
    }
}

impl Refresh for Weighted {
    fn refresh(&self, now: u64) {
        self.schedule.replace(self.stride(now));
    }

    fn period(&self) -> Option<Duration> {
        Some(self.strategy.period)
    }
}

impl Strategy for OrcaWrr {
    type Table = OrcaTable;

    fn counts_in_flight(&self) -> bool {
        false
    }

    fn reads_load_reports(&self) -> bool {
        true
    }

    fn build(&self, set: &BackendSet) -> Result<OrcaTable, ConfigError> {
        self.validate()?;
        let now = set.now();
        let mut weighted = Weighted {
            slots: set.slots().to_vec(),
            strategy: *self,
            schedule: StrideTable::new(Stride::even(set.len())),
        };
        weighted.schedule = StrideTable::new(weighted.stride(now));
        let weighted = Arc::new(weighted);
        let refresh: Arc<dyn Refresh> = weighted.clone();
        set.register_refresh(&refresh, now);
        Ok(OrcaTable { weighted })
    }

    #[inline]
    fn select(&self, table: &OrcaTable, set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
        table.weighted.schedule.pick(|i| set.is_eligible(i, ctx))
    }
}
