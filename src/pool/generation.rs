//! Generations: a backend set and the strategy's table for it, built off
//! the pick path and swapped in together, reusing the slots of backends that
//! stay (see [`internals`](crate::internals)).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::pick::Member;
use crate::runtime::set::BackendSet;
use crate::runtime::shared::Shared;
use crate::runtime::slot::Slot;
use crate::strategy::Strategy;
use crate::types::{BackendId, BackendSpec, BackendState, ConfigError, MAX_BACKENDS};

/// One generation: a set and the table built for it, never one without the other.
pub(crate) struct Generation<T, B> {
    pub(super) set: BackendSet,
    pub(super) members: Vec<Arc<Member<B>>>,
    pub(super) table: T,
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

pub(super) fn validate<B>(
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
pub(super) type Retired = HashMap<BackendId, Weak<Slot>>;

/// Builds the next generation, reusing the slots of `previous` (or retired
/// slots still held by picks) by id. Returns it with the slots that join. Touches no live state until the table is
/// built, so a failed build changes nothing.
pub(super) fn next_generation<S: Strategy, B>(
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
    crate::runtime::arena::reserve(specs.iter().filter(|s| !old.contains_key(&s.id)).count());
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
