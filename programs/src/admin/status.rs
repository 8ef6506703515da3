//! The proxy's pool as `/status.json` serves it (and the page shows it): one
//! snapshot read from [`Pool::backends_with`](pickwise::Pool::backends_with)
//! and [`Pool::tiers`](pickwise::Pool::tiers), serialised as the library's
//! own [`BackendStatus`] and [`TierStatus`] (their docs give the field
//! names), with each backend's address and each tier's name beside them.

use std::net::SocketAddr;
use std::time::Duration;

use pickwise::{BackendStatus, TierStatus};
use serde::Serialize;

use crate::SharedPool;

/// The whole pool at one moment.
#[derive(Debug, Serialize)]
pub struct Status {
    /// The strategy's name, as `--strategy` takes it.
    pub strategy: &'static str,
    /// The pool clock's reading: milliseconds since the pool started (the
    /// backends' `since_ms` and checks' `at_ms` are on the same clock).
    pub uptime_ms: u64,
    /// Each tier, best first.
    pub tiers: Vec<Tier>,
    /// Each backend, in set order.
    pub backends: Vec<Backend>,
    /// What the program adds (hyper_proxy: its retries, retry budget and
    /// try timeout).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<serde_json::Value>,
}

/// One tier of backends: the library's picture and its name.
#[derive(Debug, Serialize)]
pub struct Tier {
    /// `primary`, `backup` or `priority N`.
    pub name: String,
    /// The tier as the library sees it.
    #[serde(flatten)]
    pub status: TierStatus,
}

/// One backend: the library's picture and where the proxy connects.
#[derive(Debug, Serialize)]
pub struct Backend {
    /// Where the proxy connects.
    pub address: String,
    /// The backend as the library sees it.
    #[serde(flatten)]
    pub status: BackendStatus,
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
            tiers: tiers
                .into_iter()
                .map(|status| Tier {
                    name: tier_name(status.priority),
                    status,
                })
                .collect(),
            backends: backends
                .into_iter()
                .map(|(status, addr)| Backend {
                    address: addr.to_string(),
                    status,
                })
                .collect(),
            proxy: None,
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

/// Whole milliseconds, as the status shows times.
pub fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
