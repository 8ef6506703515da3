//! The vocabulary every other layer speaks: backends and their specs, a
//! request's context, outcomes, states and their reasons, errors, and the
//! clock. Nothing here knows about pools or strategies.

mod backend;
pub mod clock;
mod context;
mod error;
mod outcome;
mod state;

pub use backend::{BackendId, BackendSpec, MAX_BACKENDS, MAX_WEIGHT};
pub use context::Context;
pub use error::{ConfigError, NoBackend};
pub use outcome::{FailureKind, Outcome, OutcomeKind};
pub use state::{AdminState, BackendState, Observer, Reason, StateChange};
