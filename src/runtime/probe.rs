//! Probes, as the probing strategy ([`Prequal`](crate::strategy::Prequal))
//! uses them: a backend's answer ([`ProbeReply`]), applied with
//! [`Pool::apply_probe`](crate::Pool::apply_probe), and the last one of each
//! backend, read on the pick path without a lock ([`ProbeReading`]).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// A backend's answer to a probe: how busy it is and how long it expects a
/// new request to take. The probing strategy
/// ([`Prequal`](crate::strategy::Prequal)) picks by these; a program sends
/// the probes (to the backend's agent port, or by any means it likes) and
/// hands each answer to [`Pool::apply_probe`](crate::Pool::apply_probe), as
/// it does agent replies.
///
/// ```
/// use pickwise::strategy::ProbeReply;
/// use std::time::Duration;
///
/// let reply = ProbeReply::new(3, Duration::from_millis(12));
/// assert_eq!(reply.in_flight, 3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeReply {
    /// Requests in flight at the backend, from every client: its own count,
    /// not one balancer's.
    pub in_flight: u32,
    /// The backend's estimate of the latency a request sent now would see
    /// (e.g. its recent latency at this load).
    pub latency: Duration,
}

impl ProbeReply {
    /// A reply of `in_flight` requests and a `latency` estimate.
    pub fn new(in_flight: u32, latency: Duration) -> Self {
        ProbeReply { in_flight, latency }
    }
}

/// What a strategy sees of a backend's latest probe reply
/// ([`BackendSet::probe`](crate::strategy::BackendSet::probe)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbeReading {
    /// Requests in flight at the backend: the reply's count moved by as
    /// much as this pool's own in-flight count there moved since (picks sent
    /// add, picks finished subtract; never below 0), so that a reused reply
    /// neither hides the load the pool just added nor keeps what it saw end.
    pub in_flight: u64,
    /// The backend's latency estimate, nanoseconds.
    pub latency_ns: f64,
    /// How long ago the reply was applied.
    pub age: Duration,
    /// Picks made on this reply so far.
    pub uses: u32,
}

/// A backend's latest probe reply. Fields are separate atomics: a reader
/// racing a writer may mix two consecutive replies' fields, which is as good
/// an estimate as either; `stamp` is written last.
#[derive(Debug, Default)]
pub(crate) struct ProbeCell {
    /// Clock nanoseconds when applied, plus one; 0: no reply yet.
    stamp: AtomicU64,
    in_flight: AtomicU32,
    /// The pool's in-flight count for the backend when the reply came.
    base: AtomicU64,
    latency_ns: AtomicU64,
    uses: AtomicU32,
}

impl ProbeCell {
    /// Records a reply at `now`, the pool having `local` picks in flight there.
    pub(crate) fn store(&self, in_flight: u32, latency: Duration, local: u64, now: u64) {
        let latency = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.in_flight.store(in_flight, Ordering::Relaxed);
        self.base.store(local, Ordering::Relaxed);
        self.latency_ns.store(latency, Ordering::Relaxed);
        self.uses.store(0, Ordering::Relaxed);
        self.stamp.store(now.saturating_add(1), Ordering::Release);
    }

    /// The latest reply as seen at `now` with `local` picks in flight.
    #[inline]
    pub(crate) fn read(&self, local: u64, now: u64) -> Option<ProbeReading> {
        let stamp = self.stamp.load(Ordering::Acquire);
        if stamp == 0 {
            return None;
        }
        // The pool's own picks there since the reply, sent or finished,
        // moved the backend's count by as much.
        let base = self.base.load(Ordering::Relaxed);
        let reported = u64::from(self.in_flight.load(Ordering::Relaxed));
        let in_flight = (reported + local).saturating_sub(base);
        Some(ProbeReading {
            in_flight,
            latency_ns: self.latency_ns.load(Ordering::Relaxed) as f64,
            age: Duration::from_nanos(now.saturating_sub(stamp - 1)),
            uses: self.uses.load(Ordering::Relaxed),
        })
    }

    /// Counts one pick made on the reply.
    #[inline]
    pub(crate) fn used(&self) {
        self.uses.fetch_add(1, Ordering::Relaxed);
    }
}
