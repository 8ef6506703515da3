//! A discovery's settings: the names, the resolver, the re-resolution
//! range, the payload of each address and who hears the events.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::dns::{DnsName, DnsObserver, DnsTarget};
use crate::types::ConfigError;

/// The shortest wait before a name is looked up again, by default: a TTL
/// below it (0 included) waits this long. A failed lookup is retried after
/// this long too.
pub const DEFAULT_MIN_INTERVAL: Duration = Duration::from_secs(1);
/// The longest wait before a name is looked up again, by default: a TTL
/// above it (a day, say) waits this long, so a change is still seen.
pub const DEFAULT_MAX_INTERVAL: Duration = Duration::from_secs(300);
/// How long one query waits for an answer, by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// How many times a query is sent before the lookup fails, by default.
pub const DEFAULT_ATTEMPTS: usize = 2;

/// Makes each backend's payload from its address and the name it came from.
type Payload<B> = Arc<dyn Fn(SocketAddr, &DnsName) -> B + Send + Sync>;

/// What a [`DnsDiscovery`](crate::dns::DnsDiscovery) follows and how.
///
/// `B` is the pool's payload: the address itself by default, or what
/// [`DnsConfig::payload`] makes of it.
///
/// ```
/// use pickwise::dns::DnsConfig;
/// use std::time::Duration;
///
/// let config = DnsConfig::new(["web.example.test:8080,weight=2", "_api._tcp.example.test"])?
///     .resolver("127.0.0.1:5353".parse()?)      // else the system's configuration
///     .ttl_range(Duration::from_secs(5), Duration::from_secs(60))?
///     .timeout(Duration::from_millis(500))
///     .observe(|event: &pickwise::dns::DnsEvent| eprintln!("dns: {event:?}"));
/// assert_eq!(config.targets().len(), 2);
/// assert_eq!(config.interval_for(Duration::ZERO), Duration::from_secs(5));
/// assert_eq!(config.interval_for(Duration::from_secs(86_400)), Duration::from_secs(60));
///
/// // A payload of the caller's type: here a URL per address.
/// let urls = config.payload(|addr, _name| format!("http://{addr}/"));
/// # let _ = urls;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct DnsConfig<B = SocketAddr> {
    pub(crate) targets: Vec<DnsTarget>,
    pub(crate) resolver: Option<SocketAddr>,
    pub(crate) min_interval: Duration,
    pub(crate) max_interval: Duration,
    pub(crate) timeout: Duration,
    pub(crate) attempts: usize,
    pub(crate) payload: Payload<B>,
    pub(crate) observers: Vec<Arc<dyn DnsObserver>>,
}

impl DnsConfig<SocketAddr> {
    /// Follows these names, each `host:PORT[,options]` or an SRV name
    /// (`_service._proto.domain[,max_conns=N]`), see [`DnsTarget`]'s
    /// parser. The payload is the address.
    pub fn new<I>(names: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let targets = names
            .into_iter()
            .map(|name| name.as_ref().parse())
            .collect::<Result<Vec<DnsTarget>, _>>()?;
        DnsConfig::with_targets(targets)
    }

    /// Follows these targets (built with [`DnsTarget::host`] and
    /// [`DnsTarget::srv`]). The payload is the address.
    pub fn with_targets(targets: impl IntoIterator<Item = DnsTarget>) -> Result<Self, ConfigError> {
        let targets: Vec<DnsTarget> = targets.into_iter().collect();
        if targets.is_empty() {
            return Err(ConfigError::Invalid {
                setting: "dns names",
                why: "no name to follow".into(),
            });
        }
        for target in &targets {
            target.validate_target()?;
        }
        Ok(DnsConfig {
            targets,
            resolver: None,
            min_interval: DEFAULT_MIN_INTERVAL,
            max_interval: DEFAULT_MAX_INTERVAL,
            timeout: DEFAULT_TIMEOUT,
            attempts: DEFAULT_ATTEMPTS,
            payload: Arc::new(|addr, _| addr),
            observers: Vec::new(),
        })
    }
}

impl<B> DnsConfig<B> {
    /// Asks this server (UDP, then TCP for long answers) instead of the
    /// system's configuration (`/etc/resolv.conf` on Unix).
    pub fn resolver(mut self, server: SocketAddr) -> Self {
        self.resolver = Some(server);
        self
    }

    /// Re-resolves each name at its records' TTL, but no sooner than `min`
    /// and no later than `max` (defaults [`DEFAULT_MIN_INTERVAL`], 1 s, and
    /// [`DEFAULT_MAX_INTERVAL`], 300 s). A failed lookup is retried after
    /// `min`. `min` must be above zero and at most `max`.
    pub fn ttl_range(mut self, min: Duration, max: Duration) -> Result<Self, ConfigError> {
        if min.is_zero() || min > max {
            return Err(ConfigError::Invalid {
                setting: "dns ttl range",
                why: format!(
                    "the minimum ({min:?}) must be above zero and at most the maximum ({max:?})"
                ),
            });
        }
        self.min_interval = min;
        self.max_interval = max;
        Ok(self)
    }

    /// How long one query waits for an answer (default
    /// [`DEFAULT_TIMEOUT`], 2 s; a zero is taken as 1 ms).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How many times a query is sent before the lookup fails (default
    /// [`DEFAULT_ATTEMPTS`], 2; a zero is taken as 1).
    pub fn attempts(mut self, attempts: usize) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// Adds an observer of the discovery's events (see
    /// [`DnsEvent`](crate::dns::DnsEvent)).
    pub fn observe(mut self, observer: impl DnsObserver) -> Self {
        self.observers.push(Arc::new(observer));
        self
    }

    /// Makes each backend's payload with `payload(address, name)`, e.g. a
    /// connection pool or a URL, instead of the address.
    pub fn payload<C>(
        self,
        payload: impl Fn(SocketAddr, &DnsName) -> C + Send + Sync + 'static,
    ) -> DnsConfig<C> {
        DnsConfig {
            targets: self.targets,
            resolver: self.resolver,
            min_interval: self.min_interval,
            max_interval: self.max_interval,
            timeout: self.timeout,
            attempts: self.attempts,
            payload: Arc::new(payload),
            observers: self.observers,
        }
    }

    /// The names followed.
    pub fn targets(&self) -> &[DnsTarget] {
        &self.targets
    }

    /// The server asked, if one was given ([`resolver`](Self::resolver));
    /// `None` uses the system's configuration.
    pub fn resolver_address(&self) -> Option<SocketAddr> {
        self.resolver
    }

    /// How long one query waits for an answer ([`timeout`](Self::timeout)).
    pub fn query_timeout(&self) -> Duration {
        self.timeout
    }

    /// How many times a query is sent ([`attempts`](Self::attempts)).
    pub fn query_attempts(&self) -> usize {
        self.attempts
    }

    /// How long after a lookup whose records had this TTL the name is
    /// looked up again: the TTL clamped to the configured range.
    pub fn interval_for(&self, ttl: Duration) -> Duration {
        ttl.clamp(self.min_interval, self.max_interval)
    }

    pub(crate) fn emit(&self, event: &crate::dns::DnsEvent) {
        for observer in &self.observers {
            observer.event(event);
        }
    }
}

/// A copy sharing the payload function and the observers.
impl<B> Clone for DnsConfig<B> {
    fn clone(&self) -> Self {
        DnsConfig {
            targets: self.targets.clone(),
            resolver: self.resolver,
            min_interval: self.min_interval,
            max_interval: self.max_interval,
            timeout: self.timeout,
            attempts: self.attempts,
            payload: Arc::clone(&self.payload),
            observers: self.observers.clone(),
        }
    }
}

impl<B> fmt::Debug for DnsConfig<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DnsConfig")
            .field("targets", &self.targets)
            .field("resolver", &self.resolver)
            .field("min_interval", &self.min_interval)
            .field("max_interval", &self.max_interval)
            .field("timeout", &self.timeout)
            .field("attempts", &self.attempts)
            .field("observers", &self.observers.len())
            .finish_non_exhaustive()
    }
}
