//! `hyper_proxy`: an HTTP reverse proxy (hyper 1.x, tokio) balancing with any
//! pickwise strategy.
//!
//! ```text
//! cargo run --release --example hyper_proxy -- --listen 127.0.0.1:9091 --strategy round-robin \
//!     --backend 127.0.0.1:8001 --backend 127.0.0.1:8002,weight=2[,agent=127.0.0.1:9002] \
//!     [--hash-key HEX] [--eject-ms N] [--failures N] [--agent-interval-ms N] \
//!     [--resolver HOST:PORT] [--health-check tcp|http:PATH] [--health-interval-ms N] \
//!     [--timeout-ms N] [--header-timeout-ms N] [--max-connections N] [--threads N] \
//!     [--log-level FILTER]
//! cargo run --release --example hyper_proxy -- --listen 127.0.0.1:9091 --config examples/pool.toml
//! ```
//!
//! A backend SPEC takes `weight=N`, `max_conns=N`, `backup` or `priority=N`,
//! `agent=ADDR` and `id=NAME`; its address may be a host name, followed
//! through DNS. `--config FILE` gives the whole pool instead of the
//! balancing flags (see `examples/common/`).
//!
//! `--help` lists every flag (clap); logs go to stderr (tracing; the level
//! from `--log-level`, else `RUST_LOG`, else info).
//!
//! - Keep-alive connections to backends, pooled per backend (upstream.rs).
//! - The pick lives until the response body has been sent, so the
//!   least-connections strategies count outstanding requests; the outcome and
//!   latency are recorded when the response headers arrive.
//! - Passive health through the library (`--failures N` in a row, default
//!   5, eject for `--eject-ms`, default 30 s, times the ejections in a row,
//!   up to ten times it); every backend state change is logged
//!   with its reason (connection refused, timed out, unreachable, agent said
//!   drain). Agents (`agent=ADDR`) are polled every `--agent-interval-ms`.
//! - A request that never reached a backend (connection refused or timed
//!   out, a pooled connection closed before sending), and a bodiless GET,
//!   HEAD or OPTIONS that failed before any response byte (a pooled
//!   connection reset under it), is retried once on another backend (the
//!   first is excluded); 502 with a clear body when none can serve, 504 when
//!   the backend does not answer within `--timeout-ms`.
//! - `X-Forwarded-For` is appended; the client address feeds `source-ip-hash`.
//! - Request heads must arrive within `--header-timeout-ms` (10 s); at most `--max-connections`
//!   client connections are served at once; Ctrl-C shuts down gracefully.
//! - Every request goes to a backend, whatever its path: a worker's drain
//!   and ready actions live on its own admin listener, which the proxy never
//!   forwards to, so `POST /admin/drain` through the proxy is an ordinary
//!   request.

#[path = "common/mod.rs"]
mod common;
#[path = "hyper_proxy/upstream.rs"]
mod upstream;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use common::{millis, ProxyArgs, SharedPool};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Body as _;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, HOST};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use pickwise::{BackendId, Balancer, Context, FailureKind, Outcome, Pick};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{info, warn};
use upstream::{Lease, Upstreams};

/// An HTTP reverse proxy balancing with any pickwise strategy.
#[derive(Parser)]
#[command(name = "hyper_proxy", version)]
struct Args {
    #[command(flatten)]
    proxy: ProxyArgs,
    /// How long a backend has to answer a request (504 after)
    #[arg(long = "timeout-ms", value_name = "MS", default_value = "10000", value_parser = millis)]
    timeout: Duration,
    /// How long a client has to send a request head
    #[arg(long = "header-timeout-ms", value_name = "MS", default_value = "10000", value_parser = millis)]
    header_timeout: Duration,
    /// Runtime threads (1: a single-threaded runtime) [default: one per core]
    #[arg(long, value_name = "N")]
    threads: Option<NonZeroUsize>,
}

type Body = BoxBody<Bytes, hyper::Error>;

/// A backend as the proxy keeps it: where it is, its slot in the connection
/// pool, and its `Host` value ready made.
#[derive(Clone)]
struct Backend {
    addr: SocketAddr,
    index: usize,
    host: HeaderValue,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Backend addresses whose idle connections are kept.
const UPSTREAM_SLOTS: usize = 4096;

/// What every connection task needs.
struct Proxy {
    pool: SharedPool<Backend>,
    upstreams: Arc<Upstreams>,
    timeout: Duration,
}

fn main() {
    let args = Args::parse();
    args.proxy.log.init();
    // Each address gets a slot of idle connections, numbered as addresses
    // first appear (DNS may bring more later); past UPSTREAM_SLOTS a
    // backend's connections are not kept.
    let slots = std::sync::Mutex::new(std::collections::HashMap::new());
    let backend = move |addr: SocketAddr| {
        let mut slots = slots.lock().unwrap_or_else(|e| e.into_inner());
        let next = slots.len();
        Backend {
            addr,
            index: *slots.entry(addr).or_insert(next),
            host: HeaderValue::from_str(&addr.to_string()).expect("an address is a valid header"),
        }
    };
    let pool = args
        .proxy
        .pool(backend)
        .unwrap_or_else(|e| e.exit::<Args>());
    // One thread needs no work stealing: a current-thread runtime spares the
    // cross-thread queues and wakeups.
    let mut runtime = match args.threads.map(NonZeroUsize::get) {
        Some(1) => tokio::runtime::Builder::new_current_thread(),
        Some(threads) => {
            let mut runtime = tokio::runtime::Builder::new_multi_thread();
            runtime.worker_threads(threads);
            runtime
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = runtime.enable_all().build().unwrap_or_else(|e| {
        eprintln!("error: cannot start the runtime: {e}");
        std::process::exit(1)
    });
    if let Err(e) = runtime.block_on(serve(args, pool)) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn serve(args: Args, pool: SharedPool<Backend>) -> std::io::Result<()> {
    let listener = TcpListener::bind(&args.proxy.listen).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen on {}: {e}", args.proxy.listen),
        )
    })?;
    println!("listening on {}", listener.local_addr()?);
    common::admin::start(args.proxy.admin.as_deref(), &pool, |b| b.addr)?;
    common::spawn_agent_pollers(
        &pool,
        &args.proxy.fixed_backends(),
        args.proxy.agent_interval,
    );

    let proxy = Arc::new(Proxy {
        pool,
        // Connecting must give up well inside the request's own timeout, so a
        // backend that drops SYNs is logged as such and the request retried.
        upstreams: Upstreams::new(UPSTREAM_SLOTS, CONNECT_TIMEOUT.min(args.timeout / 2)),
        timeout: args.timeout,
    });
    let slots = Arc::new(Semaphore::new(args.proxy.max_connections.get()));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(args.header_timeout)
        .keep_alive(true);

    let shutdown = tokio::signal::ctrl_c();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let proxy = proxy.clone();
        let service = hyper::service::service_fn(move |req| {
            let proxy = proxy.clone();
            async move { Ok::<_, Infallible>(proxy.handle(req, peer.ip()).await) }
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // Errors here are the client's (malformed request, stall, reset):
            // hyper has already answered what deserved an answer.
            let _ = connection.await;
            drop(permit);
        });
    }
    info!("shutting down: finishing requests in flight");
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(10)) => warn!("gave up waiting after 10 s"),
    }
    Ok(())
}

impl Proxy {
    async fn handle(&self, req: Request<Incoming>, client: IpAddr) -> Response<Body> {
        let request = upstream_request(req, client);
        let mut replay = replayable(&request);
        let mut request = Some(request);
        let mut tried: Vec<BackendId> = Vec::new();
        let mut last_error = String::new();
        // A request that never reached a backend (refused connect, pooled
        // connection closed before sending) goes once more, elsewhere; so
        // does a bodiless GET, HEAD or OPTIONS that reached one but got no
        // response byte back (a pooled connection reset under it).
        while let (Some(mut attempt), true) = (request.take(), tried.len() < 2) {
            let ctx = Context::new().client(client).exclude(&tried);
            let mut pick = match self.pool.pick(&ctx) {
                Ok(pick) => pick,
                Err(none) if tried.is_empty() => {
                    return text(StatusCode::BAD_GATEWAY, &format!("{none}\n"))
                }
                Err(_) => break,
            };
            let backend = pick.backend();
            if !attempt.headers().contains_key(HOST) {
                attempt.headers_mut().insert(HOST, backend.host.clone());
            }
            let started = Instant::now();
            let sent = self.upstreams.send(backend.index, backend.addr, attempt);
            match tokio::time::timeout(self.timeout, sent).await {
                Ok(Ok((response, lease))) => {
                    pick.record(outcome_of(response.status(), started.elapsed()));
                    return hold_until_sent(response, pick, lease);
                }
                Ok(Err((e, unsent))) => {
                    let kind = e.failure_kind();
                    pick.record(Outcome::failure(kind, started.elapsed()));
                    last_error = format!("{}: {kind}", pick.id());
                    tried.push(pick.id().clone());
                    request = unsent.or_else(|| replay.take().map(|r| r.map(|()| empty())));
                }
                Err(_elapsed) => {
                    pick.record(Outcome::failure(FailureKind::Timeout, started.elapsed()));
                    return text(
                        StatusCode::GATEWAY_TIMEOUT,
                        &format!("{} did not answer within {:?}\n", pick.id(), self.timeout),
                    );
                }
            }
        }
        text(
            StatusCode::BAD_GATEWAY,
            &format!("no backend could serve the request; last: {last_error}\n"),
        )
    }
}

/// A copy of a bodiless idempotent request, to send again should the
/// backend take it and fail before answering.
fn replayable(request: &Request<Body>) -> Option<Request<()>> {
    let idempotent = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    (idempotent && request.body().is_end_stream()).then(|| {
        let mut copy = Request::new(());
        *copy.method_mut() = request.method().clone();
        *copy.uri_mut() = request.uri().clone();
        *copy.headers_mut() = request.headers().clone();
        copy
    })
}

fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// The request as a backend gets it: origin-form target, the client's
/// headers moved over (not copied), its address appended to X-Forwarded-For.
fn upstream_request(req: Request<Incoming>, client: IpAddr) -> Request<Body> {
    let (mut parts, body) = req.into_parts();
    if parts.uri.authority().is_some() {
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        parts.uri = path.parse().unwrap_or_default();
    }
    let forwarded = match parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
    {
        Some(earlier) => HeaderValue::from_str(&format!("{earlier}, {client}")),
        None => HeaderValue::from_str(&client.to_string()),
    };
    if let Ok(value) = forwarded {
        parts.headers.insert("x-forwarded-for", value);
    }
    Request::from_parts(parts, body.boxed())
}

/// Gateway errors from the backend count as failures (its own upstream is
/// unhealthy); other 5xx are application errors from a live backend.
fn outcome_of(status: StatusCode, latency: Duration) -> Outcome {
    match status.as_u16() {
        502..=504 => Outcome::failure(FailureKind::GatewayError, latency),
        500..=599 => Outcome::server_error(latency),
        _ => Outcome::success(latency),
    }
}

/// Streams the backend's response, keeping the pick and the connection
/// until the body is done (hyper drops the body once it has been written or
/// the client went away); the connection then goes back to the idle stack.
fn hold_until_sent(
    response: Response<Incoming>,
    pick: Pick<Backend>,
    lease: Lease,
) -> Response<Body> {
    response.map(|body| {
        body.map_frame(move |frame| {
            let _held = (&pick, &lease);
            frame
        })
        .boxed()
    })
}

fn text(status: StatusCode, message: &str) -> Response<Body> {
    let body = Full::new(Bytes::from(message.to_owned()))
        .map_err(|never| match never {})
        .boxed();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
