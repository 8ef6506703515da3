//! What a checker tells a program after each check: [`CheckEvent`].

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::agent::AgentReport;
use crate::health_check::rise_fall::Verdict;
use crate::types::{BackendId, CheckResult};

/// One check's result and what the rise/fall rule made of it, for a
/// program's log or metrics (see
/// [`HealthChecker::on_event`](super::HealthChecker::on_event)). Its
/// `Display` is a log line:
///
/// ```
/// use pickwise::health_check::{CheckEvent, Verdict};
/// use pickwise::BackendId;
/// use pickwise::health::{CheckFailure, CheckResult};
///
/// let event = CheckEvent {
///     id: BackendId::new("web1"),
///     addr: "10.0.0.1:80".parse()?,
///     result: CheckResult::Failed(CheckFailure::Refused),
///     verdict: Verdict::Failing { count: 1, fall: 3 },
///     report: None,
/// };
/// assert_eq!(
///     event.to_string(),
///     "backend web1 (10.0.0.1:80): health check failed: connection refused (1 of 3)"
/// );
/// assert!(!event.applied());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckEvent {
    /// The backend.
    pub id: BackendId,
    /// The address checked (the agent's, for an agent check).
    pub addr: SocketAddr,
    /// What the check found.
    pub result: CheckResult,
    /// What the rise/fall rule made of it.
    pub verdict: Verdict,
    /// The agent's report, as applied to the pool, when an agent answered
    /// (an agent check or poll).
    pub report: Option<AgentReport>,
}

impl CheckEvent {
    /// Whether the result went to the pool
    /// ([`Pool::set_health`](crate::Pool::set_health)); see [`Verdict`].
    pub fn applied(&self) -> bool {
        self.verdict.applies()
    }
}

impl fmt::Display for CheckEvent {
    /// `backend web1 (10.0.0.1:80): health check failed: timed out (1 of
    /// 3)`; for a result not judged (an agent poll), `backend web1 (agent
    /// 10.0.0.1:9000): agent poll failed: timed out`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.verdict, &self.result) {
            (Verdict::NotJudged, CheckResult::Passed) => {
                write!(
                    f,
                    "backend {} (agent {}): agent poll passed",
                    self.id, self.addr
                )
            }
            (Verdict::NotJudged, CheckResult::Failed(why)) => write!(
                f,
                "backend {} (agent {}): agent poll failed: {why}",
                self.id, self.addr
            ),
            (Verdict::Healthy, result) => {
                write!(f, "backend {} ({}): {result}", self.id, self.addr)
            }
            (verdict, result) => {
                write!(f, "backend {} ({}): {result} {verdict}", self.id, self.addr)
            }
        }
    }
}

/// The callback a checker calls with each event.
pub(crate) type EventFn = Arc<dyn Fn(&CheckEvent) + Send + Sync + 'static>;
