//! The immutable backend set a strategy sees: ids and configured weights fixed
//! for the set's life, live state read through to the per-backend slots.

use std::sync::Arc;

use crate::runtime::arena::{self, HotRef};
use crate::runtime::shared::Shared;
use crate::runtime::slot::Slot;
use crate::types::clock::saturating_nanos;
use crate::types::{BackendId, Context, NoBackend};

/// The backends of one generation, in the order the caller gave them.
///
/// Strategies build their tables from it (ids and configured weights never
/// change within a set) and read live state through it when they select:
/// effective weight, in-flight count, and whether a backend may take new
/// clients. All reads are atomic loads of the backend's pick-path entry (a
/// few for eligibility), never a lock.
pub struct BackendSet {
    slots: Vec<Arc<Slot>>,
    /// The slots' pick-path entries, in set order: scans walk this instead
    /// of following each slot's pointer.
    hot: Vec<HotRef>,
    weights: Vec<u32>,
    shared: Arc<Shared>,
}

impl BackendSet {
    pub(crate) fn new(slots: Vec<Arc<Slot>>, weights: Vec<u32>, shared: Arc<Shared>) -> Self {
        debug_assert_eq!(slots.len(), weights.len());
        BackendSet {
            hot: slots.iter().map(|slot| arena::share(&slot.hot)).collect(),
            slots,
            weights,
            shared,
        }
    }

    pub(crate) fn slots(&self) -> &[Arc<Slot>] {
        &self.slots
    }

    /// Number of backends.
    #[inline]
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the set has no backend (a pool never holds such a set).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The id of backend `i`.
    #[inline]
    pub fn id(&self, i: usize) -> &BackendId {
        &self.slots[i].id
    }

    /// The configured weight of backend `i` (`1..=MAX_WEIGHT`).
    #[inline]
    pub fn weight(&self, i: usize) -> u32 {
        self.weights[i]
    }

    /// The effective weight of backend `i` now, in hundredths of a weight unit
    /// ([`WEIGHT_UNIT`](crate::strategy::WEIGHT_UNIT)): the configured weight as agents
    /// and slow start have scaled it. May be zero.
    #[inline]
    pub fn effective_weight(&self, i: usize) -> u64 {
        match self.hot[i].settled_weight() {
            Some(weight) => weight,
            None => self.slots[i].effective_weight(),
        }
    }

    /// Picks of backend `i` alive now.
    #[inline]
    pub fn in_flight(&self, i: usize) -> u64 {
        self.hot[i].in_flight()
    }

    /// Whether backend `i` may take a new client: up, not ejected, and with an
    /// effective weight above zero.
    #[inline]
    pub fn is_up(&self, i: usize) -> bool {
        match self.hot[i].plainly_up() {
            Some(up) => up,
            None => self.slots[i].is_up(),
        }
    }

    /// Whether backend `i` may keep a sticky client: up or draining, not
    /// down, not ejected.
    #[inline]
    pub fn keeps_sticky(&self, i: usize) -> bool {
        self.slots[i].keeps_sticky()
    }

    /// The pool clock's time now, in nanoseconds: what the feedback reads
    /// below take as `now`. One clock read; take it once per pick.
    #[inline]
    pub fn now(&self) -> u64 {
        saturating_nanos(self.shared.now())
    }

    /// Backend `i`'s latency estimate at `now` in nanoseconds (see
    /// [`FeedbackConfig`](crate::health::FeedbackConfig)); `None` before its first
    /// success or timeout.
    #[inline]
    pub fn latency(&self, i: usize, now: u64) -> Option<f64> {
        self.slots[i].latency_ns(now)
    }

    /// Backend `i`'s error-rate estimate at `now`, from 0 to 1.
    #[inline]
    pub fn error_rate(&self, i: usize, now: u64) -> f64 {
        self.slots[i].error_rate(now)
    }

    /// Whether some backend's effective weight has ever exceeded its
    /// configured weight in this pool (an agent's `weight:N`, or more than
    /// 100%). Strategies that draw by configured weight and thin by effective
    /// weight are exact only while this is false.
    #[inline]
    pub fn weights_boosted(&self) -> bool {
        self.shared
            .boosted
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether backend `i` may take this request: up and not excluded.
    #[inline]
    pub fn is_eligible(&self, i: usize, ctx: &Context<'_>) -> bool {
        self.is_up(i) && !ctx.excludes(self.id(i))
    }

    /// Why no backend is eligible for `ctx`. Out of line: the pick path
    /// stays small where it is hot.
    #[cold]
    #[inline(never)]
    pub(crate) fn why_none(&self, ctx: &Context<'_>) -> NoBackend {
        let (mut excluded, mut draining, mut down, mut zero_weight) = (0, 0, 0, 0);
        for slot in &self.slots {
            if ctx.excludes(&slot.id) {
                excluded += 1;
            } else if !slot.keeps_sticky() {
                down += 1;
            } else if slot.is_draining() {
                draining += 1;
            } else if slot.effective_weight() == 0 {
                zero_weight += 1;
            }
        }
        let n = self.slots.len();
        match (excluded, draining, down, zero_weight) {
            _ if n == 0 => NoBackend::Empty,
            (e, _, _, _) if e == n => NoBackend::AllExcluded,
            (_, d, _, _) if d == n => NoBackend::AllDraining,
            (_, _, d, _) if d == n => NoBackend::AllDown,
            (_, _, _, z) if z == n => NoBackend::AllZeroWeight,
            _ => NoBackend::Unavailable {
                excluded,
                draining,
                down,
                zero_weight,
            },
        }
    }
}
