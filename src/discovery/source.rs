//! [`Source`]: one source's backends in a pool, and the one path its
//! changes take into the pool.

use std::collections::{HashMap, HashSet};

use super::Change;
use crate::pool::Pool;
use crate::strategy::Strategy;
use crate::types::{BackendId, BackendSpec, ConfigError};

/// One discovery source's hold on a pool: which backends it owns, and
/// how its changes reach the pool (see the [module docs](super)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The ids this source added and still owns.
    owned: HashSet<BackendId>,
    /// Whether the source owns every backend of the pool.
    exclusive: bool,
}

/// What one batch did to the pool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Applied {
    /// Backends that joined, in the order they came.
    pub added: Vec<BackendId>,
    /// Backends that took a new spec or value and stayed.
    pub changed: Vec<BackendId>,
    /// Backends that left.
    pub removed: Vec<BackendId>,
    /// How many backends the pool has now (every source's).
    pub backends: usize,
}

impl Applied {
    /// Whether the batch changed nothing (the pool was left as it was).
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

/// The words of a spec (everything but its id and value).
fn words<B>(spec: &BackendSpec<B>) -> (u32, u8, Option<u32>, Option<std::net::SocketAddr>) {
    (spec.weight, spec.priority, spec.max_conns, spec.agent)
}

impl Source {
    /// A source sharing its pool: it changes and removes only the backends
    /// it added. An id another source (or the pool's first set) holds is
    /// not its own: a change to it is left out.
    pub fn shared() -> Self {
        Source {
            owned: HashSet::new(),
            exclusive: false,
        }
    }

    /// A source owning its whole pool: every backend is its own, and
    /// [`sync`](Self::sync) makes the pool's set exactly the one given, in
    /// its order.
    pub fn exclusive() -> Self {
        Source {
            owned: HashSet::new(),
            exclusive: true,
        }
    }

    /// Whether the backend of `id` is this source's.
    pub fn owns(&self, id: &BackendId) -> bool {
        self.exclusive || self.owned.contains(id)
    }

    /// Applies a batch of changes in one [`Pool::update_with`]: joins go at
    /// the end in the order given; a backend that stays keeps its place
    /// and its slot. A batch that changes nothing leaves the pool as it is
    /// (no new generation). On error (the pool refuses the set, e.g. more
    /// than [`MAX_BACKENDS`](crate::types::MAX_BACKENDS)) nothing changes,
    /// in the pool or in what the source owns.
    pub fn apply<S, B>(
        &mut self,
        pool: &Pool<S, B>,
        changes: impl IntoIterator<Item = Change<B>>,
    ) -> Result<Applied, ConfigError>
    where
        S: Strategy,
        B: Clone + Send + Sync + 'static,
    {
        let changes: Vec<Change<B>> = changes.into_iter().collect();
        self.edit(pool, |specs, source, applied| {
            for change in changes {
                let at = specs.iter().position(|s| &s.id == change.id());
                if at.is_some() && !source.owns(change.id()) {
                    continue; // another source's backend
                }
                match (change, at) {
                    (Change::Insert(spec), Some(at)) => {
                        applied.changed.push(spec.id.clone());
                        specs[at] = spec;
                    }
                    (Change::Value(id, value), Some(at)) => {
                        applied.changed.push(id);
                        specs[at].value = value;
                    }
                    (Change::Insert(spec), None) => {
                        source.owned.insert(spec.id.clone());
                        applied.added.push(spec.id.clone());
                        specs.push(spec);
                    }
                    (Change::Value(id, value), None) => {
                        source.owned.insert(id.clone());
                        applied.added.push(id.clone());
                        specs.push(BackendSpec::new(id, value));
                    }
                    (Change::Remove(id), Some(at)) => {
                        source.owned.remove(&id);
                        specs.remove(at);
                        applied.removed.push(id);
                    }
                    (Change::Remove(_), None) => {}
                }
            }
        })
    }

    /// Makes this source's backends exactly `wanted`, in one
    /// [`Pool::update_with`], for a source that knows its whole set (a DNS
    /// answer, a registry's listing) rather than its changes: its
    /// backends not in `wanted` leave (for an
    /// [exclusive](Self::exclusive) source, every backend not in it); the
    /// ones that stay take `wanted`'s words (weight, tier, cap, agent) and
    /// keep their value; the others join, their value made from `wanted`'s
    /// by `make`, which runs for joins only (a client or a connection pool
    /// is built once per backend, not once per answer). An id another
    /// source holds is left out. A set the pool has already leaves it as
    /// it is.
    ///
    /// ```
    /// use pickwise::discovery::Source;
    /// use pickwise::strategy::RoundRobin;
    /// use pickwise::{BackendSpec, Pool};
    ///
    /// let pool = Pool::new(RoundRobin::new(), Vec::<BackendSpec<String>>::new())?;
    /// let mut dns = Source::exclusive();
    /// let answer = |weights: &[u32]| -> Vec<BackendSpec<&'static str>> {
    ///     let addrs = ["10.0.0.1:80", "10.0.0.2:80"];
    ///     addrs.iter().zip(weights).map(|(a, w)| BackendSpec::new(*a, *a).weight(*w)).collect()
    /// };
    /// let made = std::cell::Cell::new(0);
    /// let connect = |addr: &str| { made.set(made.get() + 1); format!("client of {addr}") };
    /// dns.sync(&pool, answer(&[1, 1]), connect)?;
    /// let applied = dns.sync(&pool, answer(&[1, 5]), connect)?;
    /// assert_eq!(applied.changed.len(), 1);
    /// assert_eq!(made.get(), 2); // once per backend
    /// assert!(dns.sync(&pool, answer(&[1, 5]), connect)?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sync<S, B, F>(
        &mut self,
        pool: &Pool<S, B>,
        wanted: Vec<BackendSpec<F>>,
        mut make: impl FnMut(F) -> B,
    ) -> Result<Applied, ConfigError>
    where
        S: Strategy,
        B: Clone + Send + Sync + 'static,
    {
        self.edit(pool, |specs, source, applied| {
            let keep: HashSet<BackendId> = wanted.iter().map(|s| s.id.clone()).collect();
            specs.retain(|spec| {
                let leaves = source.owns(&spec.id) && !keep.contains(&spec.id);
                if leaves {
                    source.owned.remove(&spec.id);
                    applied.removed.push(spec.id.clone());
                }
                !leaves
            });
            let mut at: HashMap<BackendId, usize> = specs
                .iter()
                .enumerate()
                .map(|(i, s)| (s.id.clone(), i))
                .collect();
            let mut order = Vec::with_capacity(wanted.len());
            for want in wanted {
                match at.get(&want.id) {
                    Some(_) if !source.owns(&want.id) => {} // another source's backend
                    Some(&i) => {
                        let spec = &mut specs[i];
                        if words(spec) != words(&want) {
                            (spec.weight, spec.priority, spec.max_conns, spec.agent) = words(&want);
                            applied.changed.push(want.id.clone());
                        }
                        order.push(i);
                    }
                    None => {
                        let BackendSpec {
                            id,
                            weight,
                            agent,
                            priority,
                            max_conns,
                            value,
                        } = want;
                        let mut spec = BackendSpec::new(id.clone(), make(value));
                        (spec.weight, spec.priority, spec.max_conns, spec.agent) =
                            (weight, priority, max_conns, agent);
                        at.insert(id.clone(), specs.len());
                        order.push(specs.len());
                        specs.push(spec);
                        source.owned.insert(id.clone());
                        applied.added.push(id);
                    }
                }
            }
            if source.exclusive && !applied.is_empty() {
                // The pool's set in `wanted`'s order.
                let mut taken: Vec<Option<BackendSpec<B>>> =
                    std::mem::take(specs).into_iter().map(Some).collect();
                specs.extend(order.into_iter().filter_map(|i| taken[i].take()));
            }
        })
    }

    /// One [`Pool::update_with`]: `plan` edits the current set, the
    /// source's holdings and the record of what changed; a plan that
    /// changed nothing leaves the pool as it is. The holdings change only
    /// if the pool takes the set.
    fn edit<S, B>(
        &mut self,
        pool: &Pool<S, B>,
        plan: impl FnOnce(&mut Vec<BackendSpec<B>>, &mut Source, &mut Applied),
    ) -> Result<Applied, ConfigError>
    where
        S: Strategy,
        B: Clone + Send + Sync + 'static,
    {
        let mut source = self.clone();
        let mut applied = Applied::default();
        pool.update_with(|mut specs: Vec<BackendSpec<B>>| {
            plan(&mut specs, &mut source, &mut applied);
            // Counted whether the set changes or not.
            applied.backends = specs.len();
            (!applied.is_empty()).then_some(specs)
        })?;
        *self = source;
        Ok(applied)
    }
}
