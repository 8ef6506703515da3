//! The pool: a strategy, the current backend set and its table, swapped
//! together; per-backend slots kept by id across swaps.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;

use crate::agent::{AgentError, AgentReport};
use crate::backend::{BackendId, BackendSpec, MAX_BACKENDS};
use crate::balancer::Balancer;
use crate::clock::{saturating_nanos, Clock, SystemClock};
use crate::context::Context;
use crate::error::{ConfigError, NoBackend};
use crate::feedback::FeedbackConfig;
use crate::health::HealthConfig;
use crate::outlier::OutlierConfig;
use crate::pick::{Member, Pick};
use crate::picker::Picker;
use crate::set::BackendSet;
use crate::shared::Shared;
use crate::slot::{BackendStatus, Slot};
use crate::slow_start::SlowStart;
use crate::state::{AdminState, Observer, Reason};
use crate::strategy::Strategy;
use crate::sync::Swap;

/// One generation: a set and the table built for it, never one without the other.
pub(crate) struct Generation<T, B> {
    set: BackendSet,
    members: Vec<Arc<Member<B>>>,
    table: T,
}

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
/// use pickwise::{Balancer, BackendSpec, Context, Pool, strategy::RoundRobin};
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
    counted: bool,
}

/// Settings for a [`Pool`] beyond its strategy: clock, passive health, observers.
pub struct PoolBuilder<S> {
    strategy: S,
    clock: Arc<dyn Clock>,
    health: HealthConfig,
    feedback: FeedbackConfig,
    slow_start: SlowStart,
    observers: Vec<Arc<dyn Observer>>,
    agent_expiry: Duration,
    track_in_flight: bool,
    outliers: Option<OutlierConfig>,
}

/// How long an agent's capacity report holds by default: five missed polls
/// at HAProxy's default 2 s agent interval. Long enough to ride out a lost
/// reply or two, short enough that a dead agent's last word does not rule.
pub const DEFAULT_AGENT_EXPIRY: Duration = Duration::from_secs(10);

impl<S: Strategy> PoolBuilder<S> {
    /// Uses `clock` instead of the system's monotonic clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the passive health rules (see [`HealthConfig`] for the defaults).
    pub fn health(mut self, health: HealthConfig) -> Self {
        self.health = health;
        self
    }

    /// Sets how fast learned latency and error rates forget.
    pub fn feedback(mut self, feedback: FeedbackConfig) -> Self {
        self.feedback = feedback;
        self
    }

    /// How long an agent's capacity (`75%`, `weight:N`) holds before the
    /// backend falls back to its configured weight, unless renewed; default
    /// [`DEFAULT_AGENT_EXPIRY`]. `Duration::MAX` keeps reports until changed.
    /// State words (`drain`, `down`, ...) never expire.
    pub fn agent_expiry(mut self, expiry: Duration) -> Self {
        self.agent_expiry = expiry;
        self
    }

    /// Ramps the weight of backends that join or come back (see
    /// [`SlowStart`]; off by default).
    pub fn slow_start(mut self, slow_start: SlowStart) -> Self {
        self.slow_start = slow_start;
        self
    }

    /// Counts picks in flight even when the strategy does not read them
    /// (round robin, weighted round robin, random and the hash strategies
    /// skip the count by default, saving two atomic writes per pick), so that
    /// [`BackendStatus::in_flight`] shows them.
    pub fn track_in_flight(mut self, track: bool) -> Self {
        self.track_in_flight = track;
        self
    }

    /// Turns on success-rate outlier detection (see [`OutlierConfig`]; off by
    /// default). It ejects on top of the consecutive-failure rule, under
    /// [`HealthConfig`]'s cap and ejection times, and needs no timer: the
    /// first outcome recorded after each interval runs the evaluation.
    pub fn outlier_detection(mut self, outliers: OutlierConfig) -> Self {
        self.outliers = Some(outliers);
        self
    }

    /// Adds an observer of state changes; it also hears the initial `Added`s.
    pub fn observer(mut self, observer: impl Observer) -> Self {
        self.observers.push(Arc::new(observer));
        self
    }

    /// Builds the pool over `backends`.
    pub fn build<B: Send + Sync + 'static>(
        self,
        backends: impl IntoIterator<Item = BackendSpec<B>>,
    ) -> Result<Pool<S, B>, ConfigError> {
        self.health.validate()?;
        self.feedback.validate()?;
        if self.agent_expiry.is_zero() {
            return Err(ConfigError::Invalid {
                setting: "agent_expiry",
                why: "must be more than zero".into(),
            });
        }
        self.slow_start.validate()?;
        if let Some(outliers) = &self.outliers {
            outliers.validate()?;
        }
        let shared = Arc::new(Shared::new(
            self.clock,
            self.health,
            self.feedback,
            self.slow_start,
            self.observers,
            self.agent_expiry,
            self.outliers,
        ));
        let specs = validate(backends)?;
        let (generation, added) =
            next_generation(&self.strategy, &shared, specs, None, &Retired::new())?;
        let counted = self.track_in_flight || self.strategy.reads_in_flight();
        let pool = Pool {
            strategy: self.strategy,
            current: Swap::new(generation),
            retired: Mutex::new(Retired::new()),
            shared,
            counted,
        };
        pool.publish(&[]);
        announce(&added, &[]);
        Ok(pool)
    }
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

impl<S: Strategy> Pool<S, ()> {
    /// Starts a [`PoolBuilder`] for `strategy`.
    pub fn builder(strategy: S) -> PoolBuilder<S> {
        PoolBuilder {
            strategy,
            clock: Arc::new(SystemClock::new()),
            health: HealthConfig::default(),
            feedback: FeedbackConfig::default(),
            slow_start: SlowStart::default(),
            observers: Vec::new(),
            agent_expiry: DEFAULT_AGENT_EXPIRY,
            track_in_flight: false,
            outliers: None,
        }
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
        self.counted
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
        Ok(Pick::new(Arc::clone(member), self.counted))
    }
}

/// A removed backend and what its announcement needs.
type Retirement = (Arc<Slot>, (crate::state::BackendState, Duration));

/// Tells observers which backends left and joined.
fn announce(added: &[Arc<Slot>], retirements: &[Retirement]) {
    for (slot, retirement) in retirements {
        slot.announce_removed(*retirement);
    }
    for slot in added {
        slot.announce_added();
    }
}

fn validate<B>(
    backends: impl IntoIterator<Item = BackendSpec<B>>,
) -> Result<Vec<BackendSpec<B>>, ConfigError> {
    let specs: Vec<BackendSpec<B>> = backends.into_iter().collect();
    if specs.is_empty() {
        return Err(ConfigError::EmptySet);
    }
    if specs.len() > MAX_BACKENDS {
        return Err(ConfigError::TooManyBackends(specs.len()));
    }
    let mut seen = HashSet::with_capacity(specs.len());
    for spec in &specs {
        spec.validate()?;
        if !seen.insert(&spec.id) {
            return Err(ConfigError::DuplicateId(spec.id.clone()));
        }
    }
    Ok(specs)
}

type Built<T, B> = (Generation<T, B>, Vec<Arc<Slot>>);
type Retired = HashMap<BackendId, Weak<Slot>>;

/// Builds the next generation, reusing the slots of `previous` (or retired
/// slots still held by picks) by id. Returns it with the slots that join. Touches no live state until the table is
/// built, so a failed build changes nothing.
fn next_generation<S: Strategy, B>(
    strategy: &S,
    shared: &Arc<Shared>,
    specs: Vec<BackendSpec<B>>,
    previous: Option<&BackendSet>,
    retired: &Retired,
) -> Result<Built<S::Table, B>, ConfigError> {
    let mut old: HashMap<&BackendId, &Arc<Slot>> = HashMap::new();
    if let Some(set) = previous {
        old.extend(set.slots().iter().map(|s| (&s.id, s)));
    }
    // New backends' entries side by side, so scans over them stay contiguous.
    crate::hot::reserve(specs.iter().filter(|s| !old.contains_key(&s.id)).count());
    let mut added = Vec::new();
    let mut rejoining = Vec::new();
    let mut slots = Vec::with_capacity(specs.len());
    let mut weights = Vec::with_capacity(specs.len());
    for spec in &specs {
        let slot = if let Some(slot) = old.get(&spec.id) {
            Arc::clone(slot)
        } else if let Some(slot) = retired.get(&spec.id).and_then(Weak::upgrade) {
            rejoining.push(Arc::clone(&slot));
            added.push(Arc::clone(&slot));
            slot
        } else {
            let slot = Arc::new(Slot::new(spec.id.clone(), spec.weight, shared.clone()));
            added.push(Arc::clone(&slot));
            slot
        };
        slots.push(slot);
        weights.push(spec.weight);
    }
    let set = BackendSet::new(slots, weights, Arc::clone(shared));
    let table = strategy.build(&set)?;
    for slot in rejoining {
        slot.rejoin();
    }
    for (i, slot) in set.slots().iter().enumerate() {
        slot.set_configured_weight(set.weight(i));
    }
    let members = specs
        .into_iter()
        .zip(set.slots())
        .map(|(spec, slot)| {
            Arc::new(Member {
                value: spec.value,
                slot: Arc::clone(slot),
            })
        })
        .collect();
    Ok((
        Generation {
            set,
            members,
            table,
        },
        added,
    ))
}
