//! The vocabulary every other layer speaks: backends and their specs, a
//! request's context, outcomes, states and their reasons, errors, and the
//! clock. Nothing here knows about pools or strategies.

mod backend;
mod check;
pub mod clock;
mod context;
#[cfg(feature = "serde")]
mod duration;
mod error;
mod outcome;
mod state;

#[cfg(feature = "dns")]
pub(crate) use backend::parse_spec;
pub(crate) use backend::Escaped;
pub use backend::{
    BackendId, BackendSpec, MAX_BACKENDS, MAX_CONNS, MAX_PRIORITY, MAX_WEIGHT, SPEC_KEYS,
};
pub use check::{CheckFailure, CheckResult};
pub use context::Context;
#[cfg(feature = "serde")]
pub use duration::parse_duration;
#[cfg(feature = "serde")]
pub(crate) use duration::{deserialize_duration, DurationText};
pub use error::{ConfigError, NoBackend};
pub use outcome::{FailureKind, Outcome, OutcomeKind};
pub use state::{AdminState, BackendState, Observer, PanicChange, Reason, StateChange};
