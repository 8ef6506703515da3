//! The scan the least-loaded strategies share: the eligible backend of
//! lowest cost, ties going round robin, read no further than the first
//! eligible backend that no other can beat.

use crate::runtime::set::BackendSet;
use crate::types::Context;

/// The first eligible backend with the lowest cost, scanning from `start`
/// (a rotating turn, below the set's length) so that ties go round robin.
/// `better(a, b)` says cost `a` beats `b`; `unbeatable(c)` says that no
/// backend can have a cost that beats `c` (least connections: none in
/// flight).
///
/// **It stops at the first eligible backend at an unbeatable cost**, and
/// that is the backend the full scan would return: a later one could at
/// most tie, and ties go to the first in scan order. So while some
/// backend is idle a pick reads the counts from the start to the first
/// idle backend that may take the request (the start itself in a
/// pick-and-drop loop, or with fewer picks in flight than backends most of
/// the time): O(1) where it read all N. With every backend busy it still
/// reads all N. HAProxy gets the cheap pick from a tree of servers sorted
/// by load (`lb_fwlc.c`: the lightest end first), at the price of a lock
/// and a move in the tree on every connection taken and released; here
/// writers stay one atomic add each.
///
/// Eligibility is checked only for a backend whose cost beats the best so
/// far: the same choice as filtering first, but the loop over N backends
/// reads only their costs (contiguous, see the arena), and the few candidates
/// that improve on the minimum pay for the full check. One difference:
/// the end of a backend's ejection is noticed (announced, its ramp
/// started) when a scan checks that backend, not at the next pick; as it
/// comes back idle, that is the first scan that starts on it or meets no
/// idle backend that may take the request before it (within N picks, as
/// the start rotates).
#[inline]
pub(crate) fn scan_min<C: Copy>(
    start: usize,
    set: &BackendSet,
    ctx: &Context<'_>,
    cost: impl Fn(usize) -> C,
    better: impl Fn(C, C) -> bool,
    unbeatable: impl Fn(C) -> bool,
) -> Option<usize> {
    let n = set.len();
    debug_assert!(start < n.max(1), "start {start} in a set of {n}");
    let mut best: Option<(usize, C)> = None;
    // Considers backend `i`; true when it ends the scan.
    let mut ends = |i: usize| {
        let c = cost(i);
        let improves = match best {
            None => true,
            Some((_, top)) => better(c, top),
        };
        if improves && eligible(set, i, ctx) {
            best = Some((i, c));
            // Asked only of a new best: the loop over the others does not
            // pay for it.
            return unbeatable(c);
        }
        false
    };
    // Two plain ranges rather than a chained iterator: the loop stays tight.
    let _stopped = (start..n).any(&mut ends) || (0..start).any(&mut ends);
    best.map(|(i, _)| i)
}

/// The full eligibility check, out of line: few backends of a scan reach
/// it, and inlined it would crowd the loop that every backend goes through.
#[inline(never)]
fn eligible(set: &BackendSet, i: usize, ctx: &Context<'_>) -> bool {
    set.is_eligible(i, ctx)
}
