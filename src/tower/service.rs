//! [`Balance`]: the `tower::Service` that balances calls over a pool of
//! per-backend services.

use std::fmt;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use ::tower::Service;

use crate::pool::Pool;
use crate::runtime::sync::OwnedCached;
use crate::strategy::Strategy;
use crate::tower::classify::{Classify, HttpClassifier, ResultClassifier};
use crate::tower::context::{ContextFn, MakeContext, NoContext};
use crate::tower::error::Error;
use crate::tower::future::ResponseFuture;
use crate::types::Context;

/// A `tower::Service` that sends each call to a backend the pool's
/// strategy picks, and records what happened.
///
/// The pool's payload is each backend's own service (`Svc`, cheap to
/// clone, as hyper-util's `Client` or a tonic `Channel`): a call picks a
/// backend with the [`Context`] its [`MakeContext`] makes from the request
/// (empty by default), clones that backend's service, waits for the clone
/// to be ready, calls it, and when the response (or error) arrives records
/// the [`Outcome`](crate::types::Outcome) its [`Classify`] gives, with the
/// time since the call as latency. The pick counts one request in flight
/// until the classifier lets it go: at the response for
/// [`ResultClassifier`] ([`Balance::new`]), at the end of the response body
/// for [`HttpClassifier`] ([`Balance::http`]).
///
/// Cloning a `Balance` is cheap (the pool is shared behind an [`Arc`]);
/// it is `Send` and `Sync` when its classifier and context maker are.
/// Like a [`Picker`](crate::Picker), each `Balance` (each clone) keeps its
/// own reference to the set it last saw, checked with one pointer
/// comparison per call: an update is seen by the next call, and an idle
/// `Balance` keeps the last set (its backends' services) alive until its
/// next call or its drop.
///
/// # Readiness
///
/// `poll_ready` always returns `Ready(Ok(()))`, and says nothing about the
/// backends: that is all the balancer can honestly know in advance.
///
/// - Whether a pick would succeed changes with updates, health and time,
///   none of which wakes a task, so the balancer could not return
///   `Pending` and promise a wake-up; and an `Err` from `poll_ready` would
///   mark the balancer itself as failed for good. A call made when no
///   backend can take it fails at once with [`Error::NoBackend`] naming
///   why (empty set, every backend down, at capacity...), without
///   reaching any backend.
/// - Which backend a call goes to is only decided in `call`, from the
///   request's context, so no inner service can be polled for readiness
///   beforehand. The response future polls the picked backend's clone
///   for readiness before calling it (as `tower::util::Oneshot` does):
///   an inner service's back-pressure shows as a slower response future,
///   and its `poll_ready` error as an [`Error::Backend`] recorded as that
///   backend's failure.
///
/// For back-pressure on the balancer itself, put a
/// `tower::limit::ConcurrencyLimit` in front of it, or give backends a
/// cap ([`BackendSpec::max_conns`](crate::types::BackendSpec::max_conns)):
/// calls beyond every cap fail fast with [`NoBackend::AtCapacity`](crate::types::NoBackend::AtCapacity).
///
/// ```
/// use pickwise::{BackendSpec, Context, Pool};
/// use pickwise::strategy::Rendezvous;
/// use pickwise::tower::Balance;
/// use tower::{service_fn, Service, ServiceExt};
///
/// // Each backend's service answers with its name.
/// let backend = |name: &'static str| service_fn(move |_path: String| async move {
///     Ok::<_, std::io::Error>(name)
/// });
/// let pool = Pool::new(Rendezvous::new(), vec![
///     BackendSpec::new("a", backend("a")),
///     BackendSpec::new("b", backend("b")),
///     BackendSpec::new("c", backend("c")),
/// ])?;
/// // Hash on the request's path: one path, one backend.
/// let mut balance = Balance::new(pool)
///     .context(|path: &String| Context::new().key(path.as_bytes()));
///
/// tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
///     let first: &str = balance.ready().await?.call("/cart/42".to_owned()).await?;
///     for _ in 0..5 {
///         assert_eq!(balance.ready().await?.call("/cart/42".to_owned()).await?, first);
///     }
///     Ok::<_, Box<dyn std::error::Error>>(())
/// })?;
/// // Each backend's outcomes are recorded: all six calls went to one.
/// let statuses = balance.pool().backends();
/// assert_eq!(statuses.iter().map(|b| b.successes).max(), Some(6));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Balance<S: Strategy, Svc, C = ResultClassifier, X = NoContext> {
    pool: Arc<Pool<S, Svc>>,
    /// This handle's view of the pool's current set: a call's pick reads
    /// it with one pointer comparison instead of an `ArcSwap` load, and
    /// borrows the chosen backend from it instead of counting a reference.
    current: OwnedCached<Arc<Pool<S, Svc>>>,
    classifier: C,
    context: X,
}

impl<S: Strategy, Svc: Send + Sync + 'static> Balance<S, Svc> {
    /// Balances over `pool` (a [`Pool`] or an `Arc` of one, shared with
    /// whatever else updates or watches it) with [`ResultClassifier`]: `Ok`
    /// succeeds, `Err` fails; the request ends with the response.
    pub fn new(pool: impl Into<Arc<Pool<S, Svc>>>) -> Self {
        let pool = pool.into();
        Balance {
            current: OwnedCached::new(Arc::clone(&pool)),
            pool,
            classifier: ResultClassifier,
            context: NoContext,
        }
    }
}

impl<S: Strategy, Svc: Send + Sync + 'static> Balance<S, Svc, HttpClassifier> {
    /// Balances HTTP calls over `pool` with [`HttpClassifier`]: transport
    /// errors and 502/503/504 fail, other 5xx are server errors, the rest
    /// succeed; each request ends with its response body.
    ///
    /// ```
    /// use http::{Request, Response, StatusCode};
    /// use http_body_util::BodyExt;
    /// use pickwise::{BackendSpec, Pool};
    /// use pickwise::strategy::LeastConnections;
    /// use pickwise::tower::Balance;
    /// use tower::{service_fn, Service, ServiceExt};
    ///
    /// let backend = |status: StatusCode| service_fn(move |_: Request<()>| async move {
    ///     let response = Response::builder().status(status).body(String::from("hi"))?;
    ///     Ok::<_, http::Error>(response)
    /// });
    /// let pool = Pool::new(LeastConnections::new(), vec![
    ///     BackendSpec::new("ok", backend(StatusCode::OK)),
    ///     BackendSpec::new("busy", backend(StatusCode::SERVICE_UNAVAILABLE)),
    /// ])?;
    /// let mut balance = Balance::http(pool);
    /// tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
    ///     for _ in 0..2 {
    ///         let response = balance.ready().await?.call(Request::new(())).await?;
    ///         // The backend counts this request until its body is read.
    ///         let _body = response.into_body().collect().await?;
    ///     }
    ///     Ok::<_, Box<dyn std::error::Error>>(())
    /// })?;
    /// let busy = balance.pool().status(&"busy".into()).unwrap();
    /// assert_eq!((busy.failures, busy.in_flight), (1, Some(0)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn http(pool: impl Into<Arc<Pool<S, Svc>>>) -> Self {
        let pool = pool.into();
        Balance {
            current: OwnedCached::new(Arc::clone(&pool)),
            pool,
            classifier: HttpClassifier,
            context: NoContext,
        }
    }
}

impl<S: Strategy, Svc, C, X> Balance<S, Svc, C, X> {
    /// The same balancer with another classifier.
    pub fn classify<C2>(self, classifier: C2) -> Balance<S, Svc, C2, X> {
        Balance {
            pool: self.pool,
            current: self.current,
            classifier,
            context: self.context,
        }
    }

    /// The same balancer, making each pick's [`Context`] from the request
    /// with `context`: a key for the hash strategies, the client's address,
    /// backends to avoid. Name the request's type in the closure's
    /// argument (`|request: &Request<Body>| ...`).
    pub fn context<Req, F>(self, context: F) -> Balance<S, Svc, C, ContextFn<F>>
    where
        F: for<'r> Fn(&'r Req) -> Context<'r>,
    {
        self.make_context(ContextFn { f: context })
    }

    /// The same balancer with another [`MakeContext`].
    pub fn make_context<X2>(self, context: X2) -> Balance<S, Svc, C, X2> {
        Balance {
            pool: self.pool,
            current: self.current,
            classifier: self.classifier,
            context,
        }
    }

    /// The pool: its status, updates, health and admin controls.
    pub fn pool(&self) -> &Arc<Pool<S, Svc>> {
        &self.pool
    }
}

impl<S: Strategy, Svc, C: Clone, X: Clone> Clone for Balance<S, Svc, C, X> {
    fn clone(&self) -> Self {
        Balance {
            pool: Arc::clone(&self.pool),
            current: OwnedCached::new(Arc::clone(&self.pool)),
            classifier: self.classifier.clone(),
            context: self.context.clone(),
        }
    }
}

impl<S: Strategy, Svc, C: fmt::Debug, X: fmt::Debug> fmt::Debug for Balance<S, Svc, C, X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<_> = self.pool.backends().into_iter().map(|b| b.id).collect();
        f.debug_struct("Balance")
            .field("backends", &ids)
            .field("classifier", &self.classifier)
            .field("context", &self.context)
            .finish()
    }
}

impl<S, Svc, C, X, Req> Service<Req> for Balance<S, Svc, C, X>
where
    S: Strategy,
    Svc: Service<Req> + Clone + Send + Sync + 'static,
    C: Classify<Svc::Response, Svc::Error> + Clone,
    X: MakeContext<Req>,
{
    type Response = C::Response;
    type Error = Error<Svc::Error>;
    type Future = ResponseFuture<Svc, Req, C>;

    /// Always ready: see [Readiness](Balance#readiness).
    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let ctx = self.context.context(&request);
        // The backend's service is cloned while the cached set lends it;
        // the ticket (one reference count, on the slot) carries the
        // in-flight count, the outcome and the start time to the response.
        let picked = self
            .pool
            .pick_ticket(&mut self.current, &ctx)
            .map(|(service, ticket)| (service.clone(), ticket));
        match picked {
            Ok((service, ticket)) => {
                ResponseFuture::new(service, ticket, request, self.classifier.clone())
            }
            Err(why) => ResponseFuture::refused(why, self.classifier.clone()),
        }
    }
}
