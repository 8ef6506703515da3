//! The immutable backend set a strategy sees: ids and configured weights fixed
//! for the set's life, live state read through to the per-backend slots.

use std::sync::Arc;

use crate::runtime::arena::{self, HotRef};
use crate::runtime::probe::ProbeReading;
use crate::runtime::shared::Shared;
use crate::runtime::slot::Slot;
use crate::runtime::tiers::{Availability, PanicFlag};
use crate::types::clock::saturating_nanos;
use crate::types::{BackendId, Context, NoBackend};

/// The backends of one tier of one generation, in the order the caller
/// gave them.
///
/// Strategies build their tables from it (ids, configured weights and caps
/// never change within a set) and read live state through it when they
/// select: effective weight, in-flight count, and whether a backend may take
/// this request. All reads are atomic loads of the backend's pick-path entry
/// (a few for eligibility), never a lock.
pub struct BackendSet {
    slots: Vec<Arc<Slot>>,
    /// The slots' pick-path entries, in set order: scans walk this instead
    /// of following each slot's pointer.
    hot: Vec<HotRef>,
    weights: Vec<u32>,
    /// Caps on requests in flight (0 for none); `None` when no backend of
    /// the set has one, so uncapped sets pay one branch.
    caps: Option<Box<[u32]>>,
    priority: u8,
    panic: PanicFlag,
    shared: Arc<Shared>,
}

impl BackendSet {
    /// A set of one tier: `caps` holds each backend's cap (0 for none).
    pub(crate) fn new(
        slots: Vec<Arc<Slot>>,
        weights: Vec<u32>,
        caps: Vec<u32>,
        priority: u8,
        shared: Arc<Shared>,
    ) -> Self {
        debug_assert_eq!(slots.len(), weights.len());
        debug_assert_eq!(slots.len(), caps.len());
        let capped = caps.iter().any(|&cap| cap > 0);
        let panic = PanicFlag::default();
        panic.replace(shared.in_panic(priority));
        for (i, slot) in slots.iter().enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            slot.position.store(i, std::sync::atomic::Ordering::Relaxed);
        }
        BackendSet {
            hot: slots.iter().map(|slot| arena::share(&slot.hot)).collect(),
            slots,
            weights,
            caps: capped.then(|| caps.into_boxed_slice()),
            priority,
            panic,
            shared,
        }
    }

    /// Number of backends.
    #[inline]
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the set has no backend (a pool never builds a table for such
    /// a set).
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
        match self.hot[i].weight_without_ramp() {
            Some(weight) => weight,
            None => self.slots[i].effective_weight(),
        }
    }

    /// Backend `i`'s effective weight when no slow-start ramp is running on
    /// it; `None` while one is (its weight then moves with the clock).
    #[inline]
    pub(crate) fn weight_without_ramp(&self, i: usize) -> Option<u64> {
        self.hot[i].weight_without_ramp()
    }

    /// Backend `i`'s effective weight leaving any slow-start ramp aside
    /// (its full weight, which a ramp climbs to).
    #[inline]
    pub(crate) fn weight_unramped(&self, i: usize) -> u64 {
        self.hot[i]
            .effective_weight
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// What every slot of the pool shares.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The pool's weights version: it moves whenever some backend's
    /// effective weight may have moved (see `Shared::weights_changed`).
    #[inline]
    pub(crate) fn weights_version(&self) -> u64 {
        self.shared.weights_version()
    }

    /// Picks of backend `i` alive now.
    #[inline]
    pub fn in_flight(&self, i: usize) -> u64 {
        self.hot[i].in_flight()
    }

    /// Whether backend `i` may take a new client: up, healthy, not
    /// ejected, and with an effective weight above zero. While the set's
    /// tier is [in panic](Self::in_panic), health is not asked: up and
    /// weight above zero suffice.
    #[inline]
    pub fn is_up(&self, i: usize) -> bool {
        match self.hot[i].up_without_clock() {
            Some(up) => up,
            None => self.up_beyond_plain(i),
        }
    }

    /// Says whether this set keeps an in-flight floor, so that releases of
    /// its backends look at it (see `runtime::floor`).
    pub(crate) fn mark_floored(&self, floored: bool) {
        for hot in &self.hot {
            hot.floored
                .store(floored, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Whether backend `i` may be up without a write that moves the pool's
    /// availability epoch: false only when it is plainly out (admin down
    /// or draining, or weight zero, with no clock to ask).
    #[inline]
    pub(crate) fn may_be_up(&self, i: usize) -> bool {
        self.hot[i].up_without_clock() != Some(false)
    }

    /// The slow half of `is_up`: ejections, failed checks, ramps, panic.
    #[cold]
    #[inline(never)]
    fn up_beyond_plain(&self, i: usize) -> bool {
        let slot = &self.slots[i];
        slot.is_up() || (self.panic.get() && slot.is_up_in_panic())
    }

    /// Whether backend `i` may keep a sticky client: up or draining,
    /// healthy, not down, not ejected (or its tier is in panic).
    #[inline]
    pub fn keeps_sticky(&self, i: usize) -> bool {
        let slot = &self.slots[i];
        slot.keeps_sticky() || (self.panic.get() && slot.is_up_in_panic())
    }

    /// Backend `i`'s cap on requests in flight, if it has one.
    #[inline]
    pub fn cap(&self, i: usize) -> Option<u32> {
        match &self.caps {
            None => None,
            Some(caps) => Some(caps[i]).filter(|&cap| cap > 0),
        }
    }

    /// Whether backend `i` is below its cap on requests in flight (always,
    /// without a cap).
    #[inline]
    pub fn has_room(&self, i: usize) -> bool {
        match self.cap(i) {
            None => true,
            Some(cap) => self.in_flight(i) < u64::from(cap),
        }
    }

    /// Whether some backend of the set has a cap on requests in flight.
    #[inline]
    pub fn has_caps(&self) -> bool {
        self.caps.is_some()
    }

    /// The set's tier: its backends' priority (0 is the best).
    #[inline]
    pub fn priority(&self) -> u8 {
        self.priority
    }

    /// Whether the set's tier is in panic: too few of its backends are
    /// available, so picks ignore health and spread over all its members
    /// (see [`PoolBuilder::panic_threshold`](crate::PoolBuilder::panic_threshold)).
    #[inline]
    pub fn in_panic(&self) -> bool {
        self.panic.get()
    }

    pub(crate) fn set_panic(&self, panic: bool) -> bool {
        self.panic.replace(panic)
    }

    /// How many of its backends are available, health asked (panic or not).
    pub(crate) fn availability(&self) -> Availability {
        Availability {
            available: self.slots.iter().filter(|slot| slot.is_up()).count(),
            members: self.slots.len(),
        }
    }

    /// The set's slots, in set order.
    pub(crate) fn slots(&self) -> &[Arc<Slot>] {
        &self.slots
    }

    /// Registers a table to be refreshed off the pick path (see
    /// `runtime::refresh`).
    pub(crate) fn register_refresh(
        &self,
        table: &Arc<dyn crate::runtime::refresh::Refresh>,
        now: u64,
    ) {
        self.shared.tables.register(table, now);
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

    /// Backend `i`'s latest probe reply as seen at `now` (see
    /// [`Pool::apply_probe`](crate::Pool::apply_probe)), its in-flight count
    /// raised by the picks this pool sent since; `None` before the first.
    #[inline]
    pub fn probe(&self, i: usize, now: u64) -> Option<ProbeReading> {
        self.slots[i].probe.read(self.in_flight(i), now)
    }

    /// Counts a pick made on backend `i`'s probe reply, so that a strategy
    /// can stop reusing a reply after a few picks.
    #[inline]
    pub fn use_probe(&self, i: usize) {
        self.slots[i].probe.used();
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

    /// Whether backend `i` may take this request: up, not excluded, and
    /// below its cap on requests in flight.
    #[inline]
    pub fn is_eligible(&self, i: usize, ctx: &Context<'_>) -> bool {
        self.is_up(i) && !self.excluded(i, ctx) && self.has_room(i)
    }

    /// Whether `ctx` excludes backend `i`. The id (a bounds check and a
    /// load of the slot's pointer) is read only when `ctx` excludes
    /// something, a retry's pick: as an argument of `Context::excludes` it
    /// was read on every pick.
    #[inline(always)]
    fn excluded(&self, i: usize, ctx: &Context<'_>) -> bool {
        !ctx.exclude.is_empty() && ctx.excludes(self.id(i))
    }

    /// Adds this set's backends to `why`, each under the first thing that
    /// keeps it from `ctx`. It runs after a pick found nothing, so a backend
    /// that looks open now was full when the pick looked if it has a cap
    /// (another picker freed a place since): it counts as at capacity.
    pub(crate) fn count_unavailable(&self, ctx: &Context<'_>, why: &mut Unavailable) {
        for (i, slot) in self.slots.iter().enumerate() {
            why.members += 1;
            if ctx.excludes(&slot.id) {
                why.excluded += 1;
            } else if !self.keeps_sticky(i) {
                why.down += 1;
            } else if slot.is_draining() {
                why.draining += 1;
            } else if slot.effective_weight() == 0 {
                why.zero_weight += 1;
            } else if self.cap(i).is_some() {
                why.at_capacity += 1;
            }
        }
    }
}

/// Backends counted by what keeps them from a request, across the tiers.
#[derive(Debug, Default)]
pub(crate) struct Unavailable {
    members: usize,
    excluded: usize,
    draining: usize,
    down: usize,
    zero_weight: usize,
    at_capacity: usize,
}

impl Unavailable {
    /// The reason a pick gives: at capacity when caps alone kept otherwise
    /// eligible backends out; else one cause when it covers every backend,
    /// else the counts.
    pub(crate) fn reason(&self) -> NoBackend {
        let n = self.members;
        match self {
            _ if n == 0 => NoBackend::Empty,
            _ if self.excluded == n => NoBackend::AllExcluded,
            _ if self.at_capacity > 0 => NoBackend::AtCapacity,
            _ if self.draining == n => NoBackend::AllDraining,
            _ if self.down == n => NoBackend::AllDown,
            _ if self.zero_weight == n => NoBackend::AllZeroWeight,
            _ => NoBackend::Unavailable {
                excluded: self.excluded,
                draining: self.draining,
                down: self.down,
                zero_weight: self.zero_weight,
                at_capacity: self.at_capacity,
            },
        }
    }
}
