//! The scan the least-loaded strategies share: the eligible backend of
//! lowest cost, ties going round robin.

use super::Cursor;
use crate::runtime::set::BackendSet;
use crate::types::Context;

/// The first eligible backend with the lowest cost, scanning from a rotating
/// start so that ties go round robin. `better(a, b)` says cost `a` beats `b`.
///
/// Eligibility is checked only for a backend whose cost beats the best so
/// far: the same choice as filtering first, but the loop over N backends
/// reads only their costs (contiguous, see the arena), and the few candidates
/// that improve on the minimum pay for the full check. One difference:
/// the end of a backend's ejection is noticed (announced, its ramp
/// started) when a scan checks that backend, not at the next pick; as it
/// comes back idle, that is the first scan that starts before it or finds
/// nothing lighter on the way.
#[inline]
pub(crate) fn scan_min<C: Copy>(
    cursor: &Cursor,
    set: &BackendSet,
    ctx: &Context<'_>,
    cost: impl Fn(usize) -> C,
    better: impl Fn(C, C) -> bool,
) -> Option<usize> {
    let n = set.len();
    let start = cursor.next() % n.max(1);
    let mut best: Option<(usize, C)> = None;
    let mut consider = |i: usize| {
        let c = cost(i);
        let improves = match best {
            None => true,
            Some((_, top)) => better(c, top),
        };
        if improves && eligible(set, i, ctx) {
            best = Some((i, c));
        }
    };
    // Two plain ranges rather than a chained iterator: the loop stays tight.
    (start..n).for_each(&mut consider);
    (0..start).for_each(&mut consider);
    best.map(|(i, _)| i)
}

/// The full eligibility check, out of line: few backends of a scan reach
/// it, and inlined it would crowd the loop that every backend goes through.
#[inline(never)]
fn eligible(set: &BackendSet, i: usize, ctx: &Context<'_>) -> bool {
    set.is_eligible(i, ctx)
}
