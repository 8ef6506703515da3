//! The load floor: how least connections and weighted least connections
//! stay O(1) a pick when every backend of a large set is busy.
//!
//! An exact least-loaded pick must return a backend whose load no other
//! eligible backend beats. A scan may stop at the first eligible backend
//! whose load is at or below a number known to be at or below every load
//! (the scan in `strategy::kernel` stops at an idle backend for that
//! reason: nothing has fewer than none in flight). While some backend is
//! idle that is enough. With every backend busy that bound never stops a
//! scan, and it reads all N loads: about 0.84 us at 1,024 backends for
//! least connections, 1.6 us for the weighted one.
//!
//! The floor is a better bound, kept without a lock and without a tree:
//!
//! - **A full scan settles it**: while it looks for the least loaded
//!   backend it also takes the least load of every backend that is not
//!   plainly out (admin down or draining, or weight zero), and stores it
//!   with the pool's availability epoch and weights version.
//! - **A pick never lowers a load**, so it leaves the floor a bound.
//! - **A release lowers it** when it takes a load below it, and leaves the
//!   released backend's position as a **hint**: in a busy steady state the
//!   backend a request just left is the one the next pick wants.
//! - A backend that was plainly out comes back only through a write that
//!   moves the epoch (every change of an admin state moves it, even one
//!   that observers do not see as a new state; an agent's weight from
//!   zero), and a weight moves only with the weights version: a floor
//!   settled under other values is not used.
//! - A slow-start ramp may start with neither moving (a passing health
//!   check), but a ramped weight is never above the full one, so the ramp
//!   alone never takes a load below a floor settled before it. A release
//!   during a ramp, whose load then falls with the clock, drops the floor
//!   to 0; and weighted scans do not settle one while a ramp runs.
//!
//! So a pick reads a few loads from its rotating start (ties still go
//! round robin), then the hint, and scans on only when neither is at the
//! floor; a scan that reads all N settles the floor again. In a
//! pick-and-release loop over busy backends a pick reads one load.
//!
//! A load is the in-flight count for least connections and the count plus
//! one over the effective weight for the weighted kind, an exact fraction
//! (two 32-bit halves of one word; a weight too large for its half stores
//! a floor of 0, still a bound).
//!
//! A backend that counts toward the floor but cannot take requests
//! (ejected, failing its health check, or excluded by the request) keeps
//! the floor at its own load: while it holds fewer requests than every
//! eligible backend, picks find none at the floor and read all N again.
//!
//! A pool has one floor, owned by the table (one tier of one generation)
//! that settled it last: a pool with one active tier, the usual case, keeps
//! it; two tiers picking in turns take it from each other and scan as
//! before. Sets under [`FLOOR_FROM`] backends have no owner: their scans
//! are short, and their releases do not look at the floor.
//!
//! **Races.** Releases and scans run concurrently: a release that lowers a
//! load after a scan read it but before the scan stores its floor can
//! leave a floor above that load until the next release below it or the
//! next full scan. A pick is then as fresh as a scan that ran a moment
//! earlier, which is what least connections promises under concurrency
//! anyway (two racing picks may take the same minimum). Alone, a pick is
//! exact: the tests compare every pick with a model of the loads.

use std::cmp::Ordering as Order;
use std::sync::atomic::Ordering;

use crate::runtime::set::BackendSet;
use crate::runtime::sync::{AtomicU32, AtomicU64};
use crate::types::Context;

/// The smallest set whose table owns the floor: below it a scan of every
/// load costs less than keeping one.
pub(crate) const FLOOR_FROM: usize = 64;

/// How many loads a pick reads from its rotating start before it asks
/// the hint: with many backends at the floor, ties keep going round robin.
const PEEK: usize = 4;

/// A load as an exact fraction `num / den` (`den` 1 for a plain count; a
/// weight of 0 reads as infinitely loaded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Load {
    num: u64,
    den: u64,
}

impl Load {
    /// A plain count.
    #[inline]
    pub(crate) fn count(count: u64) -> Self {
        Load { num: count, den: 1 }
    }

    /// `requests` per `weight`.
    #[inline]
    pub(crate) fn per_weight(requests: u64, weight: u64) -> Self {
        Load {
            num: requests,
            den: weight,
        }
    }

    #[inline(always)]
    fn cmp(self, other: Load) -> Order {
        if self.den == other.den {
            return self.num.cmp(&other.num);
        }
        let mine = u128::from(self.num) * u128::from(other.den);
        let theirs = u128::from(other.num) * u128::from(self.den);
        mine.cmp(&theirs)
    }

    /// As the floor stores it: a bound at or below `self`.
    fn pack(self) -> u64 {
        match u32::try_from(self.den) {
            Ok(den) if den > 0 => {
                let num = u32::try_from(self.num).unwrap_or(u32::MAX);
                u64::from(num) << 32 | u64::from(den)
            }
            // A weight of zero (an infinite load) or too large for the
            // half word: 0 bounds every load.
            _ => 1,
        }
    }

    fn unpack(word: u64) -> Self {
        Load {
            num: word >> 32,
            den: word & u64::from(u32::MAX),
        }
    }
}

/// What a table's scans weigh a backend by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Weighing {
    /// Least connections: the in-flight count.
    Count,
    /// Weighted least connections: the count plus one, per unit of
    /// effective weight.
    PerWeight,
}

impl Weighing {
    /// Backend `i`'s load now.
    #[inline(always)]
    fn load(self, set: &BackendSet, i: usize) -> Load {
        match self {
            Weighing::Count => Load::count(set.in_flight(i)),
            Weighing::PerWeight => Load::per_weight(set.in_flight(i) + 1, set.effective_weight(i)),
        }
    }
}

/// One pool's load floor (see the module docs), on a cache line of its
/// own: releases of busy backends write it.
#[repr(align(64))]
pub(crate) struct LoadFloor {
    /// The owner's id shifted left once, with the low bit set when it
    /// weighs by weight; 0: no owner, and releases leave the floor alone.
    owner: AtomicU32,
    /// The floor, packed (see `Load::pack`).
    bound: AtomicU64,
    /// The position (in the owner's set) of a backend a release took to
    /// the floor or below.
    hint: AtomicU32,
    /// The availability epoch the floor was settled under.
    epoch: AtomicU64,
    /// The weights version it was settled under.
    weights: AtomicU64,
}

impl Default for LoadFloor {
    fn default() -> Self {
        LoadFloor {
            owner: AtomicU32::new(0),
            bound: AtomicU64::new(1),
            hint: AtomicU32::new(0),
            epoch: AtomicU64::new(0),
            weights: AtomicU64::new(0),
        }
    }
}

impl LoadFloor {
    /// A release took the backend at `position` down to `count` in flight
    /// (`weight`: its effective weight, `None` while a ramp runs): lowers
    /// the floor to its load and leaves the hint there if that load is at
    /// the floor or below.
    #[inline]
    pub(crate) fn released(&self, weight: impl FnOnce() -> Option<u64>, count: u32, position: u32) {
        let owner = self.owner.load(Ordering::Relaxed);
        if owner == 0 {
            return;
        }
        let load = if owner & 1 == 0 {
            Load::count(u64::from(count))
        } else {
            match weight() {
                // A ramping weight moves with the clock, and its load may
                // fall below the floor with no release at all: the floor
                // drops to 0, and weighted scans keep none while the ramp
                // runs (see the module docs).
                None => {
                    self.lower(word_now(&self.bound), Load::count(0).pack());
                    return;
                }
                Some(weight) => Load::per_weight(u64::from(count) + 1, weight),
            }
        };
        let word = self.bound.load(Ordering::Relaxed);
        let order = load.cmp(Load::unpack(word));
        if order == Order::Greater {
            return;
        }
        if self.hint.load(Ordering::Relaxed) != position {
            self.hint.store(position, Ordering::Relaxed);
        }
        if order == Order::Less {
            self.lower(word, load.pack());
        }
    }

    /// Lowers the floor from `seen` to `to` unless another release lowered
    /// it further meanwhile.
    fn lower(&self, mut seen: u64, to: u64) {
        while Load::unpack(to).cmp(Load::unpack(seen)) == Order::Less {
            match self
                .bound
                .compare_exchange_weak(seen, to, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(now) => seen = now,
            }
        }
    }

    /// The floor, if `owner` settled it under these versions.
    #[inline]
    fn get(&self, owner: u32, epoch: u64, weights: u64) -> Option<Load> {
        let current = self.owner.load(Ordering::Relaxed) == owner
            && self.epoch.load(Ordering::Relaxed) == epoch
            && self.weights.load(Ordering::Relaxed) == weights;
        current.then(|| Load::unpack(self.bound.load(Ordering::Relaxed)))
    }

    fn settle(&self, owner: u32, epoch: u64, weights: u64, floor: Load) {
        self.epoch.store(epoch, Ordering::Relaxed);
        self.weights.store(weights, Ordering::Relaxed);
        self.bound.store(floor.pack(), Ordering::Relaxed);
        self.owner.store(owner, Ordering::Relaxed);
    }
}

/// The floor word now.
fn word_now(bound: &AtomicU64) -> u64 {
    bound.load(Ordering::Relaxed)
}

/// Which table owns a pool's floor, and how it weighs: 0 for a table of a
/// set too small to keep a floor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FloorOwner(u32);

impl FloorOwner {
    /// The owner for a table built over `set` that weighs as `weighing`:
    /// a fresh id when the set is large enough to keep a floor, none
    /// otherwise. Marks the set's backends accordingly, so that their
    /// releases look at the floor only then.
    pub(crate) fn for_set(set: &BackendSet, weighing: Weighing) -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
        let floored = set.len() >= FLOOR_FROM;
        set.mark_floored(floored);
        if !floored {
            return FloorOwner(0);
        }
        let weighted = u32::from(weighing == Weighing::PerWeight);
        loop {
            let id = NEXT.fetch_add(1, Ordering::Relaxed) & (u32::MAX >> 1);
            if id != 0 {
                return FloorOwner(id << 1 | weighted);
            }
        }
    }

    /// Whether the table keeps a floor (its set has 64 backends or more).
    #[inline]
    pub(crate) fn keeps_floor(self) -> bool {
        self.0 != 0
    }
}

/// The eligible backend of least load, the first of them from `start` (a
/// rotating turn below the set's length) so that ties go round robin;
/// `None` when no backend is eligible. `fallback` is a load known to be at
/// or below every other while no floor is in force (an idle backend's for
/// least connections). The choice is the one a scan of every load makes;
/// the floor (see the module docs) lets it read few of them.
#[inline(always)]
pub(crate) fn least_loaded(
    start: usize,
    set: &BackendSet,
    ctx: &Context<'_>,
    owner: FloorOwner,
    weighing: Weighing,
    fallback: Load,
) -> Option<usize> {
    let n = set.len();
    debug_assert!(start < n.max(1), "start {start} in a set of {n}");
    // A start at the fallback bound ends any search, floor or not: the
    // pick of a set with idle backends costs what it did before the floor.
    if weighing.load(set, start).cmp(fallback) != Order::Greater && eligible(set, start, ctx) {
        return Some(start);
    }
    if !owner.keeps_floor() {
        return scan(start, set, ctx, weighing, fallback).map(|(i, _)| i);
    }
    let cell = &set.shared().floor;
    let (epoch, weights) = (set.shared().epoch(), set.weights_version());
    let floor = cell.get(owner.0, epoch, weights);
    if let Some(floor) = floor {
        if let Some(i) = at_floor_early(start, set, ctx, weighing, floor, cell) {
            return Some(i);
        }
    }
    let bound = floor.unwrap_or(fallback);
    match scan(start, set, ctx, weighing, bound)? {
        (i, Settled::Full(Some(least))) => {
            cell.settle(owner.0, epoch, weights, least);
            Some(i)
        }
        (i, _) => Some(i),
    }
}

/// A backend at the floor among the first loads from `start`, or at the
/// hint.
#[inline]
fn at_floor_early(
    start: usize,
    set: &BackendSet,
    ctx: &Context<'_>,
    weighing: Weighing,
    floor: Load,
    cell: &LoadFloor,
) -> Option<usize> {
    let n = set.len();
    let at_floor =
        |i: usize| weighing.load(set, i).cmp(floor) != Order::Greater && eligible(set, i, ctx);
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
    /// After reading every load: the least load of the backends not plainly
    /// out, if it may serve as a floor (not while a weighted scan met a
    /// ramp).
    Full(Option<Load>),
}

/// The scan of every load from `start`, stopping at the first eligible
/// backend at or below `bound` (no backend can beat it).
fn scan(
    start: usize,
    set: &BackendSet,
    ctx: &Context<'_>,
    weighing: Weighing,
    bound: Load,
) -> Option<(usize, Settled)> {
    let n = set.len();
    let mut best: Option<(usize, Load)> = None;
    let mut least: Option<Load> = None;
    let mut ramping = false;
    let mut ends = |i: usize| {
        let load = weighing.load(set, i);
        if least.is_none_or(|l| load.cmp(l) == Order::Less) && set.may_be_up(i) {
            least = Some(load);
        }
        if weighing == Weighing::PerWeight && !ramping {
            ramping = set.weight_without_ramp(i).is_none();
        }
        let improves = best.is_none_or(|(_, top)| load.cmp(top) == Order::Less);
        if improves && eligible(set, i, ctx) {
            best = Some((i, load));
            return load.cmp(bound) != Order::Greater;
        }
        false
    };
    let stopped = (start..n).any(&mut ends) || (0..start).any(&mut ends);
    let (i, _) = best?;
    let settled = if stopped {
        Settled::Stopped
    } else {
        Settled::Full(least.filter(|_| !ramping))
    };
    Some((i, settled))
}

/// The full eligibility check, out of line (as in the kernel's scan).
#[inline(never)]
fn eligible(set: &BackendSet, i: usize, ctx: &Context<'_>) -> bool {
    set.is_eligible(i, ctx)
}
