//! What the caller learned from a backend, recorded on the pick.

use std::error::Error;
use std::fmt;
use std::io;
use std::time::Duration;

/// The result of one request to a backend, recorded with [`Pick::record`]
/// when the response headers arrive (or the attempt fails). A failure found
/// later, in the body, replaces it: [`Pick::record_late_failure`].
///
/// [`Pick::record`]: crate::Pick::record
/// [`Pick::record_late_failure`]: crate::Pick::record_late_failure
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

    /// The attempt failed because of the client, not the backend: it sent a
    /// malformed body, aborted its upload, or went away. Counted apart (the
    /// status's `client_faults`); it never counts for or against the backend:
    /// no failure, no ejection, no error rate, no latency, no outlier
    /// detection, and the failures in a row stay as they were.
    pub fn client_fault(latency: Duration) -> Self {
        Outcome {
            kind: OutcomeKind::ClientFault,
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
    /// A failure the client caused; says nothing about the backend.
    ClientFault,
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
    /// The backend answered with bytes that are no valid response (an HTTP
    /// client's parse error): a wrong port, a crashed or confused server.
    InvalidResponse,
    /// The response body ended before its end: the connection closed or was
    /// reset mid-body.
    BodyCut,
    /// The response body stopped arriving for longer than the caller waits.
    BodyStalled,
    /// The try was still unanswered when a try sent *after* it, to another
    /// backend (a hedge), answered; it was cancelled. One alone says little:
    /// a healthy backend loses a few percent of hedge races. So it counts
    /// only in the failures in a row (and as a latency of at least that
    /// long): no failure count, no error rate, no outlier interval. An
    /// unbroken run of them, with no answer of any kind in between, is a
    /// backend that accepts requests and stays silent (a blackhole, a
    /// firewall dropping packets), and ejects it at the threshold of
    /// failures in a row, like other failures. A hedge beaten by the try it
    /// backed up is no such evidence: drop its pick unrecorded.
    ///
    /// ```
    /// use pickwise::health::HealthConfig;
    /// use pickwise::strategy::RoundRobin;
    /// use pickwise::{BackendId, BackendSpec, BackendState, Balancer, Context, FailureKind, Outcome, Pool};
    /// use std::time::Duration;
    ///
    /// let pool = Pool::builder(RoundRobin::new())
    ///     .health(HealthConfig { consecutive_failures: 3, ..HealthConfig::default() })
    ///     .build([BackendSpec::new("silent", ()), BackendSpec::new("fine", ())])?;
    /// let fine = [BackendId::new("fine")];
    /// let outpaced = Outcome::failure(FailureKind::Outpaced, Duration::from_millis(40));
    /// for _ in 0..3 {
    ///     pool.pick(&Context::new().exclude(&fine))?.record(outpaced);
    /// }
    /// let silent = pool.status(&BackendId::new("silent")).unwrap();
    /// assert_eq!(silent.state, BackendState::Ejected);
    /// assert_eq!(silent.failures, 0, "counted only in a row");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    Outpaced,
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
            FailureKind::InvalidResponse => "invalid response",
            FailureKind::BodyCut => "response body cut short",
            FailureKind::BodyStalled => "response body stalled",
            FailureKind::Outpaced => "no answer while a later hedge to another backend answered",
            FailureKind::Other => "transport failure",
        })
    }
}

impl FailureKind {
    /// Classifies an I/O error from connecting to or talking with a backend.
    pub fn from_io(err: &io::Error) -> Self {
        use io::ErrorKind as K;
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

    /// Whether an I/O error says this host ran out of something rather than
    /// the backend failing: open files (`EMFILE`, `ENFILE`), socket buffer
    /// space (`ENOBUFS`) or memory (`ENOMEM`). Such an error is no outcome
    /// of the backend's: callers drop the pick without recording it (so
    /// passive health does not eject a healthy backend because the proxy is
    /// out of descriptors, as HAProxy does not) and say what ran out.
    ///
    /// ```
    /// use pickwise::FailureKind;
    /// use std::io;
    ///
    /// # #[cfg(target_os = "linux")] {
    /// let emfile = io::Error::from_raw_os_error(24); // EMFILE on Linux
    /// assert!(FailureKind::is_local_exhaustion(&emfile));
    /// # }
    /// let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
    /// assert!(!FailureKind::is_local_exhaustion(&refused));
    /// ```
    pub fn is_local_exhaustion(err: &io::Error) -> bool {
        if err.kind() == io::ErrorKind::OutOfMemory {
            return true;
        }
        // errno values: the same on Linux, the BSDs and macOS for ENOMEM,
        // ENFILE and EMFILE; ENOBUFS differs.
        const ENOMEM: i32 = 12;
        const ENFILE: i32 = 23;
        const EMFILE: i32 = 24;
        #[cfg(target_os = "linux")]
        const ENOBUFS: i32 = 105;
        #[cfg(not(target_os = "linux"))]
        const ENOBUFS: i32 = 55;
        cfg!(unix) && matches!(err.raw_os_error(), Some(ENOMEM | ENFILE | EMFILE | ENOBUFS))
    }

    /// Classifies any error from connecting to or talking with a backend by
    /// the first [`io::Error`] in its [`source`](Error::source) chain, with
    /// [`from_io`](Self::from_io): HTTP clients wrap the socket's error in
    /// their own. An `io::Error` of no telling kind that wraps another error
    /// ([`io::Error::get_ref`]) is looked through, since an `io::Error`'s
    /// `source` skips the error it wraps. With no telling `io::Error` in the
    /// chain, [`Other`](Self::Other).
    ///
    /// ```
    /// use pickwise::FailureKind;
    /// use std::{error::Error, fmt, io};
    ///
    /// // A client's error that keeps the socket's as its source.
    /// #[derive(Debug)]
    /// struct ConnectError(io::Error);
    /// impl fmt::Display for ConnectError {
    ///     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    ///         f.write_str("connect error")
    ///     }
    /// }
    /// impl Error for ConnectError {
    ///     fn source(&self) -> Option<&(dyn Error + 'static)> {
    ///         Some(&self.0)
    ///     }
    /// }
    ///
    /// let refused = ConnectError(io::ErrorKind::ConnectionRefused.into());
    /// assert_eq!(FailureKind::from_error(&refused), FailureKind::ConnectRefused);
    ///
    /// // An io::Error of kind Other wrapping the real one.
    /// let wrapped = io::Error::other(io::Error::from(io::ErrorKind::ConnectionReset));
    /// assert_eq!(FailureKind::from_error(&wrapped), FailureKind::Reset);
    ///
    /// assert_eq!(FailureKind::from_error(&fmt::Error), FailureKind::Other);
    /// ```
    pub fn from_error(err: &(dyn Error + 'static)) -> Self {
        let mut next = Some(err);
        while let Some(error) = next {
            next = match error.downcast_ref::<io::Error>() {
                Some(io) => match FailureKind::from_io(io) {
                    FailureKind::Other => io.get_ref().map(|inner| inner as &(dyn Error + 'static)),
                    kind => return kind,
                },
                None => error.source(),
            };
        }
        FailureKind::Other
    }
}
