//! What the proxy examples share: their command line, building the pool from
//! it, and logging backend state changes.

pub mod cli;
pub mod logging;

pub use cli::{exit_usage, millis};

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use pickwise::hash::HashKey;
use pickwise::health::{HealthConfig, OutlierConfig, SlowStart};
use pickwise::strategy::{AnyStrategy, StrategyKind, StrategyOptions};
use pickwise::subset::{ClientIndex, Subsetting};
use pickwise::{BackendId, BackendSpec, BackendState, Pool, StateChange};

/// The proxies' balancing flags (see DESIGN.md: a contract tests rely on).
/// Strategy names, backend specs and hash keys parse through the library.
#[derive(clap::Args)]
pub struct ProxyArgs {
    /// Where to accept clients (port 0: a free port, printed as `listening on ADDR`)
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: String,
    #[arg(long, value_name = "NAME", help = strategy_help())]
    pub strategy: StrategyKind,
    /// A backend: ADDR[,weight=N][,agent=ADDR][,id=NAME], ADDR being IP:PORT
    /// or [v6]:PORT; repeat for each
    #[arg(long = "backend", value_name = "SPEC", required = true)]
    pub backends: Vec<BackendSpec<SocketAddr>>,
    /// Key of the hash strategies, 32 hex digits: proxies with the same key
    /// and backends agree on every key [default: random per process]
    #[arg(long, value_name = "HEX")]
    pub hash_key: Option<HashKey>,
    /// First ejection of a failing backend; repeats multiply it, up to ten
    /// times [default: 30000]
    #[arg(long = "eject-ms", value_name = "MS", value_parser = millis)]
    pub eject: Option<Duration>,
    /// Failures in a row that eject a backend [default: 5]
    #[arg(long, value_name = "N")]
    pub failures: Option<u32>,
    /// How often each backend's agent (agent=ADDR) is asked
    #[arg(long = "agent-interval-ms", value_name = "MS", default_value = "500", value_parser = millis)]
    pub agent_interval: Duration,
    /// Backends that join or come back ramp their weight up over this long
    /// (0: at once)
    #[arg(long = "slow-start-ms", value_name = "MS", default_value = "0", value_parser = millis)]
    pub slow_start: Duration,
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
    /// Keep only K of the backends, chosen so that the proxies sharing them
    /// spread evenly (deterministic subsetting); needs --client-index
    #[arg(long, value_name = "K", requires = "client_index")]
    pub subset: Option<NonZeroUsize>,
    /// This proxy's place among the C proxies sharing the backends, I/C with
    /// 0 <= I < C; needs --subset
    #[arg(long, value_name = "I/C", requires = "subset")]
    pub client_index: Option<ClientIndex>,
    #[command(flatten)]
    pub log: logging::LogArgs,
}

fn strategy_help() -> String {
    format!("The balancing strategy: {}", StrategyKind::NAMES.join(", "))
}

/// `on` or `off`, listed in `--help` and in the error for anything else.
fn on_off() -> impl clap::builder::TypedValueParser<Value = bool> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(["on", "off"]).map(|v| v == "on")
}

impl ProxyArgs {
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
                self.kept_backends()?
                    .into_iter()
                    .enumerate()
                    .map(|(i, spec)| spec.map(|addr| payload(i, addr))),
            )
            .map_err(|e| e.to_string())
    }

    /// The backends this proxy keeps: all of them, or with `--subset K
    /// --client-index I/C` its deterministic subset of K (by backend id).
    pub fn kept_backends(&self) -> Result<Vec<BackendSpec<SocketAddr>>, String> {
        let (Some(size), Some(client)) = (self.subset, self.client_index) else {
            return Ok(self.backends.clone());
        };
        let ids: Vec<&str> = self.backends.iter().map(|b| b.id.as_str()).collect();
        let kept = Subsetting::new(size.get())
            .subset(&ids, client)
            .map_err(|e| format!("--subset {size} --client-index {client}: {e}"))?;
        Ok(kept.into_iter().map(|i| self.backends[i].clone()).collect())
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
                        "" => tracing::info!("agent {agent} of {id} answers again"),
                        _ => tracing::warn!("agent {agent} of {id}: {problem}"),
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
