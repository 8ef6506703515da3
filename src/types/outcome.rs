//! What the caller learned from a backend, recorded on the pick.

use std::fmt;
use std::time::Duration;

/// The result of one request to a backend, recorded with [`Pick::record`]
/// when the response headers arrive (or the attempt fails).
///
/// [`Pick::record`]: crate::Pick::record
///
/// ```
/// use pickwise::{FailureKind, Outcome};
/// use std::time::Duration;
///
/// let ok = Outcome::success(Duration::from_millis(12));
/// let refused = Outcome::failure(FailureKind::ConnectRefused, Duration::from_micros(80));
/// assert!(ok.is_success() && !refused.is_success());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// What happened.
    pub kind: OutcomeKind,
    /// Time from sending the request to the response headers (or the failure).
    pub latency: Duration,
}

impl Outcome {
    /// The backend answered normally.
    pub fn success(latency: Duration) -> Self {
        Outcome {
            kind: OutcomeKind::Success,
            latency,
        }
    }

    /// The backend answered with an application error (e.g. HTTP 500): it is
    /// alive, so passive health does not count it, but error-aware strategies do.
    pub fn server_error(latency: Duration) -> Self {
        Outcome {
            kind: OutcomeKind::ServerError,
            latency,
        }
    }

    /// The attempt failed in a way that says the backend is unhealthy.
    pub fn failure(kind: FailureKind, latency: Duration) -> Self {
        Outcome {
            kind: OutcomeKind::Failure(kind),
            latency,
        }
    }

    /// Whether the backend answered normally.
    pub fn is_success(&self) -> bool {
        self.kind == OutcomeKind::Success
    }
}

/// The broad class of an [`Outcome`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeKind {
    /// A normal answer.
    Success,
    /// An application error from a live backend.
    ServerError,
    /// A failure that counts towards passive-health ejection.
    Failure(FailureKind),
}

/// Failures that say a backend is unhealthy, named so that logs say exactly
/// what went wrong (a firewall dropping packets looks like `ConnectTimeout`,
/// a stopped process like `ConnectRefused`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// The connection was refused: nothing listens there.
    ConnectRefused,
    /// The connection did not complete in time: host down or packets dropped.
    ConnectTimeout,
    /// No route to the host or network.
    Unreachable,
    /// The connection was reset or closed before a response.
    Reset,
    /// The backend accepted the request but did not answer in time.
    Timeout,
    /// The backend answered with a gateway error (502, 503, 504).
    GatewayError,
    /// Any other transport failure.
    Other,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureKind::ConnectRefused => "connection refused",
            FailureKind::ConnectTimeout => "connect timed out",
            FailureKind::Unreachable => "host unreachable",
            FailureKind::Reset => "connection reset",
            FailureKind::Timeout => "response timed out",
            FailureKind::GatewayError => "gateway error",
            FailureKind::Other => "transport failure",
        })
    }
}

impl FailureKind {
    /// Classifies an I/O error from connecting to or talking with a backend.
    pub fn from_io(err: &std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        match err.kind() {
            K::ConnectionRefused => FailureKind::ConnectRefused,
            K::TimedOut | K::WouldBlock => FailureKind::ConnectTimeout,
            K::HostUnreachable | K::NetworkUnreachable | K::AddrNotAvailable => {
                FailureKind::Unreachable
            }
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                FailureKind::Reset
            }
            _ => FailureKind::Other,
        }
    }
}
