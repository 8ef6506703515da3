//! The owned guard a pick returns.

use std::fmt;
use std::sync::Arc;

use crate::runtime::slot::Slot;
use crate::types::{BackendId, Outcome};

/// A backend's payload, the runtime slot it counts against, and the rest
/// of its spec (for listing the set).
pub(crate) struct Member<B> {
    pub(crate) value: B,
    pub(crate) slot: Arc<Slot>,
    pub(crate) weight: u32,
    pub(crate) priority: u8,
    pub(crate) cap: Option<u32>,
    pub(crate) agent: Option<std::net::SocketAddr>,
}

impl<B> Member<B> {
    /// Its status, with what its set knows (tier, cap) and whether its
    /// generation counts in flight.
    pub(crate) fn status(&self, counted: bool) -> crate::runtime::slot::BackendStatus {
        self.slot.status(counted, self.priority, self.cap)
    }
}

/// What one attempt owes its backend, whichever guard holds it: an
/// in-flight count to release, and at most one outcome.
#[derive(Debug)]
pub(crate) struct Attempt {
    /// Whether this attempt counts in flight (see [`Strategy::counts_in_flight`](crate::Strategy::counts_in_flight)).
    counted: bool,
    recorded: bool,
}

impl Attempt {
    /// An attempt whose in-flight place, if `counted`, the pick has
    /// already taken (the pool takes it when it admits the backend, so a
    /// cap is checked and taken in one step).
    #[inline(always)]
    pub(crate) fn taken(counted: bool) -> Self {
        Attempt {
            counted,
            recorded: false,
        }
    }

    /// Records the first outcome only: one pick is one attempt.
    pub(crate) fn record(&mut self, slot: &Arc<Slot>, outcome: Outcome) {
        if !self.recorded {
            self.recorded = true;
            slot.observe(&outcome);
        }
    }

    pub(crate) fn is_recorded(&self) -> bool {
        self.recorded
    }

    /// Moves the attempt (its count included) to a new holder; this one
    /// then owes nothing.
    pub(crate) fn hand_over(&mut self) -> Attempt {
        let moved = Attempt {
            counted: self.counted,
            recorded: self.recorded,
        };
        self.counted = false;
        moved
    }

    /// Releases the count, if any: from the holder's `drop`.
    #[inline]
    pub(crate) fn end(&mut self, slot: &Slot) {
        if self.counted {
            self.counted = false;
            slot.release();
        }
    }
}

/// One chosen backend, held for the life of the request.
///
/// While it lives, the backend counts one more request in flight (what the
/// least-connections strategies balance on; strategies that never read the
/// count skip it unless the pool was built with
/// [`counts_in_flight`](crate::PoolBuilder::counts_in_flight)). Dropping it
/// releases that count, on the right backend even if the set was replaced
/// meanwhile. It owns what it
/// needs, so it may cross `.await` points, `tokio::spawn` and threads.
///
/// ```
/// use pickwise::{BackendSpec, Balancer, Context, Outcome, Pool};
/// use pickwise::strategy::LeastConnections;
/// use std::time::Duration;
///
/// let pool = Pool::new(LeastConnections::new(), vec![BackendSpec::new("a", 1), BackendSpec::new("b", 2)])?;
/// let mut pick = pool.pick(&Context::new())?;
/// assert_eq!(pool.status(pick.id()).unwrap().in_flight, Some(1));
/// // ... send the request to *pick.backend() ...
/// pick.record(Outcome::success(Duration::from_millis(3)));
/// let id = pick.id().clone();
/// drop(pick);
/// assert_eq!(pool.status(&id).unwrap().in_flight, Some(0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping a pick at once ends its request: keep it while the request runs"]
pub struct Pick<B> {
    member: Arc<Member<B>>,
    attempt: Attempt,
}

impl<B> Pick<B> {
    /// A pick of `member`, whose in-flight place (if `counted`) is taken.
    pub(crate) fn new(member: Arc<Member<B>>, counted: bool) -> Self {
        let attempt = Attempt::taken(counted);
        Pick { member, attempt }
    }

    /// A pick that takes over an attempt already begun.
    pub(crate) fn adopt(member: Arc<Member<B>>, attempt: Attempt) -> Self {
        Pick { member, attempt }
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
        self.attempt.record(&self.member.slot, outcome);
    }

    /// Whether an outcome was recorded.
    pub fn is_recorded(&self) -> bool {
        self.attempt.is_recorded()
    }
}

impl<B> Drop for Pick<B> {
    fn drop(&mut self) {
        self.attempt.end(&self.member.slot);
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
