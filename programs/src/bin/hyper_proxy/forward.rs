//! One client request through the proxy: pick a backend, send, wait for the
//! head within the try's time, retry elsewhere when that is safe, relay the
//! answer; and blame each failure on the side that caused it.
//!
//! - Tries: at most [`MAX_TRIES`] that sent the request, each on a backend
//!   not tried yet; tries whose request never left (a refused or timed-out
//!   connect) do not count, so a request goes on past any number of dead
//!   backends while one is left to pick. A try
//!   that fails before the response head is retried if the request never
//!   left (refused connect, a pooled connection closed before sending), or
//!   if it is safe to send twice: an idempotent method (GET, HEAD, OPTIONS,
//!   PUT, DELETE, TRACE) with no body or a body buffered whole (up to
//!   [`MAX_BUFFERED`] bytes, announced by `Content-Length`; bigger or
//!   chunked bodies are streamed and not retried once sent).
//! - Hedges (`--hedge on`): a try that could be retried and has no head
//!   after the p95 of recent heads (at least 5 ms) gets a copy on another
//!   backend, within the retry budget; the first head wins, the other try
//!   is dropped (cancelled, counted for nothing unless it failed first).
//! - Time: a try that could be retried waits the adaptive try timeout (4 x
//!   p99 of recent heads, within `--try-timeout-floor-ms` and) at most
//!   `--try-timeout-ms` for the head,
//!   counted while the backend has the turn (not while the client is still
//!   uploading), then goes to another backend if one can be picked (else it
//!   waits on); the last possible try waits until `--timeout-ms` from the
//!   request's arrival. A try given up is the backend's failure ("response
//!   timed out"); 504 when no try answered in time.
//! - Blame: a request body that fails (malformed chunks, an upload the
//!   client aborted) or an upload still stalled at `--timeout-ms` is the
//!   client's fault: recorded as `Outcome::client_fault`, answered 400 or
//!   408, never counted against the backend. A connect this host could
//!   not make for lack of descriptors, buffers or memory is no one's
//!   failure: 503, the pick dropped unrecorded, logged at most once a second.

use std::cell::RefCell;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty, Full, Limited};
use hyper::body::{Body as _, Bytes, Incoming};
use hyper::header::{HeaderValue, HOST};
use hyper::http::request::Parts;
use hyper::{HeaderMap, Method, Request, Response, StatusCode, Uri, Version};
use pickwise::strategy::AnyStrategy;
use pickwise::{BackendId, Context, FailureKind, NoBackend, Outcome, Pick, PickRef, Picker, Pool};
use tracing::{debug, info, warn};

use crate::body::{chain, Body, Relay, Upload, UploadState};
use crate::client_io::{StreamClock, StreamStalls};
use crate::tail::Tail;
use crate::upstream::{Backend, Lease, UpstreamError};
use pickwise_programs::hedging;
use pickwise_programs::http_head::{self, remove_hop_by_hop};
use pickwise_programs::limits::Throttle;
use pickwise_programs::SharedPool;

/// Tries per request that sent it: the first and one retry on another
/// backend (tries that never reached a backend are not counted).
pub const MAX_TRIES: usize = 2;

/// Request bodies up to this size, of idempotent requests, are buffered so
/// the request can be sent again.
pub const MAX_BUFFERED: u64 = 64 * 1024;

/// What every request needs; one per serving thread.
pub struct Proxy {
    /// The pool, kept for the life of the process so that each thread's
    /// [`Picker`] can borrow it.
    pool: &'static Pool<AnyStrategy, Backend>,
    /// The whole request's time for a response head (`--timeout-ms`).
    timeout: Duration,
    /// The try timeout, the latencies behind it and the retry budget.
    tail: Arc<Tail>,
    /// The longest pause between response body frames.
    body_timeout: Duration,
    connect_timeout: Duration,
}

thread_local! {
    /// This thread's picker: it checks the pool's current set with a pointer
    /// comparison instead of loading the shared one on every pick.
    static PICKER: RefCell<Option<Picker<'static, AnyStrategy, Backend>>> =
        const { RefCell::new(None) };
}

impl Proxy {
    /// A serving thread's proxy over `pool`.
    pub fn new(
        pool: SharedPool<Backend>,
        timeout: Duration,
        tail: Arc<Tail>,
        body_timeout: Duration,
        connect_timeout: Duration,
    ) -> Proxy {
        // One reference leaked per thread: the pool lives as long as the
        // process does anyway.
        let pool: &'static SharedPool<Backend> = Box::leak(Box::new(pool));
        Proxy {
            pool,
            timeout,
            tail,
            body_timeout,
            connect_timeout,
        }
    }

    /// A backend for `ctx`, through this thread's picker; owned, since the
    /// pick lives until the response body has been relayed.
    fn pick(&self, ctx: &Context<'_>) -> Result<Pick<Backend>, NoBackend> {
        PICKER.with(|picker| {
            let mut picker = picker.borrow_mut();
            let picker = picker.get_or_insert_with(|| self.pool.picker());
            picker.pick(ctx).map(PickRef::into_owned)
        })
    }
}

/// The request's head as it goes to every try.
struct Head {
    method: Method,
    uri: Uri,
    /// HTTP/1.1, or HTTP/2 for a request that came over HTTP/2 (it goes
    /// on over HTTP/2, as gRPC needs).
    version: Version,
    headers: HeaderMap,
}

/// The request's body: whole (and so sendable again), or streamed once.
enum Payload {
    Whole(Bytes),
    Streamed(Option<Body>),
}

impl Head {
    fn request(&self, payload: &mut Payload) -> Option<Request<Body>> {
        let body = match payload {
            Payload::Whole(bytes) if bytes.is_empty() => {
                Empty::new().map_err(|never| match never {}).boxed()
            }
            Payload::Whole(bytes) => Full::new(bytes.clone())
                .map_err(|never| match never {})
                .boxed(),
            Payload::Streamed(body) => body.take()?,
        };
        let mut request = Request::new(body);
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = self.uri.clone();
        *request.version_mut() = self.version;
        *request.headers_mut() = self.headers.clone();
        Some(request)
    }
}

/// How one try ended.
enum Try {
    /// A head arrived; with the hedge's pick when the hedge's came first.
    Answered(Response<Incoming>, Lease, Option<Pick<Backend>>),
    Failed(UpstreamError, Option<Request<Body>>),
    /// No head in time; with the backend to try next, if there is one.
    TimedOut(Option<Pick<Backend>>),
    /// The client was still uploading at the request's deadline.
    ClientStalled,
}

impl Proxy {
    /// Serves one client request.
    pub async fn handle(
        &self,
        req: Request<Incoming>,
        client: IpAddr,
        streams: &StreamStalls,
    ) -> Response<Body> {
        let arrived = Instant::now();
        let deadline = arrived + self.timeout;
        self.tail.request();
        if let Err(why) = http_head::target_rules(req.method(), req.version(), req.headers()) {
            info!("client {client}: {why}; answered 400");
            return text(StatusCode::BAD_REQUEST, &format!("{why}\n"));
        }
        let (head, incoming) = upstream_head(req, client);
        let idempotent = matches!(
            head.method,
            Method::GET
                | Method::HEAD
                | Method::OPTIONS
                | Method::PUT
                | Method::DELETE
                | Method::TRACE
        );
        let (mut payload, upload) = match body_of(incoming, idempotent, deadline).await {
            Ok(body) => body,
            Err(refusal) => return refusal,
        };
        let replayable = matches!(payload, Payload::Whole(_)) && idempotent;

        let mut tried: Vec<BackendId> = Vec::new();
        let mut last_error = String::new();
        let mut timed_out = false;
        let mut next: Option<Pick<Backend>> = None;
        // Tries that sent the request; `tried` also has those that never
        // reached their backend, which are excluded but not counted.
        let mut sent = 0;
        while sent < MAX_TRIES {
            let Some(mut request) = head.request(&mut payload) else {
                break;
            };
            let ctx = Context::new().client(client).exclude(&tried);
            let mut pick = match next.take().map_or_else(|| self.pick(&ctx), Ok) {
                Ok(pick) => pick,
                Err(none) if tried.is_empty() => {
                    return text(StatusCode::BAD_GATEWAY, &format!("{none}\n"))
                }
                Err(_) => break,
            };
            address(&mut request, pick.backend());
            let started = Instant::now();
            // The try's own time only matters if another try may follow.
            let retry = (replayable && sent + 1 < MAX_TRIES).then_some(client);
            // A copy for a hedge, when hedging is on and the request may be
            // sent twice.
            let hedge = match retry.is_some() && self.tail.hedging().is_some() {
                true => head.request(&mut payload),
                false => None,
            };
            let mut never_left = false;
            match self
                .try_once(&mut pick, request, hedge, &upload, retry, &tried, deadline)
                .await
            {
                Try::Answered(response, lease, winner) => {
                    if let Some(winner) = winner {
                        // The hedge answered first: the first try is
                        // cancelled, outpaced if its backend has answered
                        // nobody for a try timeout, else counted for nothing.
                        let now = self.pool.clock().now();
                        let silence = self.tail.try_timeout();
                        hedging::record_outpaced(&mut pick, started.elapsed(), now, silence);
                        tried.push(pick.id().clone());
                        pick = winner;
                    }
                    // The proxy never asks for an upgrade (Upgrade is a
                    // hop-by-hop header it removes): a 101 is a backend
                    // gone wrong, and relaying it would hand the client a
                    // connection in a protocol nobody agreed on.
                    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                        warn!(
                            "{}: {} (101 Switching Protocols to a request that asked for no upgrade)",
                            pick.id(),
                            FailureKind::InvalidResponse
                        );
                        pick.record(Outcome::failure(
                            FailureKind::InvalidResponse,
                            started.elapsed(),
                        ));
                        drop(lease);
                        return text(
                            StatusCode::BAD_GATEWAY,
                            &format!("{} switched protocols unasked\n", pick.id()),
                        );
                    }
                    self.tail.answered(started.elapsed());
                    // A gRPC call's outcome is its status, in the trailers
                    // (the relay judges them) or a trailers-only head.
                    let grpc = is_grpc(&response);
                    if !grpc || response.headers().contains_key("grpc-status") {
                        pick.record(outcome_of(&response, started.elapsed()));
                    }
                    record_load_report(&pick, response.headers());
                    let mut relayed = self.relay(response, pick, lease, upload, started, grpc);
                    if head.version == Version::HTTP_2 {
                        relayed = relayed.watched(streams.clock());
                    }
                    return relayed.into_response();
                }
                Try::Failed(error, unsent) => {
                    if upload.failed() {
                        return client_fault(&mut pick, started, &error);
                    }
                    if error.is_local_exhaustion() {
                        return out_of_resources(pick, &error);
                    }
                    let kind = error.failure_kind();
                    warn!("{}: {kind} ({error})", pick.id());
                    pick.record(Outcome::failure(kind, started.elapsed()));
                    last_error = format!("{}: {kind}", pick.id());
                    timed_out = false;
                    match (unsent, &mut payload) {
                        // It never left: it can go elsewhere, body and
                        // all, and the try is not counted.
                        (Some(unsent), Payload::Streamed(body)) => {
                            *body = Some(unsent.into_body());
                            never_left = true;
                        }
                        (Some(_), Payload::Whole(_)) => never_left = true,
                        // Sent and failed: again only within the budget.
                        // (Asked only when another try may follow.)
                        (None, _)
                            if replayable && sent + 1 < MAX_TRIES && self.tail.retry(pick.id()) => {
                        }
                        (None, _) => break,
                    }
                }
                Try::TimedOut(elsewhere) => {
                    let waited = started.elapsed();
                    warn!(
                        "{}: {} (no response head within {waited:?})",
                        pick.id(),
                        FailureKind::Timeout
                    );
                    pick.record(Outcome::failure(FailureKind::Timeout, waited));
                    last_error = format!("{} did not answer within {waited:?}", pick.id());
                    timed_out = true;
                    next = elsewhere;
                    if next.is_none() {
                        break;
                    }
                }
                Try::ClientStalled => {
                    pick.record(Outcome::client_fault(started.elapsed()));
                    info!(
                        "{id}: the client's upload stalled past {:?}; not counted against {id}",
                        self.timeout,
                        id = pick.id()
                    );
                    return text(
                        StatusCode::REQUEST_TIMEOUT,
                        "the request body did not arrive in time\n",
                    );
                }
            }
            if !never_left {
                sent += 1;
            }
            tried.push(pick.id().clone());
        }
        if timed_out {
            return text(StatusCode::GATEWAY_TIMEOUT, &format!("{last_error}\n"));
        }
        text(
            StatusCode::BAD_GATEWAY,
            &format!("no backend could serve the request; last: {last_error}\n"),
        )
    }

    /// Sends one try and waits for its head, never past the request's
    /// `deadline`. With `retry` (the client, when another try may follow),
    /// the backend has the try timeout, after which the try is given up if
    /// another backend than this one and those `tried` can be picked
    /// (returned with the timeout); with none to go to, it waits on. Time in
    /// which the client holds its upload up is not counted against the
    /// backend.
    #[allow(clippy::too_many_arguments)]
    async fn try_once(
        &self,
        pick: &mut Pick<Backend>,
        request: Request<Body>,
        hedge: Option<Request<Body>>,
        upload: &UploadState,
        retry: Option<IpAddr>,
        tried: &[BackendId],
        deadline: Instant,
    ) -> Try {
        // Owned (a clone of the backend: a few reference counts), so the
        // pick stays free to record a failure while a hedge races it.
        let backend = pick.backend().clone();
        let connect_timeout = self.connect_timeout;
        let sent = async move { backend.send(request, connect_timeout).await };
        tokio::pin!(sent);
        let limit = match retry {
            Some(_) => self.tail.try_timeout(),
            None => self.timeout,
        };
        let mut until = Instant::now() + limit;
        if let (Some(copy), Some(client), Some(hedging)) = (hedge, retry, self.tail.hedging()) {
            let delay = self.tail.hedge_delay();
            let sent_at = self.pool.clock().now();
            let mut due = Instant::now() + delay;
            // With `silent`, the hedge waits while the backend answers
            // others, a delay at a time, up to the try's timeout.
            while due < until {
                match tokio::time::timeout_at(due.into(), &mut sent).await {
                    Ok(Ok((response, lease))) => return Try::Answered(response, lease, None),
                    Ok(Err((error, unsent))) => return Try::Failed(error, unsent),
                    Err(_) => {}
                }
                if hedging.due(pick, sent_at, self.pool.clock().now(), delay) {
                    break;
                }
                due += delay;
            }
            if due < until {
                let mut not_again = tried.to_vec();
                not_again.push(pick.id().clone());
                let others = Context::new().client(client).exclude(&not_again);
                if let Ok(second) = self.pick(&others) {
                    if self.tail.hedge() {
                        return self.race(pick, sent, second, copy, deadline).await;
                    }
                }
            }
        }
        loop {
            match tokio::time::timeout_at(until.min(deadline).into(), &mut sent).await {
                Ok(Ok((response, lease))) => return Try::Answered(response, lease, None),
                Ok(Err((error, unsent))) => return Try::Failed(error, unsent),
                Err(_) => {}
            }
            let now = Instant::now();
            if upload.waiting_on_client() {
                if now >= deadline {
                    return Try::ClientStalled;
                }
                // The client's time, not the backend's.
                until = now + limit;
                continue;
            }
            if now >= deadline {
                return Try::TimedOut(None);
            }
            if let Some(client) = retry {
                let mut not_again = tried.to_vec();
                not_again.push(pick.id().clone());
                let others = Context::new().client(client).exclude(&not_again);
                if let Ok(elsewhere) = self.pick(&others) {
                    if self.tail.retry(pick.id()) {
                        return Try::TimedOut(Some(elsewhere));
                    }
                }
            }
            // Nowhere else to go: this backend may still answer in time.
            until = deadline;
        }
    }

    /// A hedge: `copy` goes to `second` while the first try (`first`, on
    /// `pick`) still waits; the first head to arrive wins and the other try
    /// is dropped (cancelled, counted for nothing). A try that fails is
    /// recorded as its backend's failure and the other waited for; both
    /// wait until the request's deadline at most.
    async fn race<F>(
        &self,
        pick: &mut Pick<Backend>,
        mut first: Pin<&mut F>,
        mut second: Pick<Backend>,
        mut copy: Request<Body>,
        deadline: Instant,
    ) -> Try
    where
        F: Future<Output = UpstreamResult>,
    {
        address(&mut copy, second.backend());
        let started = Instant::now();
        let backend = second.backend().clone();
        let connect_timeout = self.connect_timeout;
        let hedged = async move { backend.send(copy, connect_timeout).await };
        tokio::pin!(hedged);
        let (mut first_done, mut second_done) = (false, false);
        loop {
            tokio::select! {
                answer = &mut first, if !first_done => match answer {
                    Ok((response, lease)) => return Try::Answered(response, lease, None),
                    Err((error, _)) => {
                        if !error.is_local_exhaustion() {
                            pick.record(Outcome::failure(error.failure_kind(), started.elapsed()));
                        }
                        if second_done {
                            return Try::Failed(error, None);
                        }
                        first_done = true;
                    }
                },
                answer = &mut hedged, if !second_done => match answer {
                    Ok((response, lease)) => {
                        return Try::Answered(response, lease, Some(second));
                    }
                    Err((error, _)) => {
                        // A hedge this host could not open is nobody's
                        // failure: the first try goes on alone.
                        if !error.is_local_exhaustion() {
                            warn!("{}: {} (a hedge: {error})", second.id(), error.failure_kind());
                            second.record(Outcome::failure(error.failure_kind(), started.elapsed()));
                        }
                        if first_done {
                            return Try::Failed(error, None);
                        }
                        second_done = true;
                    }
                },
                () = tokio::time::sleep_until(deadline.into()) => return Try::TimedOut(None),
            }
        }
    }

    /// The backend's response, hop-by-hop headers removed, its body relayed
    /// under the body timeout with the pick and connection held to its end.
    fn relay(
        &self,
        response: Response<Incoming>,
        pick: Pick<Backend>,
        lease: Lease,
        upload: UploadState,
        started: Instant,
        grpc: bool,
    ) -> Relayed {
        let (mut parts, body) = response.into_parts();
        remove_hop_by_hop(&mut parts.headers);
        let mut body = Relay::new(body, pick, lease, upload, self.body_timeout, started);
        if grpc {
            body = body.judged_by_trailers();
        }
        Relayed { parts, body }
    }
}

/// A backend's answer on its way to the client.
struct Relayed {
    parts: hyper::http::response::Parts,
    body: Relay,
}

impl Relayed {
    /// Its stream's waits on the client are watched (HTTP/2).
    fn watched(mut self, clock: std::sync::Arc<StreamClock>) -> Self {
        self.body = self.body.watched(clock);
        self
    }

    fn into_response(self) -> Response<Body> {
        Response::from_parts(self.parts, self.body.boxed())
    }
}

/// Failures to reach a backend because this host is out of descriptors,
/// buffers or memory, logged at most once a second over all threads.
static LOCAL_ERRORS: Throttle = Throttle::new();

/// This host could not open a connection to the backend (out of open
/// files, most likely): the pick is dropped unrecorded, since no backend
/// failed and none would fare better, and the client told so with a 503.
fn out_of_resources(pick: Pick<Backend>, error: &UpstreamError) -> Response<Body> {
    if let Some(count) = LOCAL_ERRORS.hit() {
        warn!(
            "{}: cannot open a connection to it: {error} ({count} times in the last second; \
             not counted against any backend)",
            pick.id()
        );
    }
    drop(pick);
    text(
        StatusCode::SERVICE_UNAVAILABLE,
        &format!("the proxy is out of resources to reach a backend ({error}); try again\n"),
    )
}

/// The client's fault, found when its request body failed under a try:
/// counted for no one, answered 400 (if the client is still there to read it).
fn client_fault(
    pick: &mut Pick<Backend>,
    started: Instant,
    error: &UpstreamError,
) -> Response<Body> {
    pick.record(Outcome::client_fault(started.elapsed()));
    let cause = error.body_error().map_or_else(|| error.to_string(), chain);
    info!(
        "{}: a client fault, not counted against the backend: {cause}",
        pick.id()
    );
    text(StatusCode::BAD_REQUEST, &format!("{cause}\n"))
}

/// The request's body, ready for the tries: none, buffered whole (an
/// idempotent request's small body, so it can be sent again), or streamed.
/// A body that fails or stalls while buffered is answered here.
async fn body_of(
    incoming: Incoming,
    idempotent: bool,
    deadline: Instant,
) -> Result<(Payload, UploadState), Response<Body>> {
    if incoming.is_end_stream() {
        return Ok((Payload::Whole(Bytes::new()), UploadState::done()));
    }
    let small = incoming
        .size_hint()
        .upper()
        .is_some_and(|n| n <= MAX_BUFFERED);
    if !(idempotent && small) {
        let (upload, state) = Upload::new(incoming);
        return Ok((Payload::Streamed(Some(upload.boxed())), state));
    }
    let limited = Limited::new(incoming, MAX_BUFFERED as usize);
    match tokio::time::timeout_at(deadline.into(), limited.collect()).await {
        Ok(Ok(collected)) => Ok((Payload::Whole(collected.to_bytes()), UploadState::done())),
        Ok(Err(e)) => {
            let cause = chain(&*e);
            info!("a request body could not be read: {cause}");
            Err(text(
                StatusCode::BAD_REQUEST,
                &format!("the request body could not be read: {cause}\n"),
            ))
        }
        Err(_) => Err(text(
            StatusCode::REQUEST_TIMEOUT,
            "the request body did not arrive in time\n",
        )),
    }
}

/// The request's head as a backend gets it (see
/// [`http_head::upstream_parts`]), apart from its body.
fn upstream_head(req: Request<Incoming>, client: IpAddr) -> (Head, Incoming) {
    let (parts, body) = req.into_parts();
    let Parts {
        method,
        uri,
        version,
        headers,
        ..
    } = http_head::upstream_parts(parts, client);
    (
        Head {
            method,
            uri,
            version,
            headers,
        },
        body,
    )
}

/// Records the backend's ORCA load report, when its answer carries one and
/// the strategy weighs by them (orca-wrr); one that does not parse is
/// logged and left out.
fn record_load_report(pick: &Pick<Backend>, headers: &hyper::HeaderMap) {
    if !pick.reads_load_reports() {
        return;
    }
    match pickwise::orca::from_headers(headers) {
        Some(Ok(report)) => pick.record_load_report(&report),
        Some(Err(e)) => debug!("{}: {e}", pick.id()),
        None => {}
    }
}

/// Gateway errors from the backend count as failures (its own upstream is
/// unhealthy); other 5xx are application errors from a live backend; a
/// gRPC answer's status is judged by `pickwise::grpc`'s table.
fn outcome_of(response: &Response<Incoming>, latency: Duration) -> Outcome {
    if is_grpc(response) {
        // A trailers-only answer: the status is in the head.
        let kind = pickwise::grpc::outcome_of_trailers(Some(response.headers()));
        return Outcome { kind, latency };
    }
    match response.status().as_u16() {
        502..=504 => Outcome::failure(FailureKind::GatewayError, latency),
        500..=599 => Outcome::server_error(latency),
        _ => Outcome::success(latency),
    }
}

/// Whether a response is a gRPC call's answer: 200 with an
/// `application/grpc` content type (gRPC over HTTP/2's rule).
fn is_grpc(response: &Response<Incoming>) -> bool {
    response.status() == StatusCode::OK
        && response
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/grpc"))
}

/// What a try's request needs to reach `backend`: an HTTP/2 target's
/// authority (when the client gave none), or an HTTP/1.x `Host`.
fn address(request: &mut Request<Body>, backend: &Backend) {
    if request.version() == Version::HTTP_2 {
        if request.uri().authority().is_none() {
            *request.uri_mut() = http_head::absolute(backend.host(), request.uri());
        }
    } else if !request.headers().contains_key(HOST) {
        request.headers_mut().insert(HOST, backend.host().clone());
    }
}

/// What sending a try gives: the head and the connection's lease, or why
/// not (with the request if it never left).
type UpstreamResult = Result<(Response<Incoming>, Lease), (UpstreamError, Option<Request<Body>>)>;

/// A plain-text answer from the proxy itself.
pub fn text(status: StatusCode, message: &str) -> Response<Body> {
    let body = Full::new(Bytes::from(message.to_owned()))
        .map_err(|never| match never {})
        .boxed();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
