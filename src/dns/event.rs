//! What a discovery tells its observers: each lookup's result, each
//! failure (and what it kept), each change applied to the pool.

use std::time::Duration;

use crate::dns::DnsError;
use crate::types::{BackendId, ConfigError};

/// Something a discovery did. The library logs nothing: observers (see
/// [`DnsConfig::observe`](crate::dns::DnsConfig::observe)) hear these and
/// log, count or alert as they like.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DnsEvent {
    /// A name was looked up and gave these backends.
    Resolved {
        /// The name, as configured (`host:PORT` or the SRV name).
        name: String,
        /// The backends it gave, in the order they go to the pool.
        backends: Vec<BackendId>,
        /// The records' TTL (the smallest of them).
        ttl: Duration,
        /// When the name is looked up again: the TTL clamped to the
        /// configured range.
        next: Duration,
    },
    /// A lookup failed: the name's last good backends stay in the set
    /// (none if it never resolved), and it is tried again after the
    /// minimum interval.
    Failed {
        /// The name, as configured.
        name: String,
        /// What went wrong.
        error: DnsError,
        /// How many backends of this name were kept.
        kept: usize,
    },
    /// The merged set changed and the pool now has it
    /// ([`Source::sync`](crate::discovery::Source::sync): backends that
    /// stay keep their counters).
    Updated {
        /// Backends that joined.
        added: Vec<BackendId>,
        /// Backends that left.
        removed: Vec<BackendId>,
        /// The set's size now.
        backends: usize,
    },
    /// The pool refused the merged set (nothing changed); the discovery
    /// tries again at the next lookup.
    Rejected {
        /// Why.
        error: ConfigError,
    },
}

/// Hears a discovery's events, on the discovery's task: keep it quick
/// (log, count, send to a channel). Closures `Fn(&DnsEvent)` are observers.
pub trait DnsObserver: Send + Sync + 'static {
    /// One event happened.
    fn event(&self, event: &DnsEvent);
}

impl<F: Fn(&DnsEvent) + Send + Sync + 'static> DnsObserver for F {
    fn event(&self, event: &DnsEvent) {
        self(event)
    }
}
