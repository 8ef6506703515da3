//! [`HealthChecker`]: a checker's settings, probe and event callback,
//! ready to be started on threads ([`HealthChecker::spawn`]) or as a tokio
//! task (`HealthChecker::spawn_tokio`, feature `tokio`).

use std::fmt;
use std::sync::Arc;

use crate::health_check::config::CheckConfig;
use crate::health_check::event::{CheckEvent, EventFn};
use crate::health_check::probe::Probe;
use crate::types::ConfigError;

/// An active health checker, not yet started: what it probes, how often,
/// and whom it tells. Start it with [`spawn`](Self::spawn) (std threads) or
/// `spawn_tokio` (feature `tokio`); it then probes every backend of the
/// pool each round, follows the pool's membership, and applies the results
/// through [`Pool::set_health`](crate::Pool::set_health) by the rise/fall
/// rule ([`RiseFall`](super::RiseFall)).
///
/// ```
/// use pickwise::health_check::{CheckConfig, HealthChecker, HttpProbe};
///
/// let checker = HealthChecker::new(
///     CheckConfig::default(),
///     HttpProbe::new("/health").expect_body("ok").into(),
/// )?
/// .on_event(|event| eprintln!("{event}"));
/// # let _ = checker;
/// # Ok::<(), pickwise::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct HealthChecker {
    pub(crate) config: CheckConfig,
    pub(crate) probe: Probe,
    pub(crate) on_event: Option<EventFn>,
}

impl fmt::Debug for HealthChecker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthChecker")
            .field("config", &self.config)
            .field("probe", &self.probe)
            .field("on_event", &self.on_event.is_some())
            .finish()
    }
}

impl HealthChecker {
    /// A checker with these settings and this probe; refuses settings out
    /// of range ([`CheckConfig::validate`]) and a probe that cannot be sent
    /// ([`Probe::validate`]).
    pub fn new(config: CheckConfig, probe: Probe) -> Result<Self, ConfigError> {
        config.validate()?;
        probe.validate()?;
        Ok(HealthChecker {
            config,
            probe,
            on_event: None,
        })
    }

    /// Calls `on_event` with every probe's result, applied or only counted
    /// (see [`Verdict`](super::Verdict)), on the checker's thread or task:
    /// keep it quick (log, count, send to a channel).
    pub fn on_event(mut self, on_event: impl Fn(&CheckEvent) + Send + Sync + 'static) -> Self {
        self.on_event = Some(Arc::new(on_event));
        self
    }

    /// The settings.
    pub fn config(&self) -> &CheckConfig {
        &self.config
    }

    /// The probe.
    pub fn probe(&self) -> &Probe {
        &self.probe
    }
}
