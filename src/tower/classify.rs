//! Classifiers: what a call's result says about its backend, and how long
//! the pick lives after it.

use std::error::Error;
use std::fmt;

use http_body::Body;

use crate::pool::Ticket;
use crate::tower::body::PickBody;
use crate::types::{FailureKind, OutcomeKind};

/// Maps an inner service's result to the [`OutcomeKind`] recorded on the
/// backend, and hands the response to the caller with the pick.
///
/// [`Balance`](super::Balance) calls [`classify`](Self::classify) when the
/// inner service's future resolves (the outcome's latency is the time since
/// the call), then, for a response, [`attach`](Self::attach), which decides
/// how long the backend counts the request in flight: dropping the pick
/// ends it with the response head ([`ResultClassifier`]), keeping it in the
/// response ends it later ([`HttpClassifier`] keeps it until the body ends).
/// A classifier whose head says nothing yet (a gRPC response, whose status
/// comes in its trailers) returns `None`: the pick then reaches `attach`
/// with nothing recorded, for the response to record when it knows.
///
/// ```
/// use pickwise::{FailureKind, OutcomeKind};
/// use pickwise::Ticket;
/// use pickwise::tower::Classify;
///
/// /// An RPC reply whose `overloaded` flag means the backend should rest.
/// struct Reply { overloaded: bool }
///
/// #[derive(Clone)]
/// struct ByReply;
/// impl<E> Classify<Reply, E> for ByReply {
///     type Response = Reply;
///     fn classify(&self, result: &Result<Reply, E>) -> Option<OutcomeKind> {
///         Some(match result {
///             Ok(reply) if reply.overloaded => OutcomeKind::Failure(FailureKind::GatewayError),
///             Ok(_) => OutcomeKind::Success,
///             Err(_) => OutcomeKind::Failure(FailureKind::Other),
///         })
///     }
///     fn attach(&self, reply: Reply, _pick: Ticket) -> Reply {
///         reply // the pick is dropped: the request is over
///     }
/// }
/// ```
pub trait Classify<Res, E> {
    /// What the caller receives in place of the inner service's response.
    type Response;

    /// What the result says about the backend; `None` when the response
    /// will say it later (see the trait's docs). An error must be
    /// classified: it has no response to record later.
    fn classify(&self, result: &Result<Res, E>) -> Option<OutcomeKind>;

    /// Turns the inner response into the caller's, with the pick (whose
    /// outcome is recorded already): drop it to end the request now, or
    /// keep it in the response to end it when the response is done with.
    fn attach(&self, response: Res, pick: Ticket) -> Self::Response;
}

/// Any service: `Ok` is a success, `Err` a failure of the kind
/// [`FailureKind::from_error`] finds in the error's source chain. The pick
/// ends when the response arrives. The default classifier of
/// [`Balance::new`](super::Balance::new).
///
/// The error must be a [`std::error::Error`]; tower's `BoxError` is not
/// one (a `Box<dyn Error>` does not implement the trait): classify those
/// with [`classify_fn`], calling `FailureKind::from_error(&**error)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResultClassifier;

impl<Res, E: Error + 'static> Classify<Res, E> for ResultClassifier {
    type Response = Res;

    fn classify(&self, result: &Result<Res, E>) -> Option<OutcomeKind> {
        Some(match result {
            Ok(_) => OutcomeKind::Success,
            Err(error) => OutcomeKind::Failure(FailureKind::from_error(error)),
        })
    }

    fn attach(&self, response: Res, _pick: Ticket) -> Res {
        response
    }
}

/// HTTP services (`http::Response<B>` with a [`Body`]): a transport error
/// is a failure of the kind [`FailureKind::from_error`] finds (connection
/// refused, reset, timed out...), 502, 503 and 504 are
/// [`FailureKind::GatewayError`] failures (the backend, or the proxy it
/// stands for, cannot serve), other 5xx are server errors (the backend is
/// alive: error-aware strategies count them, passive health does not), and
/// everything else (1xx to 4xx) is a success.
///
/// The pick is held until the response body ends ([`PickBody`]), and a
/// body that fails midway is recorded as [`FailureKind::BodyCut`]. When the
/// pool's strategy reads load reports ([`OrcaWrr`](crate::strategy::OrcaWrr)),
/// an ORCA report in the headers or trailers is recorded
/// ([`crate::orca::from_headers`]). The default classifier of
/// [`Balance::http`](super::Balance::http).
///
/// ```
/// use http::StatusCode;
/// use pickwise::{FailureKind, OutcomeKind};
/// use pickwise::tower::HttpClassifier;
///
/// assert_eq!(HttpClassifier::status(StatusCode::NOT_FOUND), OutcomeKind::Success);
/// assert_eq!(HttpClassifier::status(StatusCode::INTERNAL_SERVER_ERROR), OutcomeKind::ServerError);
/// assert_eq!(
///     HttpClassifier::status(StatusCode::SERVICE_UNAVAILABLE),
///     OutcomeKind::Failure(FailureKind::GatewayError),
/// );
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpClassifier;

impl HttpClassifier {
    /// What a response status says about the backend.
    pub fn status(status: http::StatusCode) -> OutcomeKind {
        use http::StatusCode as S;
        match status {
            S::BAD_GATEWAY | S::SERVICE_UNAVAILABLE | S::GATEWAY_TIMEOUT => {
                OutcomeKind::Failure(FailureKind::GatewayError)
            }
            status if status.is_server_error() => OutcomeKind::ServerError,
            _ => OutcomeKind::Success,
        }
    }
}

impl<B: Body, E: Error + 'static> Classify<http::Response<B>, E> for HttpClassifier {
    type Response = http::Response<PickBody<B>>;

    fn classify(&self, result: &Result<http::Response<B>, E>) -> Option<OutcomeKind> {
        Some(match result {
            Ok(response) => HttpClassifier::status(response.status()),
            Err(error) => OutcomeKind::Failure(FailureKind::from_error(error)),
        })
    }

    fn attach(&self, response: http::Response<B>, pick: Ticket) -> Self::Response {
        crate::tower::body::record_load_report(&pick, response.headers());
        response.map(|body| PickBody::new(body, pick))
    }
}

/// A classifier from a function of the result; the pick ends when the
/// response arrives. Made by [`classify_fn`].
#[derive(Clone, Copy)]
pub struct ClassifyFn<F> {
    f: F,
}

/// A classifier from a function of the result (the pick ends when the
/// response arrives), e.g. for services whose error is tower's `BoxError`.
///
/// ```
/// use pickwise::{FailureKind, OutcomeKind};
/// use pickwise::tower::classify_fn;
///
/// type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// let classifier = classify_fn(|result: &Result<String, BoxError>| match result {
///     Ok(_) => OutcomeKind::Success,
///     Err(error) => OutcomeKind::Failure(FailureKind::from_error(&**error)),
/// });
/// # let _ = classifier;
/// ```
pub fn classify_fn<Res, E, F>(f: F) -> ClassifyFn<F>
where
    F: Fn(&Result<Res, E>) -> OutcomeKind,
{
    ClassifyFn { f }
}

impl<Res, E, F> Classify<Res, E> for ClassifyFn<F>
where
    F: Fn(&Result<Res, E>) -> OutcomeKind,
{
    type Response = Res;

    fn classify(&self, result: &Result<Res, E>) -> Option<OutcomeKind> {
        Some((self.f)(result))
    }

    fn attach(&self, response: Res, _pick: Ticket) -> Res {
        response
    }
}

impl<F> fmt::Debug for ClassifyFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClassifyFn")
    }
}
