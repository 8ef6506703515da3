//! The arena: the per-backend fields a pick reads, packed 32 bytes each into shared
//! chunks, so that a scan over a set's backends walks contiguous memory
//! instead of one cache line per backend.
//!
//! A backend's entry belongs to its slot for the slot's life and goes back
//! to a free list when the slot drops. Chunks are never handed back to the
//! allocator: entries are recycled across pools, so the memory held is 32
//! bytes per backend at the process's peak of live backends (plus the
//! unused rest of the last chunk, at least 64 entries), and an entry can be
//! a plain `&'static` reference with no reference count to touch.
//!
//! **Density against sharing.** Packed, two entries share a cache line: a
//! count written for one backend evicts its neighbour's line from other
//! cores. Scans, which read every entry, gain far more from the density
//! than single picks lose (`cargo bench --bench pick`: least connections at
//! 1024 backends 6.8 us with a line per backend, 0.79 us with this layout).
//! Small sets are the other way round: their scans are short, and with few
//! backends two threads write neighbouring entries all the time (at 4
//! backends, two threads of least connections or p2c got a third of one
//! thread's throughput). So the backends that join a set of at most
//! [`SPREAD_UP_TO`] get entries alone on their line (the other half of the
//! line stays unused: 32 bytes a backend), and larger sets get packed ones.
//! An entry keeps its spacing when recycled, so a line never holds two.

use std::sync::atomic::Ordering;

use crate::runtime::sync::{AtomicBool, AtomicU32, AtomicU64, AtomicU8};

/// The largest set whose joining backends get a cache line each (see the
/// module docs).
pub(crate) const SPREAD_UP_TO: usize = 128;

/// Admin states, as stored in the low bits of [`PickFields::gate`].
pub(crate) const ADMIN_UP: u8 = 0;
pub(crate) const ADMIN_DRAINING: u8 = 1;
pub(crate) const ADMIN_DOWN: u8 = 2;
/// The admin state's bits of [`PickFields::gate`].
pub(crate) const ADMIN_MASK: u8 = 0b11;
/// Set in [`PickFields::gate`] while the active health check fails it: a bit of
/// its own, so the operator's word and the check's never overwrite each
/// other.
pub(crate) const HEALTH_FAILED: u8 = 0b100;

/// One backend's pick-path fields. Two share a cache line and none
/// straddles one.
#[repr(align(32))]
#[derive(Debug)]
pub(crate) struct PickFields {
    /// Effective weight in hundredths of a unit (see `WEIGHT_UNIT`).
    pub(crate) effective_weight: AtomicU64,
    /// Clock nanoseconds until which passive health ejects it; 0 when not.
    pub(crate) ejected_until: AtomicU64,
    /// Clock nanoseconds (plus one) when a slow-start ramp began; 0 when
    /// the backend is not ramping.
    pub(crate) ramp_start: AtomicU64,
    /// Picks alive. 32 bits: four billion picks held at once would take
    /// more memory than a process has; only leaked picks (`mem::forget`)
    /// could wrap it, and debug builds assert that it never does.
    pub(crate) in_flight: AtomicU32,
    /// What holds it back besides ejection: the admin state (`ADMIN_*`,
    /// low bits) and `HEALTH_FAILED`. Zero when nothing does.
    pub(crate) gate: AtomicU8,
    /// Whether its set keeps an in-flight floor (64 backends or more, see
    /// `runtime::floor`): only then does a release look at the floor.
    pub(crate) floored: AtomicBool,
    /// Whether the entry is alone on its cache line (fixed for its life;
    /// says which free list it goes back to).
    #[cfg_attr(pickwise_loom, allow(dead_code))]
    spread: bool,
}

impl PickFields {
    fn new(effective_weight: u64, spread: bool) -> Self {
        PickFields {
            effective_weight: AtomicU64::new(effective_weight),
            ejected_until: AtomicU64::new(0),
            ramp_start: AtomicU64::new(0),
            in_flight: AtomicU32::new(0),
            gate: AtomicU8::new(ADMIN_UP),
            floored: AtomicBool::new(false),
            spread,
        }
    }

    /// Back to a new backend's state. Taken from the free list, the entry
    /// is its slot's alone until the slot is published (with a release
    /// store of the generation that holds it).
    #[cfg(not(pickwise_loom))]
    fn reset(&self, effective_weight: u64) {
        self.effective_weight
            .store(effective_weight, Ordering::Relaxed);
        self.ejected_until.store(0, Ordering::Relaxed);
        self.ramp_start.store(0, Ordering::Relaxed);
        self.in_flight.store(0, Ordering::Relaxed);
        self.gate.store(ADMIN_UP, Ordering::Relaxed);
        self.floored.store(false, Ordering::Relaxed);
    }

    /// Picks alive now.
    #[inline]
    pub(crate) fn in_flight(&self) -> u64 {
        u64::from(self.in_flight.load(Ordering::Relaxed))
    }

    /// `Some(up)` when the answer needs no clock: admin state and weight
    /// alone decide, because no ejection, no failed health check and no
    /// ramp is running. `None` sends the caller to the slot's full check
    /// (which also knows whether its tier is in panic).
    #[inline]
    pub(crate) fn up_without_clock(&self) -> Option<bool> {
        let gate = self.gate.load(Ordering::Relaxed);
        if gate != 0 {
            return if gate & ADMIN_MASK != ADMIN_UP {
                Some(false)
            } else {
                None
            };
        }
        let settled = self.ejected_until.load(Ordering::Acquire) == 0
            && self.ramp_start.load(Ordering::Relaxed) == 0;
        settled.then(|| self.effective_weight.load(Ordering::Relaxed) > 0)
    }

    /// The weight when no ramp is running; `None` sends the caller to the
    /// slot, which knows the ramp.
    #[inline]
    pub(crate) fn weight_without_ramp(&self) -> Option<u64> {
        let ramping = self.ramp_start.load(Ordering::Relaxed) != 0;
        (!ramping).then(|| self.effective_weight.load(Ordering::Relaxed))
    }
}

/// A backend's entry, shared by its slot and the sets that hold the slot.
///
/// The rule that makes recycling right: nothing keeps a `HotRef` without
/// also holding the `Arc<Slot>` it belongs to (a set holds both), so when
/// the slot drops and gives its entry back, no one reads it any more.
#[cfg(not(pickwise_loom))]
pub(crate) type HotRef = &'static PickFields;
/// Under loom an entry is its own allocation: loom's atomics cannot outlive
/// one model execution, so they cannot sit in a process-wide free list.
#[cfg(pickwise_loom)]
pub(crate) type HotRef = std::sync::Arc<PickFields>;

#[cfg(not(pickwise_loom))]
mod free_list {
    use std::sync::{Mutex, PoisonError};

    use super::PickFields;

    /// Entries allocated at once when the free list runs dry outside a
    /// `reserve`: 2 KB.
    const CHUNK: usize = 64;

    /// Free entries: packed ones (two to a line), and spread ones (alone on
    /// their line), each kind back to its own list.
    struct Lists {
        /// What `take` pops: packed entries, with the spread ones a
        /// `reserve` moved on top.
        next: Vec<&'static PickFields>,
        spread: Vec<&'static PickFields>,
    }

    static FREE: Mutex<Lists> = Mutex::new(Lists {
        next: Vec::new(),
        spread: Vec::new(),
    });

    fn free_list() -> std::sync::MutexGuard<'static, Lists> {
        // The lists are consistent after every push and pop: a panic
        // elsewhere while they were locked leaves nothing half done.
        FREE.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a chunk of `n` fresh entries, so that the next `n` takes come
    /// out of it in address order.
    fn grow(list: &mut Vec<&'static PickFields>, n: usize) {
        let chunk: &'static [PickFields] =
            Vec::leak((0..n).map(|_| PickFields::new(0, false)).collect());
        list.extend(chunk.iter().rev());
    }

    /// An entry alone on its cache line: the rest of the line is never
    /// handed out.
    #[repr(C, align(64))]
    struct Line(PickFields);

    /// Adds `n` fresh entries, each on a line of its own.
    fn grow_spread(list: &mut Vec<&'static PickFields>, n: usize) {
        let lines: &'static [Line] =
            Vec::leak((0..n).map(|_| Line(PickFields::new(0, true))).collect());
        list.extend(lines.iter().rev().map(|line| &line.0));
    }

    pub(crate) fn reserve(n: usize, spread: bool) {
        let mut lists = free_list();
        let lists = &mut *lists;
        if spread {
            // Recycled spread entries first, fresh lines for the rest; then
            // on top of what `take` pops.
            if lists.spread.len() < n {
                let short = n - lists.spread.len();
                grow_spread(&mut lists.spread, short);
            }
            let from = lists.spread.len() - n;
            lists.next.extend(lists.spread.drain(from..));
        } else if lists.next.len() < n {
            // A whole run of n, not just the shortfall: recycled entries
            // are wherever their slots were.
            grow(&mut lists.next, n.max(CHUNK));
        }
    }

    pub(crate) fn take() -> &'static PickFields {
        let mut lists = free_list();
        if let Some(hot) = lists.next.pop() {
            return hot;
        }
        grow(&mut lists.next, CHUNK);
        let hot = lists.next.pop();
        hot.unwrap_or_else(|| Box::leak(Box::new(PickFields::new(0, false))))
    }

    pub(crate) fn give_back(hot: &'static PickFields) {
        let mut lists = free_list();
        if hot.spread {
            lists.spread.push(hot);
        } else {
            lists.next.push(hot);
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn entries_grown_spread_each_have_a_cache_line_of_their_own() {
            let mut list = Vec::new();
            grow_spread(&mut list, 8);
            let mut starts: Vec<usize> = list
                .iter()
                .map(|&hot| hot as *const PickFields as usize)
                .collect();
            assert!(
                starts.iter().all(|at| at % 64 == 0),
                "an entry starts a line"
            );
            assert!(list.iter().all(|hot| hot.spread));
            starts.sort_unstable();
            assert!(
                starts.windows(2).all(|pair| pair[1] - pair[0] >= 64),
                "two entries share a line"
            );
        }
    }
}

/// Makes the next `n` new entries come from one contiguous run, if the free
/// list does not already hold that many; with `spread`, from entries each
/// alone on its cache line, recycled ones first (for a small set, see the
/// module docs).
pub(crate) fn reserve(n: usize, spread: bool) {
    #[cfg(not(pickwise_loom))]
    free_list::reserve(n, spread);
    #[cfg(pickwise_loom)]
    let _ = (n, spread);
}

/// A fresh entry: up, not ejected, not ramping, none in flight.
pub(crate) fn take(effective_weight: u64) -> HotRef {
    #[cfg(not(pickwise_loom))]
    {
        let hot = free_list::take();
        hot.reset(effective_weight);
        hot
    }
    #[cfg(pickwise_loom)]
    std::sync::Arc::new(PickFields::new(effective_weight, false))
}

/// Another handle on a slot's entry, for a set that holds the slot.
#[inline]
pub(crate) fn share(hot: &HotRef) -> HotRef {
    #[cfg(not(pickwise_loom))]
    return hot;
    #[cfg(pickwise_loom)]
    return std::sync::Arc::clone(hot);
}

/// Returns a dropped slot's entry for reuse.
pub(crate) fn give_back(hot: &HotRef) {
    #[cfg(not(pickwise_loom))]
    free_list::give_back(hot);
    #[cfg(pickwise_loom)]
    let _ = hot;
}

#[cfg(all(test, not(pickwise_loom)))]
mod tests {
    use super::*;

    #[test]
    fn entries_are_half_a_cache_line() {
        assert_eq!(std::mem::size_of::<PickFields>(), 32);
        assert_eq!(std::mem::align_of::<PickFields>(), 32);
    }

    #[test]
    fn a_recycled_entry_starts_fresh() {
        let used = PickFields::new(5, false);
        used.in_flight.store(9, Ordering::Relaxed);
        used.ejected_until.store(1, Ordering::Relaxed);
        used.ramp_start.store(1, Ordering::Relaxed);
        used.gate.store(ADMIN_DOWN, Ordering::Relaxed);
        assert_eq!(used.up_without_clock(), Some(false));
        used.reset(7);
        assert_eq!(used.in_flight(), 0);
        assert_eq!(used.up_without_clock(), Some(true));
        assert_eq!(used.weight_without_ramp(), Some(7));
    }
}
