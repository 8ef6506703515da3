//! The smooth weighted round robin strategies: [`WeightedRoundRobin`] and
//! [`ResourceBased`], one generic ([`WeightedSchedule`]) over nginx's
//! smooth schedule, taken in turn or, for resource-based, among the
//! lightest backends per unit of weight.

use std::fmt;
use std::marker::PhantomData;

use crate::runtime::set::BackendSet;
use crate::strategy::kernel::smooth::{Schedule, Smooth};
use crate::strategy::kernel::PerWeight;
use crate::strategy::Strategy;
use crate::types::{ConfigError, Context};

/// nginx's smooth weighted round robin schedule over the effective weights,
/// taken as its [`Turn`] says: every backend in turn ([`WeightedRoundRobin`])
/// or the lightest per unit of weight first ([`ResourceBased`]).
pub struct WeightedSchedule<T: Turn> {
    turn: PhantomData<fn() -> T>,
}

/// How a [`WeightedSchedule`] takes its turns; implemented by [`InTurn`]
/// and [`LightestFirst`], sealed.
pub trait Turn: sealed::Sealed + Send + Sync + 'static {
    /// Whether the pick reads the backends' requests in flight (and the
    /// pool must count them).
    const LIGHTEST_FIRST: bool;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::InTurn {}
    impl Sealed for super::LightestFirst {}
}

/// [`WeightedRoundRobin`]'s turn: the schedule's next eligible backend.
#[derive(Debug, Clone, Copy)]
pub struct InTurn;

impl Turn for InTurn {
    const LIGHTEST_FIRST: bool = false;
}

/// [`ResourceBased`]'s turn: the schedule's next among the backends with
/// the fewest requests in flight per unit of weight.
#[derive(Debug, Clone, Copy)]
pub struct LightestFirst;

impl Turn for LightestFirst {
    const LIGHTEST_FIRST: bool = true;
}

/// Smooth weighted round robin, nginx's scheme: every pick adds each eligible
/// backend's effective weight to its running score, takes the first highest
/// score in set order, and subtracts the total weight from the winner
/// ([nginx's `ngx_http_upstream_get_peer`](https://github.com/nginx/nginx/blob/master/src/http/ngx_http_upstream_round_robin.c)).
///
/// Over every window of sum(weights) picks each backend gets exactly its
/// weight, spread out rather than in bursts (weights 5,1,1 give
/// `a a b a c a a`, not `a a a a a b c`).
///
/// **Choose it** for unequal but steady backends whose relative capacity you
/// know (a machine twice as big gets weight 2). Weights follow agent reports
/// and slow start at run time: it reads the effective weights.
///
/// **Synchronisation**: O(1) a pick, no lock. With the weights fixed the
/// sequence is periodic (period: the sum of the weights over their greatest
/// common divisor), so one period is precomputed and a pick is one atomic
/// `fetch_add` on a cursor plus one table load; the n-th pick across all
/// threads is entry n of the period, so over whole periods each backend gets
/// exactly its weight whatever the threads. When a weight changes (agent
/// report, update) **no pick rebuilds the period**: the writer that changed
/// it does, before it returns (an agent report's expiry, noticed on a pick,
/// is rebuilt by a background thread while picks go on with the period in
/// force), and the sequence starts again from zero scores. A slow-start
/// ramp moves no table: a ramping backend's entries are taken with
/// probability ramped weight / full weight. A backend that may
/// not take the request is skipped (its entries left out of the sequence,
/// as round robin does); where that differs from nginx, which re-smooths the
/// others' order, and the bounds past which picks take nginx's O(N) step
/// under a mutex (a period over 2^20 picks or a build over 2^24 steps, most
/// of the set unavailable) are in the kernel's notes
/// (`src/strategy/kernel/smooth.rs` in the crate's source).
/// `cargo bench --bench weight_changes`: 256 backends, 100 weight changes a
/// second, pick p99 188 ns (12.6 ms when picks rebuilt).
pub type WeightedRoundRobin = WeightedSchedule<InTurn>;

/// Resource-based (adaptive): each backend's share follows the capacity its
/// agent reports. An agent on each node says `75%` (of the configured
/// weight), `weight:N`, `drain` or `down`; the program feeds the replies to
/// [`Pool::apply_agent_reply`](crate::Pool::apply_agent_reply), which sets the
/// backend's effective weight and state, and this strategy shares requests
/// in proportion to the effective weights.
///
/// It is nginx's `least_conn` over effective weights: the backends with the
/// fewest requests in flight per unit of reported capacity take part, and
/// among them (all of them when idle) smooth weighted round robin decides,
/// so at low load each backend gets exactly its reported share, spread out.
///
/// Why the in-flight counts, when the agent's report is the load signal: a
/// report is a snapshot that holds until the next poll (hundreds of
/// milliseconds, thousands of requests). Shares that follow it alone herd
/// onto whichever node last looked idle (in this crate's simulation of three
/// nodes at 93% with agents polled every 500 ms: p99 822 ms against round
/// robin's 91 ms). Counting in-flight requests corrects within
/// one request, and the agent still sets each node's share of capacity.
/// A stale report (older than the pool's
/// [`agent_expiry`](crate::PoolBuilder::agent_expiry)) falls back to the
/// configured weight; `drain` and `down` hold until the agent says otherwise.
///
/// **Choose it** when each node can tell its own headroom (CPU, queue depth,
/// memory) through an agent, and nodes are unequal or change over time.
/// Without agents it is exactly weighted round robin.
///
/// **Synchronisation**: no lock while the weights hold still. A pick first
/// takes the next entry of weighted round robin's precomputed period (one
/// atomic `fetch_add`): if that backend has nothing in flight and may take
/// the request, nothing is lighter, and it is the pick (in a pool without
/// slow start; with it, every pick takes the pass below, which alone can
/// tell whether a ramp runs). Otherwise one O(N) lock-free pass over the
/// in-flight counts (contiguous in the arena) finds the lightest load per
/// unit of weight, compared exactly with the schedule's reduced weights (no
/// division); a lone lightest backend is the pick, and ties go to the next
/// of them in the period (the entry taken first, then one `fetch_add` a
/// try, skipping the others). While a ramp runs (the schedule's weights
/// leave ramps aside), past the period's bounds,
/// or when no tied backend comes up within N entries, it takes nginx's exact
/// O(N) step among the lightest under a short mutex, as it always did.
/// Agent reports are written off the pick path and read with one atomic
/// load per backend.
///
/// So a pick is O(1) while the backend whose turn it is sits idle, and O(N)
/// once it is busy: the lightest backend then cannot be known without
/// looking at every count.
pub type ResourceBased = WeightedSchedule<LightestFirst>;

impl<T: Turn> WeightedSchedule<T> {
    /// The strategy (it has no settings: weights come from the backends).
    pub fn new() -> Self {
        WeightedSchedule { turn: PhantomData }
    }
}

impl<T: Turn> Default for WeightedSchedule<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Turn> Clone for WeightedSchedule<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Turn> Copy for WeightedSchedule<T> {}

impl<T: Turn> fmt::Debug for WeightedSchedule<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match T::LIGHTEST_FIRST {
            false => "WeightedRoundRobin",
            true => "ResourceBased",
        })
    }
}

impl<T: Turn> Strategy for WeightedSchedule<T> {
    type Table = Smooth;

    fn counts_in_flight(&self) -> bool {
        T::LIGHTEST_FIRST
    }

    fn build(&self, set: &BackendSet) -> Result<Smooth, ConfigError> {
        Ok(Smooth::new(set))
    }

    #[inline]
    fn select(&self, table: &Smooth, set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
        if !T::LIGHTEST_FIRST {
            return table.pick(set, |i| set.is_eligible(i, ctx));
        }
        let may_ramp = table.may_ramp();
        let scheduled = table.with_schedule(set, |schedule| {
            schedule.and_then(|schedule| {
                // The schedule's next entry first: a backend with none in
                // flight is among the lightest whatever the weights, so if
                // it may take the request it is what the pass below would
                // choose (it would take this very entry among the tied).
                // Not while a ramp may run: a ramp anywhere sends the pick
                // to the exact step, and only the pass can tell.
                let drawn = if may_ramp { None } else { schedule.draw() };
                let idle = |i: usize| set.in_flight(i) == 0 && set.is_eligible(i, ctx);
                if let Some(i) = drawn.filter(|&i| idle(i)) {
                    return Some(Some(i));
                }
                if schedule.is_uniform() {
                    lightest_in_turn::<true>(schedule, set, ctx, drawn)
                } else {
                    lightest_in_turn::<false>(schedule, set, ctx, drawn)
                }
            })
        });
        match scheduled {
            Some(found) => found,
            None => lightest_exactly(table, set, ctx),
        }
    }
}

/// The pick through the schedule: `Some(None)` when no backend is eligible,
/// `None` when the exact step must decide (no tied backend came up within
/// N entries). `UNIFORM`: every weight is 1, so loads compare as they are
/// (the scan is then least connections' loop). `drawn`: the backend of the
/// entry the caller took already, first in turn among the tied.
#[inline]
fn lightest_in_turn<const UNIFORM: bool>(
    schedule: &Schedule,
    set: &BackendSet,
    ctx: &Context<'_>,
    drawn: Option<usize>,
) -> Option<Option<usize>> {
    // (index, load, reduced weight) of the first eligible lightest so far,
    // and how many backends share its load per weight (eligible or not:
    // a count for choosing the path, not for the choice itself).
    let mut best: Option<(usize, u64, u64)> = None;
    let mut ties = 0usize;
    for i in 0..set.len() {
        let weight = if UNIFORM { 1 } else { schedule.weight(i) };
        if weight == 0 {
            continue;
        }
        // The schedule's weights leave ramps aside; while one runs, loads
        // per weight compare against the ramped weights, exactly.
        set.weight_without_ramp(i)?;
        let load = set.in_flight(i);
        match best {
            // load / weight against best_load / best_weight: products of
            // counts below 2^32 and weights up to 2^20 fit a u64.
            Some((_, best_load, best_weight)) => {
                let (mine, theirs) = (load * best_weight, best_load * weight);
                if mine < theirs {
                    if eligible(set, i, ctx) {
                        best = Some((i, load, weight));
                        ties = 1;
                    }
                } else if mine == theirs {
                    ties += 1;
                }
            }
            None => {
                if eligible(set, i, ctx) {
                    best = Some((i, load, weight));
                    ties = 1;
                }
            }
        }
    }
    let Some((lightest, best_load, best_weight)) = best else {
        return Some(None);
    };
    if ties == 1 {
        return Some(Some(lightest));
    }
    let tied = |i: usize| {
        let weight = if UNIFORM { 1 } else { schedule.weight(i) };
        weight > 0
            && set.in_flight(i) * best_weight == best_load * weight
            && set.is_eligible(i, ctx)
    };
    if let Some(i) = drawn.filter(|&i| tied(i)) {
        return Some(Some(i));
    }
    schedule.next(set.len(), tied).map(Some)
}

/// The full eligibility check, out of line: only backends that beat the
/// lightest so far reach it (see `scan_min`).
#[inline(never)]
fn eligible(set: &BackendSet, i: usize, ctx: &Context<'_>) -> bool {
    set.is_eligible(i, ctx)
}

/// nginx's `least_conn` exactly: the lightest eligible backends by load
/// per effective weight, then the exact smooth step among them.
#[cold]
#[inline(never)]
fn lightest_exactly(table: &Smooth, set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
    let load = |i| PerWeight::of(set.in_flight(i), set.effective_weight(i));
    let mut lightest: Option<PerWeight> = None;
    for i in (0..set.len()).filter(|&i| set.is_eligible(i, ctx)) {
        if lightest.is_none_or(|best| load(i).cmp(best).is_lt()) {
            lightest = Some(load(i));
        }
    }
    let lightest = lightest?;
    // Counts move while we look (other picks, drops): take part at or
    // under the minimum seen, and should it have risen everywhere since,
    // let every eligible backend take part rather than find none.
    table
        .exact_step(set, |i| {
            set.is_eligible(i, ctx) && load(i).cmp(lightest).is_le()
        })
        .or_else(|| table.exact_step(set, |i| set.is_eligible(i, ctx)))
}
