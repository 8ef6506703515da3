//! [`RetryBudget`]: retries and hedges as a share of recent requests, plus
//! a floor per second.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::types::clock::{Clock, SystemClock};

/// What retries and hedges may spend: `share` of the requests deposited
/// over the last `window`, plus `floor` a second whatever the traffic (so
/// a quiet client may still retry). Each request [`deposit`](Self::deposit)s
/// once; each retry or hedge [`withdraw`](Self::withdraw)s one and is sent
/// only if there was one to take.
///
/// When every backend fails, requests cost at most `1 + share` tries each
/// (plus the floor), not two or three: the budget keeps a struggling fleet
/// from a retry storm. As in Finagle and Linkerd, with their defaults
/// (20%, 10 a second, 10 s).
///
/// Counts are kept per second in a ring of `window` seconds of atomics:
/// no lock; two threads racing for the last token may both get it.
pub struct RetryBudget {
    clock: Arc<dyn Clock>,
    share: f64,
    floor: u32,
    /// One slot per second of the window: (second, deposits, withdrawals).
    slots: Box<[Slot]>,
}

/// With the `tower-retry` feature, the budget of a `tower::retry` policy:
/// deposit once a request, withdraw before each retry, and tower's `Retry`
/// over [`pickwise::tower::Balance`](crate::tower::Balance) retries on
/// another backend within the same budget the proxies use.
///
/// ```
/// # #[cfg(feature = "tower-retry")] {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use pickwise::tail::RetryBudget;
/// use tower::retry::budget::Budget;
///
/// let budget = Arc::new(RetryBudget::new(0.2, 0, Duration::from_secs(10)));
/// for _ in 0..10 {
///     Budget::deposit(&*budget);
/// }
/// assert!(Budget::withdraw(&*budget) && Budget::withdraw(&*budget));
/// assert!(!Budget::withdraw(&*budget), "20% of 10 requests: two retries");
/// # }
/// ```
#[cfg(feature = "tower-retry")]
impl tower::retry::budget::Budget for RetryBudget {
    fn deposit(&self) {
        RetryBudget::deposit(self);
    }

    fn withdraw(&self) -> bool {
        RetryBudget::withdraw(self)
    }
}

struct Slot {
    second: AtomicU64,
    deposits: AtomicU64,
    withdrawals: AtomicU64,
}

impl RetryBudget {
    /// `share` (0..=1 is sensible; more allows several retries a request)
    /// of the requests of the last `window` (whole seconds, at least one),
    /// plus `floor` a second; on the system clock.
    pub fn new(share: f64, floor: u32, window: Duration) -> Self {
        RetryBudget::with_clock(share, floor, window, Arc::new(SystemClock::new()))
    }

    /// As [`new`](Self::new), on `clock`.
    pub fn with_clock(share: f64, floor: u32, window: Duration, clock: Arc<dyn Clock>) -> Self {
        let seconds = window.as_secs().clamp(1, 3_600) as usize;
        RetryBudget {
            clock,
            share: if share.is_finite() {
                share.max(0.0)
            } else {
                0.0
            },
            floor,
            slots: (0..seconds)
                .map(|_| Slot {
                    second: AtomicU64::new(u64::MAX),
                    deposits: AtomicU64::new(0),
                    withdrawals: AtomicU64::new(0),
                })
                .collect(),
        }
    }

    fn second(&self) -> u64 {
        self.clock.now().as_secs()
    }

    /// This second's slot, emptied first if it held an older second.
    fn slot(&self, second: u64) -> &Slot {
        let slot = &self.slots[(second % self.slots.len() as u64) as usize];
        let held = slot.second.load(Ordering::Acquire);
        if held != second
            && slot
                .second
                .compare_exchange(held, second, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            slot.deposits.store(0, Ordering::Relaxed);
            slot.withdrawals.store(0, Ordering::Relaxed);
        }
        slot
    }

    /// One request went out (retries and hedges are not requests).
    pub fn deposit(&self) {
        self.slot(self.second())
            .deposits
            .fetch_add(1, Ordering::Relaxed);
    }

    /// What may be spent now: the share of the window's deposits plus the
    /// floor for each second of it, less what was withdrawn.
    pub fn balance(&self) -> f64 {
        let now = self.second();
        let window = self.slots.len() as u64;
        let (mut deposits, mut withdrawals) = (0u64, 0u64);
        for slot in self.slots.iter() {
            let second = slot.second.load(Ordering::Acquire);
            if second != u64::MAX && second <= now && now - second < window {
                deposits += slot.deposits.load(Ordering::Relaxed);
                withdrawals += slot.withdrawals.load(Ordering::Relaxed);
            }
        }
        self.share * deposits as f64 + f64::from(self.floor) * window as f64 - withdrawals as f64
    }

    /// Takes one retry (or hedge) from the budget: `false` when it is spent,
    /// and the retry should not go.
    pub fn withdraw(&self) -> bool {
        if self.balance() < 1.0 {
            return false;
        }
        self.slot(self.second())
            .withdrawals
            .fetch_add(1, Ordering::Relaxed);
        true
    }
}

impl std::fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryBudget")
            .field("share", &self.share)
            .field("floor", &self.floor)
            .field("window_secs", &self.slots.len())
            .field("balance", &self.balance())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::clock::ManualClock;

    #[test]
    fn when_every_try_fails_retries_stay_within_the_share_and_the_floor() {
        let clock = Arc::new(ManualClock::new());
        let budget = RetryBudget::with_clock(0.2, 10, Duration::from_secs(10), clock.clone());
        let (mut requests, mut tries) = (0u64, 0u64);
        // 100 requests a second for a minute, each wanting a retry.
        for _ in 0..60 {
            for _ in 0..100 {
                budget.deposit();
                requests += 1;
                tries += 1;
                if budget.withdraw() {
                    tries += 1;
                }
            }
            clock.advance(Duration::from_secs(1));
        }
        // 20% and 10 a second: 1.2 + 0.1 tries a request at most.
        let per_request = tries as f64 / requests as f64;
        assert!(per_request <= 1.3 + 1e-9, "{per_request}");
        assert!(
            per_request >= 1.25,
            "the budget was not spent: {per_request}"
        );
    }

    #[test]
    fn a_quiet_client_still_gets_the_floor() {
        let clock = Arc::new(ManualClock::new());
        let budget = RetryBudget::with_clock(0.2, 3, Duration::from_secs(1), clock.clone());
        assert!((0..3).all(|_| budget.withdraw()));
        assert!(!budget.withdraw());
        clock.advance(Duration::from_secs(1));
        assert!(budget.withdraw(), "a new second brings the floor back");
    }
}
