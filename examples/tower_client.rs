//! `tower_client`: a tower client balancing over three backends with
//! pickwise, each backend's payload a hyper-util `Client` sent to its origin
//! (`pickwise::tower::ToOrigin`).
//!
//! ```text
//! cargo run --example tower_client --features tower -- [--requests N] [--strategy NAME] \
//!     [--concurrency N]
//! ```
//!
//! The program starts its own backends on 127.0.0.1 (free ports): `slow`
//! answers after 50 ms, `fast` at once, and `dead` is a port with nothing
//! listening. It sends `--requests` GETs (default 300), `--concurrency` at
//! a time (default 4), through `pickwise::tower::Balance` with the
//! `--strategy` named (default peak-ewma), and prints which backend
//! answered how many, the failed requests, and each backend's state with
//! its reason: the dead one ejected after 5 connections refused in a row.
//! State changes are also printed as they happen (stderr).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use pickwise::strategy::{AnyStrategy, StrategyKind};
use pickwise::tower::{Balance, Error, ToOrigin};
use pickwise::{BackendSpec, BackendState, FailureKind, Pool, StateChange};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tower::{Service, ServiceExt};

/// The command line: `--requests N`, `--strategy NAME`, `--concurrency N`.
struct Args {
    requests: usize,
    strategy: StrategyKind,
    concurrency: NonZeroUsize,
}

impl Args {
    fn parse() -> Result<Args, String> {
        let mut args = Args {
            requests: 300,
            strategy: StrategyKind::PeakEwma,
            concurrency: NonZeroUsize::new(4).expect("4 > 0"),
        };
        let mut words = std::env::args().skip(1);
        while let Some(flag) = words.next() {
            let value = words.next().ok_or(format!("{flag} needs a value"))?;
            let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
            match flag.as_str() {
                "--requests" => args.requests = value.parse().map_err(|e| bad(&e))?,
                "--strategy" => args.strategy = value.parse().map_err(|e| bad(&e))?,
                "--concurrency" => args.concurrency = value.parse().map_err(|e| bad(&e))?,
                _ => {
                    return Err(format!(
                        "unknown flag {flag}: --requests N, --strategy NAME ({}), --concurrency N",
                        StrategyKind::NAMES.join(", ")
                    ))
                }
            }
        }
        Ok(args)
    }
}

/// A backend answering its name after `delay`, on a free port of 127.0.0.1.
async fn serve(name: &'static str, delay: Duration) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let answer = hyper::service::service_fn(move |_: Request<Incoming>| async move {
                    tokio::time::sleep(delay).await;
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(name))))
                });
                let served = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), answer)
                    .await;
                // A client closing its connection early is no concern here.
                let _ = served;
            });
        }
    });
    Ok(addr)
}

/// A port nothing listens on: bound, then released.
fn dead_addr() -> std::io::Result<SocketAddr> {
    std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()
}

fn log_change(change: &StateChange) {
    let level = match change.to {
        BackendState::Up | BackendState::Removed => "info",
        _ => "warn",
    };
    eprintln!("{level}: {change}");
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse()?;

    let slow = serve("slow", Duration::from_millis(50)).await?;
    let fast = serve("fast", Duration::ZERO).await?;
    let dead = dead_addr()?;
    println!("backends: slow {slow} (answers in 50 ms), fast {fast} (at once), dead {dead} (nothing listens)");

    // The balancer: one hyper-util client (its own connection pool), sent
    // to each backend's origin.
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut backends = Vec::new();
    for (name, addr) in [("slow", slow), ("fast", fast), ("dead", dead)] {
        let origin = ToOrigin::new(client.clone(), &format!("http://{addr}"))?;
        backends.push(BackendSpec::new(name, origin));
    }
    let pool = Pool::builder(AnyStrategy::new(args.strategy))
        .observer(log_change)
        .build(backends)?;
    let balance = Balance::http(pool);

    // Send the requests, --concurrency at a time.
    let started = Instant::now();
    let permits = Arc::new(Semaphore::new(args.concurrency.get()));
    let mut running = JoinSet::new();
    for _ in 0..args.requests {
        let permit = Arc::clone(&permits).acquire_owned().await?;
        let mut balance = balance.clone();
        running.spawn(async move {
            let _permit = permit;
            let request = Request::get("/").body(Empty::new())?;
            let response = balance.ready().await?.call(request).await?;
            let body = response.into_body().collect().await?.to_bytes();
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
                String::from_utf8_lossy(&body).into_owned(),
            )
        });
    }
    let mut answered: BTreeMap<String, usize> = BTreeMap::new();
    let mut failed: BTreeMap<String, (usize, String)> = BTreeMap::new();
    while let Some(done) = running.join_next().await {
        match done? {
            Ok(name) => *answered.entry(name).or_default() += 1,
            Err(e) => {
                let (backend, cause) =
                    match e.downcast_ref::<Error<hyper_util::client::legacy::Error>>() {
                        Some(Error::Backend { id, error }) => {
                            (id.to_string(), FailureKind::from_error(error).to_string())
                        }
                        Some(Error::NoBackend(why)) => ("(none)".to_owned(), why.to_string()),
                        None => ("(body)".to_owned(), e.to_string()),
                    };
                let entry = failed.entry(backend).or_insert((0, cause));
                entry.0 += 1;
            }
        }
    }

    let strategy = args.strategy;
    let requests = args.requests;
    let took = started.elapsed();
    println!("{requests} requests with {strategy} in {took:.2?}:");
    println!("  {:<6} {:>10} {:>7}  state", "", "answered", "failed");
    for status in balance.pool().backends() {
        let name = status.id.as_str();
        let ok = answered.get(name).copied().unwrap_or(0);
        let (bad, cause) = failed.get(name).cloned().unwrap_or_default();
        let share = 100.0 * ok as f64 / requests.max(1) as f64;
        let cause = if bad > 0 {
            format!(" ({cause})")
        } else {
            String::new()
        };
        println!(
            "  {name:<6} {ok:>5} {share:>3.0}% {bad:>7}  {} since {:.2?}: {}{cause}",
            status.state, status.since, status.reason
        );
    }
    if let Some((bad, why)) = failed.get("(none)") {
        println!("  {bad} requests found no backend: {why}");
    }
    Ok(())
}
