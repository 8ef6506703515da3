//! The proxy's pool as `/status.json` serves it (and the page shows it): one
//! snapshot read from [`Pool::backends_with`](pickwise::Pool::backends_with)
//! and [`Pool::tiers`](pickwise::Pool::tiers), with stable field names (see
//! the admin module's docs for the shape).

use std::net::SocketAddr;
use std::time::Duration;

use pickwise::strategy::WEIGHT_UNIT;
use pickwise::{AdminState, BackendStatus, CheckResult, TierStatus};
use serde::Serialize;

use crate::SharedPool;

/// The whole pool at one moment.
#[derive(Debug, Serialize)]
pub struct Status {
    /// The strategy's name, as `--strategy` takes it.
    pub strategy: &'static str,
    /// The pool clock's reading: milliseconds since the pool started.
    pub uptime_ms: u64,
    /// Each tier, best first.
    pub tiers: Vec<Tier>,
    /// Each backend, in set order.
    pub backends: Vec<Backend>,
}

/// One tier of backends.
#[derive(Debug, Serialize)]
pub struct Tier {
    /// Its priority: 0 the primaries, 1 `backup`, more with `priority=N`.
    pub priority: u8,
    /// `primary`, `backup` or `priority N`.
    pub name: String,
    /// Its backends.
    pub members: usize,
    /// Its backends available now.
    pub available: usize,
    /// Its share of the traffic, 0 to 1.
    pub share: f64,
    /// Whether it is in panic (picks ignore health, spread over all).
    pub in_panic: bool,
}

/// One backend.
#[derive(Debug, Serialize)]
pub struct Backend {
    /// Its id (its address unless `id=NAME` was given).
    pub id: String,
    /// Where the proxy connects.
    pub address: String,
    /// `up`, `draining`, `down`, `unhealthy`, `ejected` or `removed`.
    pub state: String,
    /// The operator's or agent's word alone: `up`, `draining` or `down`.
    pub admin: &'static str,
    /// Why it last changed state, in words.
    pub reason: String,
    /// Milliseconds since it last changed state.
    pub since_ms: u64,
    /// Its tier's priority (see [`Tier::priority`]).
    pub tier: u8,
    /// Configured weight.
    pub weight: u32,
    /// Effective weight now (slow start, agent capacity), in weight units.
    pub effective_weight: f64,
    /// Requests in flight; `null` when the strategy does not count them.
    pub in_flight: Option<u64>,
    /// Its cap on requests in flight; `null` without one.
    pub max_conns: Option<u32>,
    /// Picks since it joined; `null` when in flight is not counted.
    pub picks: Option<u64>,
    /// Outcomes recorded as successes.
    pub successes: u64,
    /// Outcomes recorded as server errors (5xx from a live backend).
    pub server_errors: u64,
    /// Outcomes recorded as failures (refused, timed out, reset...).
    pub failures: u64,
    /// Outcomes blamed on the client: counted for neither side.
    pub client_faults: u64,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// Times passive health ejected it.
    pub ejections: u64,
    /// Latency estimate (peak-sensitive EWMA) in milliseconds; `null`
    /// before its first success.
    pub latency_ms: Option<f64>,
    /// Error-rate estimate, 0 to 1.
    pub error_rate: f64,
    /// The last active health check; `null` without health checks.
    pub last_check: Option<Check>,
}

/// An active health check's result.
#[derive(Debug, Serialize)]
pub struct Check {
    /// Whether it passed.
    pub passed: bool,
    /// What it found, in words (`health check failed: connection refused`).
    pub result: String,
    /// Milliseconds since it came.
    pub ago_ms: u64,
}

impl Status {
    /// Reads `pool` now; `address` says where a backend's payload connects.
    pub fn read<B: Send + Sync + 'static>(
        pool: &SharedPool<B>,
        address: fn(&B) -> SocketAddr,
    ) -> Status {
        let backends = pool.backends_with(address);
        let tiers = pool.tiers();
        let now = pool.clock().now();
        Status {
            strategy: pool.strategy().kind().name(),
            uptime_ms: millis(now),
            tiers: tiers.iter().map(Tier::from).collect(),
            backends: backends
                .into_iter()
                .map(|(status, addr)| Backend::new(status, addr, now))
                .collect(),
        }
    }
}

impl From<&TierStatus> for Tier {
    fn from(tier: &TierStatus) -> Tier {
        Tier {
            priority: tier.priority,
            name: tier_name(tier.priority),
            members: tier.members,
            available: tier.available,
            share: tier.share,
            in_panic: tier.in_panic,
        }
    }
}

impl Backend {
    fn new(status: BackendStatus, address: SocketAddr, now: Duration) -> Backend {
        Backend {
            id: status.id.to_string(),
            address: address.to_string(),
            state: status.state.to_string(),
            admin: match status.admin {
                AdminState::Up => "up",
                AdminState::Draining => "draining",
                AdminState::Down => "down",
            },
            reason: status.reason.to_string(),
            since_ms: millis(now.saturating_sub(status.since)),
            tier: status.priority,
            weight: status.weight,
            effective_weight: status.effective_weight as f64 / WEIGHT_UNIT as f64,
            in_flight: status.in_flight,
            max_conns: status.max_conns,
            picks: status.picks,
            successes: status.successes,
            server_errors: status.server_errors,
            failures: status.failures,
            client_faults: status.client_faults,
            consecutive_failures: status.consecutive_failures,
            ejections: status.ejections,
            // Microseconds are plenty: 1.07 ms, not 1.0699290000000001.
            latency_ms: status
                .latency
                .map(|l| (l.as_secs_f64() * 1e6).round() / 1e3),
            error_rate: status.error_rate,
            last_check: status.last_check.map(|(result, at)| Check {
                passed: result == CheckResult::Passed,
                result: result.to_string(),
                ago_ms: millis(now.saturating_sub(at)),
            }),
        }
    }
}

/// A tier's name: `primary` (0), `backup` (1), else `priority N`.
pub fn tier_name(priority: u8) -> String {
    match priority {
        0 => "primary".into(),
        1 => "backup".into(),
        n => format!("priority {n}"),
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
