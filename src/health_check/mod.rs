//! Active health checks (feature `health-check`; the tokio driver with
//! feature `tokio`): probe every backend of a pool on an interval, and take
//! a backend out after `fall` failed checks in a row, with the probe's own
//! cause as the reason ("health check failed: connection refused"), before
//! a user request reaches it; bring it back after `rise` passes.
//!
//! ```
//! use pickwise::health_check::{CheckConfig, HealthChecker, Probe};
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
//! let checker = HealthChecker::new(config, Probe::Tcp)?
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
//! - [`CheckConfig`]: interval (with jitter), timeout, rise, fall and how
//!   many probes run at once; HAProxy's `inter 2s rise 2 fall 3` by default.
//! - [`Probe`]: a TCP connect, an HTTP/1.1 `GET` ([`HttpProbe`]: 2xx or 3xx
//!   passes, optionally with a text in the body), or the backend's agent
//!   (its spec's `agent` address; the reply is applied with
//!   [`Pool::apply_agent_reply`](crate::Pool::apply_agent_reply) and a
//!   reply that does not parse, like a connection that fails, is a failed
//!   check). Each failure is a [`CheckFailure`](crate::health::CheckFailure) that
//!   names its cause: refused, unreachable, timed out, status 503, bad reply.
//! - [`RiseFall`]: the rule, per backend, as a pure state machine (usable
//!   on its own by a program with its own probes). A backend starts
//!   healthy. The pool hears, through
//!   [`Pool::set_health`](crate::Pool::set_health): every pass while
//!   healthy (the status's last check stays current, and a passive ejection
//!   ends), the `fall`-th failure in a row (the backend is then
//!   [`Unhealthy`](crate::BackendState::Unhealthy)), every failure while
//!   unhealthy (the reason follows the cause) and the `rise`-th pass in a
//!   row. The failures before `fall` and the passes before `rise` are only
//!   counted: the event callback sees them ([`Verdict`]).
//! - [`HealthChecker`]: the settings, probe and event callback
//!   ([`CheckEvent`], a ready log line); [`HealthChecker::spawn`] runs it on
//!   std threads ([`CheckerHandle`]), `HealthChecker::spawn_tokio` (feature
//!   `tokio`) as a tokio task (`TokioCheckerHandle`). Both share the rule,
//!   the membership following and the HTTP and agent framing; only the
//!   socket I/O and the waiting differ.
//!
//! Each round re-reads the pool's set, so backends added by
//! [`Pool::update`](crate::Pool::update) are checked from the next round and
//! removed ones are forgotten. The checker never touches the pick path:
//! picks only see the state it sets.

mod agent_reply;
mod checker;
mod config;
mod driver_std;
#[cfg(feature = "tokio")]
mod driver_tokio;
mod event;
mod http;
mod probe;
mod probe_std;
#[cfg(feature = "tokio")]
mod probe_tokio;
mod rise_fall;
mod round;

pub use checker::HealthChecker;
pub use config::CheckConfig;
pub use driver_std::CheckerHandle;
#[cfg(feature = "tokio")]
pub use driver_tokio::TokioCheckerHandle;
pub use event::CheckEvent;
pub use probe::{
    failure_from_io, HttpProbe, Probe, MAX_AGENT_REPLY, MAX_BODY_TEXT, MAX_HTTP_REPLY,
};
pub use rise_fall::{RiseFall, Verdict};
