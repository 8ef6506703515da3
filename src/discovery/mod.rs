//! Discovery: the backends of a pool as a stream of changes that any
//! source feeds (DNS, a service registry, tower's `Discover`, an
//! operator), all through one path into the pool.
//!
//! A source says what changed ([`Change`]: a backend joins or takes a new
//! spec, takes a new value, or leaves) and hands each batch to its
//! [`Source`], which applies it in one [`Pool::update_with`](crate::Pool::update_with) (so a batch
//! of a hundred joins builds one set, and an update another source makes
//! at the same time is not lost) and says what it did ([`Applied`]). A
//! source that knows its whole set rather than its changes (a DNS answer,
//! a registry's listing) hands the set to [`Source::sync`], which works
//! out the changes. Backends that stay keep their slot: in-flight count,
//! stats, state.
//!
//! A source owns the backends it added: it changes and removes only those,
//! so several sources share a pool with backends given by hand
//! ([`Source::shared`]); [`Source::exclusive`] owns the whole pool.
//!
//! ```
//! use pickwise::discovery::{Change, Source};
//! use pickwise::strategy::RoundRobin;
//! use pickwise::{BackendSpec, Pool};
//!
//! let pool = Pool::new(RoundRobin::new(), vec![BackendSpec::new("fixed", "10.0.0.1:80")])?;
//! let mut registry = Source::shared();
//! let applied = registry.apply(&pool, [
//!     Change::Insert(BackendSpec::new("a", "10.0.0.2:80")),
//!     Change::Insert(BackendSpec::new("b", "10.0.0.3:80").weight(2)),
//! ])?;
//! assert_eq!(applied.added.len(), 2);
//! // The registry's listing changes: `a` left, `b` weighs 3 now.
//! let listing = vec![BackendSpec::new("b", "10.0.0.3:80").weight(3)];
//! let applied = registry.sync(&pool, listing, |addr| addr)?;
//! assert_eq!((applied.removed.len(), applied.changed.len()), (1, 1));
//! let ids: Vec<String> = pool.backends().iter().map(|b| b.id.to_string()).collect();
//! assert_eq!(ids, ["fixed", "b"]); // `fixed` is not the registry's
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod source;

pub use source::{Applied, Source};

use crate::types::{BackendId, BackendSpec};

/// One change a source makes to its backends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change<B> {
    /// The backend joins, or the one of its id takes this spec whole
    /// (words and value).
    Insert(BackendSpec<B>),
    /// The backend of this id takes this value (a new service, a new
    /// client) and keeps its words; one the pool lacks joins with the
    /// default words (weight 1, tier 0). What tower's `Discover` sends.
    Value(BackendId, B),
    /// The backend of this id leaves.
    Remove(BackendId),
}

impl<B> Change<B> {
    /// The id of the backend it changes.
    pub fn id(&self) -> &BackendId {
        match self {
            Change::Insert(spec) => &spec.id,
            Change::Value(id, _) | Change::Remove(id) => id,
        }
    }
}
