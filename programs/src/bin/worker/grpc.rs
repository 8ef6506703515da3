//! The worker's gRPC answers, over HTTP/2 on its public port (h2c, beside
//! HTTP/1.1): written on the wire by hand, as the calls are tiny.
//!
//! - `/pickwise.lab.Worker/Name`: any request; the reply is a message
//!   whose field 1 (a string) is the worker's name, with the status of
//!   `--grpc-status` (0, OK, by default).
//! - `/grpc.health.v1.Health/Check`: the gRPC health-checking protocol;
//!   `SERVING` (1), or `NOT_SERVING` (2) while draining, for the whole
//!   server (`""`) and `pickwise.lab.Worker`; `NOT_FOUND` for any other
//!   service.
//! - Anything else: `UNIMPLEMENTED`.
//!
//! With `--orca`, the trailers carry an ORCA load report
//! (`endpoint-load-metrics-bin`), as gRPC servers send per-call metrics.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use http_body_util::BodyExt;
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response};

/// The service the worker answers on, for health checks and `Name`.
pub const SERVICE: &str = "pickwise.lab.Worker";
/// Largest request message read.
const MAX_MESSAGE: usize = 16 * 1024;

/// A gRPC answer's body: one length-prefixed message (if any), then the
/// trailers with the status.
pub struct GrpcBody {
    message: Option<Bytes>,
    trailers: Option<HeaderMap>,
}

impl Body for GrpcBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(message) = self.message.take() {
            return Poll::Ready(Some(Ok(Frame::data(message))));
        }
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }

    fn is_end_stream(&self) -> bool {
        self.message.is_none() && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.message.as_ref().map_or(0, |m| m.len() as u64))
    }
}

/// Whether a request is a gRPC call (HTTP/2 and an `application/grpc`
/// content type).
pub fn is_call(request: &Request<Incoming>) -> bool {
    request.version() == hyper::Version::HTTP_2
        && request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/grpc"))
}

/// What a call asks for, once its message has been read.
pub enum Call {
    /// `Worker/Name`.
    Name,
    /// `Health/Check` for this service name.
    Health(String),
    /// A method the worker does not have (its path).
    Unknown(String),
}

/// Reads the call's one request message (at most [`MAX_MESSAGE`] bytes)
/// and says what it asks for; `Err` with a status and message when the
/// request is not a well-formed unary call.
pub async fn read(request: Request<Incoming>) -> Result<Call, (u32, String)> {
    let path = request.uri().path().to_owned();
    let body = http_body_util::Limited::new(request.into_body(), MAX_MESSAGE + 5);
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => return Err((INVALID_ARGUMENT, format!("request body: {e}"))),
    };
    let message = match bytes.as_ref() {
        [0, a, b, c, d, rest @ ..]
            if u32::from_be_bytes([*a, *b, *c, *d]) as usize == rest.len() =>
        {
            rest
        }
        [1, ..] => {
            return Err((
                UNIMPLEMENTED,
                "compressed messages are not supported".into(),
            ))
        }
        _ => {
            return Err((
                INVALID_ARGUMENT,
                "expected one length-prefixed message".into(),
            ))
        }
    };
    Ok(match path.as_str() {
        "/pickwise.lab.Worker/Name" => Call::Name,
        "/grpc.health.v1.Health/Check" => Call::Health(field_one_string(message)?),
        _ => Call::Unknown(path),
    })
}

/// Field 1 of a message, a string (empty when absent).
fn field_one_string(mut message: &[u8]) -> Result<String, (u32, String)> {
    let bad = || (INVALID_ARGUMENT, "malformed request message".to_owned());
    let mut found = String::new();
    while let [key, rest @ ..] = message {
        let (field, wire) = (key >> 3, key & 7);
        if wire != 2 {
            return Err(bad());
        }
        // Names are short: a one-byte length, under 128.
        let [len, rest @ ..] = rest else {
            return Err(bad());
        };
        let len = usize::from(*len);
        if len > 127 || rest.len() < len {
            return Err(bad());
        }
        if field == 1 {
            found = String::from_utf8(rest[..len].to_vec()).map_err(|_| bad())?;
        }
        message = &rest[len..];
    }
    Ok(found)
}

pub const OK: u32 = 0;
const INVALID_ARGUMENT: u32 = 3;
const NOT_FOUND: u32 = 5;
const UNIMPLEMENTED: u32 = 12;

/// A reply to a call: `message` (the protobuf bytes) when `status` is OK,
/// trailers with the status, its message and the extra trailers given.
pub fn reply(
    status: u32,
    message: &[u8],
    text: &str,
    extra: Option<(&str, HeaderValue)>,
) -> Response<GrpcBody> {
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from(status));
    if !text.is_empty() {
        if let Ok(value) = HeaderValue::from_str(&percent_encode(text)) {
            trailers.insert("grpc-message", value);
        }
    }
    if let Some((name, value)) = extra {
        if let Ok(name) = hyper::header::HeaderName::from_bytes(name.as_bytes()) {
            trailers.insert(name, value);
        }
    }
    let framed = (status == OK).then(|| {
        let mut framed = Vec::with_capacity(message.len() + 5);
        framed.push(0);
        framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
        framed.extend_from_slice(message);
        Bytes::from(framed)
    });
    let mut response = Response::new(GrpcBody {
        message: framed,
        trailers: Some(trailers),
    });
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    response
}

/// The answer to `call`: the worker's `name`, or its health (`serving`).
pub fn answer(call: &Call, name: &str, status: u32, serving: bool) -> (u32, Vec<u8>, String) {
    match call {
        Call::Name => (status, string_field(name), String::new()),
        Call::Health(service) if service.is_empty() || service == SERVICE => {
            let health = if serving { 1 } else { 2 };
            (OK, vec![0x08, health], String::new())
        }
        Call::Health(service) => (NOT_FOUND, Vec::new(), format!("unknown service {service}")),
        Call::Unknown(path) => (UNIMPLEMENTED, Vec::new(), format!("no method {path}")),
    }
}

/// A message with field 1 the string `text`.
fn string_field(text: &str) -> Vec<u8> {
    let mut message = vec![0x0a];
    let mut len = text.len();
    while len >= 0x80 {
        message.push((len as u8) | 0x80);
        len >>= 7;
    }
    message.push(len as u8);
    message.extend_from_slice(text.as_bytes());
    message
}

/// `grpc-message` is percent-encoded outside printable ASCII.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if (0x20..0x7f).contains(&byte) && byte != b'%' {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}
