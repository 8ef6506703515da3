//! Active health checks (feature `health-check`): check every backend of
//! a pool on an interval, and take a backend out after `fall` failed checks
//! in a row, with the check's own cause as the reason ("health check failed: connection refused"), before
//! a user request reaches it; bring it back after `rise` passes.
//!
//! ```
//! use pickwise::health_check::{CheckConfig, CheckKind, HealthChecker};
//! use pickwise::strategy::RoundRobin;
//! use pickwise::{BackendSpec, BackendState, Pool};
//! use std::net::TcpListener;
//! use std::sync::Arc;
//! use std::time::{Duration, Instant};
//!
//! // One backend that listens, one where nothing does any more.
//! let live = TcpListener::bind("127.0.0.1:0")?;
//! let gone = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
//! let pool = Arc::new(Pool::new(RoundRobin::new(), vec![
//!     BackendSpec::new("live", live.local_addr()?),
//!     BackendSpec::new("gone", gone),
//! ])?);
//!
//! let config = CheckConfig {
//!     interval: Duration::from_millis(50),
//!     ..CheckConfig::default() // rise 2, fall 3, timeout 1 s
//! };
//! let checker = HealthChecker::new(config, CheckKind::Tcp)?
//!     .on_event(|event| eprintln!("{event}")) // "... connection refused (1 of 3)"
//!     .spawn(Arc::clone(&pool), |spec| Some(spec.value))?;
//!
//! let state = |id: &str| pool.status(&id.into()).map(|status| status.state);
//! let deadline = Instant::now() + Duration::from_secs(5);
//! while state("gone") != Some(BackendState::Unhealthy) && Instant::now() < deadline {
//!     std::thread::sleep(Duration::from_millis(10));
//! }
//! let gone = pool.status(&"gone".into()).unwrap();
//! assert_eq!(gone.state, BackendState::Unhealthy);
//! assert_eq!(gone.reason.to_string(), "health check failed: connection refused");
//! assert_eq!(state("live"), Some(BackendState::Up));
//! checker.stop();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Shape
//!
//! - [`Check`]: what a check does to one backend, as a future: connect,
//!   exchange, judge. The library's own are [`CheckKind`]'s: a TCP
//!   connect, an HTTP/1.1 `GET` ([`HttpCheck`]: 2xx or 3xx passes,
//!   optionally with a text in the body), or the backend's agent (its
//!   spec's `agent` address; the reply is applied with
//!   [`Pool::apply_agent_reply`](crate::Pool::apply_agent_reply) and a
//!   reply that does not parse, like a connection that fails, is a failed
//!   check). A program implements [`Check`] for another protocol. Each
//!   failure is a [`CheckFailure`](crate::health::CheckFailure) that names
//!   its cause: refused, unreachable, timed out, status 503, bad reply.
//! - [`CheckConfig`]: interval (with jitter), timeout, rise, fall and how
//!   many checks run at once; HAProxy's `inter 2s rise 2 fall 3` by default.
//! - [`RiseFall`]: the rule, per backend, as a pure state machine (usable
//!   on its own by a program with its own checks). A backend starts
//!   healthy. The pool hears, through
//!   [`Pool::set_health`](crate::Pool::set_health): every pass while
//!   healthy (the status's last check stays current, and a passive ejection
//!   ends), the `fall`-th failure in a row (the backend is then
//!   [`Unhealthy`](crate::BackendState::Unhealthy)), every failure while
//!   unhealthy (the reason follows the cause) and the `rise`-th pass in a
//!   row. The failures before `fall` and the passes before `rise` are only
//!   counted: the event callback sees them ([`Verdict`]).
//! - [`HealthChecker`]: the settings, check and event callback
//!   ([`CheckEvent`], a ready log line). One async driver runs it:
//!   [`HealthChecker::spawn`] on a thread of its own with a
//!   single-threaded tokio runtime ([`CheckerHandle`]; a program with no
//!   runtime of its own needs nothing more), [`HealthChecker::spawn_tokio`]
//!   as a task of the caller's runtime ([`TokioCheckerHandle`]).
//!
//! Each round re-reads the pool's set, so backends added by
//! [`Pool::update`](crate::Pool::update) are checked from the next round and
//! removed ones are forgotten. The checker never touches the pick path:
//! picks only see the state it sets.

mod agent;
mod check;
mod checker;
mod config;
mod driver;
mod event;
mod http;
mod rise_fall;
mod round;

pub use agent::AgentPoll;
pub use check::{
    failure_from_io, Answer, Check, CheckFuture, CheckKind, HttpCheck, GRACE, MAX_AGENT_REPLY,
    MAX_BODY_TEXT, MAX_HTTP_REPLY,
};
pub use checker::HealthChecker;
pub use config::CheckConfig;
pub use driver::{CheckerHandle, TokioCheckerHandle};
pub use event::CheckEvent;
pub use rise_fall::{RiseFall, Verdict};
