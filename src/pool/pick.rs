//! The owned guard a pick returns, and the member it holds.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::ticket::{Attempt, Ticket};
use crate::runtime::slot::Slot;
use crate::types::{BackendId, FailureKind, Outcome};

/// A backend's payload, the runtime slot it counts against, and the rest
/// of its spec (for listing the set).
///
/// Aligned to a cache line: every `Pool::pick` writes its reference count,
/// and packed beside another backend's member it would make picks of two
/// backends on two threads evict each other's line.
#[repr(align(64))]
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
        let attempt = Attempt::begun(counted);
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
    /// pick is one attempt. A failure found later, in the body, replaces a
    /// success or server error: [`record_late_failure`](Self::record_late_failure).
    pub fn record(&mut self, outcome: Outcome) {
        self.attempt.record(&self.member.slot, outcome);
    }

    /// Records a failure found after the response head (the body was cut
    /// short, [`FailureKind::BodyCut`], or stalled past the caller's timeout,
    /// [`FailureKind::BodyStalled`]) in place of the success or server error
    /// recorded at the head.
    ///
    /// The outcome moves from the successes (or server errors) to the
    /// failures; the failures in a row count it as if the success had never
    /// cleared them, so passive health ejects a backend that cuts its bodies
    /// as one that refuses connections, with [`Reason::Failures`] naming
    /// `kind`; a success turns into an error for the error rate and for
    /// outlier detection. The latency recorded at the head stays. With
    /// nothing recorded yet, it records `Outcome::failure(kind, latency)`;
    /// `latency` serves only then. It counts once per pick, and not at all
    /// after a failure or a client fault was recorded.
    ///
    /// With other requests to the backend in flight, the failures in a row
    /// are approximate: a success recorded between this pick's head and now
    /// does not clear what this failure puts back. The error-rate estimate
    /// keeps the head's success as well as this error.
    ///
    /// [`Reason::Failures`]: crate::Reason::Failures
    ///
    /// ```
    /// use pickwise::{BackendSpec, Balancer, Context, FailureKind, Outcome, Pool};
    /// use pickwise::strategy::RoundRobin;
    /// use std::time::Duration;
    ///
    /// let pool = Pool::new(RoundRobin::new(), vec![BackendSpec::new("a", ())])?;
    /// let mut pick = pool.pick(&Context::new())?;
    /// pick.record(Outcome::success(Duration::from_millis(2))); // the head arrived
    /// // ... the body is reset half way ...
    /// pick.record_late_failure(FailureKind::BodyCut, Duration::from_millis(9));
    /// let status = pool.status(pick.id()).unwrap();
    /// assert_eq!((status.successes, status.failures, status.consecutive_failures), (0, 1, 1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn record_late_failure(&mut self, kind: FailureKind, latency: Duration) {
        self.attempt
            .record_late_failure(&self.member.slot, kind, latency);
    }

    /// Whether an outcome was recorded.
    pub fn is_recorded(&self) -> bool {
        self.attempt.is_recorded()
    }

    /// Whether the picked backend may have answered anyone (a success or a
    /// server error, recorded on any pick of it) at or after `at`, a time
    /// on the pool's clock ([`Pool::clock`](crate::Pool::clock)). Answers
    /// are noted to the millisecond, so one up to a millisecond before `at`
    /// counts too. A hedger's test of silence: a try whose backend has
    /// answered nothing since the try was sent may be caught on a backend
    /// that has stopped answering (a blackhole, a stall), where a hedge
    /// wins; one whose backend goes on answering others is slow on its own
    /// account, where a copy of it would more likely add load than win.
    ///
    /// ```
    /// use pickwise::clock::ManualClock;
    /// use pickwise::strategy::RoundRobin;
    /// use pickwise::{BackendSpec, Balancer, Context, Outcome, Pool};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// let clock = Arc::new(ManualClock::new());
    /// let pool = Pool::builder(RoundRobin::new())
    ///     .clock(clock.clone())
    ///     .build([BackendSpec::new("a", ())])?;
    /// let waiting = pool.pick(&Context::new())?;
    /// let sent = pool.clock().now();
    /// clock.advance(Duration::from_millis(30));
    /// assert!(!waiting.answered_since(sent), "nothing answered yet");
    /// pool.pick(&Context::new())?.record(Outcome::success(Duration::from_millis(2)));
    /// assert!(waiting.answered_since(sent), "another request was answered");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn answered_since(&self, at: std::time::Duration) -> bool {
        self.member
            .slot
            .answered_since(crate::types::clock::saturating_nanos(at))
    }

    /// Whether the pool's strategy reads load reports (ORCA): when not,
    /// a caller need not look for them.
    pub fn reads_load_reports(&self) -> bool {
        self.member.slot.reads_load_reports()
    }

    /// Records the load report that came with the response (ORCA, see
    /// [`crate::orca`]) for the strategies that weigh by it
    /// ([`OrcaWrr`](crate::strategy::OrcaWrr)); any number may come, the
    /// latest counts. Others ignore it.
    pub fn record_load_report(&self, report: &crate::orca::LoadReport) {
        self.member.slot.record_load(report);
    }

    /// The pick without its payload, for what outlives the call (a
    /// response body streaming, a task of its own): the in-flight count
    /// and the outcome move to the [`Ticket`]; `started` is when the
    /// request was sent (a late failure's latency counts from it).
    pub fn into_ticket(mut self, started: Instant) -> Ticket {
        let attempt = self.attempt.take();
        Ticket::new(Arc::clone(&self.member.slot), attempt, started)
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
