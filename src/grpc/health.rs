//! [`GrpcHealthCheck`]: the gRPC health-checking protocol as a
//! [`Check`]: one `grpc.health.v1.Health/Check` call over HTTP/2 without
//! TLS (h2c, prior knowledge), its two protobuf messages written and read
//! by hand.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

use crate::grpc::StatusCode;
use crate::health_check::{failure_from_io, Answer, Check, CheckFuture};
use crate::types::{CheckFailure, ConfigError};

/// The most of a reply read: a health reply is a few bytes.
const MAX_REPLY: usize = 4 * 1024;

/// The gRPC health-checking protocol
/// ([`grpc.health.v1.Health/Check`](https://github.com/grpc/grpc/blob/master/doc/health-checking.md)),
/// the check Kubernetes' gRPC probes and Envoy's gRPC health checks make:
/// passes when the server answers `SERVING` for the service (the server as
/// a whole when no service is named).
///
/// Everything else fails with the server's own words as the cause:
/// `NOT_SERVING`, `UNKNOWN`, a service the server does not know (gRPC's
/// `NOT_FOUND`), another gRPC status with its message, an HTTP status
/// other than 200, or the socket's error. The call carries the checker's
/// timeout as its `grpc-timeout`; a server that sends its reply's head but
/// not the rest in time is [`Incomplete`](CheckFailure::Incomplete).
///
/// ```
/// use pickwise::grpc::GrpcHealthCheck;
/// use pickwise::health_check::{CheckConfig, HealthChecker};
///
/// let whole_server = GrpcHealthCheck::new();
/// let one_service = GrpcHealthCheck::service("helloworld.Greeter");
/// assert_eq!(one_service.to_string(), "gRPC health of helloworld.Greeter");
/// let checker = HealthChecker::new(CheckConfig::default(), one_service)?;
/// // checker.spawn(pool, |spec| Some(spec.value))?
/// # let _ = (whole_server, checker);
/// # Ok::<(), pickwise::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GrpcHealthCheck {
    service: String,
}

impl GrpcHealthCheck {
    /// Asks about the server as a whole (the empty service name).
    pub fn new() -> Self {
        GrpcHealthCheck::default()
    }

    /// Asks about one service (`package.Service`).
    pub fn service(name: impl Into<String>) -> Self {
        GrpcHealthCheck {
            service: name.into(),
        }
    }

    /// The service asked about; empty for the whole server.
    pub fn service_name(&self) -> &str {
        &self.service
    }
}

impl fmt::Display for GrpcHealthCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.service.as_str() {
            "" => f.write_str("gRPC health"),
            service => write!(f, "gRPC health of {service}"),
        }
    }
}

impl Check for GrpcHealthCheck {
    fn check(&self, addr: SocketAddr, timeout: Duration) -> CheckFuture<'_> {
        Box::pin(ask(&self.service, addr, timeout))
    }

    /// Refuses a service name with control characters or longer than 1
    /// KiB.
    fn validate(&self) -> Result<(), ConfigError> {
        if self.service.len() > 1024 || self.service.chars().any(char::is_control) {
            return Err(ConfigError::Invalid {
                setting: "gRPC health service",
                why: format!(
                    "`{}` is longer than 1024 bytes or holds a control character",
                    self.service.escape_debug()
                ),
            });
        }
        Ok(())
    }
}

/// One health call to `addr`, all within `timeout`.
async fn ask(service: &str, addr: SocketAddr, timeout: Duration) -> Result<Answer, CheckFailure> {
    let deadline = Instant::now() + timeout;
    let tcp = timeout_at(deadline, TcpStream::connect(addr))
        .await
        .map_err(|_| CheckFailure::TimedOut)?
        .map_err(|e| failure_from_io(&e))?;
    let _ = tcp.set_nodelay(true);
    let (client, connection) = timeout_at(deadline, h2::client::handshake(tcp))
        .await
        .map_err(|_| CheckFailure::TimedOut)?
        .map_err(|e| h2_failure(&e, "the HTTP/2 handshake failed"))?;
    let connection = tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut got_head = false;
    let exchange = call(client, service, addr, timeout, &mut got_head);
    let answer = timeout_at(deadline, exchange).await;
    connection.abort();
    match answer {
        Ok(answer) => answer,
        Err(_) if got_head => Err(CheckFailure::Incomplete),
        Err(_) => Err(CheckFailure::TimedOut),
    }
}

/// The call itself over an HTTP/2 connection; `got_head` says whether the
/// reply's head came.
async fn call(
    client: SendRequest<Bytes>,
    service: &str,
    addr: SocketAddr,
    timeout: Duration,
    got_head: &mut bool,
) -> Result<Answer, CheckFailure> {
    let mut client = client
        .ready()
        .await
        .map_err(|e| h2_failure(&e, "the connection closed"))?;
    let request = http::Request::post(format!("http://{addr}/grpc.health.v1.Health/Check"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("grpc-timeout", format!("{}m", timeout.as_millis().max(1)))
        .body(())
        .map_err(|e| CheckFailure::Other(format!("cannot write the request: {e}")))?;
    let (response, mut send) = client
        .send_request(request, false)
        .map_err(|e| h2_failure(&e, "the request was refused"))?;
    send.send_data(request_message(service), true)
        .map_err(|e| h2_failure(&e, "the request was cut"))?;
    let response = response.await.map_err(|e| h2_failure(&e, "no reply"))?;
    *got_head = true;
    let (head, mut body) = response.into_parts();
    if head.status != http::StatusCode::OK {
        return Err(CheckFailure::BadStatus(head.status.as_u16()));
    }
    if head.headers.contains_key("grpc-status") {
        // Trailers-only: a status and no message.
        status_of(Some(&head.headers))?;
        return Err(CheckFailure::BadReply(
            "an OK status with no reply message".into(),
        ));
    }
    let mut message = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|e| h2_failure(&e, "the reply was cut"))?;
        let _ = body.flow_control().release_capacity(chunk.len());
        message.extend_from_slice(&chunk);
        if message.len() > MAX_REPLY {
            return Err(CheckFailure::BadReply(format!(
                "a reply longer than {MAX_REPLY} bytes"
            )));
        }
    }
    let trailers = body
        .trailers()
        .await
        .map_err(|e| h2_failure(&e, "the reply was cut"))?;
    status_of(trailers.as_ref())?;
    match serving_status(&message)? {
        1 => Ok(Answer::Passed),
        status => Err(CheckFailure::BadReply(
            match status {
                0 => "UNKNOWN",
                2 => "NOT_SERVING",
                3 => "SERVICE_UNKNOWN",
                _ => "an unknown serving status",
            }
            .to_owned(),
        )),
    }
}

/// Passes an `OK` `grpc-status`; any other (or none) is the cause of the
/// failure, with the server's `grpc-message`.
fn status_of(headers: Option<&http::HeaderMap>) -> Result<(), CheckFailure> {
    let Some(headers) = headers else {
        return Err(CheckFailure::BadReply(
            "the reply ended without a gRPC status".into(),
        ));
    };
    let code = headers
        .get("grpc-status")
        .and_then(StatusCode::from_header)
        .ok_or_else(|| CheckFailure::BadReply("the reply ended without a gRPC status".into()))?;
    if code == StatusCode::OK {
        return Ok(());
    }
    let message = headers
        .get("grpc-message")
        .and_then(|m| m.to_str().ok())
        .filter(|m| !m.is_empty());
    Err(CheckFailure::BadReply(match message {
        Some(message) => format!("{code}: {message}"),
        None => code.to_string(),
    }))
}

/// The cause of an HTTP/2 error: the socket's, when it is one; what was
/// happening for a stream the server reset; else a connection the peer
/// does not speak HTTP/2 on (an HTTP/1.1 server answers the preface with
/// bytes that are not frames).
fn h2_failure(error: &h2::Error, doing: &str) -> CheckFailure {
    match error.get_io() {
        Some(io) => failure_from_io(io),
        None if error.is_reset() => CheckFailure::Other(format!("{doing}: {error}")),
        None => CheckFailure::Other(format!("HTTP/2 failed (is it an h2c server?): {error}")),
    }
}

/// The request: a `HealthCheckRequest { string service = 1; }` in gRPC's
/// length-prefixed framing (uncompressed).
fn request_message(service: &str) -> Bytes {
    let mut payload = Vec::with_capacity(service.len() + 6);
    if !service.is_empty() {
        payload.push(0x0a); // field 1, length-delimited
        push_varint(&mut payload, service.len() as u64);
        payload.extend_from_slice(service.as_bytes());
    }
    let mut framed = Vec::with_capacity(payload.len() + 5);
    framed.push(0); // not compressed
    framed.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    framed.extend_from_slice(&payload);
    Bytes::from(framed)
}

fn push_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads a varint at `at`, moving past it.
fn read_varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(value);
        }
    }
    None
}

/// The `status` (field 1) of a framed `HealthCheckResponse`; 0 (`UNKNOWN`)
/// when absent, as proto3 reads it. Other fields are skipped.
fn serving_status(framed: &[u8]) -> Result<u64, CheckFailure> {
    let bad = |why: &str| CheckFailure::BadReply(format!("not a health reply: {why}"));
    let [compressed, l0, l1, l2, l3, payload @ ..] = framed else {
        return Err(bad("no message"));
    };
    if *compressed != 0 {
        return Err(bad("a compressed message (none was accepted)"));
    }
    let length = u32::from_be_bytes([*l0, *l1, *l2, *l3]) as usize;
    if payload.len() != length {
        return Err(bad("its length prefix does not match"));
    }
    let mut at = 0;
    let mut status = 0;
    while at < payload.len() {
        let tag = read_varint(payload, &mut at).ok_or_else(|| bad("a cut field"))?;
        let skip = match (tag >> 3, tag & 7) {
            (1, 0) => {
                status = read_varint(payload, &mut at).ok_or_else(|| bad("a cut status"))?;
                0
            }
            (_, 0) => {
                read_varint(payload, &mut at).ok_or_else(|| bad("a cut field"))?;
                0
            }
            (_, 1) => 8,
            (_, 2) => read_varint(payload, &mut at).ok_or_else(|| bad("a cut field"))? as usize,
            (_, 5) => 4,
            _ => return Err(bad("a field of an unknown wire type")),
        };
        at = at
            .checked_add(skip)
            .filter(|&end| end <= payload.len())
            .ok_or_else(|| bad("a cut field"))?;
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_the_service_name_in_field_one_framed() {
        assert_eq!(&request_message("")[..], &[0, 0, 0, 0, 0]);
        assert_eq!(
            &request_message("a.B")[..],
            &[0, 0, 0, 0, 5, 0x0a, 3, b'a', b'.', b'B']
        );
    }

    #[test]
    fn the_serving_status_is_read_past_other_fields_and_bad_replies_are_named() {
        assert_eq!(serving_status(&[0, 0, 0, 0, 2, 0x08, 1]), Ok(1));
        assert_eq!(serving_status(&[0, 0, 0, 0, 0]), Ok(0));
        // An unknown length-delimited field 2 before the status.
        assert_eq!(
            serving_status(&[0, 0, 0, 0, 6, 0x12, 2, b'x', b'y', 0x08, 2]),
            Ok(2)
        );
        for bad in [
            &[0, 0, 0][..],
            &[1, 0, 0, 0, 0],
            &[0, 0, 0, 0, 9, 0x08],
            &[0, 0, 0, 0, 2, 0x12, 9],
        ] {
            assert!(
                matches!(serving_status(bad), Err(CheckFailure::BadReply(_))),
                "{bad:?}"
            );
        }
    }
}
