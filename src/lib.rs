//! Load-balancing algorithms to embed in a proxy, an RPC client or a gateway:
//! the decision "which backend gets this request?", made in nanoseconds, safely
//! from many threads, with the feedback (in-flight requests, outcomes, agent
//! reports) that the smarter strategies need.
//!
//! ```
//! use pickwise::{BackendSpec, Balancer, Context, Outcome, Pool};
//! use pickwise::strategy::WeightedRoundRobin;
//! use std::net::SocketAddr;
//! use std::time::Duration;
//!
//! // Backends as a proxy's command line gives them.
//! let backends: Vec<BackendSpec<SocketAddr>> = ["127.0.0.1:8001,weight=2", "127.0.0.1:8002"]
//!     .iter()
//!     .map(|text| text.parse())
//!     .collect::<Result<_, _>>()?;
//! let pool = Pool::new(WeightedRoundRobin::new(), backends)?;
//!
//! // Per request: pick, send, record what happened, drop the pick when done.
//! let mut pick = pool.pick(&Context::new())?;
//! let addr: SocketAddr = *pick.backend();
//! assert_eq!(addr.port(), 8001); // the weight-2 backend goes first
//! pick.record(Outcome::success(Duration::from_millis(4)));
//! drop(pick);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Shape
//!
//! - A [`Pool`] owns a [`Strategy`] and the current backend set; it implements
//!   [`Balancer`], the object-safe trait a program holds.
//! - [`Balancer::pick`] returns a [`Pick`]: an owned guard that counts one
//!   request in flight until dropped, and takes the request's [`Outcome`].
//!   In a tight loop, a per-thread [`Picker`] picks without touching any
//!   shared reference count and lends a [`PickRef`] instead.
//! - [`Pool::update`] replaces the set at run time without blocking picks;
//!   backends that stay keep their counters and state.
//! - Backends are up, draining or down ([`AdminState`], set by the operator or
//!   an agent), or ejected by passive health ([`health::HealthConfig`]:
//!   consecutive failures; [`health::OutlierConfig`]: success rates far below
//!   their peers'). Every change carries a [`Reason`] and reaches [`Observer`]s;
//!   [`Pool::backends`] gives each backend's [`BackendStatus`].
//! - Backends that join or come back can ramp their weight up
//!   ([`health::SlowStart`]).
//! - Time comes from a [`Clock`](clock::Clock); tests drive a
//!   [`ManualClock`](clock::ManualClock).
//!
//! # Modules
//!
//! - [`strategy`]: the seventeen strategies, [`AnyStrategy`](strategy::AnyStrategy)
//!   to choose one by name (`"least-connections".parse()`), and what a custom
//!   strategy needs ([`BackendSet`](strategy::BackendSet)).
//! - [`health`]: passive health, outlier detection, feedback and slow start settings.
//! - [`agent`]: agent-check replies (HAProxy's words), parsed, and a blocking query.
//! - `health_check` (feature `health-check`): active health checks (the
//!   `Check` trait; TCP, HTTP and agent built in) with HAProxy's rise/fall
//!   rule, run by one async driver on a thread of its own or a task of the
//!   program's tokio runtime.
//! - [`orca`]: ORCA load reports (text, JSON, binary) and gRFC A58's weight,
//!   for weights that follow what backends say of their own load.
//! - [`subset`]: deterministic subsetting, which few backends of a large
//!   fleet each of many clients keeps, evenly.
//! - [`tail`]: tail latency: a lock-free latency window with quantiles, a
//!   try timeout (or hedge delay) derived from it, and a retry budget.
//! - [`hash`]: the keyed hash ([`HashKey`](hash::HashKey)) the hash strategies share.
//! - [`clock`]: the clock the pool reads, and a manual one for tests.
//! - `tower` (feature `tower`): a `tower::Service` balancing calls over
//!   per-backend services, with outcome classifiers, a response body that
//!   holds its pick, and membership from a `tower::discover::Discover`.
//! - `dns` (feature `dns`): backends from A/AAAA and SRV records, followed
//!   at their TTL through [`Pool::update`].
//! - `metrics` (feature `prometheus`): a pool's series in the Prometheus
//!   text format, or as a prometheus-client collector.
//! - `config` (feature `serde`): a pool's whole configuration from TOML,
//!   YAML or JSON.
//! - [`internals`]: how the pieces fit (the generation swap, the arena,
//!   upkeep without timers). For readers of the code; no API.

#![deny(missing_docs)]

pub mod agent;
#[cfg(feature = "serde")]
pub mod config;
pub mod discovery;
#[cfg(feature = "dns")]
pub mod dns;
#[cfg(feature = "grpc")]
pub mod grpc;
pub mod hash;
/// Health and feedback settings: plain values that say when passive health
/// ejects a backend ([`HealthConfig`](health::HealthConfig)), when a
/// success-rate outlier is ejected ([`OutlierConfig`](health::OutlierConfig)),
/// how fast learned latency and error rates forget
/// ([`FeedbackConfig`](health::FeedbackConfig)), and how a joining backend
/// ramps up ([`SlowStart`](health::SlowStart)); with the events health
/// produces: an active check's result ([`CheckResult`](health::CheckResult),
/// [`CheckFailure`](health::CheckFailure), fed to
/// [`Pool::set_health`]) and a tier entering or leaving panic
/// ([`PanicChange`](health::PanicChange)).
///
/// They are validated when a pool is built and acted on by the pool's
/// runtime, where passive health is one module with its settings (see the
/// [`internals`] page).
pub mod health {
    pub use crate::runtime::feedback::FeedbackConfig;
    pub use crate::runtime::passive::{HealthConfig, OutlierConfig};
    pub use crate::runtime::slow_start::SlowStart;
    pub use crate::types::{CheckFailure, CheckResult, PanicChange};
}
#[cfg(feature = "health-check")]
pub mod health_check;
pub mod internals;
#[cfg(feature = "prometheus")]
pub mod metrics;
pub mod orca;
mod pool;
mod runtime;
pub mod strategy;
pub mod subset;
pub mod tail;
#[cfg(feature = "tower")]
pub mod tower;
mod types;

pub use pool::{Balancer, Pick, PickRef, Picker, Pool, PoolBuilder, Ticket};
pub use runtime::slot::BackendStatus;
pub use runtime::tiers::TierStatus;
pub use strategy::Strategy;
pub use types::clock;
pub use types::{
    AdminState, BackendId, BackendSpec, BackendState, ConfigError, Context, FailureKind, NoBackend,
    Observer, Outcome, OutcomeKind, Reason, StateChange,
};

/// The backend spec's text form and the bounds the library holds every
/// setting to: the keys `"ADDR,key=value,..."` takes ([`KEYS`](spec::KEYS))
/// and the largest values it accepts (larger ones are a
/// [`ConfigError`], never a panic or a silent clamp).
pub mod spec {
    pub use crate::types::SPEC_KEYS as KEYS;
    pub use crate::types::{MAX_BACKENDS, MAX_CONNS, MAX_PRIORITY, MAX_WEIGHT};
}

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
