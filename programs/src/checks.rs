//! Active health checks: `--health-check tcp|http:PATH|grpc[:SERVICE]` (or a config
//! file's `[health_check]`) run by the library's checker on a thread of its
//! own, so both proxies run them the same way, apart from their serving
//! runtimes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use pickwise::grpc::GrpcHealthCheck;
use pickwise::health_check::{Check, CheckEvent, CheckKind, CheckerHandle, HealthChecker, Verdict};
use pickwise::BackendId;

use super::SharedPool;

/// `tcp` (a connect), `http:PATH` (a GET, 2xx or 3xx passes), `http`
/// (the same, of `/`), `grpc` (gRPC's health protocol over h2c, the whole
/// server) or `grpc:SERVICE` (one service).
pub fn parse_check(text: &str) -> Result<Arc<dyn Check>, String> {
    let check: Arc<dyn Check> = match text.split_once(':') {
        None if text == "tcp" => Arc::new(CheckKind::Tcp),
        None if text == "http" => Arc::new(CheckKind::http("/")),
        Some(("http", path)) => Arc::new(CheckKind::http(path)),
        None if text == "grpc" => Arc::new(GrpcHealthCheck::new()),
        Some(("grpc", service)) => Arc::new(GrpcHealthCheck::service(service)),
        _ => {
            return Err(format!(
                "`{text}` is no probe: write `tcp`, `http:PATH` such as `http:/health`, \
                 `grpc` or `grpc:SERVICE`"
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_flag_reads_tcp_http_and_grpc_and_refuses_the_rest() {
        let shown = |text: &str| parse_check(text).map(|check| check.to_string());
        assert_eq!(shown("tcp"), Ok("TCP connect".to_owned()));
        assert_eq!(shown("http:/health"), Ok("GET /health".to_owned()));
        assert_eq!(shown("grpc"), Ok("gRPC health".to_owned()));
        assert_eq!(
            shown("grpc:helloworld.Greeter"),
            Ok("gRPC health of helloworld.Greeter".to_owned())
        );
        assert!(shown("udp").unwrap_err().contains("grpc:SERVICE"));
        assert!(shown("grpc:a\nb")
            .unwrap_err()
            .contains("control character"));
    }
}
