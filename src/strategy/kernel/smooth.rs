//! nginx's smooth weighted round robin, shared by weighted round robin and
//! resource-based: a precomputed periodic schedule read with one atomic
//! `fetch_add` (the pick path), and nginx's O(N) step over running scores
//! (the exact fallback).
//!
//! # The schedule
//!
//! nginx's step ([`ngx_http_upstream_get_peer`](https://github.com/nginx/nginx/blob/master/src/http/ngx_http_upstream_round_robin.c)):
//! add each backend's weight to its score, take the first highest score,
//! subtract the total weight `W` from the winner. From scores of zero and
//! with weights that do not change, it gives each backend exactly its weight
//! over the first `W` picks, and the scores are back to zero: the sequence
//! is periodic with period `W`. So, while the effective weights stay as
//! they were, the n-th pick is entry `n mod W` of a table computed once:
//! [`Smooth`] keeps that table (one `u16` per pick of the period, since sets
//! hold at most 65,536 backends) beside a cursor on its own cache line, and
//! a pick is one `fetch_add` on the cursor, one table load and the chosen
//! backend's eligibility check. Weights are first divided by their greatest
//! common divisor (a common factor scales every score alike and changes no
//! choice), so 1,024 backends of equal weight give a period of 1,024.
//!
//! **When weights change** (a configured-weight update, an agent's report
//! or its expiry), the pool's weights version moves
//! ([`BackendSet::weights_version`]: one load a pick). **No pick rebuilds
//! the schedule** (a build is O(W·N), up to about 10 ms at the size bound):
//! the writer that moved the weights rebuilds it before it returns
//! ([`Pool::apply_agent_reply`](crate::Pool::apply_agent_reply) and the
//! pool's other writers, through [`crate::runtime::refresh`]); a move a
//! pick notices (an agent's report expiring) is handed to a background
//! thread, and picks go on with the schedule in force until the new one is
//! stored. The new sequence starts again from scores of zero, as nginx's
//! does when its configuration is reloaded.
//!
//! **Slow start** moves a backend's weight with the clock, so the schedule
//! is built from the weights without their ramps, and a ramping backend's
//! entries are thinned as the pick meets them: taken with probability
//! ramped weight / full weight, else skipped like an ineligible entry.
//! Its share follows its ramped weight and the pick stays O(1) (nginx, and
//! this crate before, took the O(N) exact step on every pick while a ramp
//! ran).
//!
//! **Size bound**: a schedule is built only if its period is at most
//! [`MAX_PERIOD`] picks and its build at most [`BUILD_BUDGET`] steps of one
//! backend (period times backends); beyond that (weights with no common
//! factor summing past a million, say), every pick takes the exact step.
//!
//! # Ineligible backends
//!
//! nginx, and this module's exact step, leave a backend that may not take
//! the request (down, ejected, excluded by the request, at its cap) out of
//! the step: its score freezes and the others' scores move on, so the order
//! among the others is smoothed again from wherever their scores stood.
//! The schedule instead **skips** an ineligible entry and takes the next
//! cursor value, as [`RoundRobin`](crate::strategy::RoundRobin) does: the
//! sequence is the schedule's with that backend's entries left out, so over
//! every whole period each eligible backend still gets exactly its weight,
//! and when the backend comes back the sequence goes on where the cursor
//! is, with no drift to smooth out. Skipping stays O(1) while few entries in
//! a row are ineligible; after `N` in a row (most of the set unavailable),
//! a pick takes the exact step over the eligible backends instead.
//!
//! Two threads picking at once each take cursor values, so over whole
//! periods of picks (counted across threads) every backend gets exactly its
//! weight whatever the interleaving.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::rng::AtomicRng;
use super::Turns;
use crate::runtime::refresh::{self, Refresh};
use crate::runtime::set::BackendSet;
use crate::runtime::shared::Shared;
use crate::runtime::slot::Slot;
use crate::runtime::sync::Swap;

/// The longest schedule built: 2^20 picks a period (2 MB of entries).
pub const MAX_PERIOD: u64 = 1 << 20;

/// The most work a schedule build may take: period times backends, each a
/// score update (2^24: about 10 ms on one core). Beyond it picks take the
/// exact step.
pub const BUILD_BUDGET: u64 = 1 << 24;

/// Smooth weighted round robin's table: the schedule for the weights in
/// force, rebuilt off the pick path when they move, and the running scores
/// of the exact step for when no schedule applies.
pub struct Smooth {
    planner: Arc<Planner>,
    /// The exact step's running scores, one per backend.
    scores: Mutex<Vec<i64>>,
    /// Draws for thinning ramping backends' entries.
    rng: AtomicRng,
    /// Whether the pool has slow start on, so that a backend of the set
    /// may be ramping (with it off, none ever is).
    may_ramp: bool,
}

/// What a rebuild needs, shared with the pool's refresh registry and the
/// background thread: the plan in force and the backends it is built from.
struct Planner {
    plan: Swap<Plan>,
    slots: Vec<Arc<Slot>>,
    shared: Arc<Shared>,
    /// Held by the one rebuilding the plan; others never wait on it.
    building: Mutex<()>,
    /// A rebuild is asked of the background thread and not started yet.
    requested: AtomicBool,
}

impl std::fmt::Debug for Smooth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plan = self.planner.plan.load();
        f.debug_struct("Smooth")
            .field("version", &plan.version)
            .field("period", &plan.schedule.as_ref().map(|s| s.entries.len()))
            .finish()
    }
}

/// The schedule for one weights version, or none (no weight above zero,
/// or the period past the bounds).
struct Plan {
    version: u64,
    schedule: Option<Schedule>,
}

/// One period of nginx's sequence for fixed weights.
pub(crate) struct Schedule {
    /// Turns over the period.
    turns: Turns,
    /// The backend of each pick of the period.
    entries: Box<[u16]>,
    /// Each backend's weight divided by the weights' greatest common
    /// divisor (at most `MAX_PERIOD`, so products with in-flight counts fit
    /// a `u64`).
    weights: Box<[u64]>,
    /// Whether every reduced weight is 1 (equal weights): loads then
    /// compare as they are.
    uniform: bool,
}

impl Schedule {
    /// Reduced weights, in set order: for comparing loads per weight exactly.
    #[inline]
    pub(crate) fn weight(&self, i: usize) -> u64 {
        self.weights.get(i).copied().unwrap_or(0)
    }

    /// Whether every backend has the same weight (none zero).
    #[inline]
    pub(crate) fn is_uniform(&self) -> bool {
        self.uniform
    }

    /// The next entry of the period for which `takes_part` holds, taking up
    /// to `tries` cursor values; `None` if all of those were skipped.
    #[inline]
    pub(crate) fn next(&self, tries: usize, takes_part: impl Fn(usize) -> bool) -> Option<usize> {
        for _ in 0..tries {
            let i = self.draw()?;
            if takes_part(i) {
                return Some(i);
            }
        }
        None
    }

    /// The backend of the next entry of the period: one cursor value taken.
    #[inline]
    pub(crate) fn draw(&self) -> Option<usize> {
        self.entries.get(self.turns.next()).map(|&i| usize::from(i))
    }

    /// The period for `weights` (effective weights, set order), or `None`
    /// when it is empty or past the bounds.
    fn build(weights: &[u64]) -> Option<Schedule> {
        let divisor = weights.iter().fold(0, |g, &w| gcd(g, w));
        if divisor == 0 || weights.len() > usize::from(u16::MAX) + 1 {
            return None;
        }
        let reduced: Box<[u64]> = weights.iter().map(|&w| w / divisor).collect();
        let period: u64 = reduced.iter().sum();
        let work = period.saturating_mul(reduced.len() as u64);
        if period > MAX_PERIOD || work > BUILD_BUDGET {
            return None;
        }
        let total = i64::try_from(period).ok()?;
        let mut scores = vec![0i64; reduced.len()];
        let mut entries = Vec::with_capacity(usize::try_from(period).ok()?);
        for _ in 0..period {
            let mut best = 0;
            let mut top = i64::MIN;
            for (i, (score, &weight)) in scores.iter_mut().zip(reduced.iter()).enumerate() {
                // Weights are at most MAX_PERIOD here: no overflow.
                *score += weight as i64;
                if *score > top {
                    top = *score;
                    best = i;
                }
            }
            scores[best] -= total;
            entries.push(u16::try_from(best).ok()?);
        }
        Some(Schedule {
            uniform: reduced.iter().all(|&w| w == 1),
            turns: Turns::new(entries.len()),
            entries: entries.into_boxed_slice(),
            weights: reduced,
        })
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Plan {
    /// The plan for `slots`' effective weights without their ramps now,
    /// stamped `version` (read before the weights).
    fn for_slots(slots: &[Arc<Slot>], version: u64) -> Plan {
        let weights: Vec<u64> = slots
            .iter()
            .map(|slot| slot.hot.effective_weight.load(Ordering::Relaxed))
            .collect();
        Plan {
            version,
            schedule: Schedule::build(&weights),
        }
    }
}

impl Planner {
    /// Rebuilds the plan until it matches the weights version, unless
    /// another is at it (who will see any later move too).
    fn rebuild(&self) {
        let Some(_building) = self.building.try_lock() else {
            return;
        };
        loop {
            let version = self.shared.weights_version();
            if self.plan.load().version == version {
                return;
            }
            self.plan
                .store(Arc::new(Plan::for_slots(&self.slots, version)));
        }
    }
}

impl Refresh for Planner {
    fn refresh(&self, _now: u64) {
        self.requested.store(false, Ordering::Relaxed);
        self.rebuild();
    }

    fn period(&self) -> Option<std::time::Duration> {
        None
    }
}

impl Smooth {
    /// The table for `set`, its schedule built for the weights in force,
    /// registered with the pool so that writers rebuild it.
    pub(crate) fn new(set: &BackendSet) -> Self {
        let version = set.weights_version();
        let slots = set.slots().to_vec();
        let planner = Arc::new(Planner {
            plan: Swap::new(Plan::for_slots(&slots, version)),
            slots,
            shared: Arc::clone(set.shared()),
            building: Mutex::new(()),
            requested: AtomicBool::new(false),
        });
        let refresh: Arc<dyn Refresh> = planner.clone();
        set.register_refresh(&refresh, set.now());
        Smooth {
            planner,
            scores: Mutex::new(vec![0; set.len()]),
            rng: AtomicRng::random(),
            may_ramp: set.shared().slow_start.is_enabled(),
        }
    }

    /// Whether a backend of the set may be ramping up (slow start is on in
    /// its pool); when not, no backend ever is.
    #[inline]
    pub(crate) fn may_ramp(&self) -> bool {
        self.may_ramp
    }

    /// Runs `with` on the schedule in force, or on `None` when there is
    /// none (the caller then takes the exact step). If the weights moved
    /// since it was built, the background thread is asked to rebuild it
    /// (once) and this pick uses it as it is: never a build on a pick.
    #[inline]
    pub(crate) fn with_schedule<R>(
        &self,
        set: &BackendSet,
        with: impl FnOnce(Option<&Schedule>) -> R,
    ) -> R {
        let plan = self.planner.plan.load();
        if plan.version != set.weights_version() {
            self.ask_rebuild(set);
        }
        with(plan.schedule.as_ref())
    }

    /// Asks the background thread for a rebuild, unless one is asked.
    #[cold]
    #[inline(never)]
    fn ask_rebuild(&self, set: &BackendSet) {
        if !self.planner.requested.swap(true, Ordering::Relaxed) {
            let planner: Arc<dyn Refresh> = self.planner.clone();
            refresh::refresh_soon(Arc::downgrade(&planner), set.now());
        }
    }

    /// One pick of weighted round robin among the backends `takes_part`
    /// admits: the schedule's next admitted entry (a ramping backend's
    /// entry thinned to its ramped share), skipping up to N in a row, else
    /// the exact step.
    #[inline]
    pub(crate) fn pick(
        &self,
        set: &BackendSet,
        takes_part: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        let found = self.with_schedule(set, |schedule| {
            schedule.and_then(|schedule| {
                schedule.next(set.len(), |i| takes_part(i) && self.ramp_admits(set, i))
            })
        });
        found.or_else(|| self.exact_step(set, takes_part))
    }

    /// Whether backend `i`'s entry is taken: always when no ramp runs on
    /// it, else with probability ramped weight / full weight.
    #[inline]
    fn ramp_admits(&self, set: &BackendSet, i: usize) -> bool {
        if set.weight_without_ramp(i).is_some() {
            return true;
        }
        self.thinned(set, i)
    }

    #[cold]
    #[inline(never)]
    fn thinned(&self, set: &BackendSet, i: usize) -> bool {
        let full = set.weight_unramped(i).max(1);
        let ramped = set.effective_weight(i);
        self.rng.next_u64() % full < ramped
    }

    /// One step of nginx's smooth weighted round robin among the backends
    /// `takes_part` admits, over the running scores: O(N) under a mutex.
    /// The others' scores stay as they are.
    #[cold]
    #[inline(never)]
    pub(crate) fn exact_step(
        &self,
        set: &BackendSet,
        takes_part: impl Fn(usize) -> bool,
    ) -> Option<usize> {
        let mut scores = self.scores.lock();
        let mut total: i64 = 0;
        let mut best: Option<(usize, i64)> = None;
        for (i, score) in scores.iter_mut().enumerate() {
            if !takes_part(i) {
                continue;
            }
            // Effective weights stay below 2^40 and sets below 2^17 backends,
            // so neither a score nor the total can overflow an i64.
            let weight = set.effective_weight(i) as i64;
            *score += weight;
            total += weight;
            if best.is_none_or(|(_, top)| *score > top) {
                best = Some((i, *score));
            }
        }
        let (winner, _) = best?;
        scores[winner] -= total;
        Some(winner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_is_one_period_of_the_nginx_sequence() {
        let schedule = Schedule::build(&[500, 100, 100]).expect("small weights");
        assert_eq!(&*schedule.entries, &[0, 0, 1, 0, 2, 0, 0]);
        assert_eq!(&*schedule.weights, &[5, 1, 1]);
    }

    #[test]
    fn weights_past_the_bounds_build_no_schedule() {
        assert!(Schedule::build(&[MAX_PERIOD, 1]).is_none());
        assert!(Schedule::build(&[0, 0]).is_none());
        assert!(Schedule::build(&[]).is_none());
    }

    #[test]
    fn a_zero_weight_gets_no_entry() {
        let schedule = Schedule::build(&[0, 300, 100]).expect("small weights");
        assert_eq!(&*schedule.entries, &[1, 1, 2, 1]);
    }
}
