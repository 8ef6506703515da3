//! The pool: a strategy over a backend set that changes at run time, and the
//! guards its picks return.
//!
//! - [`Pool`] (here): picks, updates, admin state, agent reports, status.
//! - [`builder`]: [`PoolBuilder`], the pool's settings.
//! - [`generation`]: a set and its table built and swapped together.
//! - [`pick`]: [`Pick`], the owned guard; [`picker`]: [`Picker`] and
//!   [`PickRef`], the per-thread handle and its borrowed guard.
//! - [`balancer`]: [`Balancer`], the object-safe trait a program holds.

mod balancer;
mod builder;
mod generation;
mod pick;
mod picker;
#[cfg(test)]
mod tests;

pub use balancer::Balancer;
pub use builder::PoolBuilder;
pub use pick::Pick;
pub use picker::{PickRef, Picker};

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::agent::{AgentError, AgentReport};
use crate::runtime::shared::Shared;
use crate::runtime::slot::{BackendStatus, Slot};
use crate::runtime::sync::Swap;
use crate::strategy::Strategy;
use crate::types::clock::{saturating_nanos, Clock};
use crate::types::{
    AdminState, BackendId, BackendSpec, ConfigError, Context, NoBackend, Observer, Reason,
};
use generation::{announce, next_generation, validate, Generation, Retired, Retirement};
use pick::Member;

/// A balancer: a [`Strategy`] over a backend set that may change at run time.
///
/// Picking loads the current generation (set and table, swapped together
/// atomically, so a table is never used with another set),
/// asks the strategy, and returns an owned [`Pick`]. Picks never wait for an
/// update: an update builds the next generation off to the side and swaps it
/// in; picks already running finish on the old one. Backends that stay keep
/// their in-flight counts, stats and state, because they live in per-backend
/// slots keyed by [`BackendId`].
///
/// ```
/// use pickwise::{BackendSpec, Balancer, Context, Pool};
/// use pickwise::strategy::RoundRobin;
///
/// let pool = Pool::new(RoundRobin::new(), vec![
///     BackendSpec::new("w1", "127.0.0.1:8001"),
///     BackendSpec::new("w2", "127.0.0.1:8002"),
/// ])?;
/// let first = pool.pick(&Context::new())?;
/// let second = pool.pick(&Context::new())?;
/// assert_ne!(first.id(), second.id());
///
/// // Scale out: w1 and w2 keep their counters, w3 joins.
/// pool.update(vec![
///     BackendSpec::new("w1", "127.0.0.1:8001"),
///     BackendSpec::new("w2", "127.0.0.1:8002"),
///     BackendSpec::new("w3", "127.0.0.1:8003").weight(2),
/// ])?;
/// assert_eq!(pool.backends().len(), 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Pool<S: Strategy, B> {
    strategy: S,
    current: Swap<Generation<S::Table, B>>,
    /// Serialises updates (never taken by picks) and holds the slots of
    /// removed backends that picks still hold: a backend re-added before its
    /// last pick ends gets its slot back, so those picks still count.
    retired: Mutex<Retired>,
    shared: Arc<Shared>,
    /// Whether picks count in flight.
    counts_in_flight: bool,
}

impl<S: Strategy, B: Send + Sync + 'static> Pool<S, B> {
    /// A pool with the system clock and default passive health.
    pub fn new(
        strategy: S,
        backends: impl IntoIterator<Item = BackendSpec<B>>,
    ) -> Result<Self, ConfigError> {
        Pool::builder(strategy).build(backends)
    }

    /// Replaces the backend set. Backends whose id stays keep their slot
    /// (in-flight count, stats, state); new ones start up; removed ones are
    /// reported `Removed` and their outstanding picks still release correctly.
    /// On error nothing changes.
    pub fn update(
        &self,
        backends: impl IntoIterator<Item = BackendSpec<B>>,
    ) -> Result<(), ConfigError> {
        let specs = validate(backends)?;
        let mut retired = self.retired.lock();
        let old = self.current.load_full();
        let (generation, added) = next_generation(
            &self.strategy,
            &self.shared,
            specs,
            Some(&old.set),
            &retired,
        )?;
        let kept: HashSet<&BackendId> = generation.set.slots().iter().map(|s| &s.id).collect();
        let removed: Vec<Arc<Slot>> = old
            .set
            .slots()
            .iter()
            .filter(|s| !kept.contains(&s.id))
            .cloned()
            .collect();
        // Joining and rejoining backends ramp up from now on (the first set
        // does not: there is no one to spare them).
        for slot in &added {
            slot.start_ramp();
        }
        self.current.store(Arc::new(generation));
        retired.retain(|_, slot| slot.strong_count() > 0);
        retired.extend(removed.iter().map(|s| (s.id.clone(), Arc::downgrade(s))));
        let retirements = self.publish(&removed);
        // Observers may call back into the pool (even update it): tell them
        // only once the update lock is released.
        drop(retired);
        announce(&added, &retirements);
        Ok(())
    }

    /// Makes the new set's size and members known and marks the removed
    /// backends, while the update lock is held.
    fn publish(&self, removed: &[Arc<Slot>]) -> Vec<Retirement> {
        let generation = self.current.load();
        self.shared
            .backends
            .store(generation.set.len(), Ordering::Relaxed);
        self.shared.outliers.set_members(generation.set.slots());
        removed
            .iter()
            .map(|slot| (Arc::clone(slot), slot.retire()))
            .collect()
    }
}

impl<S: Strategy, B> Pool<S, B> {
    /// The strategy, e.g. to reach its own settings or sticky table.
    pub fn strategy(&self) -> &S {
        &self.strategy
    }

    /// Sets a backend's admin state (up, drain, down) with a reason that
    /// observers and [`Pool::backends`] will show. Returns false if no backend
    /// of the current set has that id.
    pub fn set_state(&self, id: &BackendId, state: AdminState, reason: Reason) -> bool {
        match self.find(id) {
            Some(slot) => {
                slot.set_admin(state, reason);
                true
            }
            None => false,
        }
    }

    /// Applies an agent's report to backend `id`: a capacity scales
    /// (`75%`) or sets (`weight:N`) its effective weight until the agent
    /// expiry runs out (see [`PoolBuilder::agent_expiry`]), and combines
    /// with later configured-weight updates; a state word sets its admin
    /// state with [`Reason::Agent`] until another word changes it. Words not
    /// sent change nothing. `maxconn` is left to the caller.
    pub fn apply_agent(&self, id: &BackendId, report: &AgentReport) -> Result<(), AgentError> {
        let slot = self
            .find(id)
            .ok_or_else(|| AgentError::UnknownBackend(id.clone()))?;
        if let Some(capacity) = report.capacity {
            let until = self.shared.now().saturating_add(self.shared.agents.ttl);
            let until = saturating_nanos(until);
            let already = slot.set_agent_capacity(capacity, until);
            self.shared.agents.track(&slot, until, already);
        }
        if let Some(state) = &report.state {
            slot.set_admin(state.admin, Reason::Agent(state.reason_text()));
        }
        Ok(())
    }

    /// Parses an agent's raw reply and applies it ([`Pool::apply_agent`]);
    /// returns the report, e.g. for its `maxconn`. A reply that does not
    /// parse changes nothing.
    pub fn apply_agent_reply(
        &self,
        id: &BackendId,
        reply: &[u8],
    ) -> Result<AgentReport, AgentError> {
        let report = AgentReport::parse(reply)?;
        self.apply_agent(id, &report)?;
        Ok(report)
    }

    /// The runtime picture of one backend of the current set.
    pub fn status(&self, id: &BackendId) -> Option<BackendStatus> {
        self.expire_agents();
        self.find(id).map(|slot| slot.status())
    }

    /// The runtime picture of every backend, in set order.
    pub fn backends(&self) -> Vec<BackendStatus> {
        self.expire_agents();
        let generation = self.current.load();
        generation.set.slots().iter().map(|s| s.status()).collect()
    }

    /// Adds an observer of state changes.
    pub fn subscribe(&self, observer: impl Observer) {
        self.shared.subscribe(Arc::new(observer));
    }

    /// The pool's clock (the one passed to the builder, or the system's).
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.shared.clock
    }

    /// Restores configured weights whose agent capacity ran out: one atomic
    /// load while no capacity report is in force.
    #[inline]
    fn expire_agents(&self) {
        let shared = &self.shared;
        shared.agents.check(|| shared.now());
    }

    /// The pick path both [`Balancer::pick`] and [`Picker`] share: the
    /// strategy's choice among `generation`'s members, or why there is none.
    #[inline(always)]
    pub(crate) fn choose<'g>(
        &self,
        generation: &'g Generation<S::Table, B>,
        ctx: &Context<'_>,
    ) -> Result<&'g Arc<Member<B>>, NoBackend> {
        self.expire_agents();
        self.strategy
            .select(&generation.table, &generation.set, ctx)
            .and_then(|i| generation.members.get(i))
            .ok_or_else(|| generation.set.why_none(ctx))
    }

    /// A handle for one thread's picks: see [`Picker`].
    pub fn picker(&self) -> Picker<'_, S, B> {
        Picker::new(self, &self.current)
    }

    pub(crate) fn counts_in_flight(&self) -> bool {
        self.counts_in_flight
    }

    fn find(&self, id: &BackendId) -> Option<Arc<Slot>> {
        let generation = self.current.load();
        let found = generation.set.slots().iter().find(|s| &s.id == id);
        found.cloned()
    }
}

impl<S: Strategy, B: Send + Sync + 'static> Balancer<B> for Pool<S, B> {
    #[inline]
    fn pick(&self, ctx: &Context<'_>) -> Result<Pick<B>, NoBackend> {
        let generation = self.current.load();
        let member = self.choose(&generation, ctx)?;
        Ok(Pick::new(Arc::clone(member), self.counts_in_flight))
    }
}
