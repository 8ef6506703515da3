//! A per-thread handle for the hottest pick paths: no shared write that the
//! strategy does not need, and a guard borrowed instead of owned.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::pool::pick::{Member, Pick};
use crate::pool::ticket::{Attempt, Ticket};
use crate::pool::{Generation, Pool};
use crate::runtime::sync::Cached;
use crate::strategy::Strategy;
use crate::types::{BackendId, Context, FailureKind, NoBackend, Outcome};

/// One thread's handle on a [`Pool`], for code that picks in a tight loop.
///
/// [`Balancer::pick`](crate::Balancer::pick) pays for what makes a [`Pick`]
/// owned: a load of the shared current-set pointer and a reference count
/// taken and released on the chosen backend, two writes to lines every
/// picking thread shares. A `Picker` keeps its own reference to the current
/// set and checks it with one pointer comparison per pick (an update is seen
/// by the next pick, as with `Pool::pick`), and hands out a [`PickRef`]
/// borrowed from that reference. What the strategy itself writes (a round
/// robin cursor, an in-flight count) it still writes.
///
/// One pick at a time per picker: make one per thread (or per task), and
/// turn a pick that must outlive the next one into an owned [`Pick`] with
/// [`PickRef::into_owned`].
///
/// A picker keeps the set it last saw alive until its next pick or its
/// drop, payloads of removed backends included: drop the pickers of threads
/// that go idle for long.
///
/// ```
/// use pickwise::{BackendSpec, Context, Pool};
/// use pickwise::strategy::RoundRobin;
///
/// let pool = Pool::new(RoundRobin::new(), vec![
///     BackendSpec::new("a", "10.0.0.1:80"),
///     BackendSpec::new("b", "10.0.0.2:80"),
/// ])?;
/// let mut picker = pool.picker();
/// let mut seen = Vec::new();
/// for _ in 0..4 {
///     let pick = picker.pick(&Context::new())?;
///     seen.push(*pick.backend());
/// }
/// assert_eq!(seen, ["10.0.0.1:80", "10.0.0.2:80", "10.0.0.1:80", "10.0.0.2:80"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Picker<'p, S: Strategy, B> {
    pool: &'p Pool<S, B>,
    current: Cached<'p, Generation<S::Table, B>>,
}

impl<'p, S: Strategy, B> Picker<'p, S, B> {
    pub(crate) fn new(
        pool: &'p Pool<S, B>,
        current: &'p crate::runtime::sync::Swap<Generation<S::Table, B>>,
    ) -> Self {
        Picker {
            pool,
            current: Cached::new(current),
        }
    }

    /// Chooses a backend for one request, as [`Balancer::pick`](crate::Balancer::pick)
    /// does; never blocks and does no I/O.
    #[inline]
    pub fn pick(&mut self, ctx: &Context<'_>) -> Result<PickRef<'_, B>, NoBackend> {
        let generation = self.current.load();
        let (member, counted) = self.pool.choose(generation, ctx)?;
        Ok(PickRef::new(member, counted))
    }

    /// The pool this picker picks from.
    pub fn pool(&self) -> &'p Pool<S, B> {
        self.pool
    }
}

impl<S: Strategy, B> fmt::Debug for Picker<'_, S, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Picker").finish_non_exhaustive()
    }
}

/// A backend chosen by a [`Picker`]: a [`Pick`] that borrows the picker
/// instead of owning its backend, so taking and dropping it touches no
/// reference count. It counts in flight, takes an outcome and releases on
/// drop exactly as a [`Pick`] does.
#[must_use = "dropping a pick at once ends its request: keep it while the request runs"]
pub struct PickRef<'a, B> {
    member: &'a Arc<Member<B>>,
    attempt: Attempt,
}

impl<'a, B> PickRef<'a, B> {
    #[inline(always)]
    fn new(member: &'a Arc<Member<B>>, counted: bool) -> Self {
        let attempt = Attempt::begun(counted);
        PickRef { member, attempt }
    }

    /// The caller's payload for the chosen backend. Borrowed from the pick,
    /// as from a [`Pick`], so the pick cannot end before its use does.
    #[inline]
    pub fn backend(&self) -> &B {
        &self.member.value
    }

    /// The chosen backend's id.
    #[inline]
    pub fn id(&self) -> &BackendId {
        &self.member.slot.id
    }

    /// Records what the backend did; only the first outcome counts (see
    /// [`Pick::record`]).
    pub fn record(&mut self, outcome: Outcome) {
        self.attempt.record(&self.member.slot, outcome);
    }

    /// As [`Pick::record_load_report`].
    pub fn record_load_report(&self, report: &crate::orca::LoadReport) {
        self.member.slot.record_load(report);
    }

    /// Replaces the success or server error recorded at the head with a
    /// failure found later; with nothing recorded, records the failure (see
    /// [`Pick::record_late_failure`]).
    pub fn record_late_failure(&mut self, kind: FailureKind, latency: Duration) {
        self.attempt
            .record_late_failure(&self.member.slot, kind, latency);
    }

    /// Whether an outcome was recorded.
    pub fn is_recorded(&self) -> bool {
        self.attempt.is_recorded()
    }

    /// The same pick, owned: it keeps its in-flight count and recorded
    /// outcome, and may now outlive the picker (cross an `.await`, move to
    /// another thread). Costs one reference count.
    ///
    /// ```
    /// use pickwise::{BackendSpec, Context, Pool};
    /// use pickwise::strategy::LeastConnections;
    ///
    /// let pool = Pool::new(LeastConnections::new(), vec![BackendSpec::new("a", ())])?;
    /// let mut picker = pool.picker();
    /// let owned = picker.pick(&Context::new())?.into_owned();
    /// let again = picker.pick(&Context::new())?; // the picker is free again
    /// assert_eq!(pool.status(owned.id()).unwrap().in_flight, Some(2));
    /// # drop(again);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_owned(mut self) -> Pick<B> {
        Pick::adopt(Arc::clone(self.member), self.attempt.take())
    }

    /// The pick without its payload, as
    /// [`Pick::into_ticket`](crate::Pick::into_ticket) makes it.
    pub fn into_ticket(mut self, started: Instant) -> Ticket {
        let attempt = self.attempt.take();
        Ticket::new(Arc::clone(&self.member.slot), attempt, started)
    }
}

impl<B> Drop for PickRef<'_, B> {
    #[inline]
    fn drop(&mut self) {
        self.attempt.end(&self.member.slot);
    }
}

impl<B: fmt::Debug> fmt::Debug for PickRef<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PickRef")
            .field("id", self.id())
            .field("backend", self.backend())
            .finish()
    }
}
