//! DNS discovery (feature `dns`): a pool's backends from A/AAAA and SRV
//! records, followed as they change.
//!
//! ```
//! use pickwise::dns::{DnsConfig, DnsDiscovery, DnsEvent};
//! use pickwise::strategy::LeastConnections;
//! use pickwise::{Balancer, Context, Pool};
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! // Names to follow, with the backend spec's options: `host:PORT` (its A
//! // and AAAA records, every address a backend on PORT) or an SRV name.
//! // An IP literal resolves to itself, so this example asks no server.
//! let config = DnsConfig::new(["127.0.0.1:8080,weight=2,max_conns=100"])?
//!     .resolver("127.0.0.1:53".parse()?) // else the system's configuration
//!     .ttl_range(Duration::from_secs(1), Duration::from_secs(300))?
//!     .observe(|event: &DnsEvent| {
//!         if let DnsEvent::Failed { name, error, kept } = event {
//!             eprintln!("{name}: {error}; keeping its {kept} backends");
//!         }
//!     });
//! let discovery = DnsDiscovery::new(config)?;
//!
//! tokio::runtime::Runtime::new()?.block_on(async {
//!     // A first set to build the pool with (a pool may also start empty).
//!     let first = discovery.resolve_once().await?;
//!     let pool = Arc::new(Pool::new(LeastConnections::new(), first)?);
//!     // Then follow the records, until the handle is dropped.
//!     let handle = discovery.spawn(Arc::clone(&pool))?;
//!
//!     let pick = pool.pick(&Context::new())?;
//!     assert_eq!(pick.id().as_str(), "127.0.0.1:8080");
//!     assert_eq!(pool.specs()[0].max_conns, Some(100));
//!     handle.stop();
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! With real names, and a payload of your own instead of the address:
//!
//! ```no_run
//! # use pickwise::dns::{DnsConfig, DnsDiscovery};
//! # use pickwise::{Pool, strategy::P2c};
//! # use std::sync::Arc;
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = DnsConfig::new(["web.example.com:8080", "_api._tcp.example.com,max_conns=64"])?
//!     .payload(|addr, _name| format!("http://{addr}"));
//! let pool = Arc::new(Pool::new(P2c::new(), Vec::new())?); // empty until the first answer
//! let _discovery = DnsDiscovery::new(config)?.spawn(Arc::clone(&pool))?;
//! # Ok(()) }
//! ```
//!
//! # What it does
//!
//! - `host:PORT`: every A and AAAA address is a backend whose id is
//!   `ip:port`, with the weight, priority and cap written after the name.
//! - An SRV name (`_service._proto.domain`, told apart by its leading `_`):
//!   each record's target is resolved and every address is a backend on
//!   the record's port. The distinct SRV priorities, ascending, become the
//!   tiers 0, 1, 2... ([`BackendSpec::priority`](crate::BackendSpec::priority),
//!   at most [`MAX_PRIORITY`](crate::spec::MAX_PRIORITY): lower priorities
//!   share the last tier); the SRV weight is the backend's weight, except
//!   that a weight of 0 (RFC 2782's "rarely") becomes 1, the smallest the
//!   pool takes. A target of `.` (no service) is ignored.
//! - Several names are followed at once and merged into one set.
//! - Each name is looked up again at its records' TTL, clamped to
//!   [`DnsConfig::ttl_range`] (by default 1 s to 300 s); each lookup asks
//!   the server afresh. When the merged set changes, it goes to the pool as
//!   a [`discovery::Source`](crate::discovery::Source)'s whole set
//!   ([`sync`](crate::discovery::Source::sync)): backends that stay keep
//!   their in-flight counts, stats, state and payload.
//! - [`DnsDiscovery::spawn`] owns the pool's whole set (an exclusive
//!   source); [`DnsDiscovery::spawn_shared`] shares it with backends from
//!   elsewhere (fixed addresses, an operator's, another source's) and adds
//!   and removes only its own (a shared source).
//! - A failed lookup (NXDOMAIN, SERVFAIL, no records, timeout) keeps that
//!   name's last good backends and is retried after the minimum interval;
//!   an SRV name whose target fails fails whole. The first lookup failing
//!   leaves the pool as it was (empty, if built empty).
//! - The library logs nothing: [`DnsEvent`]s reach the [`DnsObserver`]s
//!   given to [`DnsConfig::observe`].
//!
//! Files: `target.rs` (names and their options), `config.rs`, `event.rs`,
//! `error.rs`, `lookup.rs` (one name's lookup, via hickory-resolver),
//! `discovery.rs` (the one-shot resolution and the task).

mod config;
mod discovery;
mod error;
mod event;
mod lookup;
mod target;

pub use config::{
    DnsConfig, DEFAULT_ATTEMPTS, DEFAULT_MAX_INTERVAL, DEFAULT_MIN_INTERVAL, DEFAULT_TIMEOUT,
};
pub use discovery::{DiscoveryHandle, DnsDiscovery};
pub use error::{DnsError, DnsErrorKind};
pub use event::{DnsEvent, DnsObserver};
pub use target::{DnsName, DnsTarget};
