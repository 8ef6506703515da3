//! Membership from a `tower::discover::Discover` stream: its changes are
//! [`discovery::Change`](crate::discovery::Change)s of a
//! [`Source`](crate::discovery::Source) owning the pool, applied in
//! batches through the one path every source takes.

use std::error::Error as StdError;
use std::fmt;
use std::future::poll_fn;
use std::pin::pin;
use std::task::Poll;

use ::tower::discover::{Change, Discover};

use crate::discovery::{self, Source};
use crate::pool::Pool;
use crate::strategy::Strategy;
use crate::types::{BackendId, ConfigError};

/// Why [`discover`] stopped following its stream.
#[derive(Debug)]
pub enum DiscoverError<E> {
    /// The stream failed. The changes it gave before were applied.
    Discover(E),
    /// The pool refused the set the changes made (e.g. more than
    /// [`MAX_BACKENDS`](crate::types::MAX_BACKENDS)); the pool kept its set.
    Update(ConfigError),
}

impl<E: fmt::Display> fmt::Display for DiscoverError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DiscoverError::Discover(e) => write!(f, "service discovery failed: {e}"),
            DiscoverError::Update(e) => write!(f, "discovered backends refused: {e}"),
        }
    }
}

impl<E: StdError + 'static> StdError for DiscoverError<E> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            DiscoverError::Discover(e) => Some(e),
            DiscoverError::Update(e) => Some(e),
        }
    }
}

/// Applies one change to the pool: an insert adds the backend (weight 1)
/// or, for an id already there, replaces its service and keeps its
/// weight, tier, cap and counters; a remove takes it out (removing an id
/// that is not there changes nothing). One
/// [`Source::apply`](crate::discovery::Source::apply) of an exclusive
/// source.
///
/// ```
/// use pickwise::{BackendSpec, Pool};
/// use pickwise::strategy::RoundRobin;
/// use pickwise::tower::apply_change;
/// use tower::discover::Change;
///
/// let pool = Pool::new(RoundRobin::new(), vec![BackendSpec::new("a", 1)])?;
/// apply_change(&pool, Change::Insert("b".into(), 2))?;
/// apply_change(&pool, Change::Remove("a".into()))?;
/// assert_eq!(pool.specs(), vec![BackendSpec::new("b", 2)]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn apply_change<S, Svc>(
    pool: &Pool<S, Svc>,
    change: Change<BackendId, Svc>,
) -> Result<(), ConfigError>
where
    S: Strategy,
    Svc: Clone + Send + Sync + 'static,
{
    Source::exclusive().apply(pool, [ours(change)]).map(|_| ())
}

/// A tower change as the pool's: an insert gives the backend of its key a
/// service (keeping its words), a remove takes it out.
fn ours<Svc>(change: Change<BackendId, Svc>) -> discovery::Change<Svc> {
    match change {
        Change::Insert(id, service) => discovery::Change::Value(id, service),
        Change::Remove(id) => discovery::Change::Remove(id),
    }
}

/// Follows a `Discover` stream until it ends, applying its changes to the
/// pool (as [`apply_change`] does); each key becomes a [`BackendId`] by
/// its `Display`. See [`discover_with`].
///
/// ```
/// use pickwise::{BackendSpec, Pool};
/// use pickwise::strategy::RoundRobin;
/// use pickwise::tower::discover;
/// use tower::discover::ServiceList;
/// use tower::service_fn;
///
/// let echo = service_fn(|request: String| async move { Ok::<_, std::io::Error>(request) });
/// let pool = Pool::new(RoundRobin::new(), Vec::<BackendSpec<_>>::new())?;
/// // ServiceList gives its services keys 0, 1, 2.
/// let list = ServiceList::new(vec![echo, echo, echo]);
/// tokio::runtime::Builder::new_current_thread().build()?.block_on(discover(&pool, list))?;
/// let ids: Vec<String> = pool.backends().iter().map(|b| b.id.to_string()).collect();
/// assert_eq!(ids, ["0", "1", "2"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn discover<S, Svc, D>(
    pool: &Pool<S, Svc>,
    discover: D,
) -> Result<(), DiscoverError<D::Error>>
where
    S: Strategy,
    Svc: Clone + Send + Sync + 'static,
    D: Discover<Service = Svc>,
    D::Key: fmt::Display,
{
    discover_with(pool, discover, |key: &D::Key| {
        BackendId::new(key.to_string())
    })
    .await
}

/// Follows a `Discover` stream until it ends, applying its changes to the
/// pool; `id` names each key's backend. Changes that arrive together are
/// applied in one batch ([`Source::apply`](crate::discovery::Source::apply):
/// a list of a hundred inserts builds one set, not a hundred).
///
/// Runs on any executor: it only polls the stream. It returns `Ok` when
/// the stream ends, and an error when the stream fails (the changes
/// before it applied) or the pool refuses a set (the pool keeping the one
/// it had). Spawn it beside the [`Balance`](super::Balance) that shares
/// the pool:
///
/// ```
/// use pickwise::{BackendId, BackendSpec, Pool};
/// use pickwise::strategy::LeastConnections;
/// use pickwise::tower::{discover_with, Balance};
/// use std::sync::Arc;
/// use tower::discover::ServiceList;
/// use tower::service_fn;
///
/// let echo = service_fn(|request: String| async move { Ok::<_, std::io::Error>(request) });
/// let pool = Arc::new(Pool::new(LeastConnections::new(), Vec::<BackendSpec<_>>::new())?);
/// let balance = Balance::new(Arc::clone(&pool));
/// let runtime = tokio::runtime::Runtime::new()?;
/// let following = runtime.spawn(async move {
///     let name = |key: &usize| BackendId::new(format!("echo-{key}"));
///     discover_with(&pool, ServiceList::new(vec![echo, echo]), name).await
/// });
/// runtime.block_on(following)??;
/// assert_eq!(balance.pool().backends()[1].id.as_str(), "echo-1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub async fn discover_with<S, Svc, D, F>(
    pool: &Pool<S, Svc>,
    discover: D,
    mut id: F,
) -> Result<(), DiscoverError<D::Error>>
where
    S: Strategy,
    Svc: Clone + Send + Sync + 'static,
    D: Discover<Service = Svc>,
    F: FnMut(&D::Key) -> BackendId,
{
    let mut discover = pin!(discover);
    let mut source = Source::exclusive();
    loop {
        // Wait for a change, then take every change already there.
        let Some(first) = poll_fn(|cx| discover.as_mut().poll_discover(cx)).await else {
            return Ok(());
        };
        let mut batch = Vec::new();
        let mut next = Some(first);
        let mut stop = None;
        while let Some(change) = next.take() {
            match change {
                Ok(change) => batch.push(ours(named(change, &mut id))),
                Err(e) => {
                    stop = Some(Err(DiscoverError::Discover(e)));
                    break;
                }
            }
            let polled = poll_fn(|cx| Poll::Ready(discover.as_mut().poll_discover(cx))).await;
            match polled {
                Poll::Ready(Some(change)) => next = Some(change),
                Poll::Ready(None) => stop = Some(Ok(())),
                Poll::Pending => {}
            }
        }
        if !batch.is_empty() {
            source.apply(pool, batch).map_err(DiscoverError::Update)?;
        }
        if let Some(stop) = stop {
            return stop;
        }
    }
}

fn named<K, Svc>(
    change: Change<K, Svc>,
    id: &mut impl FnMut(&K) -> BackendId,
) -> Change<BackendId, Svc> {
    match change {
        Change::Insert(key, service) => Change::Insert(id(&key), service),
        Change::Remove(key) => Change::Remove(id(&key)),
    }
}
