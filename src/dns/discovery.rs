//! The discovery itself: a one-shot resolution, and the tokio task that
//! follows the records and applies changes to a pool.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};

use hickory_resolver::TokioResolver;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::discovery::Source;
use crate::dns::lookup::{lookup, resolver, Answer, Found};
use crate::dns::{DnsConfig, DnsError, DnsEvent, DnsName, DnsTarget};
use crate::pool::Pool;
use crate::strategy::Strategy;
use crate::types::{BackendId, BackendSpec, ConfigError};

/// Backends from DNS: looks names up once ([`DnsDiscovery::resolve_once`])
/// or follows them into a pool ([`DnsDiscovery::spawn`]).
///
/// Each name is looked up again when its records' TTL runs out, clamped
/// to the configured range ([`DnsConfig::ttl_range`]); the names' answers
/// are merged (an address found under two names is one backend, the first
/// name's) and, when the merged set differs from the pool's, applied as a
/// [`Source`]'s whole set ([`Source::sync`]): backends that stay keep their
/// counters, stats, state and payload. A lookup that fails keeps that name's last good backends (see
/// [`DnsEvent::Failed`]). Started with [`DnsDiscovery::spawn`], the
/// discovery owns the pool's set: backends added by other means are
/// replaced at its next change; started with
/// [`DnsDiscovery::spawn_shared`], it adds and removes only its own.
pub struct DnsDiscovery<B = SocketAddr> {
    config: Arc<DnsConfig<B>>,
    resolver: TokioResolver,
}

impl<B: Send + Sync + 'static> DnsDiscovery<B> {
    /// A discovery with this configuration. Fails if no resolver is given
    /// and the system's configuration cannot be read.
    pub fn new(config: DnsConfig<B>) -> Result<Self, ConfigError> {
        let resolver = resolver(&config)?;
        Ok(DnsDiscovery {
            config: Arc::new(config),
            resolver,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &DnsConfig<B> {
        &self.config
    }

    /// Looks every name up once and returns the merged set, e.g. to build
    /// the pool with: the first failing name's error otherwise. Observers
    /// hear each result, as from the task.
    pub async fn resolve_once(&self) -> Result<Vec<BackendSpec<B>>, DnsError> {
        let mut answers = Vec::with_capacity(self.config.targets.len());
        for index in 0..self.config.targets.len() {
            let answer = self.lookup_one(index, 0).await?;
            answers.push(Some(answer.found));
        }
        Ok(merge(&self.config, &answers))
    }

    /// Follows the names into `pool` on a tokio task: every name is looked
    /// up at once, then at its TTL. The first set is applied as soon as one
    /// name resolves; until then the pool keeps what it has (an empty pool
    /// stays empty, and failed names are retried after the minimum
    /// interval). The task holds the pool weakly: it ends when the handle
    /// is dropped or stopped, or when the pool is dropped.
    ///
    /// Fails if called outside a tokio runtime.
    pub fn spawn<S: Strategy>(self, pool: Arc<Pool<S, B>>) -> Result<DiscoveryHandle, ConfigError>
    where
        B: Clone,
    {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ConfigError::Invalid {
            setting: "dns discovery",
            why: "DnsDiscovery::spawn runs a tokio task: call it within a tokio runtime".into(),
        })?;
        Ok(self.start(&runtime, pool, Source::exclusive()))
    }

    /// Follows the names into `pool` as [`spawn`](Self::spawn) does, but
    /// shares the pool with backends from elsewhere (given when it was
    /// built, by another discovery, by an operator): it adds the backends
    /// its names give, removes those it added when the names stop giving
    /// them, and leaves every other backend as it is. An address the pool
    /// already has from elsewhere stays as it is (its words and its id are
    /// the other source's), and is not the discovery's to remove.
    ///
    /// Each change goes through a shared [`Source`]'s
    /// [`sync`](Source::sync), so an update made by another source at the
    /// same time is not lost. A backend that stays keeps its payload: the
    /// payload function runs only for new ones.
    ///
    /// ```
    /// use pickwise::dns::{DnsConfig, DnsDiscovery};
    /// use pickwise::strategy::RoundRobin;
    /// use pickwise::{BackendSpec, Pool};
    /// use std::net::SocketAddr;
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// let fixed: SocketAddr = "10.0.0.1:80".parse()?;
    /// let pool = Arc::new(Pool::new(RoundRobin::new(), vec![BackendSpec::new("fixed", fixed)])?);
    /// // An IP literal resolves to itself: this asks no server.
    /// let config = DnsConfig::new(["127.0.0.1:8080"])?.resolver("127.0.0.1:53".parse()?);
    /// tokio::runtime::Runtime::new()?.block_on(async {
    ///     let handle = DnsDiscovery::new(config)?.spawn_shared(Arc::clone(&pool))?;
    ///     while pool.backends().len() < 2 {
    ///         tokio::time::sleep(Duration::from_millis(5)).await;
    ///     }
    ///     let ids: Vec<String> = pool.backends().iter().map(|b| b.id.to_string()).collect();
    ///     assert_eq!(ids, ["fixed", "127.0.0.1:8080"]);
    ///     handle.stop();
    ///     Ok::<(), Box<dyn std::error::Error>>(())
    /// })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// Fails if called outside a tokio runtime.
    pub fn spawn_shared<S: Strategy>(
        self,
        pool: Arc<Pool<S, B>>,
    ) -> Result<DiscoveryHandle, ConfigError>
    where
        B: Clone,
    {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ConfigError::Invalid {
            setting: "dns discovery",
            why: "DnsDiscovery::spawn_shared runs a tokio task: call it within a tokio runtime"
                .into(),
        })?;
        Ok(self.start(&runtime, pool, Source::shared()))
    }

    /// Starts the task following the names into `pool` as `source`.
    fn start<S: Strategy>(
        self,
        runtime: &tokio::runtime::Handle,
        pool: Arc<Pool<S, B>>,
        source: Source,
    ) -> DiscoveryHandle
    where
        B: Clone,
    {
        let refresh = Arc::new(Notify::new());
        let task = runtime.spawn(self.follow(Arc::downgrade(&pool), Arc::clone(&refresh), source));
        DiscoveryHandle { task, refresh }
    }

    /// Looks the `index`th name up, tells the observers, and returns its
    /// answer; `kept` is how many backends it had before (for a failure).
    async fn lookup_one(&self, index: usize, kept: usize) -> Result<Answer, DnsError> {
        let target = &self.config.targets[index];
        let name = target.value.to_string();
        match lookup(&self.resolver, target).await {
            Ok(answer) => {
                self.config.emit(&DnsEvent::Resolved {
                    name,
                    backends: answer
                        .found
                        .iter()
                        .map(|f| BackendId::from(f.addr))
                        .collect(),
                    ttl: answer.ttl,
                    next: self.config.interval_for(answer.ttl),
                });
                Ok(answer)
            }
            Err(error) => {
                self.config.emit(&DnsEvent::Failed {
                    name,
                    error: error.clone(),
                    kept,
                });
                Err(error)
            }
        }
    }

    /// The task's loop: look up the names that are due, apply the merged
    /// set if it changed, sleep until the next name is due (or a refresh).
    async fn follow<S: Strategy>(
        self,
        pool: Weak<Pool<S, B>>,
        refresh: Arc<Notify>,
        mut source: Source,
    ) where
        B: Clone,
    {
        let config = Arc::clone(&self.config);
        let start = Instant::now();
        // Per name: its last good answer (None until one), when it is due.
        let mut last: Vec<Option<Vec<Found>>> = vec![None; config.targets.len()];
        let mut due: Vec<Instant> = vec![start; config.targets.len()];
        loop {
            for index in 0..config.targets.len() {
                if due[index] > Instant::now() {
                    continue;
                }
                let kept = last[index].as_ref().map_or(0, Vec::len);
                match self.lookup_one(index, kept).await {
                    Ok(answer) => {
                        due[index] = Instant::now() + config.interval_for(answer.ttl);
                        last[index] = Some(answer.found);
                    }
                    Err(_) => due[index] = Instant::now() + config.min_interval,
                }
            }
            let Some(pool) = pool.upgrade() else {
                return; // the pool is gone: nothing to follow for
            };
            if last.iter().any(Option::is_some) {
                apply(&config, &pool, &last, &mut source);
            }
            drop(pool);
            let wake = due
                .iter()
                .min()
                .copied()
                .unwrap_or_else(|| Instant::now() + config.max_interval);
            if tokio::time::timeout_at(wake, refresh.notified())
                .await
                .is_ok()
            {
                due.fill(Instant::now());
            }
        }
    }
}

impl<B> fmt::Debug for DnsDiscovery<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DnsDiscovery")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The merged set: the names' backends in the configured order, each
/// address once (the first name's).
fn merge<B>(config: &DnsConfig<B>, answers: &[Option<Vec<Found>>]) -> Vec<BackendSpec<B>> {
    merged(config, answers)
        .into_iter()
        .map(|(target, f)| spec_of(target, f, (config.payload)(f.addr, &target.value)))
        .collect()
}

/// The names' addresses in the configured order, each once (the first
/// name's), with the name that gave it.
fn merged<'c, B>(
    config: &'c DnsConfig<B>,
    answers: &[Option<Vec<Found>>],
) -> Vec<(&'c DnsTarget, Found)> {
    let mut seen = HashSet::new();
    let mut found = Vec::new();
    for (target, answer) in config.targets.iter().zip(answers) {
        for f in answer.iter().flatten() {
            if seen.insert(f.addr) {
                found.push((target, *f));
            }
        }
    }
    found
}

/// The backend an address found under `target` becomes, with `value`.
fn spec_of<V>(target: &DnsTarget, f: Found, value: V) -> BackendSpec<V> {
    let mut spec = BackendSpec::new(f.addr, value)
        .weight(f.weight)
        .priority(f.priority);
    spec.max_conns = target.max_conns;
    spec
}

/// Makes the source's backends the names' (see [`Source::sync`]: the
/// payload made for new backends only) and says what changed, if anything.
fn apply<S: Strategy, B: Clone + Send + Sync + 'static>(
    config: &DnsConfig<B>,
    pool: &Pool<S, B>,
    answers: &[Option<Vec<Found>>],
    source: &mut Source,
) {
    let wanted: Vec<BackendSpec<(SocketAddr, DnsName)>> = merged(config, answers)
        .into_iter()
        .map(|(target, f)| spec_of(target, f, (f.addr, target.value.clone())))
        .collect();
    let payload = |(addr, name): (SocketAddr, DnsName)| (config.payload)(addr, &name);
    let event = match source.sync(pool, wanted, payload) {
        Ok(applied) if applied.is_empty() => return,
        Ok(applied) => DnsEvent::Updated {
            added: applied.added,
            removed: applied.removed,
            backends: applied.backends,
        },
        Err(error) => DnsEvent::Rejected { error },
    };
    config.emit(&event);
}

/// A running discovery: dropping it (or [`DiscoveryHandle::stop`]) ends
/// the task; the pool keeps its last set.
#[derive(Debug)]
pub struct DiscoveryHandle {
    task: JoinHandle<()>,
    refresh: Arc<Notify>,
}

impl DiscoveryHandle {
    /// Looks every name up now instead of waiting for its TTL (e.g. on an
    /// operator's signal).
    pub fn refresh(&self) {
        self.refresh.notify_one();
    }

    /// Whether the task still runs (it ends when the pool is dropped).
    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }

    /// Ends the task. A change is applied whole or not at all: the task
    /// stops only between lookups.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for DiscoveryHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}
