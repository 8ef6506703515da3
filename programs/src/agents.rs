//! Agent polling for the proxies: each backend's agent (`agent=ADDR`) asked
//! on a thread of its own, its reply applied to the pool, and what matters
//! logged once: a capacity change (above all one to 0%, which takes the
//! backend out of traffic with no state change), an agent that stops
//! answering properly (once per kind of failure, however many polls it
//! lasts), and its recovery.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use pickwise::agent::{AgentError, Capacity};
use pickwise::strategy::WEIGHT_UNIT;
use pickwise::BackendId;

use super::SharedPool;

/// Polls each backend's agent on a thread of its own and applies the replies.
/// Plain threads work under any runtime, and agents answer in microseconds.
/// Each poll has `every` as its deadline for the whole reply
/// ([`pickwise::agent::query`]), so a slow or trickling agent cannot hold its
/// poller.
pub fn spawn_agent_pollers<B: Send + Sync + 'static>(
    pool: &SharedPool<B>,
    backends: &[pickwise::BackendSpec<SocketAddr>],
    every: Duration,
) {
    for backend in backends {
        let Some(agent) = backend.agent else { continue };
        let mut poller = Poller::new(pool.clone(), backend.id.clone(), agent);
        let spawned = std::thread::Builder::new()
            .name(format!("agent {agent}"))
            .spawn(move || loop {
                poller.poll(every);
                std::thread::sleep(every);
            });
        if let Err(e) = spawned {
            tracing::error!(
                "agent {agent} of {}: cannot start its poller: {e}",
                backend.id
            );
        }
    }
}

/// What went wrong with a poll, by kind: a kind is logged when it starts,
/// not again while it lasts, whatever the details (the reply's text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Problem {
    /// No complete reply before the deadline (silent or trickling agent).
    NoReply,
    /// Connecting or reading failed otherwise, of this kind.
    Io(io::ErrorKind),
    /// A reply the agent protocol refuses (garbage, bad numbers).
    BadReply,
    /// The pool has no backend of this id any more.
    UnknownBackend,
}

/// One backend's agent and what its poller last saw.
struct Poller<B> {
    pool: SharedPool<B>,
    id: BackendId,
    agent: SocketAddr,
    /// The failure going on, how many polls it has lasted and since when.
    problem: Option<(Problem, u64, Instant)>,
    /// The capacity last logged at info or above; the configured weight
    /// (100%) at start.
    capacity: Capacity,
}

impl<B: Send + Sync + 'static> Poller<B> {
    fn new(pool: SharedPool<B>, id: BackendId, agent: SocketAddr) -> Self {
        Poller {
            pool,
            id,
            agent,
            problem: None,
            capacity: Capacity::Percent(100),
        }
    }

    /// Asks the agent once, applies its reply and logs what changed; state
    /// changes the reply causes reach the pool's observers (and so the log)
    /// with the agent's words as reason.
    fn poll(&mut self, timeout: Duration) {
        let (agent, id) = (self.agent, &self.id);
        let reply = match pickwise::agent::query(agent, timeout) {
            Ok(reply) => reply,
            Err(e) => {
                let problem = match e.kind() {
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Problem::NoReply,
                    kind => Problem::Io(kind),
                };
                return self.failed(problem, || e.to_string());
            }
        };
        let before = self.weight();
        let report = match self.pool.apply_agent_reply(id, reply.as_bytes()) {
            Ok(report) => report,
            Err(e) => {
                let problem = match e {
                    AgentError::UnknownBackend(_) => Problem::UnknownBackend,
                    _ => Problem::BadReply,
                };
                return self.failed(problem, || format!("reply `{}`: {e}", reply.trim()));
            }
        };
        if let Some((_, polls, _)) = self.problem.take() {
            tracing::info!("agent {agent} of {id} answers again (after {polls} failed polls)");
        }
        if let Some(capacity) = report.capacity {
            self.capacity_reported(capacity, before);
        }
    }

    /// Logs a failed poll if its kind differs from the one going on, and
    /// the end of the agent's last capacity report once the pool has let it
    /// expire (the pollers' pools keep the default expiry).
    fn failed(&mut self, problem: Problem, describe: impl FnOnce() -> String) {
        let (agent, id) = (self.agent, &self.id);
        let since = match &mut self.problem {
            Some((kind, polls, since)) if *kind == problem => {
                *polls += 1;
                *since
            }
            Some((_, _, since)) => {
                let since = *since;
                tracing::warn!("agent {agent} of {id}: {}", describe());
                self.problem = Some((problem, 1, since));
                since
            }
            None => {
                tracing::warn!(
                    "agent {agent} of {id}: {} (logged once until it changes)",
                    describe()
                );
                self.problem = Some((problem, 1, Instant::now()));
                return;
            }
        };
        let configured = Capacity::Percent(100);
        if self.capacity != configured && since.elapsed() >= pickwise::agent::DEFAULT_EXPIRY {
            tracing::info!(
                "agent {agent} of {id}: its last report ({}) expired; {id} is back at its \
                 configured weight",
                describe_capacity(self.capacity)
            );
            self.capacity = configured;
        }
    }

    /// The backend's effective weight now, in weight units.
    fn weight(&self) -> Option<f64> {
        let status = self.pool.status(&self.id)?;
        Some(status.effective_weight as f64 / WEIGHT_UNIT as f64)
    }

    /// Logs a reported capacity that differs from the last one logged: at
    /// warn when it takes the backend out of traffic, at info when it is a
    /// change of note, at debug for the small moves of a load report.
    fn capacity_reported(&mut self, capacity: Capacity, before: Option<f64>) {
        let old = self.capacity;
        if capacity == old {
            return;
        }
        let (agent, id) = (self.agent, &self.id);
        let (old_text, new_text) = (describe_capacity(old), describe_capacity(capacity));
        let weights = match (before, self.weight()) {
            (Some(before), Some(after)) => format!(" (weight {before:.2} -> {after:.2})"),
            _ => String::new(),
        };
        let zero = |c: Capacity| matches!(c, Capacity::Percent(0) | Capacity::Weight(0));
        if zero(capacity) {
            self.capacity = capacity;
            tracing::warn!(
                "agent {agent} of {id}: capacity {old_text} -> {new_text}{weights}: \
                 {id} gets no traffic"
            );
        } else if zero(old) || notable(old, capacity) {
            self.capacity = capacity;
            tracing::info!("agent {agent} of {id}: capacity {old_text} -> {new_text}{weights}");
        } else {
            // A load report moving by a few percent: kept out of the log at
            // info; the next change is measured from the last one logged
            // there, so a slow drift still shows once it adds up.
            tracing::debug!("agent {agent} of {id}: capacity {old_text} -> {new_text}{weights}");
        }
    }
}

/// `75%` or `weight 3`.
fn describe_capacity(capacity: Capacity) -> String {
    match capacity {
        Capacity::Percent(p) => format!("{p}%"),
        Capacity::Weight(w) => format!("weight {w}"),
    }
}

/// A change worth a line at info: ten points of percentage or more, any
/// change of absolute weight, or a switch between the two.
fn notable(old: Capacity, new: Capacity) -> bool {
    match (old, new) {
        (Capacity::Percent(a), Capacity::Percent(b)) => a.abs_diff(b) >= 10,
        _ => true,
    }
}
