//! The checker and agents: [`AgentPoll`] (HAProxy's `agent-check`, a
//! check whose replies are applied and whose results judge no health) and
//! the framing of an agent's reply, which [`CheckKind::Agent`] reads too.
//! Parsing the reply is [`crate::agent`]'s; its capacity's arithmetic and
//! expiry run inside the pool.
//!
//! [`CheckKind::Agent`]: super::CheckKind::Agent

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

use crate::health_check::check::{ask_agent, Check, CheckFuture, MAX_AGENT_REPLY};

/// Asks each backend's agent (its spec's `agent` address) for its report
/// every round and applies it
/// ([`Pool::apply_agent_reply`](crate::Pool::apply_agent_reply)): capacity,
/// `maxconn`, drain, down or up. An agent that does not answer, or answers
/// what the protocol refuses, is reported as an event and changes nothing:
/// its backend keeps its health (judged by a health checker beside it, or
/// passive health) and its last capacity holds until the pool's
/// [`agent_expiry`](crate::PoolBuilder::agent_expiry), then falls back to
/// the configured weight. A backend without an agent is not polled.
///
/// Run it as a [`HealthChecker`](crate::health_check::HealthChecker)
/// beside the pool's health checker; `interval` is the polling period and
/// `timeout` bounds each poll (a trickling agent cannot hold its poll past
/// it):
///
/// ```
/// use pickwise::health_check::{AgentPoll, CheckConfig, HealthChecker};
/// use pickwise::strategy::RoundRobin;
/// use pickwise::{BackendSpec, Pool};
/// use std::net::SocketAddr;
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let agent: SocketAddr = "127.0.0.1:9001".parse()?;
/// let pool = Arc::new(Pool::new(RoundRobin::new(), vec![
///     BackendSpec::new("web1", "127.0.0.1:8001".parse::<SocketAddr>()?).agent(agent),
/// ])?);
/// let every = Duration::from_millis(500);
/// let config = CheckConfig { interval: every, timeout: every, ..CheckConfig::default() };
/// let poller = HealthChecker::new(config, AgentPoll)?
///     .on_event(|event| {
///         if let Some(report) = &event.report {
///             eprintln!("{}: {report:?}", event.id);
///         } else if !event.result.passed() {
///             eprintln!("{event}"); // backend web1 (agent 127.0.0.1:9001): agent poll failed: connection refused
///         }
///     })
///     .spawn(Arc::clone(&pool), |_| None)?; // agents' addresses come from the specs
/// poller.stop();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgentPoll;

impl fmt::Display for AgentPoll {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("agent poll")
    }
}

impl Check for AgentPoll {
    fn check(&self, addr: SocketAddr, timeout: Duration) -> CheckFuture<'_> {
        Box::pin(ask_agent(addr, Instant::now() + timeout))
    }

    fn checks_agent(&self) -> bool {
        true
    }

    fn judges_health(&self) -> bool {
        false
    }
}

/// The reply line once it is complete, without its line end; `None` while
/// more may come. `closed`: the agent closed the connection.
pub(crate) fn agent_line(read: &[u8], closed: bool) -> Option<Vec<u8>> {
    let read = &read[..read.len().min(MAX_AGENT_REPLY)];
    let line = match read.iter().position(|&b| b == b'\n') {
        Some(end) => &read[..end],
        None if closed || read.len() >= MAX_AGENT_REPLY => read,
        None => return None,
    };
    Some(line.strip_suffix(b"\r").unwrap_or(line).to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_ends_at_a_newline_the_close_or_the_limit() {
        assert_eq!(
            agent_line(b"up 50%\r\nmore", false),
            Some(b"up 50%".to_vec())
        );
        assert_eq!(agent_line(b"drain", false), None);
        assert_eq!(agent_line(b"drain", true), Some(b"drain".to_vec()));
        assert_eq!(agent_line(b"", true), Some(Vec::new()));
        let long = vec![b'x'; MAX_AGENT_REPLY + 5];
        assert_eq!(
            agent_line(&long, false).map(|l| l.len()),
            Some(MAX_AGENT_REPLY)
        );
    }
}
