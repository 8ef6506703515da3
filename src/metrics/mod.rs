//! Prometheus metrics of a pool (feature `prometheus`): every backend's
//! counters and state and every tier's share, read from
//! [`Pool::backends`](crate::Pool::backends) and
//! [`Pool::tiers`](crate::Pool::tiers) at scrape time, in the Prometheus
//! text format or through a prometheus-client
//! [`Registry`](prometheus_client::registry::Registry).
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use pickwise::{BackendSpec, Balancer, Context, Outcome, Pool};
//! use pickwise::metrics::{self, PoolMetrics};
//! use pickwise::strategy::LeastConnections;
//! use prometheus_client::registry::Registry;
//!
//! let pool = Arc::new(Pool::new(LeastConnections::new(), vec![
//!     BackendSpec::new("w1", "127.0.0.1:8001"),
//!     BackendSpec::new("w2", "127.0.0.1:8002").max_conns(10),
//! ])?);
//! let mut pick = pool.pick(&Context::new())?;
//! pick.record(Outcome::success(Duration::from_millis(20)));
//! drop(pick);
//!
//! // One call renders the pool (a `/metrics` endpoint serves this with
//! // `metrics::CONTENT_TYPE`).
//! let text = metrics::render(&*pool);
//! assert!(text.contains("# TYPE pickwise_backend_successes_total counter\n"));
//! assert!(text.contains("pickwise_backend_successes_total{backend=\"w1\"} 1\n"));
//! assert!(text.contains("pickwise_backend_max_conns{backend=\"w2\"} 10\n"));
//! assert!(text.contains("pickwise_backend_state{backend=\"w1\",state=\"up\"} 1\n"));
//! assert!(text.contains("pickwise_tier_share{priority=\"0\"} 1.0\n"));
//!
//! // Or join the program's own metrics: the collector reads the pool at
//! // every scrape.
//! let mut registry = Registry::default();
//! registry.register_collector(Box::new(PoolMetrics::new(pool.clone())));
//! let mut scraped = String::new();
//! prometheus_client::encoding::text::encode(&mut scraped, &registry)?;
//! assert!(scraped.contains("pickwise_backend_picks_total{backend=\"w1\"} 1\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The series
//!
//! Per backend, labelled `backend` (its id); counters end in `_total`:
//!
//! | name | type | from [`BackendStatus`](crate::BackendStatus) |
//! |---|---|---|
//! | `pickwise_backend_picks_total` | counter | `picks` (absent when the pool does not count in flight) |
//! | `pickwise_backend_successes_total` | counter | `successes` |
//! | `pickwise_backend_server_errors_total` | counter | `server_errors` |
//! | `pickwise_backend_failures_total` | counter | `failures` |
//! | `pickwise_backend_client_faults_total` | counter | `client_faults` |
//! | `pickwise_backend_ejections_total` | counter | `ejections` |
//! | `pickwise_backend_in_flight` | gauge | `in_flight` (absent when not counted) |
//! | `pickwise_backend_max_conns` | gauge | `max_conns` (absent without a cap) |
//! | `pickwise_backend_consecutive_failures` | gauge | `consecutive_failures` |
//! | `pickwise_backend_latency_seconds` | gauge | `latency`, the EWMA (absent before the first success) |
//! | `pickwise_backend_error_rate` | gauge | `error_rate`, 0 to 1 |
//! | `pickwise_backend_weight` | gauge | `weight`, as configured |
//! | `pickwise_backend_effective_weight` | gauge | `effective_weight` in weight units (agent capacity, slow start) |
//! | `pickwise_backend_priority` | gauge | `priority`, its tier |
//! | `pickwise_backend_state` | gauge | one-hot: a series per state, labelled `state` (`up`, `draining`, `down`, `unhealthy`, `ejected`), 1 for the state now and 0 for the others |
//!
//! The one-hot state keeps every series present whatever happens, so
//! `pickwise_backend_state{state="ejected"} == 1` is an alert and
//! `sum by (state) (pickwise_backend_state)` counts backends per state.
//!
//! Per tier, labelled `priority` (0 is the best tier), from
//! [`TierStatus`](crate::TierStatus):
//!
//! | name | type | meaning |
//! |---|---|---|
//! | `pickwise_tier_share` | gauge | its share of the traffic, 0 to 1 |
//! | `pickwise_tier_available` | gauge | its backends available now |
//! | `pickwise_tier_members` | gauge | its backends |
//! | `pickwise_tier_panic` | gauge | 1 while it is in panic |
//!
//! Several pools in one program: one [`PoolMetrics`] holds them all, each
//! under a `pool` label (`PoolMetrics::default().with("api", api).with("db",
//! db)`), so every family is written once.
//!
//! Files: [`source`](StatusSource) (what is read), `families` (the series),
//! [`collector`](PoolMetrics) (the prometheus-client collector), `render`
//! (one call).

mod collector;
mod families;
mod render;
mod source;

pub use collector::PoolMetrics;
pub use render::{render, render_labelled, CONTENT_TYPE};
pub use source::StatusSource;
