//! Agent polling for the proxies: the library's [`AgentPoll`] run by its
//! health-check driver on a thread of its own (each backend's `agent=ADDR`
//! asked every `--agent-interval-ms`, its reply applied to the pool), and
//! what matters logged once: a capacity change (above all one to 0%,
//! which takes the backend out of traffic with no state change), an agent
//! that stops answering properly (once per kind of failure, however many
//! polls it lasts), and its recovery.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pickwise::agent::Capacity;
use pickwise::health::{CheckFailure, CheckResult};
use pickwise::health_check::{AgentPoll, CheckConfig, CheckEvent, CheckerHandle, HealthChecker};
use pickwise::BackendId;

use super::SharedPool;

/// Polls the agent of each backend of `pool` that has one, every `every`
/// (each poll bounded by `every` too, so a slow or trickling agent cannot
/// hold its poll), until the handle is dropped. `None` when the poller
/// cannot start (logged).
pub fn spawn_agent_pollers<B: Clone + Send + Sync + 'static>(
    pool: &SharedPool<B>,
    every: Duration,
) -> Option<CheckerHandle> {
    let config = CheckConfig {
        interval: every,
        timeout: every,
        jitter: 0.0,
        ..CheckConfig::default()
    };
    let log = Mutex::new(AgentLog::default());
    let poller = HealthChecker::new(config, AgentPoll)
        .map(|checker| {
            checker.on_event(move |event| {
                if let Ok(mut log) = log.lock() {
                    log.event(event, every);
                }
            })
        })
        .map_err(|e| e.to_string())
        .and_then(|checker| {
            checker
                .spawn(pool.clone(), |_| None)
                .map_err(|e| e.to_string())
        });
    match poller {
        Ok(handle) => Some(handle),
        Err(e) => {
            tracing::error!("cannot start the agent poller: {e}");
            None
        }
    }
}

/// What went wrong with a poll, by kind: a kind is logged when it starts,
/// not again while it lasts, whatever the details (the reply's text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Problem {
    /// Nothing came before the deadline (a silent agent).
    NoReply,
    /// Part of a reply came, not all of it (a trickling agent).
    Incomplete,
    /// A reply the agent protocol refuses (garbage, bad numbers).
    BadReply,
    /// Connecting or reading failed otherwise.
    Other,
}

impl Problem {
    fn of(failure: &CheckFailure) -> Problem {
        match failure {
            CheckFailure::TimedOut => Problem::NoReply,
            CheckFailure::Incomplete => Problem::Incomplete,
            CheckFailure::BadReply(_) => Problem::BadReply,
            _ => Problem::Other,
        }
    }
}

/// One backend's agent, as its last polls left it.
struct Watch {
    /// The failure going on, how many polls it has lasted and since when.
    problem: Option<(Problem, u64, Instant)>,
    /// The capacity last logged at info or above; the configured weight
    /// (100%) at start.
    capacity: Capacity,
}

impl Default for Watch {
    fn default() -> Self {
        Watch {
            problem: None,
            capacity: Capacity::Percent(100),
        }
    }
}

/// Every agent's watch, by backend.
#[derive(Default)]
struct AgentLog {
    watches: HashMap<BackendId, Watch>,
}

impl AgentLog {
    /// Logs what one poll changed.
    fn event(&mut self, event: &CheckEvent, every: Duration) {
        let watch = self.watches.entry(event.id.clone()).or_default();
        let about = format!("agent {} of {}", event.addr, event.id);
        match &event.result {
            CheckResult::Failed(failure) => watch.failed(&about, failure, every, &event.id),
            CheckResult::Passed => {
                if let Some((_, polls, _)) = watch.problem.take() {
                    tracing::info!("{about} answers again (after {polls} failed polls)");
                }
                if let Some(capacity) = event.report.as_ref().and_then(|r| r.capacity) {
                    watch.capacity_reported(&about, capacity, &event.id);
                }
            }
        }
    }
}

impl Watch {
    /// Logs a failed poll if its kind differs from the one going on, and
    /// the end of the agent's last capacity report once the pool has let it
    /// expire (the proxies' pools keep the default expiry).
    fn failed(&mut self, about: &str, failure: &CheckFailure, every: Duration, id: &BackendId) {
        let problem = Problem::of(failure);
        let ms = every.as_millis();
        let describe = match failure {
            CheckFailure::TimedOut => format!("no reply within {ms} ms"),
            CheckFailure::Incomplete => format!("no complete reply within {ms} ms"),
            other => other.to_string(),
        };
        let since = match &mut self.problem {
            Some((kind, polls, since)) if *kind == problem => {
                *polls += 1;
                *since
            }
            Some((_, _, since)) => {
                let since = *since;
                tracing::warn!("{about}: {describe}");
                self.problem = Some((problem, 1, since));
                since
            }
            None => {
                tracing::warn!("{about}: {describe} (logged once until it changes)");
                self.problem = Some((problem, 1, Instant::now()));
                return;
            }
        };
        let configured = Capacity::Percent(100);
        if self.capacity != configured && since.elapsed() >= pickwise::agent::DEFAULT_EXPIRY {
            tracing::info!(
                "{about}: its last report ({}) expired; {id} is back at its configured weight",
                describe_capacity(self.capacity)
            );
            self.capacity = configured;
        }
    }

    /// Logs a reported capacity that differs from the last one logged: at
    /// warn when it takes the backend out of traffic, at info when it is a
    /// change of note, at debug for the small moves of a load report.
    fn capacity_reported(&mut self, about: &str, capacity: Capacity, id: &BackendId) {
        let old = self.capacity;
        if capacity == old {
            return;
        }
        let (old_text, new_text) = (describe_capacity(old), describe_capacity(capacity));
        let zero = |c: Capacity| matches!(c, Capacity::Percent(0) | Capacity::Weight(0));
        if zero(capacity) {
            self.capacity = capacity;
            tracing::warn!("{about}: capacity {old_text} -> {new_text}: {id} gets no traffic");
        } else if zero(old) || notable(old, capacity) {
            self.capacity = capacity;
            tracing::info!("{about}: capacity {old_text} -> {new_text}");
        } else {
            // A load report moving by a few percent: kept out of the log at
            // info; the next change is measured from the last one logged
            // there, so a slow drift still shows once it adds up.
            tracing::debug!("{about}: capacity {old_text} -> {new_text}");
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
