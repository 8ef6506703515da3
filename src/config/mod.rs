//! A pool's whole configuration as serde reads it (feature `serde`, which
//! needs only serde): strategy and its options, backends, passive health,
//! outlier detection, slow start, feedback, agent expiry, tiers and caps,
//! every value checked, every refusal naming its field. [`PoolConfig`]
//! implements `Deserialize`: the program picks the format (TOML, YAML,
//! JSON, or a table of its own config file) and its crate.
//!
//! ```
//! use pickwise::config::PoolConfig;
//! use pickwise::strategy::StrategyKind;
//!
//! let config: PoolConfig = toml::from_str(r#"
//!     strategy = "weighted-least-connections"
//!     backends = [
//!         "127.0.0.1:8001,weight=2",
//!         { address = "127.0.0.1:8002", id = "w2", max_conns = 100 },
//!         "127.0.0.1:8009,backup",
//!     ]
//!
//!     [health]
//!     consecutive_failures = 3
//!     base_ejection = "5s"
//! "#)?;
//! let pool = config.build()?;
//! assert_eq!(pool.strategy().kind(), StrategyKind::WeightedLeastConnections);
//! let backends = pool.backends();
//! assert_eq!((backends[0].weight, backends[1].id.as_str()), (2, "w2"));
//! assert_eq!((backends[1].max_conns, backends[2].priority), (Some(100), 1));
//!
//! let error = toml::from_str::<PoolConfig>(r#"
//!     strategy = "p2c"
//!     backends = ["127.0.0.1:8001", { address = "127.0.0.1:8002", weight = 0 }]
//! "#).unwrap_err();
//! assert_eq!(error.message(), "backends[1].weight: 0 is outside 1..=1000000");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A value refused after reading (out of range, a duplicate id, an
//! unknown strategy) comes out as the format's custom error, its message
//! the [`FieldError`]'s `field: why`. A value the format's reader refuses
//! (a wrong type, an unknown field) is named by the reader: wrap the
//! deserializer in `serde_path_to_error` to get its path too, as the
//! project's programs do for `--config FILE` (by the file's extension).
//!
//! # The file
//!
//! Every section but `strategy` is optional; what is left out keeps the
//! library's default. Unknown sections and fields are refused, so a typo
//! is an error rather than a setting silently ignored. Durations are
//! strings with a unit: `"500ms"`, `"2s"`, `"1m30s"` (see
//! [`parse_duration`]). In TOML (YAML and JSON take the same names;
//! `examples/pool.toml`, `pool.yaml` and `pool.json` are one pool):
//!
//! ```toml
//! strategy = "least-connections"      # or a table:
//! # [strategy]
//! # name = "maglev"
//! # hash_key = "000102030405060708090a0b0c0d0e0f"   # 32 hex digits
//! # seed = 7                           # randomised strategies
//! # v6_prefix = 56                     # bits of an IPv6 client hashed
//! # load_report_blackout = "10s"       # orca-wrr: when reports start to count
//!
//! counts_in_flight = true              # count picks even where unread
//! agent_expiry = "10s"                 # how long an agent's capacity holds
//!
//! # A backend is its spec string (ADDR[,weight=N][,max_conns=N]
//! # [,backup|,priority=N][,agent=ADDR][,id=NAME]) or a table of the same options.
//! backends = [
//!     "127.0.0.1:8001,weight=2,max_conns=10",
//!     { address = "127.0.0.1:8002", id = "w2", weight = 1, priority = 0,
//!       max_conns = 50, agent = "127.0.0.1:9002" },
//!     { address = "127.0.0.1:8009", backup = true },
//! ]
//!
//! [health]                  # passive health (HealthConfig)
//! consecutive_failures = 5  # 0 turns it off
//! base_ejection = "30s"
//! max_ejection = "300s"
//! max_ejected_percent = 10
//!
//! [outlier_detection]       # present: on (OutlierConfig, Envoy's defaults)
//! interval = "10s"
//! request_volume = 100
//! minimum_hosts = 5
//! stdev_factor = 1.9
//!
//! [slow_start]              # present: on (SlowStart)
//! window = "30s"
//! floor_percent = 10
//!
//! [feedback]                # FeedbackConfig
//! latency_decay = "10s"
//! error_decay = "10s"
//!
//! [tiers]
//! overprovisioning = 1.4    # Envoy's factor, 1..=100
//! panic_threshold = 50      # percent, 0 turns panic off
//! ```
//!
//! Backend addresses are IP literals: names are not resolved here; the
//! `[discovery]` section follows names instead.
//!
//! Two more sections come with their features:
//!
//! ```toml
//! [health_check]            # feature health-check: CheckConfig and CheckKind
//! probe = "http"            # "tcp" (default), "http" or "agent"
//! path = "/health"          # http only, as are `host` and `expect_body`
//! expect_body = "ok"
//! interval = "2s"
//! timeout = "1s"
//! jitter = 0.1
//! rise = 2
//! fall = 3
//! concurrency = 16
//!
//! [discovery]               # feature dns: DnsConfig; `backends` may be empty
//! names = ["web.example.com:8080,weight=2", "_api._tcp.example.com"]
//! resolver = "127.0.0.1:5353"   # else the system's configuration
//! min_ttl = "1s"
//! max_ttl = "5m"
//! timeout = "2s"
//! attempts = 2
//! ```
//!
//! Without its feature, such a section is refused with the feature it
//! needs. `PoolConfig::health_checker` and `PoolConfig::dns_discovery`
//! make the checker and the discovery, to start over the built pool.
//!
//! Files: `file` (the shape serde reads), `resolve` (ranges checked, the
//! library's settings made), `error`
//! ([`FieldError`]), `sections` (`[health_check]` and `[discovery]`).

mod error;
mod file;
mod resolve;
mod sections;

use std::net::SocketAddr;
use std::time::Duration;

pub use crate::types::parse_duration;
pub use error::FieldError;
#[cfg(feature = "health-check")]
pub use sections::HealthCheckSection;

use crate::pool::{Pool, PoolBuilder};
use crate::runtime::feedback::FeedbackConfig;
use crate::runtime::passive::HealthConfig;
use crate::runtime::passive::OutlierConfig;
use crate::runtime::slow_start::SlowStart;
use crate::strategy::{AnyStrategy, StrategyKind, StrategyOptions};
use crate::types::{BackendSpec, ConfigError};

/// A pool's whole configuration, checked: what a config file says, in the
/// library's own settings. Deserialize one with the format's crate
/// (`toml::from_str`, `serde_json::from_str`, ...), alone or as a table of
/// a program's own config; build the pool with [`build`](PoolConfig::build),
/// or take [`builder`](PoolConfig::builder) to add observers or a clock
/// first.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PoolConfig {
    /// The strategy (`strategy` or `strategy.name`).
    pub strategy: StrategyKind,
    /// Its options (`strategy.hash_key`, `.seed`, `.v6_prefix`,
    /// `.load_report_blackout`).
    pub strategy_options: StrategyOptions,
    /// The backends, in order (`backends`).
    pub backends: Vec<BackendSpec<SocketAddr>>,
    /// Whether picks count in flight whatever the strategy reads
    /// (`counts_in_flight`, default false).
    pub counts_in_flight: bool,
    /// How long an agent's capacity holds (`agent_expiry`, default
    /// [`agent::DEFAULT_EXPIRY`](crate::agent::DEFAULT_EXPIRY)).
    pub agent_expiry: Duration,
    /// Passive health (`[health]`).
    pub health: HealthConfig,
    /// Success-rate outlier detection, on when the section is there
    /// (`[outlier_detection]`).
    pub outlier_detection: Option<OutlierConfig>,
    /// Slow start, on when the section is there (`[slow_start]`).
    pub slow_start: SlowStart,
    /// How fast learned latency and error rates forget (`[feedback]`).
    pub feedback: FeedbackConfig,
    /// Envoy's overprovisioning factor (`tiers.overprovisioning`); `None`
    /// keeps [`PoolBuilder::overprovisioning`]'s default.
    pub overprovisioning: Option<f64>,
    /// The panic threshold in percent (`tiers.panic_threshold`); `None`
    /// keeps [`PoolBuilder::panic_threshold`]'s default.
    pub panic_threshold: Option<u8>,
    /// Active health checks, when the section is there (`[health_check]`,
    /// feature `health-check`); start them with
    /// [`health_checker`](PoolConfig::health_checker).
    #[cfg(feature = "health-check")]
    pub health_check: Option<HealthCheckSection>,
    /// DNS discovery, when the section is there (`[discovery]`, feature
    /// `dns`); start it with [`dns_discovery`](PoolConfig::dns_discovery).
    /// `backends` may then be empty: discovery fills the pool.
    #[cfg(feature = "dns")]
    pub discovery: Option<crate::dns::DnsConfig>,
}

impl PoolConfig {
    /// A configuration of `strategy` with no backends and every default.
    pub fn new(strategy: StrategyKind) -> Self {
        PoolConfig {
            strategy,
            strategy_options: StrategyOptions::default(),
            backends: Vec::new(),
            counts_in_flight: false,
            agent_expiry: crate::agent::DEFAULT_EXPIRY,
            health: HealthConfig::default(),
            outlier_detection: None,
            slow_start: SlowStart::default(),
            feedback: FeedbackConfig::default(),
            overprovisioning: None,
            panic_threshold: None,
            #[cfg(feature = "health-check")]
            health_check: None,
            #[cfg(feature = "dns")]
            discovery: None,
        }
    }

    /// The strategy, configured by its options.
    pub fn any_strategy(&self) -> AnyStrategy {
        AnyStrategy::with_options(self.strategy, &self.strategy_options)
    }

    /// A pool builder with every setting applied, to add observers or a
    /// clock before building over [`PoolConfig::backends`]:
    ///
    /// ```
    /// use pickwise::config::PoolConfig;
    /// use pickwise::clock::ManualClock;
    /// use std::sync::Arc;
    ///
    /// let config: PoolConfig = toml::from_str("strategy = 'p2c'\nbackends = ['127.0.0.1:8001']")?;
    /// let pool = config
    ///     .builder()
    ///     .clock(Arc::new(ManualClock::new()))
    ///     .build(config.backends.clone())?;
    /// assert_eq!(pool.backends().len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder(&self) -> PoolBuilder<AnyStrategy> {
        let mut builder = Pool::builder(self.any_strategy())
            .health(self.health.clone())
            .feedback(self.feedback.clone())
            .slow_start(self.slow_start)
            .agent_expiry(self.agent_expiry)
            .counts_in_flight(self.counts_in_flight);
        if let Some(outliers) = self.outlier_detection {
            builder = builder.outlier_detection(outliers);
        }
        if let Some(factor) = self.overprovisioning {
            builder = builder.overprovisioning(factor);
        }
        if let Some(percent) = self.panic_threshold {
            builder = builder.panic_threshold(percent);
        }
        builder
    }

    /// A health checker of the `[health_check]` section, not yet started
    /// (add an event callback, then
    /// [`spawn`](crate::health_check::HealthChecker::spawn) it over the
    /// built pool); `None` without the section. The error is a setting
    /// changed by hand out of range.
    ///
    /// ```
    /// use pickwise::config::PoolConfig;
    /// use std::time::Duration;
    ///
    /// let config: PoolConfig = toml::from_str(r#"
    ///     strategy = "round-robin"
    ///     backends = ["127.0.0.1:8001"]
    ///     [health_check]
    ///     probe = "http"
    ///     path = "/health"
    ///     interval = "5s"
    ///     fall = 2
    /// "#)?;
    /// let checker = config.health_checker().expect("the section is there")?;
    /// assert_eq!(checker.config().interval, Duration::from_secs(5));
    /// assert_eq!(checker.check().to_string(), "GET /health");
    /// // let handle = checker.spawn(Arc::new(config.build()?), |spec| Some(spec.value))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "health-check")]
    pub fn health_checker(
        &self,
    ) -> Option<Result<crate::health_check::HealthChecker, ConfigError>> {
        let section = self.health_check.as_ref()?;
        Some(crate::health_check::HealthChecker::new(
            section.config.clone(),
            section.check.clone(),
        ))
    }

    /// A DNS discovery of the `[discovery]` section, not yet started
    /// ([`spawn`](crate::dns::DnsDiscovery::spawn) it over the built pool,
    /// inside a tokio runtime); `None` without the section. The error is a
    /// resolver that cannot be set up (no `resolver` given and no system
    /// configuration).
    #[cfg(feature = "dns")]
    pub fn dns_discovery(&self) -> Option<Result<crate::dns::DnsDiscovery, ConfigError>> {
        let config = self.discovery.clone()?;
        Some(crate::dns::DnsDiscovery::new(config))
    }

    /// Builds the pool. A configuration read from a file has been checked
    /// already; one changed by hand is checked here, by the pool builder.
    pub fn build(self) -> Result<Pool<AnyStrategy, SocketAddr>, ConfigError> {
        self.builder().build(self.backends)
    }
}

/// Deserializes from any serde format, alone or as a table of a program's
/// own config: the file's shape is read (unknown fields refused), then
/// every value checked; a refusal found after reading is a custom error
/// whose message is its [`FieldError`] (the field's path inside the pool's
/// table, and why).
impl<'de> serde::Deserialize<'de> for PoolConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let file = file::PoolFile::deserialize(deserializer)?;
        resolve::resolve(file).map_err(serde::de::Error::custom)
    }
}
