//! gRPC status codes and what each says about the backend that answered
//! ([`outcome_of`]), and [`GrpcClassifier`], which reads them from a
//! response.

use std::error::Error;
use std::fmt;

use http_body::Body;

use crate::pool::Ticket;
use crate::tower::{Classify, HttpClassifier, PickBody};
use crate::types::{FailureKind, OutcomeKind};

/// A gRPC status code, as the `grpc-status` header or trailer carries it
/// (the numbers of gRPC's `status.proto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusCode(pub u32);

impl StatusCode {
    /// Not an error.
    pub const OK: StatusCode = StatusCode(0);
    /// Cancelled, typically by the caller.
    pub const CANCELLED: StatusCode = StatusCode(1);
    /// Unknown error.
    pub const UNKNOWN: StatusCode = StatusCode(2);
    /// The client specified an invalid argument.
    pub const INVALID_ARGUMENT: StatusCode = StatusCode(3);
    /// The deadline expired before the operation could complete.
    pub const DEADLINE_EXCEEDED: StatusCode = StatusCode(4);
    /// Some requested entity was not found.
    pub const NOT_FOUND: StatusCode = StatusCode(5);
    /// The entity the client tried to create already exists.
    pub const ALREADY_EXISTS: StatusCode = StatusCode(6);
    /// The caller may not execute the operation.
    pub const PERMISSION_DENIED: StatusCode = StatusCode(7);
    /// A resource (a quota, the server's capacity) is exhausted.
    pub const RESOURCE_EXHAUSTED: StatusCode = StatusCode(8);
    /// The system is not in a state the operation requires.
    pub const FAILED_PRECONDITION: StatusCode = StatusCode(9);
    /// The operation was aborted (a concurrency conflict).
    pub const ABORTED: StatusCode = StatusCode(10);
    /// The operation went past the valid range.
    pub const OUT_OF_RANGE: StatusCode = StatusCode(11);
    /// The operation is not implemented or supported.
    pub const UNIMPLEMENTED: StatusCode = StatusCode(12);
    /// An internal error.
    pub const INTERNAL: StatusCode = StatusCode(13);
    /// The service is unavailable (most likely transient).
    pub const UNAVAILABLE: StatusCode = StatusCode(14);
    /// Unrecoverable data loss or corruption.
    pub const DATA_LOSS: StatusCode = StatusCode(15);
    /// The request lacks valid authentication credentials.
    pub const UNAUTHENTICATED: StatusCode = StatusCode(16);

    /// The code a `grpc-status` value holds, if it is a number.
    pub fn from_header(value: &http::HeaderValue) -> Option<StatusCode> {
        value.to_str().ok()?.trim().parse().ok().map(StatusCode)
    }

    /// The code's name (`UNAVAILABLE`), `None` for a number gRPC does not
    /// define.
    pub fn name(self) -> Option<&'static str> {
        const NAMES: [&str; 17] = [
            "OK",
            "CANCELLED",
            "UNKNOWN",
            "INVALID_ARGUMENT",
            "DEADLINE_EXCEEDED",
            "NOT_FOUND",
            "ALREADY_EXISTS",
            "PERMISSION_DENIED",
            "RESOURCE_EXHAUSTED",
            "FAILED_PRECONDITION",
            "ABORTED",
            "OUT_OF_RANGE",
            "UNIMPLEMENTED",
            "INTERNAL",
            "UNAVAILABLE",
            "DATA_LOSS",
            "UNAUTHENTICATED",
        ];
        NAMES.get(self.0 as usize).copied()
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "status {}", self.0),
        }
    }
}

/// What a gRPC status says about the backend that answered with it:
///
/// | status | outcome | why |
/// |---|---|---|
/// | `OK` | success | |
/// | `INVALID_ARGUMENT`, `NOT_FOUND`, `ALREADY_EXISTS`, `PERMISSION_DENIED`, `FAILED_PRECONDITION`, `ABORTED`, `OUT_OF_RANGE`, `UNAUTHENTICATED` | success | the application's answer about the request: the backend served it |
/// | `CANCELLED` | client fault | the caller gave up: nothing about the backend |
/// | `DEADLINE_EXCEEDED` | failure, [`Timeout`](FailureKind::Timeout) | the backend did not answer in time |
/// | `UNAVAILABLE` | failure, [`GatewayError`](FailureKind::GatewayError) | the backend (or the proxy it stands for) cannot serve: what passive health ejects on |
/// | `RESOURCE_EXHAUSTED`, `UNKNOWN`, `INTERNAL`, `UNIMPLEMENTED`, `DATA_LOSS`, any other number | server error | a live backend that failed the call: error-aware strategies steer away, passive health does not eject |
///
/// ```
/// use pickwise::grpc::{outcome_of, StatusCode};
/// use pickwise::{FailureKind, OutcomeKind};
///
/// assert_eq!(outcome_of(StatusCode::NOT_FOUND), OutcomeKind::Success);
/// assert_eq!(
///     outcome_of(StatusCode::UNAVAILABLE),
///     OutcomeKind::Failure(FailureKind::GatewayError)
/// );
/// assert_eq!(outcome_of(StatusCode::INTERNAL), OutcomeKind::ServerError);
/// ```
pub fn outcome_of(code: StatusCode) -> OutcomeKind {
    match code.0 {
        0 | 3 | 5 | 6 | 7 | 9 | 10 | 11 | 16 => OutcomeKind::Success,
        1 => OutcomeKind::ClientFault,
        4 => OutcomeKind::Failure(FailureKind::Timeout),
        14 => OutcomeKind::Failure(FailureKind::GatewayError),
        _ => OutcomeKind::ServerError,
    }
}

/// What a call's trailers (or, for a trailers-only response, its head)
/// say about its backend: the outcome of their `grpc-status`
/// ([`outcome_of`]); a call that ends with no trailers or no status
/// (`None`) is a server error (gRPC's clients report it as `INTERNAL`), as
/// is a status that is not a number. For a proxy or client that reads the
/// trailers itself; [`GrpcClassifier`] applies it for `tower` services.
///
/// ```
/// use pickwise::grpc::outcome_of_trailers;
/// use pickwise::{FailureKind, OutcomeKind};
///
/// let mut trailers = http::HeaderMap::new();
/// trailers.insert("grpc-status", "14".parse().unwrap());
/// assert_eq!(
///     outcome_of_trailers(Some(&trailers)),
///     OutcomeKind::Failure(FailureKind::GatewayError)
/// );
/// assert_eq!(outcome_of_trailers(None), OutcomeKind::ServerError);
/// ```
pub fn outcome_of_trailers(headers: Option<&http::HeaderMap>) -> OutcomeKind {
    match headers.and_then(|h| h.get("grpc-status")) {
        Some(value) => StatusCode::from_header(value).map_or(OutcomeKind::ServerError, outcome_of),
        None => OutcomeKind::ServerError,
    }
}

/// gRPC calls over HTTP/2 services (`http::Response<B>` with a [`Body`]):
/// the outcome is the call's gRPC status ([`outcome_of`]), read from the
/// trailers when the response body ends, its latency the whole call's; a
/// trailers-only response (the status in the head) and a transport error
/// are judged at once, and an HTTP status other than 200 (no gRPC server
/// answered) as [`HttpClassifier`] judges it, a 1xx to 4xx being a server
/// error.
/// The pick is held until the body ends ([`PickBody`]); a body that fails
/// midway is [`FailureKind::BodyCut`]; a body dropped before its end
/// records nothing (the caller's choice).
///
/// ```
/// use pickwise::grpc::GrpcClassifier;
/// use pickwise::strategy::LeastConnections;
/// use pickwise::tower::Balance;
/// use pickwise::Pool;
///
/// use pickwise::BackendSpec;
///
/// // One tonic `Channel` (or any HTTP/2 client service) per backend; here
/// // a stand-in answering every call.
/// let channel = tower::service_fn(|_call: http::Request<String>| async {
///     Ok::<_, std::io::Error>(http::Response::new(String::new()))
/// });
/// let pool = Pool::new(LeastConnections::new(), vec![BackendSpec::new("a", channel)])?;
/// let balance = Balance::new(pool).classify(GrpcClassifier);
/// # let _ = balance;
/// # Ok::<(), pickwise::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct GrpcClassifier;

impl<B: Body, E: Error + 'static> Classify<http::Response<B>, E> for GrpcClassifier {
    type Response = http::Response<PickBody<B>>;

    fn classify(&self, result: &Result<http::Response<B>, E>) -> Option<OutcomeKind> {
        match result {
            Err(error) => Some(OutcomeKind::Failure(FailureKind::from_error(error))),
            Ok(response) if response.status() != http::StatusCode::OK => {
                Some(match HttpClassifier::status(response.status()) {
                    OutcomeKind::Success => OutcomeKind::ServerError,
                    other => other,
                })
            }
            Ok(response) if response.headers().contains_key("grpc-status") => {
                Some(outcome_of_trailers(Some(response.headers())))
            }
            Ok(_) => None,
        }
    }

    fn attach(&self, response: http::Response<B>, pick: Ticket) -> Self::Response {
        crate::tower::body::record_load_report(&pick, response.headers());
        response.map(|body| PickBody::judged_at_end(body, pick, outcome_of_trailers))
    }
}
