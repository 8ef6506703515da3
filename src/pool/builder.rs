//! [`PoolBuilder`]: a pool's settings beyond its strategy, validated when
//! the pool is built.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::generation::{announce, next_generation, validate, Retired};
use super::Pool;
use crate::runtime::feedback::FeedbackConfig;
use crate::runtime::passive::HealthConfig;
use crate::runtime::passive::OutlierConfig;
use crate::runtime::shared::{Settings, Shared};
use crate::runtime::slow_start::SlowStart;
use crate::runtime::sync::Swap;
use crate::runtime::tiers::TierConfig;
use crate::strategy::Strategy;
use crate::types::clock::{Clock, SystemClock};
use crate::types::{BackendSpec, ConfigError, Observer};

/// Settings for a [`Pool`] beyond its strategy: clock, passive health, observers.
pub struct PoolBuilder<S> {
    strategy: S,
    clock: Arc<dyn Clock>,
    /// The epoch of `clock` while it is the builder's own `SystemClock`.
    system_epoch: Option<Instant>,
    health: HealthConfig,
    feedback: FeedbackConfig,
    slow_start: SlowStart,
    observers: Vec<Arc<dyn Observer>>,
    agent_expiry: Duration,
    counts_in_flight: bool,
    outliers: Option<OutlierConfig>,
    overprovisioning: f64,
    panic_threshold: u8,
}

impl<S: Strategy> PoolBuilder<S> {
    /// Uses `clock` instead of the system's monotonic clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self.system_epoch = None;
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
    /// skip the count by default, saving atomic writes per pick), so that
    /// [`BackendStatus::in_flight`](crate::BackendStatus::in_flight) shows them.
    /// A set with a `max_conns` cap is counted whatever this says.
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

    /// How far a tier's available share stretches before traffic spills to
    /// the next tier (Envoy's overprovisioning factor, default 1.4, at
    /// least 1): a tier takes min(100%, available share x factor) of the
    /// traffic, and the rest moves down a tier. With 1.4, a tier with 72% of
    /// its backends available still takes everything; at 50% it takes 70%.
    pub fn overprovisioning(mut self, factor: f64) -> Self {
        self.overprovisioning = factor;
        self
    }

    /// The panic threshold in percent (Envoy's, default 50; 0 turns panic
    /// off): when the tiers together cannot take all the traffic and a
    /// tier's available share is below this, that tier's picks ignore
    /// health (passive ejections and failed health checks, never an
    /// operator's or agent's down or drain) and spread over all its members,
    /// because sending everything to the few survivors would take them down
    /// too. Observers hear of it ([`Observer::panic_changed`]) and
    /// [`Pool::tiers`] shows it.
    pub fn panic_threshold(mut self, percent: u8) -> Self {
        self.panic_threshold = percent;
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
        if !(1.0..=100.0).contains(&self.overprovisioning) {
            return Err(ConfigError::Invalid {
                setting: "overprovisioning",
                why: format!("{} is outside 1..=100", self.overprovisioning),
            });
        }
        if self.panic_threshold > 100 {
            return Err(ConfigError::Invalid {
                setting: "panic_threshold",
                why: format!("{}% is above 100%", self.panic_threshold),
            });
        }
        let tiers = TierConfig {
            overprovisioning: (self.overprovisioning * 1000.0).round() as u32,
            panic_threshold: self.panic_threshold,
        };
        let shared = Arc::new(Shared::new(Settings {
            clock: self.clock,
            system_epoch: self.system_epoch,
            health: self.health,
            feedback: self.feedback,
            slow_start: self.slow_start,
            observers: self.observers,
            agent_expiry: self.agent_expiry,
            outliers: self.outliers,
            tiers,
            reads_load_reports: self.strategy.reads_load_reports(),
        }));
        let specs = validate(backends)?;
        let counts_in_flight = self.counts_in_flight || self.strategy.counts_in_flight();
        let (generation, added) = next_generation(
            &self.strategy,
            &shared,
            specs,
            None,
            &Retired::new(),
            counts_in_flight,
        )?;
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
        let clock = SystemClock::new();
        PoolBuilder {
            strategy,
            system_epoch: Some(clock.epoch()),
            clock: Arc::new(clock),
            health: HealthConfig::default(),
            feedback: FeedbackConfig::default(),
            slow_start: SlowStart::default(),
            observers: Vec::new(),
            agent_expiry: crate::agent::DEFAULT_EXPIRY,
            counts_in_flight: false,
            outliers: None,
            overprovisioning: 1.4,
            panic_threshold: 50,
        }
    }
}
