//! The bodies the proxy relays, each watched so a failure is blamed on the
//! side that caused it.
//!
//! - [`Upload`]: the client's request body on its way to a backend; tells
//!   whether it is done, failed (the client's fault: malformed chunks, an
//!   aborted upload) or waiting on the client.
//! - [`Relay`]: the backend's response body on its way to the client; holds
//!   the pick and the connection until the body ends, and records a body
//!   that stalls (longer than the body timeout between frames) or is cut
//!   short as the backend's late failure. Either way the client's response
//!   is aborted with an error, so the client sees an incomplete response,
//!   never a valid short one.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::combinators::BoxBody;
use hyper::body::{Body as HttpBody, Bytes, Frame, Incoming, SizeHint};
use pickwise::{FailureKind, Outcome, Pick};
use tokio::time::Sleep;
use tracing::{info, warn};

use crate::client_io::StreamClock;
use crate::upstream::{Backend, Lease};

/// Any error a relayed body can end with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body type on both sides of the proxy.
pub type Body = BoxBody<Bytes, BoxError>;

/// Where the client's request body stands, shared between the body on its
/// way and the request handler (nothing to share, and nothing allocated,
/// for a request with nothing left to upload).
#[derive(Clone)]
pub struct UploadState(Option<Arc<AtomicU8>>);

/// Not yet polled, or the last frame was handed on: the backend's turn.
const WAITING_ON_BACKEND: u8 = 0;
/// The last poll waits for bytes from the client.
const WAITING_ON_CLIENT: u8 = 1;
/// Read to its end.
const DONE: u8 = 2;
/// The client's body failed (malformed, aborted).
const FAILED: u8 = 3;

impl UploadState {
    /// A request with nothing left to upload (no body, or one buffered).
    pub fn done() -> Self {
        UploadState(None)
    }

    fn new() -> Self {
        UploadState(Some(Arc::new(AtomicU8::new(WAITING_ON_BACKEND))))
    }

    fn set(&self, state: u8) {
        if let Some(shared) = &self.0 {
            shared.store(state, Ordering::Release);
        }
    }

    fn get(&self) -> u8 {
        self.0
            .as_ref()
            .map_or(DONE, |shared| shared.load(Ordering::Acquire))
    }

    /// The client's body failed: whatever broke after is the client's fault.
    pub fn failed(&self) -> bool {
        self.get() == FAILED
    }

    /// The body is still coming and the client is the one to send more.
    pub fn waiting_on_client(&self) -> bool {
        self.get() == WAITING_ON_CLIENT
    }
}

/// The client's request body streamed to a backend, its errors marked as
/// the client's ([`ClientBodyError`]) and its progress in an [`UploadState`].
pub struct Upload {
    inner: Incoming,
    state: UploadState,
}

impl Upload {
    /// Watches `inner`; the state is shared with the caller.
    pub fn new(inner: Incoming) -> (Self, UploadState) {
        let state = UploadState::new();
        let upload = Upload {
            inner,
            state: state.clone(),
        };
        (upload, state)
    }
}

/// The client's request body failed: malformed chunks, an upload cut off.
#[derive(Debug)]
pub struct ClientBodyError(pub hyper::Error);

impl fmt::Display for ClientBodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the client's request body failed")
    }
}

/// An error and its causes, `: `-separated (hyper keeps the telling part,
/// e.g. "invalid chunk size", in a cause).
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

impl std::error::Error for ClientBodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl HttpBody for Upload {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.state.set(if this.inner.is_end_stream() {
                    DONE
                } else {
                    WAITING_ON_BACKEND
                });
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.state.set(FAILED);
                Poll::Ready(Some(Err(Box::new(ClientBodyError(e)))))
            }
            Poll::Ready(None) => {
                this.state.set(DONE);
                Poll::Ready(None)
            }
            Poll::Pending => {
                this.state.set(WAITING_ON_CLIENT);
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The backend's response body on its way to the client.
pub struct Relay {
    inner: Incoming,
    pick: Pick<Backend>,
    lease: Lease,
    upload: UploadState,
    /// The longest pause allowed between two frames.
    stall: Duration,
    /// Made the first time a frame is not ready at once (a small body
    /// arrives with its head and never needs one).
    timer: Option<Pin<Box<Sleep>>>,
    /// The proxy asked for the next frame and did not have it at once: the
    /// timer runs (a client slow to read is no stalled backend).
    waiting: bool,
    started: Instant,
    done: bool,
    /// A gRPC call whose outcome its trailers give (not recorded at the head).
    grpc: bool,
    /// An HTTP/2 stream's clock of waits on the client (see client_io).
    clock: Option<Arc<StreamClock>>,
}

/// The backend's response body failed: stalled or cut short.
#[derive(Debug)]
struct BackendBodyError(String);

impl fmt::Display for BackendBodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BackendBodyError {}

impl Relay {
    /// Relays `inner`, the body of a response whose head was recorded on
    /// `pick` (at `started`, when the request went out); `stall` is the
    /// body timeout.
    pub fn new(
        inner: Incoming,
        pick: Pick<Backend>,
        lease: Lease,
        upload: UploadState,
        stall: Duration,
        started: Instant,
    ) -> Self {
        let mut relay = Relay {
            timer: None,
            waiting: false,
            done: false,
            inner,
            pick,
            lease,
            upload,
            stall,
            started,
            grpc: false,
            clock: None,
        };
        // A bodiless response (HEAD, 204, 304) may never be polled.
        if relay.inner.is_end_stream() {
            relay.finish();
        }
        relay
    }

    /// The timer for the frame asked for, started by the first poll that
    /// found it not ready: no clock read or timer while frames come at once.
    fn stall_timer(&mut self) -> Pin<&mut Sleep> {
        if !self.waiting {
            self.waiting = true;
            let limit = tokio::time::Instant::now() + self.stall;
            match &mut self.timer {
                Some(timer) => timer.as_mut().reset(limit),
                None => self.timer = Some(Box::pin(tokio::time::sleep_until(limit))),
            }
        }
        // Always there once waiting; made here otherwise all the same.
        let stall = self.stall;
        self.timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)))
            .as_mut()
    }

    /// A gRPC call's answer: its outcome is recorded when its trailers
    /// come (`grpc-status`, `pickwise::grpc`'s table), or as a server
    /// error if it ends without any; an ORCA report in them is recorded.
    pub fn judged_by_trailers(mut self) -> Self {
        self.grpc = true;
        if self.done {
            self.judge(None);
        }
        self
    }

    /// Notes on `clock` when a frame was handed over and the next not yet
    /// asked for, so a client that stops reading this stream is found.
    pub fn watched(mut self, clock: Arc<StreamClock>) -> Self {
        self.clock = Some(clock);
        self
    }

    fn judge(&mut self, trailers: Option<&hyper::HeaderMap>) {
        if self.grpc && !self.pick.is_recorded() {
            let kind = pickwise::grpc::outcome_of_trailers(trailers);
            let latency = self.started.elapsed();
            self.pick.record(Outcome { kind, latency });
        }
        if let Some(trailers) = trailers {
            if self.pick.reads_load_reports() {
                if let Some(Ok(report)) = pickwise::orca::from_headers(trailers) {
                    self.pick.record_load_report(&report);
                }
            }
        }
    }

    fn finish(&mut self) {
        self.done = true;
        self.lease.reusable();
        self.judge(None);
    }

    /// Ends the relay with a failure: the backend's, unless the client's
    /// own request body failed first (the backend may have been cut off
    /// because of it).
    fn fail(&mut self, kind: FailureKind, what: String) -> BoxError {
        self.done = true;
        let id = self.pick.id().clone();
        if self.upload.failed() {
            info!("{id}: the response ended early after the client's request body failed ({what}); not counted against the backend");
        } else {
            warn!("{id}: {kind} ({what}); the client's response is cut off");
            self.pick.record_late_failure(kind, self.started.elapsed());
        }
        Box::new(BackendBodyError(format!("{id}: {kind}")))
    }
}

impl HttpBody for Relay {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if let Some(clock) = &this.clock {
            clock.asked();
        }
        if this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.waiting = false;
                if let Some(trailers) = frame.trailers_ref() {
                    this.judge(Some(trailers));
                }
                if this.inner.is_end_stream() {
                    this.finish();
                } else if let Some(clock) = &this.clock {
                    clock.handed_over();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                this.finish();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                Poll::Ready(Some(Err(this.fail(FailureKind::BodyCut, chain(&e)))))
            }
            Poll::Pending => match this.stall_timer().poll(cx) {
                Poll::Ready(()) => {
                    let what = format!("no body bytes for {:?}", this.stall);
                    Poll::Ready(Some(Err(this.fail(FailureKind::BodyStalled, what))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
