//! A small HTTP/1.1 reverse proxy: hyper serves the clients, a hyper-util
//! client (with its pool of kept-alive connections) talks to the backends,
//! pickwise chooses the backend of each request.
//!
//! ```text
//! cargo run --example hyper_proxy -- --listen 127.0.0.1:0 --strategy peak-ewma \
//!     --backend 127.0.0.1:8001 --backend 127.0.0.1:8002,weight=2
//! ```
//!
//! It prints `listening on ADDR` first (port 0: a free port). Per request:
//! a pick (held until the response body has been sent, so least-connections
//! and peak EWMA see the request in flight), the request forwarded with a
//! 2 s timeout for the response headers, and the outcome recorded: a
//! connection refused or a timeout counts against the backend (5 in a row
//! eject it), a 502-504 too, another 5xx only as an error rate. A request
//! without a body is tried once more on another backend when the first
//! could not be reached. The production program, with upgrades, body
//! timeouts, health checks, DNS and an admin page, is `hyper_proxy` in the
//! workspace's `programs/` member.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use pickwise::strategy::AnyStrategy;
use pickwise::{BackendId, BackendSpec, Balancer, Context, FailureKind, Outcome, Pool};
use tokio::net::TcpListener;

/// How long a backend has to send its response headers.
const TRY_TIMEOUT: Duration = Duration::from_secs(2);

type Body = BoxBody<Bytes, hyper::Error>;
type Upstream = Client<HttpConnector, Body>;
type SharedPool = Arc<Pool<AnyStrategy, SocketAddr>>;

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut listen = None;
    let mut strategy: Option<AnyStrategy> = None;
    let mut backends: Vec<BackendSpec<SocketAddr>> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => listen = Some(value),
            "--strategy" => strategy = Some(value.parse()?),
            "--backend" => backends.push(value.parse()?),
            _ => {
                return Err(format!("unknown flag {flag} (--listen, --strategy, --backend)").into())
            }
        }
    }
    let listen = listen.ok_or("--listen HOST:PORT is required")?;
    let strategy = strategy.ok_or("--strategy NAME is required")?;
    let pool: SharedPool = Arc::new(
        Pool::builder(strategy)
            .observer(|change: &pickwise::StateChange| eprintln!("{change}"))
            .build(backends)?,
    );
    let upstream: Upstream = Client::builder(TokioExecutor::new()).build_http();

    let listener = TcpListener::bind(&listen).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (client, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Not a backend's fault (e.g. out of descriptors): go on.
                eprintln!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let (pool, upstream) = (Arc::clone(&pool), upstream.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let (pool, upstream) = (Arc::clone(&pool), upstream.clone());
                async move { Ok::<_, Infallible>(proxy(&pool, &upstream, request).await) }
            });
            // A client closing early ends its connection; nothing to report.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(client), service)
                .await;
        });
    }
}

/// Forwards one request: at most two tries when the request has no body
/// (it can be sent again), one otherwise.
async fn proxy(
    pool: &SharedPool,
    upstream: &Upstream,
    request: Request<Incoming>,
) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let replayable = parts.method == hyper::Method::GET || parts.method == hyper::Method::HEAD;
    let mut body = Some(body.boxed());
    let mut failed: Vec<BackendId> = Vec::new();
    let mut last = String::from("no backend tried");
    for _ in 0..if replayable { 2 } else { 1 } {
        let mut pick = match pool.pick(&Context::new().exclude(&failed)) {
            Ok(pick) => pick,
            Err(none) => return answer(StatusCode::SERVICE_UNAVAILABLE, format!("{none}; {last}")),
        };
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let uri: Uri = match format!("http://{}{path}", pick.backend()).parse() {
            Ok(uri) => uri,
            Err(e) => return answer(StatusCode::BAD_REQUEST, format!("bad target: {e}")),
        };
        let mut forwarded = Request::from_parts(parts.clone(), body.take().unwrap_or_else(empty));
        *forwarded.uri_mut() = uri;
        let started = Instant::now();
        let sent = tokio::time::timeout(TRY_TIMEOUT, upstream.request(forwarded)).await;
        let latency = started.elapsed();
        match sent {
            Ok(Ok(response)) => {
                let status = response.status();
                pick.record(match status.as_u16() {
                    502..=504 => Outcome::failure(FailureKind::GatewayError, latency),
                    500..=599 => Outcome::server_error(latency),
                    _ => Outcome::success(latency),
                });
                // The body carries the pick: the request stays in flight
                // until its last byte is sent (or the client goes away).
                let (parts, body) = response.into_parts();
                let body = body
                    .map_frame(move |frame| {
                        let _held = &pick;
                        frame
                    })
                    .boxed();
                return Response::from_parts(parts, body);
            }
            Ok(Err(e)) => {
                let kind = FailureKind::from_error(&e);
                pick.record(Outcome::failure(kind, latency));
                last = format!("{} ({}): {kind}: {e}", pick.id(), pick.backend());
            }
            Err(_elapsed) => {
                pick.record(Outcome::failure(FailureKind::Timeout, latency));
                last = format!(
                    "{} ({}): no answer within {TRY_TIMEOUT:?}",
                    pick.id(),
                    pick.backend()
                );
            }
        }
        eprintln!("{last}");
        failed.push(pick.id().clone());
    }
    answer(StatusCode::BAD_GATEWAY, last)
}

/// A short plain-text answer from the proxy itself.
fn answer(status: StatusCode, text: String) -> Response<Body> {
    let mut response = Response::new(
        Full::new(Bytes::from(text + "\n"))
            .map_err(|e| match e {})
            .boxed(),
    );
    *response.status_mut() = status;
    response
}

fn empty() -> Body {
    Full::new(Bytes::new()).map_err(|e| match e {}).boxed()
}
