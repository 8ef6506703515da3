//! Active health checks: `--health-check tcp|http:PATH` (or a config
//! file's `[health_check]`) run by the library's checker on a thread of its
//! own, so both proxies run them the same way, apart from their serving
//! runtimes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use pickwise::health_check::{Check, CheckEvent, CheckKind, CheckerHandle, HealthChecker, Verdict};
use pickwise::BackendId;

use super::SharedPool;

/// `tcp` (a connect), `http:PATH` (a GET, 2xx or 3xx passes), or `http`
/// (the same, of `/`).
pub fn parse_check(text: &str) -> Result<CheckKind, String> {
    let check = match text.split_once(':') {
        None if text == "tcp" => CheckKind::Tcp,
        None if text == "http" => CheckKind::http("/"),
        Some(("http", path)) => CheckKind::http(path),
        _ => {
            return Err(format!(
                "`{text}` is no probe: write `tcp`, or `http:PATH` such as `http:/health`"
            ))
        }
    };
    check.validate().map_err(|e| e.to_string())?;
    Ok(check)
}

/// Starts `checker` over `pool`. Each backend is checked at its address:
/// `addrs` has those written by id (`id=NAME`); any other id is the
/// address itself (as for backends found through DNS).
pub fn spawn<B: Clone + Send + Sync + 'static>(
    checker: HealthChecker,
    pool: SharedPool<B>,
    addrs: HashMap<BackendId, SocketAddr>,
) -> std::io::Result<CheckerHandle> {
    tracing::info!(
        "health checks: {} every {:?}, rise {}, fall {}",
        checker.check(),
        checker.config().interval,
        checker.config().rise,
        checker.config().fall
    );
    let addrs = Arc::new(addrs);
    checker.on_event(log_event).spawn(pool, move |spec| {
        addrs
            .get(&spec.id)
            .copied()
            .or_else(|| spec.id.as_str().parse().ok())
    })
}

/// Logs what a check found that the pool's own log does not say: the
/// failures counted before `fall` and the passes before `rise`. The moves
/// themselves (up -> unhealthy and back) are state changes, logged once by
/// the pool's observer with the probe's reason.
fn log_event(event: &CheckEvent) {
    match event.verdict {
        Verdict::Failing { .. } | Verdict::Rising { .. } => tracing::info!("{event}"),
        Verdict::Unhealthy => tracing::debug!("{event}"),
        _ => tracing::trace!("{event}"),
    }
}
