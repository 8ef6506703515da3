//! What an active health check found: the reason a check gives the pool
//! (see [`Pool::set_health`](crate::Pool::set_health)).

use std::fmt;

/// The result of one health check (or of the rise/fall rule over several),
/// as [`Reason::HealthCheck`](crate::Reason::HealthCheck) carries it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CheckResult {
    /// The probe passed.
    Passed,
    /// The probe failed, and why.
    Failed(CheckFailure),
}

impl CheckResult {
    /// Whether the probe passed.
    pub fn passed(&self) -> bool {
        *self == CheckResult::Passed
    }
}

/// Why a health probe failed: the probe's own cause, so a status page says
/// "connection refused" rather than "down".
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CheckFailure {
    /// The connection was refused: nothing listens there.
    Refused,
    /// No route to the host (a firewall rejecting, a host gone).
    Unreachable,
    /// No answer in time (a firewall dropping, a host overloaded).
    TimedOut,
    /// Part of a reply came, but not all of it in time (a peer trickling
    /// its reply, or holding the connection without ending it).
    Incomplete,
    /// An HTTP probe got a status outside 2xx and 3xx.
    BadStatus(u16),
    /// The reply did not say what was expected (a missing body text, an
    /// agent reply that does not parse); the text says what it lacked.
    BadReply(String),
    /// This host ran out of something the probe needed (open files,
    /// buffer space, memory; the text says what): no verdict on the
    /// backend, whose rise/fall count stays as it was (see
    /// [`FailureKind::is_local_exhaustion`](crate::FailureKind::is_local_exhaustion)).
    LocalExhaustion(String),
    /// Anything else, described.
    Other(String),
}

impl fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckFailure::Refused => f.write_str("connection refused"),
            CheckFailure::Unreachable => f.write_str("host unreachable"),
            CheckFailure::TimedOut => f.write_str("timed out"),
            CheckFailure::Incomplete => f.write_str("no complete reply in time"),
            CheckFailure::BadStatus(status) => write!(f, "status {status}"),
            CheckFailure::BadReply(what) => write!(f, "bad reply: {what}"),
            CheckFailure::LocalExhaustion(what) => {
                write!(f, "not run, this host is out of resources: {what}")
            }
            CheckFailure::Other(what) => f.write_str(what),
        }
    }
}

impl fmt::Display for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckResult::Passed => f.write_str("health check passed"),
            CheckResult::Failed(why) => write!(f, "health check failed: {why}"),
        }
    }
}
