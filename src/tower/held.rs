//! [`HeldPick`]: a pick whose payload type is forgotten, so a response
//! body can carry it without naming the backend's service type.

use std::fmt;
use std::time::{Duration, Instant};

use crate::pool::Pick;
use crate::types::{BackendId, FailureKind};

/// What a held pick must still do: release on drop, take a late failure.
trait Erased: Send + Sync {
    fn id(&self) -> &BackendId;
    fn record_late_failure(&mut self, kind: FailureKind, latency: Duration);
}

impl<B: Send + Sync + 'static> Erased for Pick<B> {
    fn id(&self) -> &BackendId {
        Pick::id(self)
    }

    fn record_late_failure(&mut self, kind: FailureKind, latency: Duration) {
        Pick::record_late_failure(self, kind, latency);
    }
}

/// A [`Pick`] kept alive after the response head, with the time its request
/// started: the backend counts one request in flight until it is dropped.
///
/// [`Balance`](super::Balance) hands one to [`Classify::attach`](super::Classify::attach);
/// [`PickBody`](super::PickBody) keeps it until the body ends. The payload's
/// type is forgotten (one small allocation), so a response body's type
/// does not name the backend's service type.
///
/// ```
/// use pickwise::{BackendSpec, Balancer, Context, FailureKind, Outcome, Pool};
/// use pickwise::strategy::LeastConnections;
/// use pickwise::tower::HeldPick;
/// use std::time::{Duration, Instant};
///
/// let pool = Pool::new(LeastConnections::new(), vec![BackendSpec::new("a", ())])?;
/// let mut pick = pool.pick(&Context::new())?;
/// pick.record(Outcome::success(Duration::from_millis(1)));
/// let mut held = HeldPick::new(pick, Instant::now());
/// held.record_late_failure(FailureKind::BodyCut);
/// assert_eq!(pool.status(held.id()).unwrap().failures, 1);
/// assert_eq!(pool.status(held.id()).unwrap().in_flight, Some(1));
/// drop(held);
/// assert_eq!(pool.status(&"a".into()).unwrap().in_flight, Some(0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct HeldPick {
    pick: Box<dyn Erased>,
    started: Instant,
}

impl HeldPick {
    /// Holds `pick`, whose request started at `started`.
    pub fn new<B: Send + Sync + 'static>(pick: Pick<B>, started: Instant) -> Self {
        HeldPick {
            pick: Box::new(pick),
            started,
        }
    }

    /// The picked backend.
    pub fn id(&self) -> &BackendId {
        self.pick.id()
    }

    /// When its request started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Records a failure found after the response head, in place of the
    /// outcome recorded at the head: [`Pick::record_late_failure`], with the
    /// time since the request started as the latency should nothing have
    /// been recorded yet.
    pub fn record_late_failure(&mut self, kind: FailureKind) {
        let latency = self.started.elapsed();
        self.pick.record_late_failure(kind, latency);
    }
}

impl fmt::Debug for HeldPick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeldPick")
            .field("id", self.id())
            .field("started", &self.started)
            .finish()
    }
}
