//! The in-flight floor: how least connections stays O(1) a pick when every
//! backend of a large set is busy.
//!
//! Exact least connections must return a backend whose in-flight count no
//! other eligible backend beats. A scan may stop at the first eligible
//! backend whose count is at or below a number known to be at or below
//! every count (the scan in `strategy::kernel` stops at 0 for that reason:
//! nothing has fewer than none in flight). While some backend is idle that
//! is enough. With every backend busy the bound 0 never stops a scan, and
//! it reads all N counts: about 0.86 us at 1,024 backends.
//!
//! The floor is a better bound, kept without a lock and without a tree:
//!
//! - **A full scan settles it**: while it looks for the least loaded
//!   backend it also takes the least count of every backend that is not
//!   plainly out (admin down or draining, or weight zero), and stores it
//!   with the pool's availability epoch.
//! - **A pick never lowers a count**, so it leaves the floor a bound.
//! - **A release lowers it** (`fetch_min`) when it takes a count below
//!   it, and leaves the released backend's position as a **hint**: in a
//!   busy steady state the backend a request just left is the one the next
//!   pick wants.
//! - A backend that was plainly out comes back only through a write that
//!   moves the epoch (an admin state, an agent's weight from zero), and a
//!   floor settled under another epoch is not used.
//!
//! So a pick reads a few counts from its rotating start (ties still go
//! round robin), then the hint, and scans on only when neither is at the
//! floor; a scan that reads all N settles the floor again. In a
//! pick-and-release loop over busy backends a pick reads one count.
//!
//! A pool has one floor, owned by the table (one tier of one generation)
//! that settled it last: a pool with one active tier, the usual case, keeps
//! it; two tiers picking in turns take it from each other and scan as
//! before. Sets under [`FLOOR_FROM`] backends have no owner: their scans
//! are short, and their releases pay one load.
//!
//! **Races.** Releases and scans run concurrently: a release that lowers a
//! count after a scan read it but before the scan stores its floor can
//! leave a floor one above that count until the next release below it or
//! the next full scan. A pick is then as fresh as a scan that ran a moment
//! earlier, which is what least connections promises under concurrency
//! anyway (two racing picks may take the same minimum). Alone, a pick is
//! exact: the tests compare every pick with a model of the counts.

use std::sync::atomic::Ordering;

use crate::runtime::set::BackendSet;
use crate::runtime::sync::{AtomicU32, AtomicU64};
use crate::types::Context;

/// The smallest set whose table owns the floor: below it a scan of every
/// count costs less than keeping one.
pub(crate) const FLOOR_FROM: usize = 64;

/// How many counts a pick reads from its rotating start before it asks
/// the hint: with many backends at the floor, ties keep going round robin.
const PEEK: usize = 4;

/// One pool's in-flight floor (see the module docs), on a cache line of
/// its own: releases of busy backends write it.
#[repr(align(64))]
pub(crate) struct InFlightFloor {
    /// The owner's id in the high 32 bits, the floor in the low ones; 0:
    /// no owner, and releases leave it alone.
    packed: AtomicU64,
    /// The position (in the owner's set) of a backend a release took to
    /// the floor or below.
    hint: AtomicU32,
    /// The availability epoch the floor was settled under.
    epoch: AtomicU64,
}

impl Default for InFlightFloor {
    fn default() -> Self {
        InFlightFloor {
            packed: AtomicU64::new(0),
            hint: AtomicU32::new(0),
            epoch: AtomicU64::new(0),
        }
    }
}

impl InFlightFloor {
    /// A release took a backend at `position` down to `count`: lowers the
    /// floor to it and leaves the hint there if it is at the floor or
    /// below. One load when no table owns the floor or the count stays
    /// above it.
    #[inline]
    pub(crate) fn released(&self, count: u32, position: u32) {
        let packed = self.packed.load(Ordering::Relaxed);
        if packed >> 32 == 0 || count > packed as u32 {
            return;
        }
        if self.hint.load(Ordering::Relaxed) != position {
            self.hint.store(position, Ordering::Relaxed);
        }
        if count < packed as u32 {
            // The same owner bits: the minimum of the packed words is the
            // minimum of the floors (an owner that changed meanwhile keeps
            // whichever word is lower, and a new owner's first pick scans).
            self.packed.fetch_min(
                packed & !u64::from(u32::MAX) | u64::from(count),
                Ordering::Relaxed,
            );
        }
    }

    /// The floor, if `owner` settled it under `epoch`.
    #[inline]
    fn get(&self, owner: u32, epoch: u64) -> Option<u64> {
        let packed = self.packed.load(Ordering::Relaxed);
        let current =
            packed >> 32 == u64::from(owner) && self.epoch.load(Ordering::Relaxed) == epoch;
        current.then_some(packed & u64::from(u32::MAX))
    }

    fn settle(&self, owner: u32, epoch: u64, floor: u64) {
        let floor = u32::try_from(floor).unwrap_or(u32::MAX);
        self.epoch.store(epoch, Ordering::Relaxed);
        self.packed
            .store(u64::from(owner) << 32 | u64::from(floor), Ordering::Relaxed);
    }
}

/// Which table owns a pool's floor: a process-wide id; 0 for a table of a
/// set too small to keep one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FloorOwner(u32);

impl FloorOwner {
    /// Whether the table keeps a floor (its set has 64 backends or more).
    #[inline]
    pub(crate) fn keeps_floor(self) -> bool {
        self.0 != 0
    }

    /// The owner id for a table built over `set`: a fresh one when the set
    /// is large enough to keep a floor, none (0) otherwise.
    pub(crate) fn for_set(set: &BackendSet) -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        let floored = set.len() >= FLOOR_FROM;
        set.mark_floored(floored);
        if !floored {
            return FloorOwner(0);
        }
        loop {
            let id = NEXT.fetch_add(1, Ordering::Relaxed);
            if id != 0 {
                return FloorOwner(id);
            }
        }
    }
}

/// The eligible backend with the fewest picks in flight, the first of them
/// from `start` (a rotating turn below the set's length) so that ties go
/// round robin; `None` when no backend is eligible. The choice is the one a
/// scan of every count makes; the floor (see the module docs) lets it read
/// few of them.
#[inline]
pub(crate) fn least_in_flight(
    start: usize,
    set: &BackendSet,
    ctx: &Context<'_>,
    owner: FloorOwner,
) -> Option<usize> {
    let n = set.len();
    debug_assert!(start < n.max(1), "start {start} in a set of {n}");
    if owner.0 == 0 {
        return scan(start, set, ctx, 0).map(|(i, _)| i);
    }
    // An idle start ends any search, floor or not: the pick of a set with
    // idle backends costs what it did before the floor.
    if set.in_flight(start) == 0 && eligible(set, start, ctx) {
        return Some(start);
    }
    let floor_cell = &set.shared().floor;
    let epoch = set.shared().epoch();
    let floor = floor_cell.get(owner.0, epoch);
    if let Some(floor) = floor {
        if let Some(i) = at_floor_early(start, set, ctx, floor, floor_cell) {
            return Some(i);
        }
    }
    match scan(start, set, ctx, floor.unwrap_or(0)) {
        Some((i, Settled::Full(least))) => {
            floor_cell.settle(owner.0, epoch, least);
            Some(i)
        }
        Some((i, Settled::Stopped)) => Some(i),
        None => None,
    }
}

/// A backend at the floor among the first counts from `start`, or at the
/// hint.
#[inline]
fn at_floor_early(
    start: usize,
    set: &BackendSet,
    ctx: &Context<'_>,
    floor: u64,
    cell: &InFlightFloor,
) -> Option<usize> {
    let n = set.len();
    let at_floor = |i: usize| set.in_flight(i) <= floor && eligible(set, i, ctx);
    let mut i = start;
    for _ in 0..PEEK.min(n) {
        if at_floor(i) {
            return Some(i);
        }
        i = if i + 1 == n { 0 } else { i + 1 };
    }
    let hint = cell.hint.load(Ordering::Relaxed) as usize;
    (hint < n && at_floor(hint)).then_some(hint)
}

/// How a scan ended.
enum Settled {
    /// At a backend at or below the bound it was given.
    Stopped,
    /// After reading every count: the least count of the backends not
    /// plainly out.
    Full(u64),
}

/// The scan of every count from `start`, stopping at the first eligible
/// backend at or below `bound` (no backend can beat it).
fn scan(start: usize, set: &BackendSet, ctx: &Context<'_>, bound: u64) -> Option<(usize, Settled)> {
    let n = set.len();
    let mut best: Option<(usize, u64)> = None;
    let mut least = u64::MAX;
    let mut ends = |i: usize| {
        let c = set.in_flight(i);
        if c < least && set.may_be_up(i) {
            least = c;
        }
        let improves = best.is_none_or(|(_, top)| c < top);
        if improves && eligible(set, i, ctx) {
            best = Some((i, c));
            return c <= bound;
        }
        false
    };
    let stopped = (start..n).any(&mut ends) || (0..start).any(&mut ends);
    let (i, _) = best?;
    Some((
        i,
        if stopped {
            Settled::Stopped
        } else {
            Settled::Full(least)
        },
    ))
}

/// The full eligibility check, out of line (as in the kernel's scan).
#[inline(never)]
fn eligible(set: &BackendSet, i: usize, ctx: &Context<'_>) -> bool {
    set.is_eligible(i, ctx)
}
