//! The proxies' admin listener (`--admin HOST:PORT`): what the pool is doing
//! and why, for people, scripts and Prometheus.
//!
//! - `GET /`: an HTML status page (page.rs): per backend its id and
//!   address, tier, state coloured, the reason and since when, in flight and
//!   cap, picks, failures and ejections, latency, error rate and last health
//!   check; per pool the strategy and each tier's availability, share and
//!   panic. It refreshes itself from `/status.json` every second (a meta
//!   refresh every 2 s without JavaScript) and loads nothing from elsewhere.
//! - `GET /status.json`: the same as JSON (status.rs), field names stable:
//!
//! ```text
//! {"strategy": "round-robin", "uptime_ms": 5321,
//!  "tiers": [{"priority": 0, "name": "primary", "members": 4, "available": 3,
//!             "share": 1.0, "in_panic": false}],
//!  "backends": [{"id": "127.0.0.1:8001", "address": "127.0.0.1:8001",
//!     "state": "ejected", "admin": "up",
//!     "reason": "1 consecutive failures, last: connection refused; ejected for 30s",
//!     "since_ms": 4121, "weight": 1, "effective_weight": 1.0, "priority": 0,
//!     "in_flight": 0, "max_conns": null, "picks": 12, "successes": 11,
//!     "server_errors": 0, "failures": 1, "client_faults": 0,
//!     "consecutive_failures": 1, "ejections": 1, "latency_ms": 0.4,
//!     "error_rate": 0.08,
//!     "last_check": {"passed": false, "result": "health check failed: connection refused",
//!                    "at_ms": 5021}}]}
//! ```
//!
//!   `state` is one of up, draining, down, unhealthy, ejected, removed;
//!   `admin` the operator's or agent's word alone (up, draining, down);
//!   The tiers and backends are the library's [`pickwise::TierStatus`] and
//!   [`pickwise::BackendStatus`] as they serialise (their docs list the
//!   fields), with a tier's `name` and a backend's `address` added.
//!   `since_ms` and `at_ms` are times on the pool's clock, as `uptime_ms`
//!   is; `priority` is the backend's tier (0 primary, 1 backup); `in_flight` and `picks` are null when
//!   the strategy does not count requests in flight, `max_conns` without a
//!   cap, `latency_ms` before a first success, `last_check` without active
//!   health checks.
//! - `GET /metrics`: the pool in the Prometheus text format
//!   ([`pickwise::metrics::render`]).
//!
//! Other paths get 404, other methods than GET and HEAD 405. The listener
//! runs on a thread of its own with a current-thread tokio runtime, apart
//! from the proxies' serving runtimes (one per core), so both proxies serve
//! it alike and a busy proxy still answers it. It changes nothing: keep it on loopback or
//! a private network all the same (it shows the backends' addresses).

pub mod page;
pub mod status;

use std::convert::Infallible;
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::Semaphore;

use super::SharedPool;
use status::Status;

/// Admin connections served at once; more wait in the accept queue.
const MAX_CONNECTIONS: usize = 64;
/// How long a client has to send a request head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request head the admin listener reads (431 past it).
const MAX_HEAD: usize = 16 * 1024;

/// With `--admin ADDR` given, starts the admin listener and prints `admin on
/// ADDR` (the line after `listening on ADDR`, as DESIGN.md promises);
/// without it, does nothing.
pub fn start<B: Send + Sync + 'static>(
    listen: Option<&str>,
    pool: &SharedPool<B>,
    address: fn(&B) -> SocketAddr,
    extra: Option<Arc<dyn Extra>>,
) -> io::Result<()> {
    let Some(listen) = listen else { return Ok(()) };
    let addr = spawn(listen, pool.clone(), address, extra)?;
    let mut out = io::stdout().lock();
    writeln!(out, "admin on {addr}")?;
    out.flush()
}

/// Binds `listen` (port 0: a free port) and serves the admin routes for
/// `pool` on a new thread; `address` says where a backend's payload
/// connects. Returns the bound address; binding errors come back here.
pub fn spawn<B: Send + Sync + 'static>(
    listen: &str,
    pool: SharedPool<B>,
    address: fn(&B) -> SocketAddr,
    extra: Option<Arc<dyn Extra>>,
) -> io::Result<SocketAddr> {
    let cannot = |e: io::Error| io::Error::new(e.kind(), format!("--admin {listen}: {e}"));
    let listener = std::net::TcpListener::bind(listen).map_err(cannot)?;
    let addr = listener.local_addr()?;
    warn_if_exposed("admin", addr);
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let listener = {
        let _inside = runtime.enter();
        tokio::net::TcpListener::from_std(listener)?
    };
    let admin = Arc::new(Admin {
        pool,
        address,
        extra,
    });
    std::thread::Builder::new()
        .name("admin".into())
        .spawn(move || runtime.block_on(admin.serve(listener)))?;
    Ok(addr)
}

/// Whether an admin request may be answered: a defence against a web
/// page the operator's browser visits reaching the admin listener
/// (cross-site requests, DNS rebinding). Its `Host`, if any, must be an IP
/// address or `localhost` (a rebinding attack arrives under the attacker's
/// own name); an `Origin`, if any, must name that same host. `Err` says
/// why, for a 403.
pub fn same_origin(headers: &hyper::HeaderMap) -> Result<(), String> {
    let host = match headers.get(hyper::header::HOST) {
        Some(value) => value
            .to_str()
            .map_err(|_| "a Host that is not text".to_owned())?,
        None => return Ok(()),
    };
    let name = host
        .rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map_or(host, |(name, _)| name);
    let name = name.trim_start_matches('[').trim_end_matches(']');
    if name.parse::<std::net::IpAddr>().is_err() && !name.eq_ignore_ascii_case("localhost") {
        return Err(format!(
            "Host `{host}` is a name: the admin listener answers requests to its address (or localhost) only"
        ));
    }
    if let Some(origin) = headers.get(hyper::header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("");
        let expected = [format!("http://{host}"), format!("https://{host}")];
        if !expected.iter().any(|e| e.eq_ignore_ascii_case(origin)) {
            return Err(format!(
                "Origin `{origin}` is not this listener's (http://{host}): cross-site requests are refused"
            ));
        }
    }
    Ok(())
}

/// Warns when an admin listener binds an address other hosts can reach.
pub fn warn_if_exposed(program: &str, addr: SocketAddr) {
    if !addr.ip().is_loopback() {
        tracing::warn!(
            "{program}: the admin listener is on {addr}, reachable from other hosts; keep it on loopback or a private network"
        );
    }
}

/// What a program adds to `/status.json` (under `proxy`) and `/metrics`
/// beside its pool: hyper_proxy's retries and retry budget.
pub trait Extra: Send + Sync {
    /// Its fields in `/status.json`.
    fn json(&self) -> serde_json::Value;
    /// Its series in the Prometheus text format.
    fn metrics(&self) -> String;
}

/// What every admin request reads.
struct Admin<B> {
    pool: SharedPool<B>,
    address: fn(&B) -> SocketAddr,
    extra: Option<Arc<dyn Extra>>,
}

type Body = Full<Bytes>;

impl<B: Send + Sync + 'static> Admin<B> {
    /// The pool's picture with what the program adds (the page and
    /// `/status.json` show the same).
    fn status(&self) -> Status {
        let mut status = Status::read(&self.pool, self.address);
        status.proxy = self.extra.as_ref().map(|extra| extra.json());
        status
    }

    async fn serve(self: Arc<Self>, listener: tokio::net::TcpListener) {
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .max_buf_size(MAX_HEAD);
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return; // never closed
            };
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!("admin: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let admin = self.clone();
            let service = hyper::service::service_fn(move |req| {
                let answer = admin.answer(&req);
                async move { Ok::<_, Infallible>(answer) }
            });
            let connection = http.serve_connection(TokioIo::new(stream), service);
            tokio::spawn(async move {
                // A client's error (bad request, stall, reset) is its own.
                let _ = connection.await;
                drop(permit);
            });
        }
    }

    fn answer<T>(&self, req: &Request<T>) -> Response<Body> {
        if let Err(why) = same_origin(req.headers()) {
            return reply(
                StatusCode::FORBIDDEN,
                "text/plain; charset=utf-8",
                format!("{why}\n"),
            );
        }
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut response = reply(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain; charset=utf-8",
                "the admin listener answers GET and HEAD only\n".into(),
            );
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        match req.uri().path() {
            "/" => {
                let status = self.status();
                let mut response = reply(
                    StatusCode::OK,
                    "text/html; charset=utf-8",
                    page::render(&status),
                );
                // Nothing but the page's own inline style and script, and
                // fetches back to this listener.
                response.headers_mut().insert(
                    "content-security-policy",
                    HeaderValue::from_static(
                        "default-src 'none'; style-src 'unsafe-inline'; \
                         script-src 'unsafe-inline'; connect-src 'self'",
                    ),
                );
                response
            }
            "/status.json" => {
                let status = self.status();
                match serde_json::to_string_pretty(&status) {
                    Ok(json) => reply(StatusCode::OK, "application/json", json + "\n"),
                    Err(e) => reply(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "text/plain; charset=utf-8",
                        format!("cannot encode the status: {e}\n"),
                    ),
                }
            }
            "/metrics" => {
                let mut text = pickwise::metrics::render(&*self.pool);
                if let Some(extra) = &self.extra {
                    text.push_str(&extra.metrics());
                }
                reply(StatusCode::OK, pickwise::metrics::CONTENT_TYPE, text)
            }
            path => reply(
                StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                format!("no page at {path}; try / (status), /status.json or /metrics\n"),
            ),
        }
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}
