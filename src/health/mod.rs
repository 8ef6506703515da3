//! Health and feedback settings: plain values that say when passive health
//! ejects a backend ([`HealthConfig`]), when a success-rate outlier is ejected
//! ([`OutlierConfig`]), how fast learned latency and error rates forget
//! ([`FeedbackConfig`]), and how a joining backend ramps up ([`SlowStart`]);
//! with the events health produces: an active check's result
//! ([`CheckResult`], [`CheckFailure`], fed to [`Pool::set_health`](crate::Pool::set_health))
//! and a tier entering or leaving panic ([`PanicChange`]).
//!
//! They are validated when a pool is built and acted on by the pool's runtime
//! (see the [`internals`](crate::internals) page); nothing here holds state.

mod feedback;
mod outlier;
mod passive;
mod slow_start;

pub use feedback::FeedbackConfig;
pub use outlier::OutlierConfig;
pub use passive::HealthConfig;
pub use slow_start::SlowStart;

pub use crate::types::{CheckFailure, CheckResult, PanicChange};
