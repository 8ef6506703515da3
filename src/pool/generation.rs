//! Generations: a backend set and the strategy's table for it, built off
//! the pick path and swapped in together, reusing the slots of backends that
//! stay (see [`internals`](crate::internals)).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::pick::Member;
use crate::runtime::set::BackendSet;
use crate::runtime::shared::Shared;
use crate::runtime::slot::Slot;
use crate::runtime::tiers::Router;
use crate::strategy::Strategy;
use crate::types::{BackendId, BackendSpec, BackendState, ConfigError, MAX_BACKENDS};

/// One generation: its tiers, each a set and the table built for it (never
/// one without the other), and the plan that shares traffic among them.
pub(crate) struct Generation<T, B> {
    /// Non-empty tiers, best (lowest priority number) first.
    pub(super) tiers: Vec<Tier<T, B>>,
    /// Every backend, in the order the caller gave them.
    pub(super) members: Vec<Arc<Member<B>>>,
    pub(super) router: Router,
    /// Whether its picks count in flight: the pool asks for it, the
    /// strategy reads it, or a backend has a cap.
    pub(super) counted: bool,
}

/// The backends of one priority, with the strategy's table for them.
pub(crate) struct Tier<T, B> {
    pub(super) set: BackendSet,
    pub(super) members: Vec<Arc<Member<B>>>,
    pub(super) table: T,
}

impl<T, B> Generation<T, B> {
    /// The tiers' sets, best first.
    pub(super) fn sets(&self) -> Vec<&BackendSet> {
        self.tiers.iter().map(|tier| &tier.set).collect()
    }

    /// Every backend's slot, in the caller's order.
    pub(super) fn slots(&self) -> impl Iterator<Item = &Arc<Slot>> {
        self.members.iter().map(|member| &member.slot)
    }
}

/// A removed backend and what its announcement needs.
pub(super) type Retirement = (Arc<Slot>, (BackendState, Duration));

/// Tells observers which backends left and joined.
pub(super) fn announce(added: &[Arc<Slot>], retirements: &[Retirement]) {
    for (slot, retirement) in retirements {
        slot.announce_removed(*retirement);
    }
    for slot in added {
        slot.announce_added();
    }
}

/// Checks a set as a whole: size, ids, each spec. An empty set is fine: a
/// pool may start empty (its picks fail with `NoBackend::Empty`) and be
/// filled by an update, e.g. when discovery answers.
pub(super) fn validate<B>(
    backends: impl IntoIterator<Item = BackendSpec<B>>,
) -> Result<Vec<BackendSpec<B>>, ConfigError> {
    let specs: Vec<BackendSpec<B>> = backends.into_iter().collect();
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
pub(super) type Retired = HashMap<BackendId, Weak<Slot>>;

/// Builds the next generation, reusing the slots of `previous` (or retired
/// slots still held by picks) by id. Returns it with the slots that join.
/// Touches no live state until every tier's table is built, so a failed
/// build changes nothing, but for two hints that picks never trust alone:
/// each slot's position in its new set and whether its set keeps a load
/// floor (see `runtime::floor`); a failed build leaves them pointing at
/// a set that is not published, which costs a later pick a longer scan.
pub(super) fn next_generation<S: Strategy, B>(
    strategy: &S,
    shared: &Arc<Shared>,
    specs: Vec<BackendSpec<B>>,
    previous: Option<&[Arc<Slot>]>,
    retired: &Retired,
    counts_in_flight: bool,
) -> Result<Built<S::Table, B>, ConfigError> {
    let mut old: HashMap<&BackendId, &Arc<Slot>> = HashMap::new();
    if let Some(slots) = previous {
        old.extend(slots.iter().map(|s| (&s.id, s)));
    }
    // New backends' entries side by side, so scans over them stay
    // contiguous; in a small set, a cache line each (see the arena).
    let joining = specs.iter().filter(|s| !old.contains_key(&s.id)).count();
    let spread = specs.len() <= crate::runtime::arena::SPREAD_UP_TO;
    crate::runtime::arena::reserve(joining, spread);
    let mut added = Vec::new();
    let mut rejoining = Vec::new();
    let mut members = Vec::with_capacity(specs.len());
    for spec in specs {
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
        members.push(Arc::new(Member {
            value: spec.value,
            slot,
            weight: spec.weight,
            priority: spec.priority,
            cap: spec.max_conns,
            agent: spec.agent,
        }));
    }
    let mut by_priority: BTreeMap<u8, Vec<Arc<Member<B>>>> = BTreeMap::new();
    for member in &members {
        by_priority
            .entry(member.priority)
            .or_default()
            .push(Arc::clone(member));
    }
    let mut tiers = Vec::with_capacity(by_priority.len());
    for (priority, tier_members) in by_priority {
        let slots = tier_members.iter().map(|m| Arc::clone(&m.slot)).collect();
        let weights = tier_members.iter().map(|m| m.weight).collect();
        let caps = tier_members.iter().map(|m| m.cap.unwrap_or(0)).collect();
        let set = BackendSet::new(slots, weights, caps, priority, Arc::clone(shared));
        let table = strategy.build(&set)?;
        tiers.push(Tier {
            set,
            members: tier_members,
            table,
        });
    }
    for slot in rejoining {
        slot.rejoin();
    }
    for member in &members {
        member.slot.set_configured_weight(member.weight);
    }
    // Tables built above from weights that moved just now are rebuilt here,
    // by the writer, not by a pick.
    shared
        .tables
        .refresh_moved(crate::types::clock::saturating_nanos(shared.now()));
    let counted = counts_in_flight || members.iter().any(|m| m.cap.is_some());
    Ok((
        Generation {
            router: Router::new(tiers.len()),
            tiers,
            members,
            counted,
        },
        added,
    ))
}
