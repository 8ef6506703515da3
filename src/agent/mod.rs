//! Agents: the one-line reports a small agent on each backend sends about
//! itself (HAProxy's agent-check words), parsed and validated here
//! ([`AgentReport`]), applied to the backend's effective weight and admin
//! state by [`Pool::apply_agent_reply`](crate::Pool::apply_agent_reply),
//! and polled by the health checker's driver (feature `health-check`:
//! `health_check::AgentPoll`, HAProxy's `agent-check`, on a thread of its
//! own or as a tokio task).
//! A capacity report expires after the pool's
//! [`agent_expiry`](crate::PoolBuilder::agent_expiry) unless renewed; the
//! weight arithmetic and the expiry run inside the pool, checked from the
//! pick path with no timer.
//!
//! ```
//! use pickwise::agent::{AgentReport, Capacity};
//! use pickwise::AdminState;
//!
//! let report: AgentReport = "75%,maxconn:30,maint".parse()?;
//! assert_eq!(report.capacity, Some(Capacity::Percent(75)));
//! assert_eq!(report.maxconn, Some(30));
//! assert_eq!(report.state.as_ref().map(|s| s.admin), Some(AdminState::Down));
//! assert!("-5%".parse::<AgentReport>().is_err());
//! # Ok::<(), pickwise::agent::AgentError>(())
//! ```
//!
//! Probes, the agents' fast cousin read by [`Prequal`](crate::strategy::Prequal),
//! are the strategy's own: [`ProbeReply`](crate::strategy::ProbeReply).

mod reply;

pub use reply::{AgentError, AgentReport, AgentState, Capacity, MAX_PERCENT};

use std::time::Duration;

/// How long an agent's capacity report holds by default: five missed polls
/// at HAProxy's default 2 s agent interval. Long enough to ride out a lost
/// reply or two, short enough that a dead agent's last word does not rule.
/// Set per pool with [`PoolBuilder::agent_expiry`](crate::PoolBuilder::agent_expiry).
pub const DEFAULT_EXPIRY: Duration = Duration::from_secs(10);
