//! Errors: bad configuration, and the reasons a pick can find no backend.

use std::error::Error;
use std::fmt;

use crate::types::Escaped;

use crate::types::{BackendId, MAX_BACKENDS, MAX_WEIGHT};

/// Configuration the library refuses. Nothing is changed when one is returned:
/// a failed update leaves the previous backend set in place.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// A strategy's table needs at least one backend (pools accept empty
    /// sets and never build a table for one).
    EmptySet,
    /// More backends than [`MAX_BACKENDS`].
    TooManyBackends(usize),
    /// Two backends share an id.
    DuplicateId(BackendId),
    /// A backend id is the empty string.
    EmptyId,
    /// A weight outside `1..=MAX_WEIGHT`.
    Weight {
        /// The backend.
        id: BackendId,
        /// The weight given.
        weight: u64,
    },
    /// A backend spec string that does not parse.
    BackendSpec {
        /// The text given.
        spec: String,
        /// What is wrong with it.
        why: String,
    },
    /// A strategy name that is not known.
    UnknownStrategy {
        /// The name given.
        name: String,
        /// The names that are known.
        known: &'static [&'static str],
    },
    /// A setting out of its range.
    Invalid {
        /// The setting.
        setting: &'static str,
        /// What is wrong with it.
        why: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::EmptySet => f.write_str("the backend set is empty"),
            ConfigError::TooManyBackends(n) => {
                write!(f, "{n} backends is more than the limit of {MAX_BACKENDS}")
            }
            ConfigError::DuplicateId(id) => write!(f, "backend id `{id}` appears twice"),
            ConfigError::EmptyId => f.write_str("a backend id is empty"),
            ConfigError::Weight { id, weight } => write!(
                f,
                "backend `{id}` has weight {weight}, outside 1..={MAX_WEIGHT}"
            ),
            // Outside text (a spec, a name, the part of either a reason
            // quotes) is shown with its control characters escaped: a
            // message cannot forge a log line.
            ConfigError::BackendSpec { spec, why } => {
                write!(f, "bad backend `{}`: {}", Escaped(spec), Escaped(why))
            }
            ConfigError::UnknownStrategy { name, known } => write!(
                f,
                "unknown strategy `{}` (known: {})",
                Escaped(name),
                known.join(", ")
            ),
            ConfigError::Invalid { setting, why } => write!(f, "bad {setting}: {}", Escaped(why)),
        }
    }
}

impl Error for ConfigError {}

/// Why a pick found no backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoBackend {
    /// The set is empty.
    Empty,
    /// Every backend is in the context's exclusion list.
    AllExcluded,
    /// Every backend is draining: it keeps its sticky clients, takes no new ones.
    AllDraining,
    /// Every backend is down, failing its health check, or ejected by
    /// passive health.
    AllDown,
    /// Every backend's effective weight is zero (e.g. agents reported 0%).
    AllZeroWeight,
    /// Every backend that could take the request (up, healthy, not
    /// excluded) is at its `max_conns` cap: queue the request or shed it.
    AtCapacity,
    /// A mix of the above, counted.
    Unavailable {
        /// Backends in the exclusion list.
        excluded: usize,
        /// Backends draining.
        draining: usize,
        /// Backends down, unhealthy or ejected.
        down: usize,
        /// Backends with effective weight zero.
        zero_weight: usize,
        /// Backends at their cap on requests in flight.
        at_capacity: usize,
    },
}

impl fmt::Display for NoBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoBackend::Empty => f.write_str("no backend: the set is empty"),
            NoBackend::AllExcluded => f.write_str("no backend: every backend is excluded"),
            NoBackend::AllDraining => f.write_str("no backend: every backend is draining"),
            NoBackend::AllDown => f.write_str("no backend: every backend is down or ejected"),
            NoBackend::AllZeroWeight => {
                f.write_str("no backend: every backend has effective weight 0")
            }
            NoBackend::AtCapacity => {
                f.write_str("no backend: every available backend is at its max_conns cap")
            }
            NoBackend::Unavailable {
                excluded,
                draining,
                down,
                zero_weight,
                at_capacity,
            } => write!(
                f,
                "no backend: {excluded} excluded, {draining} draining, {down} down, {zero_weight} at weight 0, {at_capacity} at capacity"
            ),
        }
    }
}

impl Error for NoBackend {}
