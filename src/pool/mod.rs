//! The pool: a strategy over a backend set that changes at run time, and the
//! guards its picks return.
//!
//! - [`Pool`] (here): picks, updates, admin state, agent reports, status.
//! - [`builder`]: [`PoolBuilder`], the pool's settings.
//! - [`generation`]: a set and its table built and swapped together.
//! - [`pick`]: [`Pick`], the owned guard; [`picker`]: [`Picker`] and
//!   [`PickRef`], the per-thread handle and its borrowed guard;
//!   [`ticket`]: [`Ticket`], a pick without its payload, and the attempt
//!   all three carry.
//! - [`balancer`]: [`Balancer`], the object-safe trait a program holds.

mod balancer;
mod builder;
mod generation;
mod pick;
mod picker;
#[cfg(test)]
mod tests;
mod ticket;

pub use balancer::Balancer;
pub use builder::PoolBuilder;
pub use pick::Pick;
pub use picker::{PickRef, Picker};
pub use ticket::Ticket;

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
#[cfg(feature = "tower")]
use std::time::Instant;

use parking_lot::Mutex;

use crate::agent::{AgentError, AgentReport};
use crate::hash::HashKey;
use crate::runtime::probe::ProbeReply;
use crate::runtime::set::Unavailable;
use crate::runtime::shared::Shared;
use crate::runtime::slot::{BackendStatus, Slot};
use crate::runtime::sync::Swap;
#[cfg(feature = "tower")]
use crate::runtime::sync::{HoldsSwap, OwnedCached};
use crate::runtime::tiers::{Route, TierStatus, WHOLE};
use crate::strategy::kernel::rng::AtomicRng;
use crate::strategy::Strategy;
use crate::types::clock::{saturating_nanos, Clock};
use crate::types::{
    AdminState, BackendId, BackendSpec, CheckResult, ConfigError, Context, NoBackend, Observer,
    Reason,
};
use generation::{announce, next_generation, validate, Generation, Retired, Retirement, Tier};
use pick::Member;
#[cfg(feature = "tower")]
use ticket::Attempt;

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
        let retired = self.retired.lock();
        self.replace(retired, specs)
    }

    /// Edits the set in place: `edit` gets the current specs (as
    /// [`Pool::specs`] gives them) and returns the new set, or `None` to
    /// leave the set as it is; the result is applied as by [`Pool::update`].
    /// Returns whether the set was replaced.
    ///
    /// Other updates wait while `edit` runs, so no change made between
    /// reading the set and writing it back is lost: this is how two sources
    /// share one pool (a discovery adding and removing its own backends,
    /// an operator adding another). `edit` must not update this pool
    /// itself (it would wait for itself); picks go on meanwhile. On error
    /// nothing changes.
    ///
    /// ```
    /// use pickwise::{BackendSpec, Pool};
    /// use pickwise::strategy::RoundRobin;
    ///
    /// let pool = Pool::new(RoundRobin::new(), vec![BackendSpec::new("a", "10.0.0.1:80")])?;
    /// // Add `b` unless it is there already.
    /// let add_b = |mut specs: Vec<BackendSpec<&'static str>>| {
    ///     if specs.iter().any(|s| s.id.as_str() == "b") {
    ///         return None;
    ///     }
    ///     specs.push(BackendSpec::new("b", "10.0.0.2:80"));
    ///     Some(specs)
    /// };
    /// assert!(pool.update_with(add_b)?);
    /// assert!(!pool.update_with(add_b)?);
    /// assert_eq!(pool.backends().len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn update_with<I>(
        &self,
        edit: impl FnOnce(Vec<BackendSpec<B>>) -> Option<I>,
    ) -> Result<bool, ConfigError>
    where
        B: Clone,
        I: IntoIterator<Item = BackendSpec<B>>,
    {
        let retired = self.retired.lock();
        let Some(backends) = edit(self.specs()) else {
            return Ok(false);
        };
        let specs = validate(backends)?;
        self.replace(retired, specs).map(|()| true)
    }

    /// Swaps in a set already validated, under the update lock.
    fn replace(
        &self,
        mut retired: parking_lot::MutexGuard<'_, Retired>,
        specs: Vec<BackendSpec<B>>,
    ) -> Result<(), ConfigError> {
        let old = self.current.load_full();
        let old_slots: Vec<Arc<Slot>> = old.slots().cloned().collect();
        let (generation, added) = next_generation(
            &self.strategy,
            &self.shared,
            specs,
            Some(&old_slots),
            &retired,
            self.counts_in_flight,
        )?;
        let kept: HashSet<&BackendId> = generation.slots().map(|s| &s.id).collect();
        let removed: Vec<Arc<Slot>> = old_slots
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
            .store(generation.members.len(), Ordering::Relaxed);
        let slots: Vec<Arc<Slot>> = generation.slots().cloned().collect();
        self.shared.outliers.set_members(&slots);
        // A new generation's plan starts from the states as they are.
        self.shared.states_changed();
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
    /// observers and [`Pool::backends`] will show: [`Reason::Admin`] for an
    /// operator's word, [`Reason::Program`] for the caller's own code.
    /// Health checks have their own call, [`Pool::set_health`], and neither
    /// overrides the other. Returns false if no backend of the current set
    /// has that id.
    pub fn set_state(&self, id: &BackendId, state: AdminState, reason: Reason) -> bool {
        match self.find(id) {
            Some(slot) => {
                slot.set_admin(state, reason);
                true
            }
            None => false,
        }
    }

    /// Applies an active health check's verdict to backend `id`, with the
    /// probe's cause as the reason ([`Reason::HealthCheck`]). A failed check
    /// holds the backend out ([`BackendState::Unhealthy`](crate::BackendState::Unhealthy))
    /// until a check passes; a passing check lifts that and ends a passive
    /// ejection (the backend has just been seen serving). The admin state
    /// (an operator's or agent's down or drain) is left alone either way.
    /// Returns false if no backend of the current set has that id.
    ///
    /// ```
    /// use pickwise::{BackendSpec, BackendState, Pool};
    /// use pickwise::health::{CheckFailure, CheckResult};
    /// use pickwise::strategy::RoundRobin;
    ///
    /// let pool = Pool::new(RoundRobin::new(), vec![BackendSpec::new("a", ()), BackendSpec::new("b", ())])?;
    /// let a = "a".into();
    /// pool.set_health(&a, CheckResult::Failed(CheckFailure::Refused));
    /// let status = pool.status(&a).unwrap();
    /// assert_eq!(status.state, BackendState::Unhealthy);
    /// assert_eq!(status.reason.to_string(), "health check failed: connection refused");
    /// pool.set_health(&a, CheckResult::Passed);
    /// assert_eq!(pool.status(&a).unwrap().state, BackendState::Up);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_health(&self, id: &BackendId, result: CheckResult) -> bool {
        match self.find(id) {
            Some(slot) => {
                slot.set_health(result);
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
            // The writer rebuilds what the weight feeds, not the next pick.
            self.shared
                .tables
                .refresh_moved(saturating_nanos(self.shared.now()));
        }
        if let Some(state) = &report.state {
            slot.set_admin(state.admin, Reason::Agent(state.reason_text()));
        }
        Ok(())
    }

    /// Applies a probe reply to backend `id`: the probing strategy
    /// ([`Prequal`](crate::strategy::Prequal)) picks by the latest reply of
    /// each backend, its age and how often it was used; other strategies
    /// ignore it. The reply is stamped with the pool's clock and the pool's
    /// own in-flight count there, so picks sent after it still count.
    ///
    /// ```
    /// use pickwise::strategy::ProbeReply;
    /// use pickwise::strategy::Prequal;
    /// use pickwise::{BackendSpec, Balancer, Context, Pool};
    /// use std::time::Duration;
    ///
    /// let pool = Pool::new(Prequal::new(), vec![BackendSpec::new("a", 1), BackendSpec::new("b", 2)])?;
    /// pool.apply_probe(&"a".into(), ProbeReply::new(9, Duration::from_millis(40)))?;
    /// pool.apply_probe(&"b".into(), ProbeReply::new(1, Duration::from_millis(8)))?;
    /// assert_eq!(*pool.pick(&Context::new())?.backend(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn apply_probe(&self, id: &BackendId, reply: ProbeReply) -> Result<(), AgentError> {
        let slot = self
            .find(id)
            .ok_or_else(|| AgentError::UnknownBackend(id.clone()))?;
        let now = saturating_nanos(self.shared.now());
        slot.probe
            .store(reply.in_flight, reply.latency, slot.hot.in_flight(), now);
        Ok(())
    }

    /// Applies a load report of backend `id` (ORCA, see [`crate::orca`]),
    /// for the strategies that weigh by reports
    /// ([`OrcaWrr`](crate::strategy::OrcaWrr)); others ignore it. A report
    /// that came with a response is better recorded through its pick
    /// ([`Pick::record_load_report`]), which needs no look-up; this serves
    /// reports that come another way (an out-of-band ORCA stream, a poll).
    pub fn apply_load_report(
        &self,
        id: &BackendId,
        report: &crate::orca::LoadReport,
    ) -> Result<(), AgentError> {
        let slot = self
            .find(id)
            .ok_or_else(|| AgentError::UnknownBackend(id.clone()))?;
        slot.record_load(report);
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

    /// Restores configured weights whose agent capacity ran out and
    /// rebuilds the tables they feed before returning: what the paths that
    /// are not picks do (a pick leaves the rebuild to the background).
    fn expire_agents_now(&self) {
        self.expire_agents();
        self.shared
            .tables
            .refresh_moved(saturating_nanos(self.shared.now()));
    }

    /// The runtime picture of one backend of the current set.
    pub fn status(&self, id: &BackendId) -> Option<BackendStatus> {
        self.expire_agents_now();
        let generation = self.current.load();
        let member = generation.members.iter().find(|m| &m.slot.id == id)?;
        Some(member.status(generation.counted))
    }

    /// The runtime picture of every backend, in set order.
    pub fn backends(&self) -> Vec<BackendStatus> {
        self.expire_agents_now();
        let generation = self.current.load();
        let counted = generation.counted;
        generation
            .members
            .iter()
            .map(|m| m.status(counted))
            .collect()
    }

    /// The runtime picture of every backend beside what `read` takes from
    /// its payload (its address, say), in set order, both from one
    /// generation: what a status page shows, with no `Clone` asked of the
    /// payload and no chance of pairing a picture with another set's
    /// payload after an update.
    ///
    /// ```
    /// use pickwise::{BackendSpec, Pool};
    /// use pickwise::strategy::RoundRobin;
    ///
    /// struct Backend { addr: &'static str }
    /// let pool = Pool::new(RoundRobin::new(), vec![
    ///     BackendSpec::new("w1", Backend { addr: "10.0.0.1:80" }),
    ///     BackendSpec::new("w2", Backend { addr: "10.0.0.2:80" }).backup(),
    /// ])?;
    /// let rows = pool.backends_with(|backend| backend.addr);
    /// assert_eq!(rows[0].0.id.as_str(), "w1");
    /// assert_eq!(rows[0].1, "10.0.0.1:80");
    /// assert_eq!((rows[1].0.priority, rows[1].1), (1, "10.0.0.2:80"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn backends_with<T>(&self, mut read: impl FnMut(&B) -> T) -> Vec<(BackendStatus, T)> {
        self.expire_agents_now();
        let generation = self.current.load();
        let counted = generation.counted;
        generation
            .members
            .iter()
            .map(|m| (m.status(counted), read(&m.value)))
            .collect()
    }

    /// Each tier's picture, best first: its members, how many are
    /// available, its share of the traffic and whether it is in panic.
    /// Brings the plan up to date first (observers hear of a panic change
    /// then, if no pick noticed it before).
    ///
    /// ```
    /// use pickwise::{BackendSpec, Pool};
    /// use pickwise::strategy::RoundRobin;
    ///
    /// let pool = Pool::new(RoundRobin::new(), vec![
    ///     BackendSpec::new("a", ()),
    ///     BackendSpec::new("spare", ()).backup(),
    /// ])?;
    /// let tiers = pool.tiers();
    /// assert_eq!((tiers[0].priority, tiers[0].share, tiers[0].in_panic), (0, 1.0, false));
    /// assert_eq!((tiers[1].priority, tiers[1].share), (1, 0.0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tiers(&self) -> Vec<TierStatus> {
        self.expire_agents_now();
        let generation = self.current.load();
        let sets = generation.sets();
        let epoch = self.shared.epoch();
        generation.router.refresh(epoch, &self.shared, &sets);
        let loads = generation.router.loads();
        sets.iter()
            .zip(loads)
            .map(|(set, load)| {
                let availability = set.availability();
                TierStatus {
                    priority: set.priority(),
                    members: availability.members,
                    available: availability.available,
                    share: f64::from(load) / f64::from(WHOLE),
                    in_panic: set.in_panic(),
                }
            })
            .collect()
    }

    /// Whether the current set has no backend (picks fail with
    /// [`NoBackend::Empty`] until an update fills it).
    pub fn is_empty(&self) -> bool {
        self.current.load().members.is_empty()
    }

    /// The current set, as specs with their payloads, in set order: what a
    /// discovery task or an admin page edits and hands back to
    /// [`Pool::update`], with no copy of its own to keep in step.
    ///
    /// ```
    /// use pickwise::{BackendSpec, Pool};
    /// use pickwise::strategy::RoundRobin;
    ///
    /// let pool = Pool::new(RoundRobin::new(), vec![BackendSpec::new("a", "10.0.0.1:80").max_conns(8)])?;
    /// let mut specs = pool.specs();
    /// specs.push(BackendSpec::new("b", "10.0.0.2:80").backup());
    /// pool.update(specs)?;
    /// assert_eq!(pool.specs()[0].max_conns, Some(8));
    /// assert_eq!(pool.specs()[1].priority, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn specs(&self) -> Vec<BackendSpec<B>>
    where
        B: Clone,
    {
        let generation = self.current.load();
        generation
            .members
            .iter()
            .map(|m| BackendSpec {
                id: m.slot.id.clone(),
                weight: m.weight,
                agent: m.agent,
                priority: m.priority,
                max_conns: m.cap,
                value: m.value.clone(),
            })
            .collect()
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
    /// strategy's choice in the tier the plan sends this pick to (other
    /// tiers if that one has no backend for it), with its in-flight place
    /// taken, or why there is none. Returns whether the pick counts.
    #[inline(always)]
    pub(crate) fn choose<'g>(
        &self,
        generation: &'g Generation<S::Table, B>,
        ctx: &Context<'_>,
    ) -> Result<(&'g Arc<Member<B>>, bool), NoBackend> {
        self.expire_agents();
        let Some(first) = generation.tiers.first() else {
            return Err(NoBackend::Empty);
        };
        if !generation.router.all_to_first_tier(&self.shared) {
            return self.choose_routed(generation, ctx);
        }
        match self.choose_in(first, generation.counted, ctx) {
            Some(found) => Ok(found),
            None => self.choose_elsewhere(generation, 0, ctx),
        }
    }

    /// The pick when the plan is not plainly "tier 0 takes everything":
    /// brought up to date if states changed, then a draw over the tiers'
    /// shares. Out of line: the plain path stays small.
    #[cold]
    #[inline(never)]
    fn choose_routed<'g>(
        &self,
        generation: &'g Generation<S::Table, B>,
        ctx: &Context<'_>,
    ) -> Result<(&'g Arc<Member<B>>, bool), NoBackend> {
        let router = &generation.router;
        let first = match router.route(&self.shared, || generation.sets()) {
            Route::First => 0,
            Route::Draw => router.tier_of(tier_draw(ctx)),
        };
        let tier = generation.tiers.get(first);
        match tier.and_then(|tier| self.choose_in(tier, generation.counted, ctx)) {
            Some(found) => Ok(found),
            None => self.choose_elsewhere(generation, first, ctx),
        }
    }

    /// The strategy's choice in one tier, admitted: its in-flight place
    /// taken (within its cap, if it has one).
    #[inline(always)]
    fn choose_in<'g>(
        &self,
        tier: &'g Tier<S::Table, B>,
        counted: bool,
        ctx: &Context<'_>,
    ) -> Option<(&'g Arc<Member<B>>, bool)> {
        let i = self.strategy.select(&tier.table, &tier.set, ctx)?;
        if tier.set.has_caps() {
            return self.admit_capped(tier, i, ctx);
        }
        let member = tier.members.get(i)?;
        if counted {
            member.slot.acquire();
        }
        Some((member, counted))
    }

    /// Admits backend `i` of a tier with caps: a compare-and-swap takes its
    /// place only below its cap. A picker that loses the last place to
    /// another asks the strategy again (which now sees it full), a bounded
    /// number of times.
    #[cold]
    #[inline(never)]
    fn admit_capped<'g>(
        &self,
        tier: &'g Tier<S::Table, B>,
        mut i: usize,
        ctx: &Context<'_>,
    ) -> Option<(&'g Arc<Member<B>>, bool)> {
        for _ in 0..=tier.set.len() {
            let member = tier.members.get(i)?;
            let admitted = match tier.set.cap(i) {
                Some(cap) => member.slot.try_acquire(cap),
                None => {
                    member.slot.acquire();
                    true
                }
            };
            if admitted {
                return Some((member, true));
            }
            i = self.strategy.select(&tier.table, &tier.set, ctx)?;
        }
        None
    }

    /// The other tiers, best first, when the planned one had no backend for
    /// this pick; then the reason, counted over every tier.
    #[cold]
    #[inline(never)]
    fn choose_elsewhere<'g>(
        &self,
        generation: &'g Generation<S::Table, B>,
        tried: usize,
        ctx: &Context<'_>,
    ) -> Result<(&'g Arc<Member<B>>, bool), NoBackend> {
        for (n, tier) in generation.tiers.iter().enumerate() {
            if n != tried {
                if let Some(found) = self.choose_in(tier, generation.counted, ctx) {
                    return Ok(found);
                }
            }
        }
        let mut why = Unavailable::default();
        for tier in &generation.tiers {
            tier.set.count_unavailable(ctx, &mut why);
        }
        Err(why.reason())
    }

    /// A handle for one thread's picks: see [`Picker`].
    pub fn picker(&self) -> Picker<'_, S, B> {
        Picker::new(self, &self.current)
    }

    /// The pick of tower's `Balance`, one per call: from the generation
    /// `cache` holds (refreshed if replaced, as a [`Picker`] does), the
    /// chosen backend's payload, borrowed, and its attempt as a [`Ticket`]
    /// started now. One reference count taken (the slot's, for the
    /// ticket) where `Balancer::pick` then `into_ticket` take an
    /// `ArcSwap` load and two (the member's and the slot's).
    #[cfg(feature = "tower")]
    #[inline]
    pub(crate) fn pick_ticket<'c>(
        &self,
        cache: &'c mut OwnedCached<Arc<Pool<S, B>>>,
        ctx: &Context<'_>,
    ) -> Result<(&'c B, Ticket), NoBackend> {
        let generation = cache.load();
        let (member, counted) = self.choose(generation, ctx)?;
        let attempt = Attempt::begun(counted);
        let ticket = Ticket::new(Arc::clone(&member.slot), attempt, Instant::now());
        Ok((&member.value, ticket))
    }

    fn find(&self, id: &BackendId) -> Option<Arc<Slot>> {
        let generation = self.current.load();
        let found = generation.slots().find(|s| &s.id == id);
        found.cloned()
    }
}

#[cfg(feature = "tower")]
impl<S: Strategy, B> HoldsSwap for Arc<Pool<S, B>> {
    type Value = Generation<S::Table, B>;

    #[inline]
    fn swap(&self) -> &Swap<Self::Value> {
        &self.current
    }
}

/// Where in `0..WHOLE` a pick lands when tiers share traffic: from the
/// request's key or client address when it has one, so hashed requests
/// keep to one tier as long as the shares hold; at random otherwise.
#[cold]
#[inline(never)]
fn tier_draw(ctx: &Context<'_>) -> u32 {
    /// A fixed key: every pool and process draws the same for one request.
    const TIER_KEY: HashKey = HashKey::from_bytes(*b"pickwise::tiers!");
    let hash = match (ctx.key, ctx.client) {
        (Some(key), _) => TIER_KEY.hash(key),
        (None, Some(ip)) => TIER_KEY.hash_ip(ip, 128),
        (None, None) => AtomicRng::random().next_u64(),
    };
    ((u128::from(hash) * u128::from(WHOLE)) >> 64) as u32
}

impl<S: Strategy, B: Send + Sync + 'static> Balancer<B> for Pool<S, B> {
    #[inline]
    fn pick(&self, ctx: &Context<'_>) -> Result<Pick<B>, NoBackend> {
        let generation = self.current.load();
        let (member, counted) = self.choose(&generation, ctx)?;
        Ok(Pick::new(Arc::clone(member), counted))
    }
}
