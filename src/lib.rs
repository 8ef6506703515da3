//! Load-balancing algorithms to embed in a proxy, an RPC client or a gateway:
//! the decision "which backend gets this request?", made in nanoseconds, safely
//! from many threads, with the feedback (in-flight requests, outcomes, agent
//! reports) that the smarter strategies need.
//!
//! ```
//! use pickwise::{Balancer, BackendSpec, Context, Outcome, Pool};
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
//!   an agent), or ejected by passive health ([`HealthConfig`]: consecutive
//!   failures; [`OutlierConfig`]: success rates far below their peers'). Every change
//!   carries a [`Reason`] and reaches [`Observer`]s.
//! - Backends that join or come back can ramp their weight up ([`SlowStart`]).
//! - Time comes from a [`Clock`]; tests drive a [`ManualClock`].
//!
//! Strategies chosen by name at run time go through
//! [`AnyStrategy`](strategy::AnyStrategy): `"least-connections".parse()`.

#![deny(missing_docs)]

pub mod agent;
mod backend;
mod balancer;
mod clock;
mod context;
mod error;
mod feedback;
pub mod hash;
mod health;
mod hot;
mod outcome;
mod outlier;
mod pick;
mod picker;
mod pool;
mod rng;
mod set;
mod shared;
mod slot;
mod slow_start;
mod state;
mod sticky;
pub mod strategy;
mod sync;

pub use backend::{BackendId, BackendSpec, MAX_BACKENDS, MAX_WEIGHT};
pub use balancer::Balancer;
pub use clock::{Clock, ManualClock, SystemClock};
pub use context::Context;
pub use error::{ConfigError, NoBackend};
pub use feedback::FeedbackConfig;
pub use health::HealthConfig;
pub use outcome::{FailureKind, Outcome, OutcomeKind};
pub use outlier::OutlierConfig;
pub use pick::Pick;
pub use picker::{PickRef, Picker};
pub use pool::{Pool, PoolBuilder, DEFAULT_AGENT_EXPIRY};
pub use rng::AtomicRng;
pub use set::BackendSet;
pub use slot::{BackendStatus, WEIGHT_UNIT};
pub use slow_start::SlowStart;
pub use state::{AdminState, BackendState, Observer, Reason, StateChange};
pub use sticky::{StickyTable, MAX_STICKY_ENTRIES};
pub use strategy::Strategy;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
