//! A backend's runtime state, its slot: what outlives set updates (outcome
//! counters, learned latency and error rate, state and its reason, the
//! agent's capacity) and its entry of pick-path fields in the arena. The pool
//! keys slots by [`BackendId`]; a backend that stays in the set keeps its slot.
//!
//! One file per job: [`admission`] (may it take a request now, at what
//! weight), [`learning`] (outcomes, EWMAs, ejections), [`admin`] (the state
//! machine and its announcements), [`status`] (the public picture). The
//! agent's capacity and its expiry are
//! [`agent_reports`](crate::runtime::agent_reports)'.

mod admin;
mod admission;
mod learning;
mod status;

pub(crate) use learning::Revisable;
pub use status::BackendStatus;

use std::sync::Arc;

use parking_lot::Mutex;

use crate::runtime::agent_reports::AgentCapacity;

use crate::runtime::arena::{self, HotRef};
use crate::runtime::ewma::Ewma;
use crate::runtime::load_reports::LoadCell;
use crate::runtime::passive::outlier::IntervalCounts;
use crate::runtime::probe::ProbeCell;
use crate::runtime::shared::Shared;
use crate::runtime::sync::{AtomicBool, AtomicU32, AtomicU64};
use crate::types::{BackendId, BackendState, CheckResult, Reason, StateChange};

/// Effective weights count in hundredths of a configured weight unit, so a
/// backend reported at 50% of weight 1 still has a non-zero weight.
pub const WEIGHT_UNIT: u64 = 100;

/// Aligned to a cache line: a counted pick writes `picks`, and packed
/// beside another backend's slot it would make picks of two backends on
/// two threads evict each other's line.
#[repr(align(64))]
pub(crate) struct Slot {
    pub(crate) id: BackendId,
    /// What a pick reads, in the contiguous arena (see `arena`).
    pub(crate) hot: HotRef,
    pub(in crate::runtime) configured_weight: AtomicU32,
    pub(in crate::runtime) removed: AtomicBool,
    pub(in crate::runtime) consecutive_failures: AtomicU32,
    /// Ejections since the last success: the multiplier of the next one.
    pub(in crate::runtime) ejections: AtomicU32,
    successes: AtomicU64,
    /// Picks counted in flight since it joined.
    picks: AtomicU64,
    /// Times passive health ejected it.
    pub(in crate::runtime) times_ejected: AtomicU64,
    server_errors: AtomicU64,
    failures: AtomicU64,
    /// Outcomes the client caused: never counted for or against it.
    client_faults: AtomicU64,
    /// When it last answered (a success or a server error), pool time in
    /// nanoseconds plus one (0: never), written at most once a millisecond:
    /// an outpaced try counts only if nothing answered while it waited.
    last_answer: AtomicU64,
    /// Outcomes of the current outlier-detection interval.
    pub(in crate::runtime) interval: IntervalCounts,
    /// Peak-sensitive latency EWMA, nanoseconds.
    latency: Ewma,
    /// EWMA of the share of outcomes that were errors, 0..=1.
    errors: Ewma,
    /// The latest probe reply, for the probing strategy.
    pub(crate) probe: ProbeCell,
    last_change: Mutex<StateChange>,
    /// The last active health check's result and when it came.
    last_check: Mutex<Option<(CheckResult, std::time::Duration)>>,
    /// The agent's capacity report in force, if any. Every write of
    /// `effective_weight` happens under this lock, so a configured-weight
    /// update and an agent report combine instead of overwriting each other.
    pub(in crate::runtime) agent: Mutex<AgentCapacity>,
    /// The latest load report (ORCA).
    pub(crate) load: LoadCell,
    pub(in crate::runtime) shared: Arc<Shared>,
    /// Its position in the newest set that holds it: where a release that
    /// takes it to the in-flight floor points the floor's hint.
    pub(in crate::runtime) position: AtomicU32,
}

impl Drop for Slot {
    fn drop(&mut self) {
        // No set and no pick holds the slot any more, so none holds its entry.
        arena::give_back(&self.hot);
    }
}

impl Slot {
    pub(crate) fn new(id: BackendId, weight: u32, shared: Arc<Shared>) -> Self {
        let at = shared.now();
        Slot {
            last_change: Mutex::new(StateChange {
                id: id.clone(),
                from: BackendState::Removed,
                to: BackendState::Up,
                reason: Reason::Added,
                at,
            }),
            last_check: Mutex::new(None),
            id,
            hot: arena::take(u64::from(weight) * WEIGHT_UNIT),
            configured_weight: AtomicU32::new(weight),
            removed: AtomicBool::new(false),
            consecutive_failures: AtomicU32::new(0),
            ejections: AtomicU32::new(0),
            successes: AtomicU64::new(0),
            picks: AtomicU64::new(0),
            times_ejected: AtomicU64::new(0),
            server_errors: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            client_faults: AtomicU64::new(0),
            last_answer: AtomicU64::new(0),
            interval: IntervalCounts::new(),
            latency: Ewma::default(),
            errors: Ewma::default(),
            probe: ProbeCell::default(),
            agent: Mutex::new(AgentCapacity::default()),
            load: LoadCell::default(),
            shared,
            position: AtomicU32::new(0),
        }
    }
}
