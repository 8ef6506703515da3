//! The proxy's tail-latency settings and state, shared by every serving
//! thread: the recent response-head latencies (`pickwise::tail`), the
//! per-try timeout they give (4 x p99, within `--try-timeout-floor-ms` and
//! `--try-timeout-ms`), and the retry budget every retry spends
//! (`--retry-budget-percent` of recent requests plus
//! `--retry-budget-floor` a second).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pickwise::tail::{LatencyWindow, RetryBudget, TryTimeout};
use pickwise::BackendId;
use pickwise_programs::hedging::Hedging;
use tracing::warn;

/// The quantile and factor of the adaptive per-try timeout.
const TRY_QUANTILE: f64 = 0.99;
const TRY_FACTOR: f64 = 4.0;
/// A hedge goes after the p95 of recent heads (The Tail at Scale), at
/// least 5 ms.
const HEDGE_QUANTILE: f64 = 0.95;
const HEDGE_FLOOR: Duration = Duration::from_millis(5);
/// The period of the latency window and the budget's window.
const WINDOW: Duration = Duration::from_secs(10);
/// At most one "budget spent" line this often.
const LOG_EVERY: Duration = Duration::from_secs(10);
/// The try timeout and the hedge delay are recomputed every this many
/// answers, not on every request: a quantile scans a few hundred buckets,
/// which per request was 0.8% of the proxy's time (perf, one thread).
const REFRESH_EVERY: u64 = 16;

pub struct Tail {
    latencies: LatencyWindow,
    timeout: TryTimeout,
    adaptive: bool,
    budget: RetryBudget,
    /// Which idempotent requests are hedged (none: `--hedge off`), and
    /// after what delay.
    hedging: Option<Hedging>,
    hedge_delay: TryTimeout,
    /// Hedges sent.
    pub hedges: AtomicU64,
    /// Retries the budget allowed, and refused.
    pub retries: AtomicU64,
    pub refused: AtomicU64,
    started: Instant,
    /// Milliseconds since `started` of the last "budget spent" line (+1).
    logged: AtomicU64,
    /// Answers seen, and the try timeout and hedge delay (nanoseconds) as
    /// last computed from the window.
    answers: AtomicU64,
    try_timeout_ns: AtomicU64,
    hedge_delay_ns: AtomicU64,
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

impl Tail {
    /// `adaptive`: the try timeout follows the latencies (else it is
    /// `ceiling`); the budget is `percent`% of recent requests plus
    /// `floor` a second.
    pub fn new(
        adaptive: bool,
        floor_timeout: Duration,
        ceiling: Duration,
        percent: u32,
        floor: u32,
        hedging: Option<Hedging>,
    ) -> Self {
        Tail {
            hedging,
            hedge_delay: TryTimeout::new(HEDGE_QUANTILE, 1.0, HEDGE_FLOOR, ceiling),
            hedges: AtomicU64::new(0),
            latencies: LatencyWindow::new(WINDOW),
            timeout: TryTimeout::new(TRY_QUANTILE, TRY_FACTOR, floor_timeout, ceiling),
            adaptive,
            budget: RetryBudget::new(f64::from(percent) / 100.0, floor, WINDOW),
            retries: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            started: Instant::now(),
            logged: AtomicU64::new(0),
            answers: AtomicU64::new(0),
            try_timeout_ns: AtomicU64::new(nanos(ceiling)),
            hedge_delay_ns: AtomicU64::new(nanos(ceiling)),
        }
    }

    /// A request arrived: it adds to the budget.
    pub fn request(&self) {
        self.budget.deposit();
    }

    /// A response head arrived after `latency`.
    pub fn answered(&self, latency: Duration) {
        self.latencies.record(latency);
        let answers = self.answers.fetch_add(1, Ordering::Relaxed) + 1;
        if answers.is_multiple_of(REFRESH_EVERY) || answers <= TryTimeout::MIN_SAMPLES {
            self.try_timeout_ns
                .store(nanos(self.timeout.of(&self.latencies)), Ordering::Relaxed);
            self.hedge_delay_ns.store(
                nanos(self.hedge_delay.of(&self.latencies)),
                Ordering::Relaxed,
            );
        }
    }

    /// How long a try may wait for its head when a retry could follow.
    pub fn try_timeout(&self) -> Duration {
        match self.adaptive {
            true => Duration::from_nanos(self.try_timeout_ns.load(Ordering::Relaxed)),
            false => self.timeout.ceiling(),
        }
    }

    /// Which idempotent requests are hedged (`--hedge`), if any.
    pub fn hedging(&self) -> Option<Hedging> {
        self.hedging
    }

    /// How long a try waits before its hedge goes.
    pub fn hedge_delay(&self) -> Duration {
        Duration::from_nanos(self.hedge_delay_ns.load(Ordering::Relaxed))
    }

    /// Whether a hedge may go: one taken from the retry budget.
    pub fn hedge(&self) -> bool {
        if self.budget.withdraw() {
            self.hedges.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        self.refused.fetch_add(1, Ordering::Relaxed);
        false
    }

    /// Whether a retry after `failed` may go: one taken from the budget,
    /// or a line (at most every 10 s) saying the budget is spent.
    pub fn retry(&self, failed: &BackendId) -> bool {
        if self.budget.withdraw() {
            self.retries.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        self.refused.fetch_add(1, Ordering::Relaxed);
        let now = self.started.elapsed().as_millis() as u64 + 1;
        let last = self.logged.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= LOG_EVERY.as_millis() as u64;
        if due
            && self
                .logged
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            warn!(
                "retry budget spent ({}): not retrying after {failed}'s failure ({} refused so far)",
                self.describe_budget(),
                self.refused.load(Ordering::Relaxed)
            );
        }
        false
    }

    fn describe_budget(&self) -> String {
        format!("{:.0} left", self.budget.balance().max(0.0))
    }
}

/// `/status.json`'s `proxy` and `/metrics`' `pickwise_proxy_*` series.
impl pickwise_programs::admin::Extra for Tail {
    fn json(&self) -> serde_json::Value {
        let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1e3);
        serde_json::json!({
            "hedging": match self.hedging {
                None => "off",
                Some(Hedging::Slow) => "slow",
                Some(Hedging::Silent) => "silent",
            },
            "hedges": self.hedges.load(Ordering::Relaxed),
            "retries": self.retries.load(Ordering::Relaxed),
            "retries_refused_by_budget": self.refused.load(Ordering::Relaxed),
            "retry_budget_left": self.budget.balance().max(0.0).floor(),
            "try_timeout_ms": self.try_timeout().as_secs_f64() * 1e3,
            "adaptive_try_timeout": self.adaptive,
            "head_latency_p50_ms": ms(self.latencies.quantile(0.5)),
            "head_latency_p99_ms": ms(self.latencies.quantile(0.99)),
        })
    }

    fn metrics(&self) -> String {
        format!(
            "# HELP pickwise_proxy_hedges_total Copies of idempotent requests sent to a second backend while the first was slow.\n\
             # TYPE pickwise_proxy_hedges_total counter\n\
             pickwise_proxy_hedges_total {}\n\
             # HELP pickwise_proxy_retries_total Tries sent again on another backend after one was sent and failed or timed out.\n\
             # TYPE pickwise_proxy_retries_total counter\n\
             pickwise_proxy_retries_total {}\n\
             # HELP pickwise_proxy_retries_refused_total Retries the retry budget refused.\n\
             # TYPE pickwise_proxy_retries_refused_total counter\n\
             pickwise_proxy_retries_refused_total {}\n\
             # HELP pickwise_proxy_retry_budget_left Retries the budget allows now.\n\
             # TYPE pickwise_proxy_retry_budget_left gauge\n\
             pickwise_proxy_retry_budget_left {}\n\
             # HELP pickwise_proxy_try_timeout_seconds The per-try timeout now.\n\
             # TYPE pickwise_proxy_try_timeout_seconds gauge\n\
             pickwise_proxy_try_timeout_seconds {}\n",
            self.hedges.load(Ordering::Relaxed),
            self.retries.load(Ordering::Relaxed),
            self.refused.load(Ordering::Relaxed),
            self.budget.balance().max(0.0).floor(),
            self.try_timeout().as_secs_f64(),
        )
    }
}
