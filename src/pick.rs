//! The owned guard a pick returns.

use std::fmt;
use std::sync::Arc;

use crate::backend::BackendId;
use crate::outcome::Outcome;
use crate::slot::Slot;

/// A backend's payload and the runtime slot it counts against.
pub(crate) struct Member<B> {
    pub(crate) value: B,
    pub(crate) slot: Arc<Slot>,
}

/// One chosen backend, held for the life of the request.
///
/// While it lives, the backend counts one more request in flight (what the
/// least-connections strategies balance on; strategies that never read the
/// count skip it unless the pool was built with
/// [`track_in_flight`](crate::PoolBuilder::track_in_flight)). Dropping it
/// releases that count, on the right backend even if the set was replaced
/// meanwhile. It owns what it
/// needs, so it may cross `.await` points, `tokio::spawn` and threads.
///
/// ```
/// use loadwise::{Balancer, BackendSpec, Context, Outcome, Pool, strategy::LeastConnections};
/// use std::time::Duration;
///
/// let pool = Pool::new(LeastConnections::new(), vec![BackendSpec::new("a", 1), BackendSpec::new("b", 2)])?;
/// let mut pick = pool.pick(&Context::new())?;
/// assert_eq!(pool.status(pick.id()).unwrap().in_flight, 1);
/// // ... send the request to *pick.backend() ...
/// pick.record(Outcome::success(Duration::from_millis(3)));
/// let id = pick.id().clone();
/// drop(pick);
/// assert_eq!(pool.status(&id).unwrap().in_flight, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping a pick at once ends its request: keep it while the request runs"]
pub struct Pick<B> {
    member: Arc<Member<B>>,
    /// Whether this pick counts in flight (see [`Strategy::reads_in_flight`](crate::Strategy::reads_in_flight)).
    counted: bool,
    recorded: bool,
}

impl<B> Pick<B> {
    pub(crate) fn new(member: Arc<Member<B>>, counted: bool) -> Self {
        if counted {
            member.slot.acquire();
        }
        Pick::adopt(member, counted, false)
    }

    /// A pick whose in-flight count (if `counted`) was already taken.
    pub(crate) fn adopt(member: Arc<Member<B>>, counted: bool, recorded: bool) -> Self {
        Pick {
            member,
            counted,
            recorded,
        }
    }

    /// The caller's payload for the chosen backend.
    #[inline]
    pub fn backend(&self) -> &B {
        &self.member.value
    }

    /// The chosen backend's id (put it in a retry's exclusion list).
    #[inline]
    pub fn id(&self) -> &BackendId {
        &self.member.slot.id
    }

    /// Records what the backend did: at response headers for a success or a
    /// server error, or when the attempt fails. Passive health and the
    /// feedback strategies learn from it. Only the first outcome counts: one
    /// pick is one attempt.
    pub fn record(&mut self, outcome: Outcome) {
        if !self.recorded {
            self.recorded = true;
            self.member.slot.observe(&outcome);
        }
    }

    /// Whether an outcome was recorded.
    pub fn is_recorded(&self) -> bool {
        self.recorded
    }
}

impl<B> Drop for Pick<B> {
    fn drop(&mut self) {
        if self.counted {
            self.member.slot.release();
        }
    }
}

impl<B: fmt::Debug> fmt::Debug for Pick<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pick")
            .field("id", self.id())
            .field("backend", self.backend())
            .finish()
    }
}
