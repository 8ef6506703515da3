//! [`PoolBuilder`]: a pool's settings beyond its strategy, validated when
//! the pool is built.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::generation::{announce, next_generation, validate, Retired};
use super::Pool;
use crate::health::{FeedbackConfig, HealthConfig, OutlierConfig, SlowStart};
use crate::runtime::shared::Shared;
use crate::runtime::sync::Swap;
use crate::strategy::Strategy;
use crate::types::clock::{Clock, SystemClock};
use crate::types::{BackendSpec, ConfigError, Observer};

/// Settings for a [`Pool`] beyond its strategy: clock, passive health, observers.
pub struct PoolBuilder<S> {
    strategy: S,
    clock: Arc<dyn Clock>,
    health: HealthConfig,
    feedback: FeedbackConfig,
    slow_start: SlowStart,
    observers: Vec<Arc<dyn Observer>>,
    agent_expiry: Duration,
    counts_in_flight: bool,
    outliers: Option<OutlierConfig>,
}

impl<S: Strategy> PoolBuilder<S> {
    /// Uses `clock` instead of the system's monotonic clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the passive health rules (see [`HealthConfig`] for the defaults).
    pub fn health(mut self, health: HealthConfig) -> Self {
        self.health = health;
        self
    }

    /// Sets how fast learned latency and error rates forget.
    pub fn feedback(mut self, feedback: FeedbackConfig) -> Self {
        self.feedback = feedback;
        self
    }

    /// How long an agent's capacity (`75%`, `weight:N`) holds before the
    /// backend falls back to its configured weight, unless renewed; default
    /// [`agent::DEFAULT_EXPIRY`](crate::agent::DEFAULT_EXPIRY). `Duration::MAX` keeps reports until changed.
    /// State words (`drain`, `down`, ...) never expire.
    pub fn agent_expiry(mut self, expiry: Duration) -> Self {
        self.agent_expiry = expiry;
        self
    }

    /// Ramps the weight of backends that join or come back (see
    /// [`SlowStart`]; off by default).
    pub fn slow_start(mut self, slow_start: SlowStart) -> Self {
        self.slow_start = slow_start;
        self
    }

    /// Counts picks in flight even when the strategy does not read them
    /// (round robin, weighted round robin, random and the hash strategies
    /// skip the count by default, saving two atomic writes per pick), so that
    /// [`BackendStatus::in_flight`](crate::BackendStatus::in_flight) shows them.
    pub fn counts_in_flight(mut self, counts: bool) -> Self {
        self.counts_in_flight = counts;
        self
    }

    /// Turns on success-rate outlier detection (see [`OutlierConfig`]; off by
    /// default). It ejects on top of the consecutive-failure rule, under
    /// [`HealthConfig`]'s cap and ejection times, and needs no timer: the
    /// first outcome recorded after each interval runs the evaluation.
    pub fn outlier_detection(mut self, outliers: OutlierConfig) -> Self {
        self.outliers = Some(outliers);
        self
    }

    /// Adds an observer of state changes; it also hears the initial `Added`s.
    pub fn observer(mut self, observer: impl Observer) -> Self {
        self.observers.push(Arc::new(observer));
        self
    }

    /// Builds the pool over `backends`.
    pub fn build<B: Send + Sync + 'static>(
        self,
        backends: impl IntoIterator<Item = BackendSpec<B>>,
    ) -> Result<Pool<S, B>, ConfigError> {
        self.health.validate()?;
        self.feedback.validate()?;
        if self.agent_expiry.is_zero() {
            return Err(ConfigError::Invalid {
                setting: "agent_expiry",
                why: "must be more than zero".into(),
            });
        }
        self.slow_start.validate()?;
        if let Some(outliers) = &self.outliers {
            outliers.validate()?;
        }
        let shared = Arc::new(Shared::new(
            self.clock,
            self.health,
            self.feedback,
            self.slow_start,
            self.observers,
            self.agent_expiry,
            self.outliers,
        ));
        let specs = validate(backends)?;
        let (generation, added) =
            next_generation(&self.strategy, &shared, specs, None, &Retired::new())?;
        let counts_in_flight = self.counts_in_flight || self.strategy.counts_in_flight();
        let pool = Pool {
            strategy: self.strategy,
            current: Swap::new(generation),
            retired: Mutex::new(Retired::new()),
            shared,
            counts_in_flight,
        };
        pool.publish(&[]);
        announce(&added, &[]);
        Ok(pool)
    }
}

impl<S: Strategy> Pool<S, ()> {
    /// Starts a [`PoolBuilder`] for `strategy`.
    pub fn builder(strategy: S) -> PoolBuilder<S> {
        PoolBuilder {
            strategy,
            clock: Arc::new(SystemClock::new()),
            health: HealthConfig::default(),
            feedback: FeedbackConfig::default(),
            slow_start: SlowStart::default(),
            observers: Vec::new(),
            agent_expiry: crate::agent::DEFAULT_EXPIRY,
            counts_in_flight: false,
            outliers: None,
        }
    }
}
