//! What the proxy examples share: their command line, building the pool from
//! it, and logging backend state changes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pickwise::hash::HashKey;
use pickwise::health::{HealthConfig, OutlierConfig, SlowStart};
use pickwise::strategy::{AnyStrategy, StrategyKind, StrategyOptions};
use pickwise::{BackendId, BackendSpec, Pool, StateChange};

pub const PROXY_USAGE: &str =
    "usage: --listen HOST:PORT --strategy NAME --backend ADDR[,weight=N][,agent=ADDR] \
[--backend ...] [--hash-key HEX] [--eject-ms N] [--failures N] [--agent-interval-ms N] \
[--slow-start-ms N] [--outlier-detection on|off] [--max-connections N] [--timeout-ms N] [--header-timeout-ms N] [--threads N] \
(the last three: hyper_proxy only)";

/// The proxies' command line (see DESIGN.md: a contract tests rely on).
pub struct ProxyArgs {
    pub listen: String,
    pub strategy: StrategyKind,
    pub backends: Vec<BackendSpec<SocketAddr>>,
    pub hash_key: Option<HashKey>,
    pub eject: Option<Duration>,
    pub failures: Option<u32>,
    pub agent_interval: Duration,
    /// Weight ramp for backends that join or come back; zero: none.
    pub slow_start: Duration,
    /// Success-rate outlier detection with Envoy's defaults.
    pub outlier_detection: bool,
    pub timeout: Duration,
    pub header_timeout: Duration,
    pub max_connections: usize,
    pub threads: Option<usize>,
}

impl ProxyArgs {
    /// Parses the arguments after the program name; any error is a message
    /// for the user.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut listen = None;
        let mut strategy = None;
        let mut backends = Vec::new();
        let mut parsed = ProxyArgs {
            listen: String::new(),
            strategy: StrategyKind::RoundRobin,
            backends: Vec::new(),
            hash_key: None,
            eject: None,
            failures: None,
            agent_interval: Duration::from_millis(500),
            slow_start: Duration::ZERO,
            outlier_detection: false,
            timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            max_connections: 4096,
            threads: None,
        };
        let mut args = args.into_iter();
        while let Some(flag) = args.next() {
            let (flag, inline) = match flag.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
                _ => (flag, None),
            };
            if flag == "--help" || flag == "-h" {
                return Err(PROXY_USAGE.to_owned());
            }
            let value = match inline.or_else(|| args.next()) {
                Some(v) => v,
                None => return Err(format!("{flag} needs a value\n{PROXY_USAGE}")),
            };
            let ms = |v: &str| -> Result<Duration, String> {
                v.parse::<u64>()
                    .map(Duration::from_millis)
                    .map_err(|_| format!("{flag}: `{v}` is not a number of milliseconds"))
            };
            match flag.as_str() {
                "--listen" => listen = Some(value),
                "--strategy" => {
                    strategy = Some(value.parse().map_err(|e| format!("--strategy: {e}"))?)
                }
                "--backend" => backends.push(value.parse().map_err(|e| format!("--backend: {e}"))?),
                "--hash-key" => {
                    parsed.hash_key = Some(value.parse().map_err(|e| format!("--hash-key: {e}"))?)
                }
                "--eject-ms" => parsed.eject = Some(ms(&value)?),
                "--failures" => {
                    parsed.failures = Some(
                        value
                            .parse()
                            .map_err(|_| format!("--failures: `{value}` is not a count"))?,
                    )
                }
                "--agent-interval-ms" => parsed.agent_interval = ms(&value)?,
                "--slow-start-ms" => parsed.slow_start = ms(&value)?,
                "--outlier-detection" => {
                    parsed.outlier_detection = match value.as_str() {
                        "on" => true,
                        "off" => false,
                        other => {
                            return Err(format!("--outlier-detection: `{other}` is not on or off"))
                        }
                    }
                }
                "--timeout-ms" => parsed.timeout = ms(&value)?,
                "--header-timeout-ms" => parsed.header_timeout = ms(&value)?,
                "--max-connections" => {
                    parsed.max_connections =
                        value.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                            format!("--max-connections: `{value}` is not a positive count")
                        })?
                }
                "--threads" => {
                    parsed.threads =
                        Some(value.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                            format!("--threads: `{value}` is not a positive count")
                        })?)
                }
                other => return Err(format!("unknown flag `{other}`\n{PROXY_USAGE}")),
            }
        }
        parsed.listen = listen.ok_or_else(|| format!("--listen is required\n{PROXY_USAGE}"))?;
        parsed.strategy =
            strategy.ok_or_else(|| format!("--strategy is required\n{PROXY_USAGE}"))?;
        if backends.is_empty() {
            return Err(format!("at least one --backend is required\n{PROXY_USAGE}"));
        }
        parsed.backends = backends;
        Ok(parsed)
    }

    /// Builds the pool the arguments describe, each backend's payload made
    /// by `payload(index, address)`; state changes are logged.
    pub fn pool<B: Send + Sync + 'static>(
        &self,
        payload: impl Fn(usize, SocketAddr) -> B,
    ) -> Result<Pool<AnyStrategy, B>, String> {
        let options = StrategyOptions {
            hash_key: self.hash_key,
            seed: None,
            v6_prefix: None,
        };
        let mut health = HealthConfig::default();
        if let Some(eject) = self.eject {
            health.base_ejection = eject.max(Duration::from_millis(1));
            health.max_ejection = health.base_ejection.saturating_mul(10);
        }
        if let Some(failures) = self.failures {
            health.consecutive_failures = failures;
        }
        let mut builder = Pool::builder(AnyStrategy::with_options(self.strategy, &options))
            .health(health)
            .slow_start(SlowStart::new(self.slow_start))
            .observer(log_change);
        if self.outlier_detection {
            builder = builder.outlier_detection(OutlierConfig::default());
        }
        builder
            .build(
                self.backends
                    .iter()
                    .enumerate()
                    .map(|(i, spec)| BackendSpec {
                        id: spec.id.clone(),
                        weight: spec.weight,
                        agent: spec.agent,
                        value: payload(i, spec.value),
                    }),
            )
            .map_err(|e| e.to_string())
    }
}

/// Logs a backend state change with its reason: the signal the lab lacked
/// when a firewall silently made one node unreachable.
pub fn log_change(change: &StateChange) {
    log(format_args!("{change}"));
}

/// One line on stderr, stamped with seconds since the epoch.
pub fn log(message: std::fmt::Arguments) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    eprintln!("[{}.{:03}] {message}", now.as_secs(), now.subsec_millis());
}

/// Exits with a message and status 2 (bad usage) .
pub fn exit_usage(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(2);
}

/// Keeps the pool behind an `Arc` for the proxy's tasks and threads.
pub type SharedPool<B = SocketAddr> = Arc<Pool<AnyStrategy, B>>;

/// Polls each backend's agent on a thread of its own and applies the replies.
/// Plain threads work under any runtime, and agents answer in microseconds.
pub fn spawn_agent_pollers<B: Send + Sync + 'static>(
    pool: &SharedPool<B>,
    backends: &[BackendSpec<SocketAddr>],
    every: Duration,
) {
    for backend in backends {
        let Some(agent) = backend.agent else { continue };
        let (pool, id) = (pool.clone(), backend.id.clone());
        std::thread::spawn(move || {
            let mut last_problem = String::new();
            loop {
                let problem = poll_agent(&pool, &id, agent, every)
                    .err()
                    .unwrap_or_default();
                // Say it once when it starts and once when it clears, not every poll.
                if problem != last_problem {
                    match problem.as_str() {
                        "" => log(format_args!("agent {agent} of {id} answers again")),
                        _ => log(format_args!("agent {agent} of {id}: {problem}")),
                    }
                    last_problem = problem;
                }
                std::thread::sleep(every);
            }
        });
    }
}

/// Asks one agent once and applies its reply; state changes it causes reach
/// the pool's observers (and so the log) with the agent's words as reason.
fn poll_agent<B: Send + Sync + 'static>(
    pool: &SharedPool<B>,
    id: &BackendId,
    agent: SocketAddr,
    timeout: Duration,
) -> Result<(), String> {
    let reply = pickwise::agent::query(agent, timeout).map_err(|e| e.to_string())?;
    pool.apply_agent_reply(id, reply.as_bytes())
        .map(|_| ())
        .map_err(|e| format!("reply `{}`: {e}", reply.trim()))
}
