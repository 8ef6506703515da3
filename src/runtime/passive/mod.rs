//! Passive health, one module: ejecting a backend from what the outcomes
//! of its requests say, by failures in a row ([`ejection`]) or by a success
//! rate far below its peers' ([`outlier`]). Each file holds its settings
//! (public as `pickwise::health::{HealthConfig, OutlierConfig}`), the
//! pool-wide registry that acts on them, and the slot's side. The reasons
//! an ejection gives are the public [`Reason`](crate::Reason)'s
//! `Failures`, `SuccessRateOutlier` and `EjectionEnded`.

pub(crate) mod ejection;
pub(crate) mod outlier;

pub use ejection::HealthConfig;
pub use outlier::OutlierConfig;
