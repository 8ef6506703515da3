//! [`Ticket`]: what one attempt owes its backend, without the payload: the
//! in-flight count to release and the outcome to record. [`Pick`] and
//! [`PickRef`] carry the same attempt beside their payload, and turn into a
//! ticket for what outlives the call (tower's response body holds one).
//!
//! [`Pick`]: crate::Pick
//! [`PickRef`]: crate::PickRef

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::runtime::slot::{Revisable, Slot};
#[cfg(feature = "tower")]
use crate::types::OutcomeKind;
use crate::types::{BackendId, FailureKind, Outcome};

/// A pick without its payload: one request in flight on its backend until
/// dropped, and the outcome it records. Made by
/// [`Pick::into_ticket`](crate::Pick::into_ticket) or
/// [`PickRef::into_ticket`](crate::PickRef::into_ticket); it names no
/// payload type, so a response body or a task can carry it (tower's
/// `PickBody`, feature `tower`, does). Like a pick, it releases
/// the count on the right backend even if the set was replaced meanwhile.
///
/// ```
/// use pickwise::{BackendSpec, Balancer, Context, FailureKind, Outcome, Pool, Ticket};
/// use pickwise::strategy::LeastConnections;
/// use std::time::{Duration, Instant};
///
/// let pool = Pool::new(LeastConnections::new(), vec![BackendSpec::new("a", "payload")])?;
/// let started = Instant::now();
/// let mut pick = pool.pick(&Context::new())?;
/// pick.record(Outcome::success(Duration::from_millis(2))); // the response head
/// let mut ticket: Ticket = pick.into_ticket(started);      // the body streams on
/// assert_eq!(pool.status(ticket.id()).unwrap().in_flight, Some(1));
/// ticket.record_late_failure(FailureKind::BodyCut, started.elapsed());
/// drop(ticket);
/// let status = pool.status(&"a".into()).unwrap();
/// assert_eq!((status.in_flight, status.failures), (Some(0), 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping a ticket ends its request: keep it while the request runs"]
pub struct Ticket {
    slot: Arc<Slot>,
    attempt: Attempt,
    started: Instant,
}

impl Ticket {
    pub(crate) fn new(slot: Arc<Slot>, attempt: Attempt, started: Instant) -> Self {
        Ticket {
            slot,
            attempt,
            started,
        }
    }

    /// The backend's id.
    pub fn id(&self) -> &BackendId {
        &self.slot.id
    }

    /// When the request was sent, as given to `into_ticket`.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// As [`Pick::record`](crate::Pick::record): the first outcome counts.
    pub fn record(&mut self, outcome: Outcome) {
        self.attempt.record(&self.slot, outcome);
    }

    /// Records `kind` for an answer that came at `ended` (an `Instant` the
    /// caller has just read): its latency is the time since `started`, and
    /// the pool's time of the recording comes from `ended` too, so one
    /// clock read serves both (see `Shared::now_at`). The first outcome
    /// counts, as with [`record`](Self::record).
    #[cfg(feature = "tower")]
    #[inline]
    pub(crate) fn record_ended(&mut self, kind: OutcomeKind, ended: Instant) {
        let latency = ended.saturating_duration_since(self.started);
        self.attempt
            .record_ended(&self.slot, Outcome { kind, latency }, ended);
    }

    /// As [`Pick::record_late_failure`](crate::Pick::record_late_failure):
    /// a failure found in the body replaces the success recorded at the head.
    pub fn record_late_failure(&mut self, kind: FailureKind, latency: Duration) {
        self.attempt.record_late_failure(&self.slot, kind, latency);
    }

    /// Whether an outcome was recorded.
    pub fn is_recorded(&self) -> bool {
        self.attempt.is_recorded()
    }

    /// As [`Pick::answered_since`](crate::Pick::answered_since): whether
    /// the backend may have answered anyone at or after `at`, on the
    /// pool's clock.
    pub fn answered_since(&self, at: std::time::Duration) -> bool {
        self.slot
            .answered_since(crate::types::clock::saturating_nanos(at))
    }

    /// Whether the pool's strategy reads load reports (ORCA): when not,
    /// a caller need not look for them.
    pub fn reads_load_reports(&self) -> bool {
        self.slot.reads_load_reports()
    }

    /// As [`Pick::record_load_report`](crate::Pick::record_load_report):
    /// a load report (ORCA) that came with the response, e.g. in its
    /// trailers.
    pub fn record_load_report(&self, report: &crate::orca::LoadReport) {
        self.slot.record_load(report);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.attempt.end(&self.slot);
    }
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket")
            .field("id", self.id())
            .field("started", &self.started)
            .finish()
    }
}

/// What one attempt owes its backend, whichever guard holds it: an
/// in-flight count to release, and at most one outcome (which one late
/// failure may replace).
#[derive(Debug)]
pub(crate) struct Attempt {
    /// Whether this attempt counts in flight (see [`Strategy::counts_in_flight`](crate::Strategy::counts_in_flight)).
    counted: bool,
    recorded: Recorded,
}

/// How far an attempt's outcome has gone.
#[derive(Debug, Clone, Copy)]
enum Recorded {
    Nothing,
    /// A success or server error that a late failure may still replace.
    Revisable(Revisable),
    /// Final: nothing more counts.
    Final,
}

impl Recorded {
    /// Where an attempt stands once its outcome was observed.
    #[inline]
    fn after(observed: Option<Revisable>) -> Self {
        match observed {
            Some(revisable) => Recorded::Revisable(revisable),
            None => Recorded::Final,
        }
    }
}

impl Attempt {
    /// An attempt whose in-flight place, if `counted`, the pick has
    /// already taken (the pool takes it when it admits the backend, so a
    /// cap is checked and taken in one step).
    #[inline(always)]
    pub(crate) fn begun(counted: bool) -> Self {
        Attempt {
            counted,
            recorded: Recorded::Nothing,
        }
    }

    /// Records the first outcome only: one pick is one attempt.
    pub(crate) fn record(&mut self, slot: &Arc<Slot>, outcome: Outcome) {
        if let Recorded::Nothing = self.recorded {
            self.recorded = Recorded::after(slot.observe(&outcome));
        }
    }

    /// As [`record`](Self::record), for an outcome seen at `ended` (see
    /// [`Ticket::record_ended`]).
    #[cfg(feature = "tower")]
    #[inline]
    pub(crate) fn record_ended(&mut self, slot: &Arc<Slot>, outcome: Outcome, ended: Instant) {
        if let Recorded::Nothing = self.recorded {
            self.recorded = Recorded::after(slot.observe_ended(&outcome, ended));
        }
    }

    /// Replaces a recorded success or server error with a failure of
    /// `kind`, once; with nothing recorded, records the failure.
    pub(crate) fn record_late_failure(
        &mut self,
        slot: &Arc<Slot>,
        kind: FailureKind,
        latency: Duration,
    ) {
        match self.recorded {
            Recorded::Nothing => self.record(slot, Outcome::failure(kind, latency)),
            Recorded::Revisable(was) => {
                self.recorded = Recorded::Final;
                slot.revise(was, kind);
            }
            Recorded::Final => {}
        }
    }

    pub(crate) fn is_recorded(&self) -> bool {
        !matches!(self.recorded, Recorded::Nothing)
    }

    /// Moves the attempt (its count included) to a new holder; this one
    /// then owes nothing.
    pub(crate) fn take(&mut self) -> Attempt {
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
