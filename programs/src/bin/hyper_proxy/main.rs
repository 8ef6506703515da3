//! `hyper_proxy`: an HTTP reverse proxy (hyper 1.x, tokio) balancing with any
//! pickwise strategy.
//!
//! ```text
//! cargo run --release --bin hyper_proxy -- --listen 127.0.0.1:9091 --strategy round-robin \
//!     --backend 127.0.0.1:8001 --backend 127.0.0.1:8002,weight=2[,agent=127.0.0.1:9002] \
//!     [--hash-key HEX] [--eject-ms N] [--failures N] [--agent-interval-ms N] \
//!     [--resolver HOST:PORT] [--health-check tcp|http:PATH] [--health-interval-ms N] \
//!     [--timeout-ms N] [--try-timeout-ms N] [--try-timeout-floor-ms N] \
//!     [--adaptive-try-timeout on|off] [--retry-budget-percent N] [--retry-budget-floor N] \
//!     [--hedge off|slow|silent] \
//!     [--body-timeout-ms N] \
//!     [--header-timeout-ms N] [--send-timeout-ms N] [--max-connections N] [--max-connections-per-client N] [--threads N] \
//!     [--log-level FILTER]
//! cargo run --release --bin hyper_proxy -- --listen 127.0.0.1:9091 --config examples/pool.toml
//! ```
//!
//! A backend SPEC takes `weight=N`, `max_conns=N`, `backup` or `priority=N`,
//! `agent=ADDR` and `id=NAME`; its address may be a host name, followed
//! through DNS. `--config FILE` gives the whole pool instead of the
//! balancing flags (see the `pickwise_programs` library).
//!
//! `--help` lists every flag (clap); logs go to stderr (tracing; the level
//! from `--log-level`, else `RUST_LOG`, else info).
//!
//! - HTTP/1.1 and HTTP/2 with prior knowledge (h2c) on one listener. Each
//!   request of an HTTP/2 connection is balanced on its own and goes to its
//!   backend over HTTP/2 (h2c), one multiplexed connection per backend and
//!   serving thread; gRPC calls and their trailers pass untouched, and a
//!   call's outcome is its `grpc-status` (trailers, or a trailers-only
//!   head), judged by `pickwise::grpc::outcome_of_trailers`: UNAVAILABLE
//!   fails the backend, application statuses count for nothing. HTTP/2
//!   clients get at most 128 concurrent streams, 32 KiB of headers, 20
//!   unanswered resets (rapid reset) and a PING every 20 s when idle.
//! - Keep-alive connections to backends, pooled per backend (upstream.rs).
//! - The pick lives until the response body has been sent, so the
//!   least-connections strategies count outstanding requests; the outcome and
//!   latency are recorded when the response headers arrive.
//! - Passive health through the library (`--failures N` in a row, default
//!   5, eject for `--eject-ms`, default 30 s, times the ejections in a row,
//!   up to ten times it); every backend state change is logged
//!   with its reason (connection refused, timed out, unreachable, agent said
//!   drain). Agents (`agent=ADDR`) are polled every `--agent-interval-ms`.
//! - Each try waits for the response head, when a retry could follow, 4 x
//!   the p99 of recent response heads, at least `--try-timeout-floor-ms`
//!   (50 ms) and at most `--try-timeout-ms` (2 s; always that with
//!   `--adaptive-try-timeout off`), then goes once to another backend
//!   within the retry budget (`--retry-budget-percent` 20% of recent
//!   requests plus `--retry-budget-floor` 10 a second; a line when it is
//!   spent, tail.rs). With `--hedge slow` (or `on`), an idempotent request
//!   whose head is later than the p95 of recent ones (at least 5 ms) is
//!   also sent to another backend, within the same budget; with `--hedge
//!   silent`, only one whose backend has answered nobody for that long
//!   (`pickwise_programs::hedging`). The first head wins and the other try
//!   is cancelled, counted for nothing, unless it failed (the backend's
//!   failure) or it was the first try and its backend has answered nobody
//!   for a try timeout (outpaced: a run of them takes a silent backend
//!   out). Tries that may be retried are: requests that
//!   never reached a backend, and idempotent ones (GET, HEAD, OPTIONS, PUT,
//!   DELETE, TRACE) with no body or a small one buffered whole (forward.rs).
//!   The whole request has `--timeout-ms` (10 s); 504 when no backend
//!   answered in time, 502 with a clear body when none could serve.
//! - Upstream sockets have TCP keepalive and `TCP_USER_TIMEOUT`; idle
//!   connections older than 10 s are closed, not reused (upstream.rs).
//! - A response body that pauses longer than `--body-timeout-ms` (10 s), or
//!   is cut short by the backend, is the backend's late failure, logged with
//!   its id; the client's response is aborted, never passed off as whole
//!   (body.rs).
//! - A request body that fails (malformed chunks, an aborted upload) is the
//!   client's fault: 400, recorded as such, never against the backend.
//! - Hop-by-hop headers are removed both ways (pickwise_programs::http_head); chunked request
//!   bodies are streamed on.
//! - `X-Forwarded-For` is appended; the client address feeds `source-ip-hash`.
//! - A response that waits on a client reading nothing for
//!   `--send-timeout-ms` (60 s, nginx's `send_timeout`) closes the client's
//!   connection: its picks are released and no backend is blamed
//!   (client_io.rs).
//! - Request heads must arrive within `--header-timeout-ms` (10 s); at most
//!   `--max-connections` client connections are served at once (the rest
//!   wait in the kernel's accept queue), one client address holding at most
//!   `--max-connections-per-client` of them (half the cap by default; past
//!   it its connections are closed at once, logged at most once a second);
//!   Ctrl-C shuts down gracefully.
//! - Every request goes to a backend, whatever its path: a worker's drain
//!   and ready actions live on its own admin listener, which the proxy never
//!   forwards to, so `POST /admin/drain` through the proxy is an ordinary
//!   request.

mod body;
mod client_io;
mod forward;
mod tail;
mod upstream;

use std::convert::Infallible;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use common::{millis, positive_millis, ProxyArgs, SharedPool};
use forward::Proxy;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use pickwise_programs as common;
use pickwise_programs::hedging::Hedging;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tracing::{info, warn};
use upstream::Backend;

/// An HTTP reverse proxy balancing with any pickwise strategy.
#[derive(Parser)]
#[command(name = "hyper_proxy", version)]
struct Args {
    #[command(flatten)]
    proxy: ProxyArgs,
    /// How long a backend has to answer a request (504 after)
    #[arg(long = "timeout-ms", value_name = "MS", default_value = "10000", value_parser = positive_millis)]
    timeout: Duration,
    /// How long one try waits for a response head when a retry on another
    /// backend could follow (then the request goes there): the most, when
    /// the try timeout is adaptive
    #[arg(long = "try-timeout-ms", value_name = "MS", default_value = "2000", value_parser = positive_millis)]
    try_timeout: Duration,
    /// The least an adaptive try timeout gives a try
    #[arg(long = "try-timeout-floor-ms", value_name = "MS", default_value = "50", value_parser = positive_millis)]
    try_timeout_floor: Duration,
    /// The try timeout follows the backends: 4 x the p99 of recent response
    /// heads, within --try-timeout-floor-ms and --try-timeout-ms (off: always
    /// --try-timeout-ms)
    #[arg(long, value_name = "MODE", action = clap::ArgAction::Set, default_value = "on", value_parser = common::on_off())]
    adaptive_try_timeout: bool,
    /// Retries may add this share of recent requests (10 s) to the load,
    /// plus --retry-budget-floor a second; past it, a failed try is not
    /// retried (0 and 0: no retry after a request was sent)
    #[arg(long, value_name = "PERCENT", default_value = "20", value_parser = clap::value_parser!(u32).range(0..=1000))]
    retry_budget_percent: u32,
    /// Retries allowed a second whatever the traffic
    #[arg(long, value_name = "N", default_value = "10")]
    retry_budget_floor: u32,
    /// Hedge idempotent requests, within the retry budget: `slow` (or `on`),
    /// every one whose head is later than the p95 of recent ones (at least
    /// 5 ms); `silent`, only one whose backend has answered nobody for that
    /// long. A copy goes to another backend; the first answer wins, the
    /// other is cancelled
    #[arg(long, value_name = "MODE", default_value = "off", value_parser = hedge_mode)]
    hedge: HedgeMode,
    /// The longest pause allowed inside a response body (the client's
    /// response is then cut off and the backend counted as failed)
    #[arg(long = "body-timeout-ms", value_name = "MS", default_value = "10000", value_parser = positive_millis)]
    body_timeout: Duration,
    /// How long a client has to send a request head
    #[arg(long = "header-timeout-ms", value_name = "MS", default_value = "10000", value_parser = millis)]
    header_timeout: Duration,
    /// How long a response may wait on a client that reads nothing (nginx's
    /// send_timeout): then the connection is closed and its picks released
    #[arg(long = "send-timeout-ms", value_name = "MS", default_value = "60000", value_parser = positive_millis)]
    send_timeout: Duration,
    /// Serving threads, each with its own runtime and listener (as nginx's
    /// workers) [default: one per core]
    #[arg(long, value_name = "N")]
    threads: Option<NonZeroUsize>,
}

/// How long connecting to a backend may take, at most (and at most half a
/// try's time, so a backend that drops SYNs is logged as such and the
/// request retried).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// `--hedge`: none, or which requests are hedged (a newtype: clap would
/// take an `Option` for an optional flag).
#[derive(Debug, Clone, Copy)]
struct HedgeMode(Option<Hedging>);

fn hedge_mode(text: &str) -> Result<HedgeMode, String> {
    Hedging::parse(text).map(HedgeMode)
}

fn main() {
    let args = Args::parse();
    args.proxy.log.init();
    let threads = common::cores::count(args.threads);
    common::limits::raise_open_files_limit(args.proxy.max_connections.get());
    common::limits::give_back_freed_memory();
    let pool = args
        .proxy
        .pool(move |addr| Backend::new(addr, threads))
        .unwrap_or_else(|e| e.exit::<Args>());
    if let Err(e) = start(args, pool, threads) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// Listens (a listener per thread), starts what runs beside the proxy, then
/// serves on `threads` threads until Ctrl-C and the requests in flight end.
fn start(args: Args, pool: SharedPool<Backend>, threads: usize) -> std::io::Result<()> {
    let listeners = common::cores::listeners(&args.proxy.listen, threads)?;
    let interrupted = on_interrupt()?;
    println!("listening on {}", listeners[0].local_addr()?);
    let _agents = common::spawn_agent_pollers(&pool, args.proxy.agent_interval);
    let tail = Arc::new(tail::Tail::new(
        args.adaptive_try_timeout,
        args.try_timeout_floor.min(args.try_timeout),
        args.try_timeout,
        args.retry_budget_percent,
        args.retry_budget_floor,
        args.hedge.0,
    ));
    let extra: Arc<dyn common::admin::Extra> = tail.clone();
    common::admin::start(
        args.proxy.admin.as_deref(),
        &pool,
        Backend::addr,
        Some(extra),
    )?;
    let settings = Arc::new(Settings {
        pool,
        timeout: args.timeout,
        try_timeout: args.try_timeout,
        tail,
        body_timeout: args.body_timeout,
        header_timeout: args.header_timeout,
        send_timeout: args.send_timeout,
        slots: Arc::new(Semaphore::new(args.proxy.max_connections.get())),
        per_client: common::limits::PerClient::new(args.proxy.per_client_cap()),
    });
    common::cores::serve(listeners, move |listener| {
        serve(listener, settings.clone(), interrupted.clone())
    })
}

/// The largest HTTP/1.1 request head a client may send (nginx allows
/// about 32 KiB with its default large_client_header_buffers, HAProxy 16
/// KiB); past it hyper answers 431 and closes. hyper's default is 400 KiB,
/// which 2,000 half-sent heads turned into 849 MB (issue 26, finding 3).
const H1_MAX_HEAD: usize = 32 * 1024;

/// Streams one HTTP/2 client connection may have open at once (nginx's
/// `http2_max_concurrent_streams`); more are refused with `REFUSED_STREAM`.
const H2_MAX_STREAMS: u32 = 128;
/// The largest HTTP/2 header list a client may send (nginx allows about
/// 32 KiB of request headers, Envoy 60 KiB); hyper answers 431 past it.
const H2_MAX_HEADER_LIST: u32 = 32 * 1024;
/// Streams a client may reset before the proxy has answered them, per
/// connection, before the connection is closed (CVE-2023-44487, "rapid
/// reset").
const H2_MAX_PENDING_RESETS: usize = 20;
/// A PING every this long on an idle HTTP/2 connection, closed when no
/// answer comes within the same time.
const H2_KEEPALIVE: Duration = Duration::from_secs(20);

/// The HTTP/2 side's bounds, as nginx and Envoy bound it.
fn http2_limits(http2: &mut hyper_util::server::conn::auto::Http2Builder<'_, TokioExecutor>) {
    http2
        .timer(TokioTimer::new())
        .max_concurrent_streams(H2_MAX_STREAMS)
        .max_header_list_size(H2_MAX_HEADER_LIST)
        .max_pending_accept_reset_streams(H2_MAX_PENDING_RESETS)
        .keep_alive_interval(H2_KEEPALIVE)
        .keep_alive_timeout(H2_KEEPALIVE);
}

/// What every serving thread starts from.
struct Settings {
    pool: SharedPool<Backend>,
    timeout: Duration,
    try_timeout: Duration,
    tail: Arc<tail::Tail>,
    body_timeout: Duration,
    header_timeout: Duration,
    send_timeout: Duration,
    /// Client connections served at once, over all threads.
    slots: Arc<Semaphore>,
    /// Client connections per client address, over all threads.
    per_client: Arc<common::limits::PerClient>,
}

/// Becomes true on Ctrl-C (SIGINT), watched from a thread of its own; the
/// handler is in place when this returns.
fn on_interrupt() -> std::io::Result<watch::Receiver<bool>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    #[cfg(unix)]
    let mut interrupt = {
        let _inside = runtime.enter();
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?
    };
    let (tell, told) = watch::channel(false);
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            runtime.block_on(async {
                #[cfg(unix)]
                interrupt.recv().await;
                #[cfg(not(unix))]
                let _ = tokio::signal::ctrl_c().await;
            });
            let _ = tell.send(true);
        })?;
    Ok(told)
}

/// Accepts that failed, over all threads (logged at most once a second).
static ACCEPT_ERRORS: common::limits::Throttle = common::limits::Throttle::new();

/// One serving thread: accepts on its own listener and serves each client
/// connection as a task of this thread's runtime, with this thread's own
/// proxy state (picker, upstream connections).
async fn serve(
    listener: TcpListener,
    settings: Arc<Settings>,
    mut interrupted: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let proxy = Arc::new(Proxy::new(
        settings.pool.clone(),
        settings.timeout,
        settings.tail.clone(),
        settings.body_timeout,
        CONNECT_TIMEOUT
            .min(settings.try_timeout / 2)
            .min(settings.timeout / 2),
    ));
    let slots = settings.slots.clone();
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // HTTP/1.1 and HTTP/2 with prior knowledge (h2c) on the same listener,
    // told apart by the connection's first bytes.
    let mut http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout)
        .max_buf_size(H1_MAX_HEAD)
        .keep_alive(true);
    http2_limits(&mut http.http2());

    let shutdown = interrupted.wait_for(|&stop| stop);
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
                    // Out of file descriptors, most likely: wait for some
                    // to close, and say so at most once a second.
                    if let Some(count) = ACCEPT_ERRORS.hit() {
                        warn!("accept failed: {e} ({count} times in the last second)");
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // An address at its own limit is closed at once: its connections
        // never hold every slot.
        let Some(counted) = settings.per_client.admit(peer.ip()) else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let proxy = proxy.clone();
        let client = peer.ip();
        // HTTP/2 streams a client stopped reading (flow control holds them
        // with the socket free): watched per connection.
        let stalls = Arc::new(client_io::StreamStalls::default());
        let streams = stalls.clone();
        let service = hyper::service::service_fn(move |req| {
            let proxy = proxy.clone();
            let streams = streams.clone();
            async move { Ok::<_, Infallible>(proxy.handle(req, client, &streams).await) }
        });
        let io = client_io::ClientIo::new(stream, settings.send_timeout);
        let connection = http.serve_connection(io, service);
        let connection = graceful.watch(connection.into_owned());
        let send_timeout = settings.send_timeout;
        tokio::spawn(async move {
            // Errors here are the client's (malformed request, stall, reset):
            // hyper has already answered what deserved an answer. Only a
            // send timeout and limits the proxy enforced are worth a line.
            tokio::select! {
                ended = connection => if let Err(e) = ended {
                    if let Some(what) = client_io::notable(&*e) {
                        warn!("client {peer}: {what}");
                    }
                },
                waited = stalls.stalled(send_timeout) => warn!(
                    "client {peer}: an HTTP/2 response stream read nothing for {waited:?}: \
                     connection closed, its requests' backends not blamed"
                ),
            }
            drop((permit, counted));
        });
    }
    if common::cores::index() == 0 {
        info!("shutting down: finishing requests in flight");
    }
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(10)) => warn!("gave up waiting after 10 s"),
    }
    Ok(())
}
