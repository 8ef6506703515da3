//! What a check does to a backend: the [`Check`] trait a checker runs, and
//! the checks the library ships ([`CheckKind`]: a TCP connect, an HTTP
//! `GET` ([`HttpCheck`]), the backend's agent), their I/O on tokio's
//! sockets, and how a socket error becomes the check's cause.

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::health_check::agent::agent_line;
use crate::health_check::http::{self, Progress};
use crate::types::{CheckFailure, ConfigError, FailureKind};

/// The most of an HTTP reply an [`HttpCheck`] reads (status line, headers
/// and body) looking for its text.
pub const MAX_HTTP_REPLY: usize = 64 * 1024;

/// The longest text an [`HttpCheck`] may expect in a body.
pub const MAX_BODY_TEXT: usize = 1024;

/// The most of an agent's reply read: agents send one short line.
pub const MAX_AGENT_REPLY: usize = 1024;

/// What a check brought back when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The check passed.
    Passed,
    /// An agent's reply line (HAProxy's agent-check words), still to be
    /// parsed and applied with
    /// [`Pool::apply_agent_reply`](crate::Pool::apply_agent_reply) by the
    /// checker: it passes if the line parses.
    AgentReply(Vec<u8>),
}

/// The future of one check: its answer, or why it failed.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Result<Answer, CheckFailure>> + Send + 'a>>;

/// One kind of active health check: what is sent to a backend and how its
/// answer is judged. The checker ([`HealthChecker`](super::HealthChecker))
/// runs it on every backend each round, gives it the configured timeout
/// (a check still running [`GRACE`] after it fails as
/// [`TimedOut`](CheckFailure::TimedOut)) and feeds its results through the
/// rise/fall rule to the pool, unless the check
/// [judges no health](Check::judges_health).
///
/// The library's own are [`CheckKind`]'s; a program writes its own for
/// another protocol (a gRPC health service, a database ping):
///
/// ```
/// use pickwise::health::CheckFailure;
/// use pickwise::health_check::{Answer, Check, CheckFuture};
/// use std::net::SocketAddr;
/// use std::time::Duration;
///
/// /// Passes when the backend greets with `+OK` (a made-up protocol).
/// #[derive(Debug)]
/// struct Greeting;
///
/// impl std::fmt::Display for Greeting {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("greeting +OK")
///     }
/// }
///
/// impl Check for Greeting {
///     fn check(&self, addr: SocketAddr, _timeout: Duration) -> CheckFuture<'_> {
///         Box::pin(async move {
///             use tokio::io::AsyncReadExt;
///             let mut stream = tokio::net::TcpStream::connect(addr)
///                 .await
///                 .map_err(|e| pickwise::health_check::failure_from_io(&e))?;
///             let mut greeting = [0u8; 3];
///             stream.read_exact(&mut greeting).await.map_err(|e| pickwise::health_check::failure_from_io(&e))?;
///             match &greeting {
///                 b"+OK" => Ok(Answer::Passed),
///                 _ => Err(CheckFailure::BadReply("no +OK greeting".into())),
///             }
///         })
///     }
/// }
/// # let _ = pickwise::health_check::HealthChecker::new(Default::default(), Greeting);
/// ```
pub trait Check: fmt::Display + fmt::Debug + Send + Sync + 'static {
    /// Checks the backend at `addr` once, within `timeout`: the checker
    /// drops the future [`GRACE`] after it, so a check that watches its
    /// time can say what it lacked ([`TimedOut`](CheckFailure::TimedOut)
    /// for nothing, [`Incomplete`](CheckFailure::Incomplete) for part of a
    /// reply) or pass the deadline on to the backend.
    fn check(&self, addr: SocketAddr, timeout: Duration) -> CheckFuture<'_>;

    /// Refuses settings the check cannot run with; called by
    /// [`HealthChecker::new`](super::HealthChecker::new).
    fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }

    /// Whether the check talks to the backend's agent (its spec's `agent`
    /// address) rather than to the backend; a backend without one is then
    /// not checked.
    fn checks_agent(&self) -> bool {
        false
    }

    /// Whether the check's results judge the backend's health (the
    /// rise/fall rule, then [`Pool::set_health`](crate::Pool::set_health)):
    /// true for a health check. An agent poll
    /// ([`AgentPoll`](super::AgentPoll)) answers false: its replies
    /// are applied and its results reported as events, but an agent that
    /// does not answer never takes its backend out.
    fn judges_health(&self) -> bool {
        true
    }
}

/// How long past its timeout the checker waits for a check that does not
/// watch its own time before dropping it as timed out.
pub const GRACE: Duration = Duration::from_millis(100);

impl Check for Arc<dyn Check> {
    fn check(&self, addr: SocketAddr, timeout: Duration) -> CheckFuture<'_> {
        (**self).check(addr, timeout)
    }

    fn judges_health(&self) -> bool {
        (**self).judges_health()
    }

    fn validate(&self) -> Result<(), ConfigError> {
        (**self).validate()
    }

    fn checks_agent(&self) -> bool {
        (**self).checks_agent()
    }
}

/// The checks the library ships.
///
/// ```
/// use pickwise::health_check::{Check, CheckKind, HttpCheck};
///
/// let tcp = CheckKind::Tcp;
/// let http = CheckKind::Http(HttpCheck::new("/health").expect_body("ok"));
/// assert!(http.validate().is_ok());
/// assert_eq!(http.to_string(), "GET /health expecting \"ok\"");
/// assert!(CheckKind::http("health").validate().is_err()); // no leading `/`
/// # let _ = (tcp, CheckKind::Agent);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckKind {
    /// Connects and closes: passes if the connection is accepted.
    Tcp,
    /// An HTTP/1.1 `GET`: passes on a 2xx or 3xx status (and the expected
    /// body text, if set).
    Http(HttpCheck),
    /// Asks the backend's agent (the spec's `agent` address) for its
    /// one-line report and applies it
    /// ([`Pool::apply_agent_reply`](crate::Pool::apply_agent_reply)):
    /// passes if the reply parses. A backend with no agent address is not
    /// checked. Its results reach
    /// [`Pool::set_health`](crate::Pool::set_health) like any check's (an
    /// agent that cannot be reached takes its backend out after `fall`
    /// checks), so run it as the pool's only checker: beside an HTTP
    /// checker, each would overrule the other's verdict. To poll agents
    /// beside a health check (HAProxy's `agent-check`), run
    /// [`AgentPoll`](super::AgentPoll) instead.
    Agent,
}

impl CheckKind {
    /// An HTTP check of `path` with no body text expected.
    pub fn http(path: impl Into<String>) -> Self {
        CheckKind::Http(HttpCheck::new(path))
    }
}

impl From<HttpCheck> for CheckKind {
    fn from(http: HttpCheck) -> Self {
        CheckKind::Http(http)
    }
}

impl fmt::Display for CheckKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckKind::Tcp => f.write_str("TCP connect"),
            CheckKind::Http(http) => {
                write!(f, "GET {}", http.path)?;
                match &http.expect_body {
                    Some(text) => write!(f, " expecting {text:?}"),
                    None => Ok(()),
                }
            }
            CheckKind::Agent => f.write_str("agent report"),
        }
    }
}

impl Check for CheckKind {
    fn check(&self, addr: SocketAddr, timeout: Duration) -> CheckFuture<'_> {
        Box::pin(exchange(self, addr, Instant::now() + timeout))
    }

    /// Refuses a check that cannot be sent as written (an HTTP path or
    /// host that is empty or would break the request line).
    fn validate(&self) -> Result<(), ConfigError> {
        match self {
            CheckKind::Http(http) => http.validate(),
            CheckKind::Tcp | CheckKind::Agent => Ok(()),
        }
    }

    fn checks_agent(&self) -> bool {
        *self == CheckKind::Agent
    }
}

/// A built-in check's exchange with `addr`, by `deadline`.
async fn exchange(
    check: &CheckKind,
    addr: SocketAddr,
    deadline: Instant,
) -> Result<Answer, CheckFailure> {
    let mut stream = tokio::time::timeout_at(deadline, TcpStream::connect(addr))
        .await
        .map_err(|_| CheckFailure::TimedOut)?
        .map_err(|e| failure_from_io(&e))?;
    match check {
        CheckKind::Tcp => Ok(Answer::Passed),
        CheckKind::Http(http) => {
            tokio::time::timeout_at(deadline, stream.write_all(&http::request(http, addr)))
                .await
                .map_err(|_| CheckFailure::TimedOut)?
                .map_err(|e| failure_from_io(&e))?;
            let expect = http.expect_body.as_deref();
            read_until(
                &mut stream,
                deadline,
                MAX_HTTP_REPLY,
                |read, closed| match http::judge(read, closed, expect) {
                    Progress::More => None,
                    Progress::Done(verdict) => Some(verdict.map(|()| Answer::Passed)),
                },
            )
            .await
        }
        CheckKind::Agent => {
            read_until(&mut stream, deadline, MAX_AGENT_REPLY, |read, closed| {
                agent_line(read, closed).map(|line| Ok(Answer::AgentReply(line)))
            })
            .await
        }
    }
}

/// Connects to an agent at `addr` and reads its reply line, all by
/// `deadline`.
pub(crate) async fn ask_agent(addr: SocketAddr, deadline: Instant) -> Result<Answer, CheckFailure> {
    exchange(&CheckKind::Agent, addr, deadline).await
}

/// Reads (at most `limit` bytes) until `done` gives a verdict on what was
/// read or the peer closes (`done` is asked once more), by `deadline`:
/// past it, [`TimedOut`](CheckFailure::TimedOut) if nothing came,
/// [`Incomplete`](CheckFailure::Incomplete) if part of a reply did.
async fn read_until(
    stream: &mut TcpStream,
    deadline: Instant,
    limit: usize,
    mut done: impl FnMut(&[u8], bool) -> Option<Result<Answer, CheckFailure>>,
) -> Result<Answer, CheckFailure> {
    let mut read = Vec::with_capacity(1024);
    let mut buf = [0u8; 4096];
    loop {
        let n = match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(n) => n.map_err(|e| failure_from_io(&e))?,
            Err(_) if read.is_empty() => return Err(CheckFailure::TimedOut),
            Err(_) => return Err(CheckFailure::Incomplete),
        };
        if let Some(verdict) = take_chunk(&mut read, &buf[..n], limit, &mut done) {
            return verdict;
        }
    }
}

/// An HTTP health check: `GET path HTTP/1.1` with `Host` and
/// `Connection: close`, written by hand over the socket. Passes on a status
/// in 200..=399; with [`expect_body`](Self::expect_body), only if the body
/// holds that text within the first [`MAX_HTTP_REPLY`] bytes of the reply
/// (a chunked body is read through its chunks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCheck {
    /// The path and query asked for, starting with `/`.
    pub path: String,
    /// The `Host` header; the checked address (`10.0.0.1:8080`) if `None`.
    pub host: Option<String>,
    /// Text the body must hold for the check to pass (at most
    /// [`MAX_BODY_TEXT`] bytes).
    pub expect_body: Option<String>,
}

impl HttpCheck {
    /// A check of `path` (e.g. `/health`).
    pub fn new(path: impl Into<String>) -> Self {
        HttpCheck {
            path: path.into(),
            host: None,
            expect_body: None,
        }
    }

    /// Sends this `Host` header instead of the checked address.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Passes only if the body holds `text`.
    pub fn expect_body(mut self, text: impl Into<String>) -> Self {
        self.expect_body = Some(text.into());
        self
    }

    /// Refuses a path or host that is empty or holds spaces or control
    /// characters, and an empty expected text.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |setting, why: String| Err(ConfigError::Invalid { setting, why });
        let plain = |text: &str| !text.chars().any(|c| c.is_whitespace() || c.is_control());
        if !self.path.starts_with('/') {
            return invalid(
                "health check path",
                format!("`{}` does not start with `/`", self.path.escape_debug()),
            );
        }
        if !plain(&self.path) {
            return invalid(
                "health check path",
                format!(
                    "`{}` holds a space or control character",
                    self.path.escape_debug()
                ),
            );
        }
        if let Some(host) = &self.host {
            if host.is_empty() || !plain(host) {
                return invalid(
                    "health check host",
                    format!(
                        "`{}` is empty or holds a space or control character",
                        host.escape_debug()
                    ),
                );
            }
        }
        if self.expect_body.as_deref() == Some("") {
            return invalid("health check body text", "is empty".to_owned());
        }
        if self
            .expect_body
            .as_ref()
            .is_some_and(|text| text.len() > MAX_BODY_TEXT)
        {
            return invalid(
                "health check body text",
                format!("is longer than {MAX_BODY_TEXT} bytes"),
            );
        }
        Ok(())
    }
}

/// The check's cause for a socket error, by its kind (as
/// [`FailureKind::from_io`] reads it): refused, unreachable, timed out (a
/// read timeout shows as `WouldBlock` on Unix), a reset named as such, this
/// host out of descriptors or memory as [`CheckFailure::LocalExhaustion`]
/// (no verdict on the backend), and anything else with the error's own text.
pub fn failure_from_io(err: &io::Error) -> CheckFailure {
    if FailureKind::is_local_exhaustion(err) {
        return CheckFailure::LocalExhaustion(err.to_string());
    }
    match FailureKind::from_io(err) {
        FailureKind::ConnectRefused => CheckFailure::Refused,
        FailureKind::Unreachable => CheckFailure::Unreachable,
        FailureKind::ConnectTimeout | FailureKind::Timeout => CheckFailure::TimedOut,
        FailureKind::Reset => CheckFailure::Other(match err.kind() {
            io::ErrorKind::UnexpectedEof => "connection closed early".to_owned(),
            _ => "connection reset".to_owned(),
        }),
        _ => CheckFailure::Other(err.to_string()),
    }
}

/// One read's bytes added to a reply, the step after each read: keeps at most `limit` bytes, asks `done` for a verdict (told
/// whether the peer closed, `chunk` empty), and refuses a reply that closed
/// or filled up without one. `None`: read on.
fn take_chunk<T>(
    read: &mut Vec<u8>,
    chunk: &[u8],
    limit: usize,
    done: &mut impl FnMut(&[u8], bool) -> Option<Result<T, CheckFailure>>,
) -> Option<Result<T, CheckFailure>> {
    let room = limit.saturating_sub(read.len());
    read.extend_from_slice(&chunk[..chunk.len().min(room)]);
    let closed = chunk.is_empty();
    if let Some(verdict) = done(read, closed) {
        return Some(verdict);
    }
    if closed || read.len() >= limit {
        // `done` judges a closed or full reply; this is only a guard.
        return Some(Err(CheckFailure::BadReply(
            "reply ended without a verdict".to_owned(),
        )));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_errors_map_to_the_true_cause() {
        let of = |kind: io::ErrorKind| failure_from_io(&io::Error::from(kind));
        assert_eq!(of(io::ErrorKind::ConnectionRefused), CheckFailure::Refused);
        assert_eq!(
            of(io::ErrorKind::HostUnreachable),
            CheckFailure::Unreachable
        );
        assert_eq!(
            of(io::ErrorKind::NetworkUnreachable),
            CheckFailure::Unreachable
        );
        assert_eq!(of(io::ErrorKind::TimedOut), CheckFailure::TimedOut);
        assert_eq!(of(io::ErrorKind::WouldBlock), CheckFailure::TimedOut);
        assert_eq!(
            of(io::ErrorKind::ConnectionReset),
            CheckFailure::Other("connection reset".into())
        );
        assert_eq!(
            of(io::ErrorKind::UnexpectedEof),
            CheckFailure::Other("connection closed early".into())
        );
        let other = io::Error::new(io::ErrorKind::PermissionDenied, "not allowed");
        assert_eq!(
            failure_from_io(&other),
            CheckFailure::Other("not allowed".into())
        );
    }

    #[test]
    fn an_http_check_that_would_break_the_request_is_refused() {
        assert!(HttpCheck::new("/health?full=1").validate().is_ok());
        for bad in ["", "health", "/a b", "/a\r\nX-Evil: 1"] {
            assert!(
                matches!(
                    HttpCheck::new(bad).validate(),
                    Err(ConfigError::Invalid {
                        setting: "health check path",
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
        let host = HttpCheck::new("/").host("a\nb").validate();
        assert!(
            matches!(&host, Err(ConfigError::Invalid { setting, .. }) if *setting == "health check host"),
            "{host:?}"
        );
        assert!(HttpCheck::new("/").expect_body("").validate().is_err());
        assert!(CheckKind::Tcp.validate().is_ok());
    }
}
