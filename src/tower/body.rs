//! [`PickBody`]: a response body that holds its pick (as a [`Ticket`])
//! until the body ends.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::pool::Ticket;
use crate::types::{FailureKind, OutcomeKind};

/// What a response's end says about its backend when its head did not
/// (see [`PickBody::judged_at_end`]): the trailers, or `None` when the body
/// ended without any.
pub type EndJudge = fn(Option<&http::HeaderMap>) -> OutcomeKind;

pin_project! {
    /// A response body that keeps its request's pick until the body ends,
    /// so the backend counts the request in flight for as long as it
    /// streams (least connections balances streams, not headers).
    ///
    /// The pick is released when the inner body yields its last frame (or
    /// says it is at its end), when it fails, or when this body is
    /// dropped, whichever comes first; a body already at its end when
    /// wrapped (an empty body) releases it at once. A body error is
    /// recorded as a late failure ([`FailureKind::BodyCut`]) in place of the
    /// success recorded at the head, so passive health sees backends that
    /// cut their bodies. Dropping the body early records nothing: that was
    /// the caller's choice, not the backend's fault. A load report (ORCA)
    /// in the trailers is recorded when the pool's strategy reads them.
    ///
    /// Frames and errors pass through unchanged.
    ///
    /// ```
    /// use http_body::Body;
    /// use pickwise::{BackendSpec, Balancer, Context, Pool};
    /// use pickwise::strategy::LeastConnections;
    /// use pickwise::tower::PickBody;
    /// use std::time::Instant;
    ///
    /// let pool = Pool::new(LeastConnections::new(), vec![BackendSpec::new("a", ())])?;
    /// let pick = pool.pick(&Context::new())?;
    /// let body = PickBody::new(String::from("hello"), pick.into_ticket(Instant::now()));
    /// assert!(body.holds_pick());
    /// assert_eq!(pool.status(&"a".into()).unwrap().in_flight, Some(1));
    /// drop(body);
    /// assert_eq!(pool.status(&"a".into()).unwrap().in_flight, Some(0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[derive(Debug)]
    pub struct PickBody<B> {
        #[pin]
        inner: B,
        pick: Option<Ticket>,
        judge: Option<EndJudge>,
    }
}

impl<B: Body> PickBody<B> {
    /// Wraps `inner`, holding `pick` until it ends (at once if it already
    /// has).
    pub fn new(inner: B, pick: Ticket) -> Self {
        let pick = (!inner.is_end_stream()).then_some(pick);
        PickBody {
            inner,
            pick,
            judge: None,
        }
    }

    /// Wraps `inner` for a response whose outcome comes at its end (a gRPC
    /// status in the trailers): when the trailers arrive, or the body ends
    /// without any, `judge` says what they mean and the pick records it
    /// (unless an outcome was recorded already), its latency the time
    /// since the call. A body already at its end is judged at once,
    /// without trailers.
    pub fn judged_at_end(inner: B, mut pick: Ticket, judge: EndJudge) -> Self {
        if inner.is_end_stream() {
            record_end(&mut pick, judge(None));
            return PickBody {
                inner,
                pick: None,
                judge: None,
            };
        }
        PickBody {
            inner,
            pick: Some(pick),
            judge: Some(judge),
        }
    }
}

/// The body ended (without trailers, if the pick is still held): the
/// pick is released, after recording what `judge` makes of no trailers.
fn end(pick: &mut Option<Ticket>, judge: Option<EndJudge>) {
    if let (Some(mut pick), Some(judge)) = (pick.take(), judge) {
        record_end(&mut pick, judge(None));
    }
}

/// Records the load report (ORCA) in a response's headers or trailers,
/// when the pool's strategy reads reports; one that does not parse is
/// left out (the response itself is fine).
pub(crate) fn record_load_report(pick: &Ticket, headers: &http::HeaderMap) {
    if pick.reads_load_reports() {
        if let Some(Ok(report)) = crate::orca::from_headers(headers) {
            pick.record_load_report(&report);
        }
    }
}

/// Records what the end of the response said, unless the head said it.
fn record_end(pick: &mut Ticket, kind: OutcomeKind) {
    if !pick.is_recorded() {
        // One clock read for the latency and the recording's time.
        pick.record_ended(kind, Instant::now());
    }
}

impl<B> PickBody<B> {
    /// Whether the pick is still held (the body has not ended).
    pub fn holds_pick(&self) -> bool {
        self.pick.is_some()
    }

    /// The inner body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// The inner body, the pick released.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B: Body> Body for PickBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let polled = this.inner.as_mut().poll_frame(cx);
        match &polled {
            Poll::Pending => {}
            Poll::Ready(None) => end(this.pick, *this.judge),
            Poll::Ready(Some(Err(_))) => {
                if let Some(mut pick) = this.pick.take() {
                    let latency = pick.started().elapsed();
                    pick.record_late_failure(FailureKind::BodyCut, latency);
                }
            }
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(pick), Some(trailers)) = (this.pick.as_ref(), frame.trailers_ref()) {
                    record_load_report(pick, trailers);
                }
                if let (Some(judge), Some(trailers)) = (*this.judge, frame.trailers_ref()) {
                    if let Some(mut pick) = this.pick.take() {
                        record_end(&mut pick, judge(Some(trailers)));
                    }
                }
                if this.inner.is_end_stream() {
                    end(this.pick, *this.judge);
                }
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
