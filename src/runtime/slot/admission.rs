//! Pick-time checks: whether a backend may take a request now, its weight
//! (ramped while slow start runs), and the in-flight count a pick holds.
//! Loads only, unless an ejection or a ramp has just run out: the first
//! reader past its end settles it (no timer).

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Slot;
use crate::runtime::arena::{ADMIN_DOWN, ADMIN_DRAINING, ADMIN_MASK, ADMIN_UP, HEALTH_FAILED};
use crate::types::clock::saturating_nanos;

impl Slot {
    #[inline]
    pub(crate) fn in_flight(&self) -> u64 {
        self.hot.in_flight()
    }

    #[inline]
    pub(crate) fn acquire(&self) {
        let before = self.hot.in_flight.fetch_add(1, Ordering::Relaxed);
        debug_assert_ne!(before, u32::MAX, "in-flight count overflow");
        self.picks.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes one of `cap` places in flight, or none if all are taken: a
    /// compare-and-swap, so two pickers never both take the last place.
    #[inline]
    pub(crate) fn try_acquire(&self, cap: u32) -> bool {
        let mut seen = self.hot.in_flight.load(Ordering::Relaxed);
        while seen < cap {
            match self.hot.in_flight.compare_exchange_weak(
                seen,
                seen + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.picks.fetch_add(1, Ordering::Relaxed);
                    return true;
                }
                Err(now) => seen = now,
            }
        }
        false
    }

    #[inline]
    pub(crate) fn release(&self) {
        let before = self.hot.in_flight.fetch_sub(1, Ordering::Release);
        debug_assert_ne!(before, 0, "in-flight count released twice");
        if self.hot.floored.load(Ordering::Relaxed) {
            self.lower_floor(before.wrapping_sub(1));
        }
    }

    /// A release's word to its pool's load floor (see `runtime::floor`):
    /// out of line, so that the release of a set without a floor stays a
    /// subtraction and a load.
    #[inline(never)]
    fn lower_floor(&self, count: u32) {
        let position = self.position.load(Ordering::Relaxed);
        let weight = || self.hot.weight_without_ramp();
        self.shared.floor.released(weight, count, position);
    }

    /// The effective weight, scaled down while slow start ramps it.
    #[inline]
    pub(crate) fn effective_weight(&self) -> u64 {
        let weight = self.hot.effective_weight.load(Ordering::Relaxed);
        let start = self.hot.ramp_start.load(Ordering::Relaxed);
        if start == 0 {
            return weight;
        }
        self.ramped(weight, start)
    }

    /// The weight partway up its ramp; the first reader past the window
    /// ends the ramp, so later reads skip the clock.
    #[cold]
    fn ramped(&self, weight: u64, start: u64) -> u64 {
        let ramp = &self.shared.slow_start;
        let now = saturating_nanos(self.shared.now());
        let elapsed = Duration::from_nanos(now.saturating_sub(start - 1));
        if elapsed >= ramp.window {
            let ended = self.hot.ramp_start.compare_exchange(
                start,
                0,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            // The end of a ramp moves no table: tables are built from the
            // weights without ramps (the schedule thins a ramping backend's
            // entries as picks meet them).
            let _ = ended;
            return weight;
        }
        // Never down to 0: a ramping backend stays eligible.
        (weight * ramp.permille(elapsed) / 1000).max(weight.min(1))
    }

    /// Starts a slow-start ramp now, if slow start is on.
    pub(crate) fn start_ramp(&self) {
        if self.shared.slow_start.is_enabled() {
            let now = saturating_nanos(self.shared.now());
            self.hot
                .ramp_start
                .store(now.saturating_add(1), Ordering::Relaxed);
        }
    }

    /// May take a new client: up, healthy, not ejected, weight above zero.
    #[inline]
    pub(crate) fn is_up(&self) -> bool {
        // Ejection first: its end must be noticed (and announced) even while
        // an agent holds the weight at zero.
        let not_ejected = self.not_ejected();
        self.hot.gate.load(Ordering::Relaxed) == ADMIN_UP
            && not_ejected
            && self.effective_weight() > 0
    }

    /// May take a new client while its tier is in panic: the operator's (or
    /// agent's) word and the weight count, health does not.
    pub(crate) fn is_up_in_panic(&self) -> bool {
        // Still settles an ejection that ran out, so its end is announced.
        self.not_ejected();
        self.admin_code() == ADMIN_UP && self.effective_weight() > 0
    }

    /// May keep a sticky client: up or draining, healthy, and not ejected.
    #[inline]
    pub(crate) fn keeps_sticky(&self) -> bool {
        let gate = self.hot.gate.load(Ordering::Relaxed);
        gate & ADMIN_MASK != ADMIN_DOWN && gate & HEALTH_FAILED == 0 && self.not_ejected()
    }

    pub(crate) fn is_draining(&self) -> bool {
        self.admin_code() == ADMIN_DRAINING
    }

    /// The admin state's code (`ADMIN_*`), without the health bit.
    #[inline]
    pub(crate) fn admin_code(&self) -> u8 {
        self.hot.gate.load(Ordering::Relaxed) & ADMIN_MASK
    }
}
