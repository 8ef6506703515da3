//! A `tower::Service` that balances calls over per-backend services with
//! any strategy, and learns from their outcomes (feature `tower`).
//!
//! ```
//! use pickwise::{BackendSpec, FailureKind, Pool};
//! use pickwise::strategy::LeastConnections;
//! use pickwise::tower::Balance;
//! use std::io;
//! use tower::{service_fn, Service, ServiceExt};
//!
//! // Each backend's own service: one answers, one refuses every connection.
//! let backend = |alive: bool| service_fn(move |request: String| async move {
//!     match alive {
//!         true => Ok(format!("answered {request}")),
//!         false => Err(io::Error::from(io::ErrorKind::ConnectionRefused)),
//!     }
//! });
//! let pool = Pool::new(LeastConnections::new(), vec![
//!     BackendSpec::new("up", backend(true)),
//!     BackendSpec::new("dead", backend(false)),
//! ])?;
//! let mut balance = Balance::new(pool);
//!
//! let answered = tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//!     let mut answered = 0;
//!     for _ in 0..20 {
//!         match balance.ready().await?.call("hi".to_owned()).await {
//!             Ok(_) => answered += 1,
//!             Err(e) => assert_eq!(FailureKind::from_error(&e), FailureKind::ConnectRefused),
//!         }
//!     }
//!     Ok::<_, Box<dyn std::error::Error>>(answered)
//! })?;
//! // The dead backend failed 5 times in a row, passive health ejected it,
//! // and the rest went to the live one.
//! let dead = balance.pool().status(&"dead".into()).unwrap();
//! assert_eq!((dead.failures, dead.ejections, answered), (5, 1, 15));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - [`Balance`] (in `service`): the service. A pool whose payload is each
//!   backend's service (cheap to clone: hyper-util's `Client`, a tonic
//!   `Channel`); each call picks a backend with the [`Context`](crate::types::Context)
//!   made from the request ([`MakeContext`]; empty by default), calls a
//!   clone of its service, and records the outcome when the response
//!   arrives. Its readiness is explained there.
//! - [`Classify`] (in `classify`): what a result says about the backend and
//!   how long the pick lives: [`ResultClassifier`] (any service),
//!   [`HttpClassifier`] (status codes; the pick held until the body ends
//!   through [`PickBody`], in `body`, holding the pick as a
//!   [`Ticket`](crate::Ticket)),
//!   [`classify_fn`].
//! - [`Error`] (in `error`): no backend, or the backend's error.
//! - [`discover`], [`discover_with`] and [`apply_change`] (in `discover`):
//!   membership driven by a `tower::discover::Discover` stream.
//! - [`ToOrigin`] (in `origin`): one backend's HTTP client, sending every
//!   request to that backend.
//!
//! Nothing here spawns a task or needs a particular runtime; the pick path
//! stays the pool's, free of I/O.

pub(crate) mod body;
mod classify;
mod context;
mod discover;
mod error;
mod future;
mod origin;
mod service;

pub use body::{EndJudge, PickBody};
pub use classify::{classify_fn, Classify, ClassifyFn, HttpClassifier, ResultClassifier};
pub use context::{ContextFn, MakeContext, NoContext};
pub use discover::{apply_change, discover, discover_with, DiscoverError};
pub use error::Error;
pub use future::ResponseFuture;
pub use origin::ToOrigin;
pub use service::Balance;
