//! [`HealthChecker`]: a checker's settings, check and event callback,
//! ready to be started on a thread of its own ([`HealthChecker::spawn`]) or
//! as a task of the caller's tokio runtime ([`HealthChecker::spawn_tokio`]).

use std::fmt;
use std::sync::Arc;

use crate::health_check::check::Check;
use crate::health_check::config::CheckConfig;
use crate::health_check::event::{CheckEvent, EventFn};
use crate::types::ConfigError;

/// An active health checker, not yet started: what it checks, how often,
/// and whom it tells. Start it with [`spawn`](Self::spawn) (a thread of its
/// own) or [`spawn_tokio`](Self::spawn_tokio); it then checks every backend of the
/// pool each round, follows the pool's membership, and applies the results
/// through [`Pool::set_health`](crate::Pool::set_health) by the rise/fall
/// rule ([`RiseFall`](super::RiseFall)).
///
/// ```
/// use pickwise::health_check::{CheckConfig, CheckKind, HealthChecker, HttpCheck};
///
/// let checker = HealthChecker::new(
///     CheckConfig::default(),
///     CheckKind::Http(HttpCheck::new("/health").expect_body("ok")),
/// )?
/// .on_event(|event| eprintln!("{event}"));
/// # let _ = checker;
/// # Ok::<(), pickwise::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct HealthChecker {
    pub(crate) config: CheckConfig,
    pub(crate) check: Arc<dyn Check>,
    pub(crate) on_event: Option<EventFn>,
}

impl fmt::Debug for HealthChecker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthChecker")
            .field("config", &self.config)
            .field("check", &self.check)
            .field("on_event", &self.on_event.is_some())
            .finish()
    }
}

impl HealthChecker {
    /// A checker with these settings and this check; refuses settings out
    /// of range ([`CheckConfig::validate`]) and a check that cannot run
    /// ([`Check::validate`]).
    pub fn new(config: CheckConfig, check: impl Check) -> Result<Self, ConfigError> {
        config.validate()?;
        check.validate()?;
        Ok(HealthChecker {
            config,
            check: Arc::new(check),
            on_event: None,
        })
    }

    /// Calls `on_event` with every check's result, applied or only counted
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

    /// The check.
    pub fn check(&self) -> &dyn Check {
        &*self.check
    }
}
