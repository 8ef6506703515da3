//! What pickwise's programs share (the binaries are in `src/bin/`:
//! `hyper_proxy`, `tcp_forwarder`, `worker`, `lab`, `simulate`): the
//! proxies' command line, building the pool from it (or from a config file),
//! following host names through DNS, active health checks, polling agents,
//! logging backend state changes, the status page, and the simulation's
//! engine.
//!
//! Modules: `cli` (helpers every program shares), `logging`, `backends`
//! (`--backend` by address or by name), `config` (`--config FILE`),
//! `checks` (`--health-check`), `discovery` (host names through DNS),
//! `agents` (polling agents), `admin` (the status page), `cores` (a
//! thread per core, each with its own listener), `dns_zone` (a DNS server
//! in process: the lab's registry, the tests' resolver), `hedging` (which
//! slow tries get a hedge, and what a beaten one tells), `http_head` (a
//! request's head through hyper_proxy: RFC 9112's rules, hop-by-hop
//! headers), `limits` (the
//! open-files limit, log throttling), `simulation` (the
//! cluster model `simulate` runs), `system` (running `ip`, `iptables` and
//! `tc`; whether this process is root).

pub mod admin;
pub mod agents;
pub mod backends;
pub mod checks;
pub mod cli;
pub mod config;
pub mod cores;
pub mod discovery;
pub mod dns_zone;
pub mod hedging;
pub mod http_head;
pub mod limits;
pub mod logging;
pub mod simulation;
pub mod system;

pub use agents::spawn_agent_pollers;
pub use cli::{exit_usage, millis};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Arc;
use std::time::Duration;

use pickwise::config::PoolConfig;
use pickwise::dns::DnsConfig;
use pickwise::hash::HashKey;
use pickwise::health::{HealthConfig, OutlierConfig, SlowStart};
use pickwise::health_check::{Check, CheckConfig, HealthChecker};
use pickwise::strategy::{AnyStrategy, StrategyKind, StrategyOptions};
use pickwise::subset::{ClientIndex, Subsetting};
use pickwise::{BackendId, BackendSpec, BackendState, Pool, StateChange};

use backends::BackendArg;
use config::ConfigFile;

/// The proxies' balancing flags (see DESIGN.md: a contract tests rely on).
/// Strategy names, backend specs, host names, probes, hash keys and config
/// files parse through the library.
#[derive(clap::Args)]
pub struct ProxyArgs {
    /// Where to accept clients (port 0: a free port, printed as `listening on ADDR`)
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: String,
    #[arg(long, value_name = "NAME", help = strategy_help(), required_unless_present = "config")]
    pub strategy: Option<StrategyKind>,
    #[arg(
        long = "backend",
        value_name = "SPEC",
        help = backends::SPEC_HELP,
        required_unless_present = "config"
    )]
    pub backends: Vec<BackendArg>,
    /// The whole pool from a file (TOML, YAML or JSON, by its extension;
    /// see examples/pool.toml): strategy, backends, passive health,
    /// `[health_check]` and `[discovery]`. Replaces the balancing flags, which
    /// it cannot be given with
    #[arg(
        long,
        value_name = "FILE",
        value_parser = config::parse,
        conflicts_with_all = config::REPLACED_FLAGS
    )]
    pub config: Option<ConfigFile>,
    /// The DNS server that resolves host names in --backend [default: the
    /// system's, from /etc/resolv.conf]
    #[arg(long, value_name = "HOST:PORT")]
    pub resolver: Option<SocketAddr>,
    /// Key of the hash strategies, 32 hex digits: proxies with the same key
    /// and backends agree on every key [default: random per process]
    #[arg(long, value_name = "HEX")]
    pub hash_key: Option<HashKey>,
    /// First ejection of a failing backend; repeats multiply it, up to ten
    /// times [default: 30000]
    #[arg(long = "eject-ms", value_name = "MS", value_parser = millis)]
    pub eject: Option<Duration>,
    /// Failures in a row that eject a backend (0: never eject; said in the
    /// log at start) [default: 5]
    #[arg(long, value_name = "N")]
    pub failures: Option<u32>,
    /// Active health checks: `tcp` (a connect), `http:PATH` (a GET; 2xx
    /// or 3xx passes) or `grpc[:SERVICE]` (gRPC's health protocol over h2c;
    /// SERVING passes). A backend failing --health-fall checks in a row is
    /// taken out before requests reach it, and comes back after
    /// --health-rise passes [default: none]
    #[arg(long, value_name = "tcp|http:PATH|grpc[:SERVICE]", value_parser = checks::parse_check)]
    pub health_check: Option<Arc<dyn Check>>,
    /// How often each backend is checked (--health-check)
    #[arg(long = "health-interval-ms", value_name = "MS", default_value = "1000", value_parser = positive_millis)]
    pub health_interval: Duration,
    /// Passes in a row that bring a backend back (--health-check) [default: 2]
    #[arg(long, value_name = "N")]
    pub health_rise: Option<NonZeroU32>,
    /// Failed checks in a row that take a backend out (--health-check)
    /// [default: 3]
    #[arg(long, value_name = "N")]
    pub health_fall: Option<NonZeroU32>,
    /// How often each backend's agent (agent=ADDR) is asked
    #[arg(long = "agent-interval-ms", value_name = "MS", default_value = "500", value_parser = positive_millis)]
    pub agent_interval: Duration,
    /// Backends that join or come back ramp their weight up over this long
    /// (0: at once)
    #[arg(long = "slow-start-ms", value_name = "MS", default_value = "0", value_parser = millis)]
    pub slow_start: Duration,
    /// orca-wrr: how long a backend must have sent load reports before
    /// they count (gRFC A58's blackout period)
    #[arg(long = "orca-blackout-ms", value_name = "MS", default_value = "10000", value_parser = millis)]
    pub orca_blackout: Duration,
    /// Success-rate outlier detection with Envoy's defaults
    #[arg(
        long,
        value_name = "MODE",
        action = clap::ArgAction::Set,
        default_value = "off",
        value_parser = on_off(),
    )]
    pub outlier_detection: bool,
    /// Client connections served at once; hyper_proxy leaves the rest waiting
    /// in the kernel's accept queue, tcp_forwarder closes them
    #[arg(long, value_name = "N", default_value = "4096")]
    pub max_connections: NonZeroUsize,
    /// Client connections one client address may hold at once; past it its
    /// new connections are closed at once (nginx's limit_conn)
    /// [default: half of --max-connections]
    #[arg(long, value_name = "N")]
    pub max_connections_per_client: Option<NonZeroUsize>,
    /// Serve the status page (/), /status.json and /metrics here (port 0:
    /// a free port, printed as `admin on ADDR`); keep it private
    #[arg(long, value_name = "HOST:PORT")]
    pub admin: Option<String>,
    /// Keep only K of the backends given by address, chosen so that the
    /// proxies sharing them spread evenly (deterministic subsetting; names
    /// followed through DNS are all kept); needs --client-index
    #[arg(long, value_name = "K", requires = "client_index")]
    pub subset: Option<NonZeroUsize>,
    /// This proxy's place among the C proxies sharing the backends, I/C with
    /// 0 <= I < C; needs --subset
    #[arg(long, value_name = "I/C", requires = "subset")]
    pub client_index: Option<ClientIndex>,
    #[command(flatten)]
    pub log: logging::LogArgs,
}

impl ProxyArgs {
    /// The connections one client address may hold: the flag, else half of
    /// the cap (at least one), so one address never holds every slot.
    pub fn per_client_cap(&self) -> usize {
        self.max_connections_per_client
            .map_or((self.max_connections.get() / 2).max(1), NonZeroUsize::get)
    }
}

fn strategy_help() -> String {
    format!(
        "The balancing strategy (required without --config): {}",
        StrategyKind::NAMES.join(", ")
    )
}

/// `on` or `off`, listed in `--help` and in the error for anything else.
pub fn on_off() -> impl clap::builder::TypedValueParser<Value = bool> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(["on", "off"]).map(|v| v == "on")
}

/// A number of milliseconds above zero, as the proxies' timeouts take them.
pub fn positive_millis(text: &str) -> Result<Duration, String> {
    match millis(text) {
        Ok(d) if d.is_zero() => Err("must be at least 1".to_owned()),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

/// Why the pool could not be set up: the command line's fault (exit 2,
/// with the usage) or the environment's (exit 1).
#[derive(Debug)]
pub enum SetupError {
    /// A setting the library refused (e.g. two backends with one id).
    Usage(String),
    /// Something outside the command line failed (a thread, the system's
    /// resolver configuration).
    Failed(String),
}

impl SetupError {
    /// Exits as the error deserves: clap's usage error (status 2) or a
    /// plain `error: ...` (status 1).
    pub fn exit<P: clap::CommandFactory>(self) -> ! {
        match self {
            SetupError::Usage(message) => exit_usage::<P>(message),
            SetupError::Failed(message) => {
                eprintln!("error: {message}");
                std::process::exit(1)
            }
        }
    }
}

/// What the pool is made of, from the flags or from a config file.
struct Plan {
    config: PoolConfig,
    names: Option<DnsConfig>,
    checker: Option<HealthChecker>,
}

impl ProxyArgs {
    /// Builds the pool the arguments describe (or the `--config` file),
    /// each backend's payload made by `payload(address)`, also for
    /// backends found through DNS later; state changes are logged. Starts
    /// what the pool needs running beside it, for the life of the process:
    /// the DNS discovery of host names (after looking each up once, so the
    /// first requests find them) and the health checker.
    pub fn pool<B: Clone + Send + Sync + 'static>(
        &self,
        payload: impl Fn(SocketAddr) -> B + Send + Sync + 'static,
    ) -> Result<SharedPool<B>, SetupError> {
        let Plan {
            config,
            names,
            checker,
        } = self.plan()?;
        let payload = Arc::new(payload);
        let fixed = config
            .backends
            .iter()
            .map(|spec| spec.clone().map(|addr| payload(addr)));
        let pool: SharedPool<B> = Arc::new(
            config
                .builder()
                .observer(log_change)
                .build(fixed)
                .map_err(|e| SetupError::Usage(e.to_string()))?,
        );
        if let Some(names) = names {
            let make = Arc::clone(&payload);
            let names = names.payload(move |addr, _name| make(addr));
            discovery::start(names, pool.clone()).map_err(SetupError::Failed)?;
        }
        if let Some(checker) = checker {
            let addrs: HashMap<BackendId, SocketAddr> = config
                .backends
                .iter()
                .map(|spec| (spec.id.clone(), spec.value))
                .collect();
            let handle = checks::spawn(checker, pool.clone(), addrs)
                .map_err(|e| SetupError::Failed(format!("cannot start the health checker: {e}")))?;
            // It checks for the life of the process: dropping the handle
            // would stop it.
            std::mem::forget(handle);
        }
        Ok(pool)
    }

    /// The pool's settings, from the file or from the flags.
    fn plan(&self) -> Result<Plan, SetupError> {
        if let Some(file) = &self.config {
            let mut config = file.pool.clone();
            config.backends = self.keep(config.backends)?;
            let names = config.discovery.clone();
            let checker = config
                .health_checker()
                .transpose()
                .map_err(|e| SetupError::Usage(e.to_string()))?;
            return Ok(Plan {
                config,
                names,
                checker,
            });
        }
        let usage = |message: &str| SetupError::Usage(message.to_owned());
        let strategy = self
            .strategy
            .ok_or_else(|| usage("--strategy is required"))?;
        let mut config = PoolConfig::new(strategy);
        config.strategy_options = StrategyOptions {
            hash_key: self.hash_key,
            seed: None,
            v6_prefix: None,
            load_report_blackout: Some(self.orca_blackout),
        };
        let mut health = HealthConfig::default();
        if let Some(eject) = self.eject {
            health.base_ejection = eject.max(Duration::from_millis(1));
            health.max_ejection = health.base_ejection.saturating_mul(10);
        }
        if let Some(failures) = self.failures {
            if failures == 0 {
                tracing::warn!(
                    "--failures 0: passive health will never eject a backend, whatever fails"
                );
            }
            health.consecutive_failures = failures;
        }
        config.health = health;
        config.slow_start = SlowStart::new(self.slow_start);
        config.outlier_detection = self.outlier_detection.then(OutlierConfig::default);
        let (fixed, names) = backends::split(&self.backends);
        config.backends = self.keep(fixed)?;
        let names = match names.is_empty() {
            true => None,
            false => {
                let dns =
                    DnsConfig::with_targets(names).map_err(|e| SetupError::Usage(e.to_string()))?;
                Some(match self.resolver {
                    Some(server) => dns.resolver(server),
                    None => dns,
                })
            }
        };
        let checker = match &self.health_check {
            None => None,
            Some(probe) => {
                let defaults = CheckConfig::default();
                let settings = CheckConfig {
                    interval: self.health_interval,
                    // A probe gives up by the next round.
                    timeout: defaults.timeout.min(self.health_interval),
                    rise: self.health_rise.map_or(defaults.rise, NonZeroU32::get),
                    fall: self.health_fall.map_or(defaults.fall, NonZeroU32::get),
                    ..defaults
                };
                Some(
                    HealthChecker::new(settings, probe.clone())
                        .map_err(|e| SetupError::Usage(e.to_string()))?,
                )
            }
        };
        Ok(Plan {
            config,
            names,
            checker,
        })
    }

    /// The backends given by address that this proxy keeps: all of them,
    /// or with `--subset K --client-index I/C` its deterministic subset of
    /// K (by backend id). Backends found through DNS are all kept.
    fn keep(
        &self,
        backends: Vec<BackendSpec<SocketAddr>>,
    ) -> Result<Vec<BackendSpec<SocketAddr>>, SetupError> {
        let (Some(size), Some(client)) = (self.subset, self.client_index) else {
            return Ok(backends);
        };
        let ids: Vec<&str> = backends.iter().map(|b| b.id.as_str()).collect();
        let kept = Subsetting::new(size.get())
            .subset(&ids, client)
            .map_err(|e| {
                SetupError::Usage(format!("--subset {size} --client-index {client}: {e}"))
            })?;
        Ok(kept
            .into_iter()
            .filter_map(|i| backends.get(i).cloned())
            .collect())
    }
}

/// Logs a backend state change with its reason: the signal the lab lacked
/// when a firewall silently made one node unreachable.
pub fn log_change(change: &StateChange) {
    match change.to {
        BackendState::Up | BackendState::Removed => tracing::info!("{change}"),
        _ => tracing::warn!("{change}"),
    }
}

/// Keeps the pool behind an `Arc` for the proxy's tasks and threads.
pub type SharedPool<B = SocketAddr> = Arc<Pool<AnyStrategy, B>>;
