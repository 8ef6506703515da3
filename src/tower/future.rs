//! [`ResponseFuture`]: one balanced call, from the backend's readiness to
//! its recorded outcome.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use ::tower::Service;
use pin_project_lite::pin_project;

use crate::pool::Ticket;
use crate::tower::classify::Classify;
use crate::tower::error::Error;
use crate::types::{FailureKind, NoBackend, OutcomeKind};

pin_project! {
    /// The future of one call through [`Balance`](super::Balance): waits
    /// for the picked backend's service to be ready, calls it, records the
    /// outcome its [`Classify`] gives, and resolves to the classifier's
    /// response (or an [`Error`]).
    ///
    /// The pick is taken when the call is made, so the backend counts the
    /// request in flight while its service gets ready, too. Dropping the
    /// future before it resolves releases the pick and records nothing.
    ///
    /// # Panics
    ///
    /// Polled again after it resolved, as any future may.
    pub struct ResponseFuture<Svc, Req, C>
    where
        Svc: Service<Req>,
    {
        #[pin]
        state: State<Svc, Req>,
        // The pick without its payload (the service is cloned into
        // `state`): in-flight count, outcome and start time.
        ticket: Option<Ticket>,
        classifier: C,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<Svc, Req>
    where
        Svc: Service<Req>,
    {
        /// No backend: fails at the first poll.
        Refused { why: Option<NoBackend> },
        /// The backend's service (a clone), waiting to be ready.
        Readying { service: Svc, request: Option<Req> },
        /// The call is under way.
        Calling { #[pin] future: Svc::Future },
        /// Resolved; polling again is a contract breach.
        Done,
    }
}

impl<Svc, Req, C> ResponseFuture<Svc, Req, C>
where
    Svc: Service<Req> + Send + Sync + 'static,
{
    pub(crate) fn refused(why: NoBackend, classifier: C) -> Self {
        ResponseFuture {
            state: State::Refused { why: Some(why) },
            ticket: None,
            classifier,
        }
    }

    /// A call to `service` (the picked backend's, cloned) whose attempt
    /// `ticket` holds.
    pub(crate) fn new(service: Svc, ticket: Ticket, request: Req, classifier: C) -> Self {
        ResponseFuture {
            state: State::Readying {
                service,
                request: Some(request),
            },
            ticket: Some(ticket),
            classifier,
        }
    }
}

impl<Svc, Req, C> Future for ResponseFuture<Svc, Req, C>
where
    Svc: Service<Req> + Send + Sync + 'static,
    C: Classify<Svc::Response, Svc::Error>,
{
    type Output = Result<C::Response, Error<Svc::Error>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let result = match this.state.as_mut().project() {
                StateProj::Refused { why } => {
                    let why = why.take().unwrap_or(NoBackend::Empty);
                    this.state.set(State::Done);
                    return Poll::Ready(Err(Error::NoBackend(why)));
                }
                StateProj::Readying { service, request } => {
                    match service.poll_ready(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Err(error)) => Err(error),
                        Poll::Ready(Ok(())) => match request.take() {
                            Some(request) => {
                                let future = service.call(request);
                                this.state.set(State::Calling { future });
                                continue;
                            }
                            // Unreachable: the request is taken once, on
                            // the way to `Calling`.
                            None => return Poll::Pending,
                        },
                    }
                }
                StateProj::Calling { future } => match future.poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(result) => result,
                },
                StateProj::Done => panic!("ResponseFuture polled after it resolved"),
            };
            this.state.set(State::Done);
            return Poll::Ready(finish(result, this.ticket.take(), this.classifier));
        }
    }
}

/// Records the outcome on the ticket and hands the response over.
fn finish<Res, E, C>(
    result: Result<Res, E>,
    ticket: Option<Ticket>,
    classifier: &C,
) -> Result<C::Response, Error<E>>
where
    C: Classify<Res, E>,
{
    let Some(mut ticket) = ticket else {
        // Only `Refused` has no pick, and it never calls.
        return Err(Error::NoBackend(NoBackend::Empty));
    };
    let kind = match (&result, classifier.classify(&result)) {
        (_, Some(kind)) => Some(kind),
        // An error has no response to say it later: a classifier that
        // leaves one unclassified gets the generic failure.
        (Err(_), None) => Some(OutcomeKind::Failure(FailureKind::Other)),
        (Ok(_), None) => None,
    };
    if let Some(kind) = kind {
        // One clock read: the latency (since the ticket's start) and the
        // pool's time of the recording both come from it.
        ticket.record_ended(kind, Instant::now());
    }
    match result {
        Ok(response) => Ok(classifier.attach(response, ticket)),
        Err(error) => Err(Error::Backend {
            id: ticket.id().clone(),
            error,
        }),
    }
}

impl<Svc, Req, C> fmt::Debug for ResponseFuture<Svc, Req, C>
where
    Svc: Service<Req>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Refused { .. } => "refused",
            State::Readying { .. } => "readying",
            State::Calling { .. } => "calling",
            State::Done => "done",
        };
        f.debug_struct("ResponseFuture")
            .field("backend", &self.ticket.as_ref().map(Ticket::id))
            .field("state", &state)
            .finish()
    }
}
