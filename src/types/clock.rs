//! Injectable time: the pool asks a [`Clock`] instead of calling `Instant::now`,
//! so tests and simulations can drive time by hand.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A monotonic source of time, measured from an arbitrary epoch.
///
/// The pool reads it only off the fast path: when an ejected backend might be
/// due back, when an outcome ejects a backend, and when it stamps a state change.
pub trait Clock: Send + Sync + 'static {
    /// Time elapsed since this clock's epoch. Must never go backwards.
    fn now(&self) -> Duration;
}

/// The real monotonic clock, with its epoch at construction.
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    epoch: Instant,
}

impl SystemClock {
    /// A clock whose epoch is now.
    pub fn new() -> Self {
        SystemClock {
            epoch: Instant::now(),
        }
    }

    /// The `Instant` it counts from: with it the pool turns an `Instant`
    /// read for another reason (a response's arrival) into its own time
    /// without reading the clock again.
    pub(crate) fn epoch(&self) -> Instant {
        self.epoch
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }
}

/// A clock that moves only when told to: for tests and simulations.
///
/// ```
/// use pickwise::clock::{Clock, ManualClock};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// clock.advance(Duration::from_secs(3));
/// assert_eq!(clock.now(), Duration::from_secs(3));
/// ```
#[derive(Debug, Default)]
pub struct ManualClock {
    nanos: AtomicU64,
}

impl ManualClock {
    /// A clock standing at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.nanos.fetch_add(saturating_nanos(by), Ordering::SeqCst);
    }

    /// Sets the clock to `to`; a value earlier than now is ignored, since a
    /// clock must never go backwards.
    pub fn set(&self, to: Duration) {
        self.nanos.fetch_max(saturating_nanos(to), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}

/// Nanoseconds in `d`, saturating at about 584 years.
pub(crate) fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
