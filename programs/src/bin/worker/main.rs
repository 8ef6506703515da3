//! `worker`: the tiny HTTP backend that `pickwise` examples, tests and
//! benchmarks put behind a load balancer (nginx, HAProxy or our own proxy).
//! hyper 1.x on tokio.
//!
//! ```text
//! cargo run --release --bin worker -- --listen 127.0.0.1:8001 --name w1 \
//!     [--agent 127.0.0.1:9001] [--admin 127.0.0.1:7001] [--delay-ms N] \
//!     [--capacity N] [--max-connections N] [--drain-file PATH] [--orca]
//!     [--grpc-status CODE] [--log-level FILTER]
//! ```
//!
//! Stdout, before anything is served (tests and scripts read it): `listening
//! on ADDR` with the address bound (`--listen HOST:0` picks a free port),
//! then `agent listening on ADDR` with `--agent`, then `admin on ADDR` with
//! `--admin`. `--help` lists every flag; logs go to stderr (tracing).
//!
//! * The public port (`--listen`): HTTP/1.1 with keep-alive and pipelining
//!   (HTTP/1.0 keeps the connection when asked). Any method on any path
//!   answers `200 text/plain` whose body is the worker's name on a line of
//!   its own (`--name`, else `$HOSTNAME`, else `worker`), after sleeping
//!   `--delay-ms`. Request bodies, `Content-Length` or chunked, are read and
//!   discarded. `/admin/...` paths are no exception: there they are ordinary
//!   requests answered with the name, so a client (or a proxy forwarding
//!   one) cannot drain the worker. With `--orca`, each answer also carries
//!   an ORCA load report (`endpoint-load-metrics: TEXT
//!   application_utilization=U, rps_fractional=Q`): over its last second,
//!   the share of `--capacity` spent serving and the requests answered per
//!   second, which `orca-wrr` turns into weights (gRFC A58).
//! * gRPC on the same port (HTTP/2 with prior knowledge, h2c, beside
//!   HTTP/1.1; see grpc.rs): `pickwise.lab.Worker/Name` answers the name
//!   (field 1 of the reply) with the status `--grpc-status` (default 0,
//!   OK), after `--delay-ms`; `grpc.health.v1.Health/Check` says SERVING,
//!   or NOT_SERVING while draining.
//! * The agent port (`--agent`): HAProxy `agent-check`. Each connection gets
//!   one line and is closed: `drain` when draining, otherwise `up ready NN%`
//!   where NN = max(1, 100 - 100 * in_flight / capacity), in_flight being
//!   the public requests being served (body, delay and answer).
//! * The admin listener (`--admin`; keep it on loopback or a private
//!   network): `POST /admin/drain` and `POST /admin/ready` switch draining
//!   on and off, `GET /admin/status` answers `drain` or `ready`; other paths
//!   are 404. `--drain-file PATH` also drains while that file exists.
//!   Draining only changes what the agent reports: the worker keeps serving,
//!   since stopping traffic is the balancer's job.
//!
//! `--capacity N` (default 64) only scales the agent's percentage: nothing
//! is refused. `--max-connections N` (alias `--threads`, the pre-forked
//! server model it replaces) serves at most N connections at once; further
//! clients wait in the kernel's accept queue, unanswered, until one closes.
//!
//! Request heads over 16 KiB get 431, malformed ones 400; a connection that
//! sends no complete head for 10 s (idle keep-alive included) is closed; a
//! request body that stalls for 10 s gets 408.

use std::convert::Infallible;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use pickwise::orca::LoadReport;

mod grpc;

use clap::Parser;
use http_body_util::{BodyExt, Either, Full};
use hyper::body::{Body as _, Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW, CONNECTION, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use pickwise_programs::cli::{exit_usage, millis};
use pickwise_programs::logging;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

/// Largest request head (request line + headers) accepted.
const HEAD_LIMIT: usize = 16 * 1024;
/// Time allowed for a request head, counted from the end of the previous
/// request, and the longest pause tolerated inside a request body.
const STALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the agent port spends on one checker: writing, then lingering.
const LINGER_TIME: Duration = Duration::from_millis(500);
const LINGER_BYTES: usize = 256 * 1024;
/// The window `--orca` measures its load over.
const LOAD_WINDOW: Duration = Duration::from_secs(1);

/// The tiny HTTP backend put behind a load balancer: answers with its name.
#[derive(Parser)]
#[command(name = "worker", version)]
struct Args {
    /// Where to serve HTTP (port 0: a free port, printed as `listening on ADDR`)
    #[arg(long, value_name = "HOST:PORT")]
    listen: String,
    /// What to answer with [default: $HOSTNAME, else worker]
    #[arg(long)]
    name: Option<String>,
    /// HAProxy agent-check port: one line per connection, `up ready NN%` or
    /// `drain` (printed as `agent listening on ADDR`)
    #[arg(long, value_name = "HOST:PORT")]
    agent: Option<String>,
    /// Admin listener for POST /admin/drain, POST /admin/ready and GET
    /// /admin/status (printed as `admin on ADDR`); keep it private
    #[arg(long, value_name = "HOST:PORT")]
    admin: Option<String>,
    /// Service time slept before answering each request
    #[arg(long = "delay-ms", value_name = "MS", default_value = "0", value_parser = millis)]
    delay: Duration,
    /// Pad each plain HTTP answer to this many bytes (the name's line, then
    /// `x`s), for large responses [default: just the name's line]
    #[arg(long, value_name = "N")]
    body_bytes: Option<usize>,
    /// Requests in flight the agent reports as full (it still says 1%)
    #[arg(long, value_name = "N", default_value = "64")]
    capacity: NonZeroUsize,
    /// Connections served at once; the rest wait in the accept queue
    /// [default: no limit]
    #[arg(long, visible_alias = "threads", value_name = "N")]
    max_connections: Option<NonZeroUsize>,
    /// Drain while this file exists
    #[arg(long, value_name = "PATH")]
    drain_file: Option<PathBuf>,
    /// Add an ORCA load report to every answer (`endpoint-load-metrics:
    /// TEXT application_utilization=U, rps_fractional=Q` over the last
    /// second: the share of --capacity busy, and requests answered per
    /// second), for balancers that weigh by it (orca-wrr); over gRPC, in
    /// the trailers as `endpoint-load-metrics-bin`
    #[arg(long)]
    orca: bool,
    /// The gRPC status every `pickwise.lab.Worker/Name` call answers with
    /// (0, OK; 14, UNAVAILABLE, plays a server shedding load)
    #[arg(long, value_name = "CODE", default_value = "0", value_parser = clap::value_parser!(u32).range(0..=16))]
    grpc_status: u32,
    #[command(flatten)]
    log: logging::LogArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let name = args
        .name
        .clone()
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|n| !n.is_empty()))
        .unwrap_or_else(|| "worker".into());
    // The name goes into a header and a body line; keep both well formed.
    let name_header = match HeaderValue::from_str(&name) {
        Ok(value) if !name.is_empty() && !name.chars().any(char::is_control) => value,
        _ => exit_usage::<Args>(format!(
            "the name {name:?} must be non-empty and without control characters"
        )),
    };
    args.log.init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return fail(format_args!("cannot start the runtime: {e}")),
    };
    match runtime.block_on(run(args, name, name_header)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(format_args!("{e}")),
    }
}

fn fail(message: std::fmt::Arguments) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}

async fn run(args: Args, name: String, name_header: HeaderValue) -> Result<(), String> {
    let listener = bind("--listen", &args.listen).await?;
    let agent = match &args.agent {
        Some(addr) => Some(bind("--agent", addr).await?),
        None => None,
    };
    let admin = match &args.admin {
        Some(addr) => Some(bind("--admin", addr).await?),
        None => None,
    };
    announce(&listener, agent.as_ref(), admin.as_ref())?;
    if let Some(addr) = admin.as_ref().and_then(|a| a.local_addr().ok()) {
        pickwise_programs::admin::warn_if_exposed("worker", addr);
    }

    let shared = Arc::new(Shared {
        body: answer_body(&name, args.body_bytes),
        name: name_header,
        delay: args.delay,
        capacity: args.capacity.get(),
        drain_file: args.drain_file,
        draining: AtomicBool::new(false),
        in_flight: AtomicUsize::new(0),
        load: args.orca.then(|| Mutex::new(LoadMeter::new())),
        name_text: name.clone(),
        grpc_status: args.grpc_status,
    });
    if let Some(agent) = agent {
        tokio::spawn(serve_agent(agent, shared.clone()));
    }
    if let Some(admin) = admin {
        let shared = shared.clone();
        tokio::spawn(serve_http(admin, None, move |req, peer| {
            answer_admin(shared.clone(), req, peer)
        }));
    }
    serve_http(listener, args.max_connections, move |req, _| {
        answer_public(shared.clone(), req)
    })
    .await;
    Ok(())
}

async fn bind(flag: &str, addr: &str) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot bind {flag} {addr}: {e}"))
}

/// The plain answer: the name on a line, padded to `bytes` with `x`s.
fn answer_body(name: &str, bytes: Option<usize>) -> Bytes {
    let mut body = format!("{name}\n").into_bytes();
    if let Some(bytes) = bytes {
        body.resize(bytes.max(body.len()), b'x');
    }
    Bytes::from(body)
}

/// Tests parse these lines to learn the ports, so they go out (and are
/// flushed) before anything can be served.
fn announce(
    listener: &TcpListener,
    agent: Option<&TcpListener>,
    admin: Option<&TcpListener>,
) -> Result<(), String> {
    let local = |l: &TcpListener| {
        l.local_addr()
            .map_err(|e| format!("cannot read a bound address: {e}"))
    };
    let mut text = format!("listening on {}\n", local(listener)?);
    if let Some(agent) = agent {
        text += &format!("agent listening on {}\n", local(agent)?);
    }
    if let Some(admin) = admin {
        text += &format!("admin on {}\n", local(admin)?);
    }
    let mut out = io::stdout().lock();
    // A parent that stopped reading stdout must not take the server down.
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    Ok(())
}

/// State shared by the public port, the agent port and the admin listener.
struct Shared {
    /// The name response's body and `X-Worker` header, made once.
    body: Bytes,
    name: HeaderValue,
    delay: Duration,
    capacity: usize,
    drain_file: Option<PathBuf>,
    draining: AtomicBool,
    in_flight: AtomicUsize,
    /// With `--orca`: the load it reports.
    load: Option<Mutex<LoadMeter>>,
    /// The name, for gRPC answers.
    name_text: String,
    /// What `Worker/Name` calls answer (`--grpc-status`).
    grpc_status: u32,
}

/// What `--orca` reports: requests answered and time spent serving them
/// over windows of [`LOAD_WINDOW`], the last closed window's figures in
/// each answer's `endpoint-load-metrics` header.
struct LoadMeter {
    since: Instant,
    answered: u32,
    busy: Duration,
    header: HeaderValue,
    /// The same report in the binary form gRPC sends.
    binary: HeaderValue,
}

impl LoadMeter {
    fn new() -> Self {
        LoadMeter {
            since: Instant::now(),
            answered: 0,
            busy: Duration::ZERO,
            header: HeaderValue::from_static("TEXT"),
            binary: HeaderValue::from_static(""),
        }
    }

    /// Counts one answer that took `busy`, and returns the header to send
    /// (the text form, or the binary one for gRPC).
    fn answered(&mut self, busy: Duration, capacity: usize, binary: bool) -> HeaderValue {
        self.answered += 1;
        self.busy += busy;
        let elapsed = self.since.elapsed();
        if elapsed >= LOAD_WINDOW {
            let seconds = elapsed.as_secs_f64();
            let report = LoadReport {
                application_utilization: self.busy.as_secs_f64() / seconds / capacity as f64,
                rps_fractional: f64::from(self.answered) / seconds,
                ..LoadReport::default()
            };
            if let Ok(header) = HeaderValue::from_str(&report.to_text()) {
                self.header = header;
            }
            if let Ok(header) = HeaderValue::from_str(&report.to_bin()) {
                self.binary = header;
            }
            self.since = Instant::now();
            self.answered = 0;
            self.busy = Duration::ZERO;
        }
        match binary {
            true => self.binary.clone(),
            false => self.header.clone(),
        }
    }
}

impl Shared {
    fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
            || self.drain_file.as_ref().is_some_and(|f| f.exists())
    }

    fn agent_line(&self) -> String {
        if self.is_draining() {
            return "drain\n".into();
        }
        let in_flight = self.in_flight.load(Ordering::Relaxed);
        let busy = (in_flight.saturating_mul(100) / self.capacity).min(100);
        // 0% would make HAProxy stop sending entirely; an overloaded worker
        // should still get a trickle, so report at least 1%.
        format!("up ready {}%\n", (100 - busy).max(1))
    }
}

/// Counts a request as in flight for as long as it lives, even on early
/// return or a dropped connection.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        InFlight(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

type Reply = Response<Full<Bytes>>;

/// Serves HTTP/1.1 on `listener` with `answer(request, peer)`, at most
/// `limit` connections at once: the next accept waits for a free slot, so
/// excess clients wait in the kernel's backlog instead of being refused.
async fn serve_http<F, Fut, B>(listener: TcpListener, limit: Option<NonZeroUsize>, answer: F)
where
    F: Fn(Request<Incoming>, SocketAddr) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Response<B>> + Send + 'static,
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let slots = limit.map(|n| Arc::new(Semaphore::new(n.get())));
    // HTTP/1.1 and HTTP/2 with prior knowledge (h2c) on one port.
    let mut http = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(STALL_TIMEOUT)
        .max_buf_size(HEAD_LIMIT)
        .keep_alive(true);
    http.http2()
        .timer(TokioTimer::new())
        .max_header_list_size(HEAD_LIMIT as u32);
    loop {
        let slot = match &slots {
            Some(slots) => Some(
                slots
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the semaphore is never closed"),
            ),
            None => None,
        };
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Typically out of file descriptors: back off rather than spin.
                warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Responses are small and complete: don't let Nagle hold them back.
        let _ = stream.set_nodelay(true);
        let answer = answer.clone();
        let service = service_fn(move |req| {
            let reply = answer(req, peer);
            async move { Ok::<_, Infallible>(reply.await) }
        });
        let connection = http
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        tokio::spawn(async move {
            // Malformed or oversized heads have had their 400 or 431; a
            // client hanging up or going idle is routine.
            if let Err(e) = connection.await {
                debug!("{peer}: {e}");
            }
            drop(slot);
        });
    }
}

/// The public port's answers: plain HTTP, or gRPC.
type PublicReply = Response<Either<Full<Bytes>, grpc::GrpcBody>>;

/// The public port: the name, after the body and the service time; a gRPC
/// call (HTTP/2, `application/grpc`) gets its gRPC answer.
async fn answer_public(shared: Arc<Shared>, req: Request<Incoming>) -> PublicReply {
    if grpc::is_call(&req) {
        return answer_grpc(shared, req).await.map(Either::Right);
    }
    answer(shared, req).await.map(Either::Left)
}

/// A gRPC call: its message read, the service time slept, the answer with
/// the status and (with `--orca`) a load report in the trailers.
async fn answer_grpc(shared: Arc<Shared>, req: Request<Incoming>) -> Response<grpc::GrpcBody> {
    let _load = InFlight::enter(&shared.in_flight);
    let started = Instant::now();
    let call = match grpc::read(req).await {
        Ok(call) => call,
        Err((status, message)) => return grpc::reply(status, &[], &message, None),
    };
    if matches!(call, grpc::Call::Name) && !shared.delay.is_zero() {
        tokio::time::sleep(shared.delay).await;
    }
    let serving = !shared.is_draining();
    let (status, message, text) =
        grpc::answer(&call, &shared.name_text, shared.grpc_status, serving);
    let report = shared.load.as_ref().map(|load| {
        let report = load
            .lock()
            .answered(started.elapsed(), shared.capacity, true);
        (pickwise::orca::HEADER_BIN, report)
    });
    grpc::reply(status, &message, &text, report)
}

/// The public port's plain HTTP answer: the name, after the body and the
/// service time.
async fn answer(shared: Arc<Shared>, req: Request<Incoming>) -> Reply {
    let _load = InFlight::enter(&shared.in_flight);
    let started = Instant::now();
    if let Err(refusal) = discard_body(req.into_body()).await {
        return refusal;
    }
    if !shared.delay.is_zero() {
        tokio::time::sleep(shared.delay).await;
    }
    let mut reply = Response::new(Full::new(shared.body.clone()));
    let headers = reply.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    headers.insert("x-worker", shared.name.clone());
    if let Some(load) = &shared.load {
        let report = load
            .lock()
            .answered(started.elapsed(), shared.capacity, false);
        headers.insert(pickwise::orca::HEADER, report);
    }
    reply
}

/// Reads the request body to its end (decoding chunks), so the connection
/// can carry the next request; a body that stalls gets 408.
async fn discard_body(mut body: Incoming) -> Result<(), Reply> {
    while !body.is_end_stream() {
        match tokio::time::timeout(STALL_TIMEOUT, body.frame()).await {
            Ok(None) => break,
            Ok(Some(Ok(_frame))) => {}
            Ok(Some(Err(e))) => {
                return Err(closing(text(
                    StatusCode::BAD_REQUEST,
                    format!("bad request body: {e}\n"),
                )))
            }
            Err(_) => {
                return Err(closing(text(
                    StatusCode::REQUEST_TIMEOUT,
                    "request body stalled for 10 s\n".into(),
                )))
            }
        }
    }
    Ok(())
}

/// The admin listener: drain, ready, status. Not counted as load, no delay.
async fn answer_admin(shared: Arc<Shared>, req: Request<Incoming>, peer: SocketAddr) -> Reply {
    // A page in the operator's browser must not drain the worker: no
    // foreign Origin, no Host that is a name (DNS rebinding).
    if let Err(why) = pickwise_programs::admin::same_origin(req.headers()) {
        warn!(
            "admin: refused {} {} from {peer}: {why}",
            req.method(),
            req.uri().path()
        );
        return text(StatusCode::FORBIDDEN, format!("{why}\n"));
    }
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    if let Err(refusal) = discard_body(req.into_body()).await {
        return refusal;
    }
    let state = |draining: bool| if draining { "drain\n" } else { "ready\n" };
    match (path.as_str(), &method) {
        ("/admin/drain" | "/admin/ready", &Method::POST) => {
            let draining = path == "/admin/drain";
            if shared.draining.swap(draining, Ordering::Relaxed) != draining {
                let now = if draining { "draining" } else { "ready" };
                info!("{now}: POST {path} from {peer}");
            }
            text(StatusCode::OK, state(draining).into())
        }
        ("/admin/status", &Method::GET | &Method::HEAD) => {
            text(StatusCode::OK, state(shared.is_draining()).into())
        }
        ("/admin/drain" | "/admin/ready", _) => not_allowed("POST", "use POST\n"),
        ("/admin/status", _) => not_allowed("GET, HEAD", "use GET\n"),
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: POST /admin/drain, POST /admin/ready or GET /admin/status\n".into(),
        ),
    }
}

fn text(status: StatusCode, body: String) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(body)));
    *reply.status_mut() = status;
    reply
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    reply
}

fn not_allowed(allow: &'static str, body: &str) -> Reply {
    let mut reply = text(StatusCode::METHOD_NOT_ALLOWED, body.into());
    reply
        .headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    reply
}

/// The request's body was not read to its end: the connection cannot carry
/// another request.
fn closing(mut reply: Reply) -> Reply {
    reply
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    reply
}

/// Answers each agent-check connection with one line. The line is computed
/// at accept time; the write and close go to a task so a slow checker
/// cannot hold up the next one.
async fn serve_agent(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                warn!("agent: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let line = shared.agent_line();
        tokio::spawn(async move {
            let mut stream = stream;
            let written =
                tokio::time::timeout(LINGER_TIME, stream.write_all(line.as_bytes())).await;
            if matches!(written, Ok(Ok(()))) {
                linger_close(stream).await;
            }
        });
    }
}

/// Closes without losing the line: closing a socket with unread input makes
/// the kernel send RST, which can destroy data the checker has not read yet.
/// So half-close, then drain what the checker still sends for a moment
/// (bounded in time and bytes).
async fn linger_close(mut stream: TcpStream) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let mut sink = [0u8; 4096];
    let mut budget = LINGER_BYTES;
    let _ = tokio::time::timeout(LINGER_TIME, async {
        while budget > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(n) => budget = budget.saturating_sub(n),
            }
        }
    })
    .await;
}
