//! Host names in `--backend` (or a config file's `[discovery]`): the
//! library's DNS discovery, on a thread of its own with a small tokio
//! runtime, sharing the pool with the backends written as addresses
//! (`DnsDiscovery::spawn_shared`: it adds and removes only what its names
//! give).
//!
//! At start every name is looked up once before the proxy listens, so the
//! first requests find its backends. A name that does not resolve then is
//! logged and looked up again every second (the discovery's minimum
//! interval; a config file's `min_ttl`): the proxy starts without its backends rather than refusing
//! to start over a DNS outage, and takes them as soon as the name answers.

use std::collections::HashSet;
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pickwise::dns::{DnsConfig, DnsDiscovery, DnsEvent};
use pickwise::BackendId;

use super::SharedPool;

/// Starts following `config`'s names into `pool` and waits (a bounded
/// time) until each has been looked up once and what it gave is in the
/// pool. Errors: no resolver (no `--resolver` and no system configuration),
/// or no thread.
pub fn start<B: Clone + Send + Sync + 'static>(
    config: DnsConfig<B>,
    pool: SharedPool<B>,
) -> Result<(), String> {
    let names = config.targets().len();
    // Each query may be sent `attempts` times; every name is asked in turn.
    let patience = (config.query_timeout() * config.query_attempts() as u32)
        .saturating_mul(names as u32)
        .saturating_add(Duration::from_secs(1));
    let (first, heard) = mpsc::channel();
    let failing = Mutex::new(HashSet::new());
    // A failed lookup is retried after the shortest interval.
    let retry = config.interval_for(Duration::ZERO);
    let config = config.observe(move |event: &DnsEvent| {
        log_event(event, &failing, retry);
        let _ = first.send(event.clone());
    });
    let discovery = DnsDiscovery::new(config).map_err(|e| {
        format!("{e} (host names in --backend need a DNS server: give one with --resolver)")
    })?;
    let follower = pool.clone();
    std::thread::Builder::new()
        .name("dns".to_owned())
        .spawn(move || follow(discovery, follower))
        .map_err(|e| format!("cannot start the DNS thread: {e}"))?;
    wait_for_first_answers(&heard, &pool, names, patience);
    Ok(())
}

/// The DNS thread: a current-thread runtime running the discovery for the
/// life of the process.
fn follow<B: Clone + Send + Sync + 'static>(discovery: DnsDiscovery<B>, pool: SharedPool<B>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!("cannot start the DNS runtime: {e}; host names are not followed");
            return;
        }
    };
    runtime.block_on(async move {
        match discovery.spawn_shared(pool) {
            // The handle stays here: dropping it would end the discovery.
            Ok(_handle) => std::future::pending::<()>().await,
            Err(e) => tracing::error!("cannot follow the host names: {e}"),
        }
    });
}

/// Until every name was looked up once and the backends they gave are in
/// the pool (or the pool refused them), within `patience`.
fn wait_for_first_answers<B: Send + Sync + 'static>(
    heard: &mpsc::Receiver<DnsEvent>,
    pool: &SharedPool<B>,
    names: usize,
    patience: Duration,
) {
    let deadline = Instant::now() + patience;
    let mut answered = HashSet::new();
    let mut found: Vec<BackendId> = Vec::new();
    let mut refused = false;
    loop {
        let settled = answered.len() >= names
            && (refused || found.iter().all(|id| pool.status(id).is_some()));
        if settled {
            return;
        }
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            tracing::warn!("DNS: not every name answered within {patience:?}; going on");
            return;
        };
        match heard.recv_timeout(left) {
            Ok(DnsEvent::Resolved { name, backends, .. }) => {
                answered.insert(name);
                found.extend(backends);
            }
            Ok(DnsEvent::Failed { name, .. }) => {
                answered.insert(name);
            }
            Ok(DnsEvent::Rejected { .. }) => refused = true,
            Ok(_) => {}
            Err(_) => {} // the deadline, checked above
        }
    }
}

/// One line per change of the set, one per name when it starts failing
/// and one when it answers again (not one per retry).
fn log_event(event: &DnsEvent, failing: &Mutex<HashSet<String>>, retry: Duration) {
    let mut failing = failing.lock().unwrap_or_else(|e| e.into_inner());
    match event {
        DnsEvent::Resolved {
            name,
            backends,
            next,
            ..
        } => {
            if failing.remove(name) {
                tracing::info!("DNS: {name} answers again");
            }
            let list: Vec<&str> = backends.iter().map(BackendId::as_str).collect();
            tracing::debug!("DNS: {name} is {}; next look in {next:?}", list.join(" "));
        }
        DnsEvent::Failed { name, error, kept } => {
            if failing.insert(name.clone()) {
                tracing::warn!(
                    "DNS: {error}; keeping the {kept} backend(s) of {name}, asking again every {retry:?}"
                );
            }
        }
        DnsEvent::Updated { added, removed, .. } => {
            // The pool's observer logs each backend added or removed.
            tracing::debug!("DNS: added {added:?}, removed {removed:?}");
        }
        DnsEvent::Rejected { error } => {
            tracing::warn!("DNS: the pool refused the new set: {error}")
        }
        other => tracing::debug!("DNS: {other:?}"),
    }
}
