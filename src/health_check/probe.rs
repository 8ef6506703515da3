//! What a check asks of a backend ([`Probe`], [`HttpProbe`]) and how a
//! socket error becomes the check's cause.

use std::io;

use crate::types::{CheckFailure, ConfigError, FailureKind};

/// The most of an HTTP reply an [`HttpProbe`] reads (status line, headers
/// and body) looking for its text.
pub const MAX_HTTP_REPLY: usize = 64 * 1024;

/// The longest text an [`HttpProbe`] may expect in a body.
pub const MAX_BODY_TEXT: usize = 1024;

/// The most of an agent's reply read: agents send one short line.
pub const MAX_AGENT_REPLY: usize = 1024;

/// What a health check does to a backend.
///
/// ```
/// use pickwise::health_check::{HttpProbe, Probe};
///
/// let tcp = Probe::Tcp;
/// let http = Probe::Http(HttpProbe::new("/health").expect_body("ok"));
/// assert!(http.validate().is_ok());
/// assert!(Probe::http("health").validate().is_err()); // no leading `/`
/// # let _ = (tcp, Probe::Agent);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Probe {
    /// Connects and closes: passes if the connection is accepted.
    Tcp,
    /// An HTTP/1.1 `GET`: passes on a 2xx or 3xx status (and the expected
    /// body text, if set).
    Http(HttpProbe),
    /// Asks the backend's agent (the spec's `agent` address) for its
    /// one-line report and applies it
    /// ([`Pool::apply_agent_reply`](crate::Pool::apply_agent_reply)):
    /// passes if the reply parses. A backend with no agent address is not
    /// checked by this probe. Its results reach
    /// [`Pool::set_health`](crate::Pool::set_health) like any probe's (an
    /// agent that cannot be reached takes its backend out after `fall`
    /// checks), so run it as the pool's only checker: beside an HTTP
    /// checker, each would overrule the other's verdict.
    Agent,
}

impl Probe {
    /// An HTTP probe of `path` with no body text expected.
    pub fn http(path: impl Into<String>) -> Self {
        Probe::Http(HttpProbe::new(path))
    }

    /// Refuses a probe that cannot be sent as written (an HTTP path or host
    /// that is empty or would break the request line).
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self {
            Probe::Http(http) => http.validate(),
            Probe::Tcp | Probe::Agent => Ok(()),
        }
    }
}

impl From<HttpProbe> for Probe {
    fn from(http: HttpProbe) -> Self {
        Probe::Http(http)
    }
}

/// An HTTP health check: `GET path HTTP/1.1` with `Host` and
/// `Connection: close`, written by hand over the socket. Passes on a status
/// in 200..=399; with [`expect_body`](Self::expect_body), only if the body
/// holds that text within the first [`MAX_HTTP_REPLY`] bytes of the reply
/// (a chunked body is read through its chunks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpProbe {
    /// The path and query asked for, starting with `/`.
    pub path: String,
    /// The `Host` header; the probed address (`10.0.0.1:8080`) if `None`.
    pub host: Option<String>,
    /// Text the body must hold for the check to pass (at most
    /// [`MAX_BODY_TEXT`] bytes).
    pub expect_body: Option<String>,
}

impl HttpProbe {
    /// A probe of `path` (e.g. `/health`).
    pub fn new(path: impl Into<String>) -> Self {
        HttpProbe {
            path: path.into(),
            host: None,
            expect_body: None,
        }
    }

    /// Sends this `Host` header instead of the probed address.
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
/// read timeout shows as `WouldBlock` on Unix), a reset named as such, and
/// anything else with the error's own text.
pub fn failure_from_io(err: &io::Error) -> CheckFailure {
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

/// One read's bytes added to a reply, the drivers' shared step after each
/// read: keeps at most `limit` bytes, asks `done` for a verdict (told
/// whether the peer closed, `chunk` empty), and refuses a reply that closed
/// or filled up without one. `None`: read on.
pub(crate) fn take_chunk<T>(
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
    fn an_http_probe_that_would_break_the_request_is_refused() {
        assert!(HttpProbe::new("/health?full=1").validate().is_ok());
        for bad in ["", "health", "/a b", "/a\r\nX-Evil: 1"] {
            assert!(
                matches!(
                    HttpProbe::new(bad).validate(),
                    Err(ConfigError::Invalid {
                        setting: "health check path",
                        ..
                    })
                ),
                "{bad:?}"
            );
        }
        let host = HttpProbe::new("/").host("a\nb").validate();
        assert!(
            matches!(&host, Err(ConfigError::Invalid { setting, .. }) if *setting == "health check host"),
            "{host:?}"
        );
        assert!(HttpProbe::new("/").expect_body("").validate().is_err());
        assert!(Probe::Tcp.validate().is_ok());
    }
}
