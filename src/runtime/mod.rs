//! Per-backend runtime state and the pool-wide registries that act on it.
//!
//! - [`slot`]: one backend's state, split by job (admission, learning,
//!   admin state machine, status).
//! - [`arena`]: the pick-path fields of every backend, packed contiguously.
//! - [`set`]: [`BackendSet`](set::BackendSet), the view of one generation's
//!   backends that strategies read.
//! - [`shared`]: what every slot of one pool shares (clock, settings,
//!   observers, registries).
//! - [`passive`]: passive health, one module: ejection after failures in a
//!   row and success-rate outliers, each with its settings, its registry
//!   and the slot's side, with no timer.
//! - [`feedback`], [`slow_start`]: the settings of the EWMAs' decay and of
//!   a joining backend's ramp (public under `pickwise::health`).
//! - [`agent_reports`]: agents' capacity reports: the weight arithmetic and
//!   their expiry.
//! - [`load_reports`]: load reports (ORCA): each backend's latest weight.
//! - [`refresh`]: tables built from weights that move (load reports,
//!   agents, ramps), refreshed by the writer or a background thread, never
//!   on a pick.
//! - [`tiers`]: how tiers (priority levels) share traffic, and panic.
//! - [`ewma`]: the lock-free moving average behind latency and error rates.
//! - [`sync`]: the primitives loom model-checks.
//!
//! How these fit together: [`crate::internals`].

pub(crate) mod agent_reports;
pub(crate) mod arena;
pub(crate) mod ewma;
pub(crate) mod feedback;
pub(crate) mod floor;
pub(crate) mod load_reports;
pub(crate) mod passive;
pub(crate) mod probe;
pub(crate) mod refresh;
pub(crate) mod set;
pub(crate) mod shared;
pub(crate) mod slot;
pub(crate) mod slow_start;
pub(crate) mod sync;
pub(crate) mod tiers;
