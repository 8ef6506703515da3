//! `tcp_forwarder`: a TCP load balancer on std threads only, any pickwise
//! strategy by name.
//!
//! ```text
//! cargo run --release --example tcp_forwarder -- --listen 127.0.0.1:9092 --strategy least-connections \
//!     --backend 127.0.0.1:8001 --backend 127.0.0.1:8002,weight=2 [--hash-key HEX] [--eject-ms N] \
//!     [--health-check tcp|http:PATH] [--max-connections N] [--log-level FILTER]
//! ```
//!
//! The balancing flags are hyper_proxy's (`--help` lists them: backend
//! words, host names with `--resolver`, health checks, `--config FILE`); logs go to
//! stderr (tracing; `--log-level`, else `RUST_LOG`, else info).
//!
//! Each client connection picks a backend (the client address feeds
//! `source-ip-hash`); a failed connect is recorded and another backend tried,
//! excluding the ones that failed; then bytes are copied both ways until
//! either side closes. The pick is held for the connection's life, so
//! least-connections balances open connections.

#[path = "common/mod.rs"]
mod common;

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use common::{ProxyArgs, SharedPool};
use pickwise::{BackendId, Balancer, Context, FailureKind, Outcome, Pick};
use tracing::{info, warn};

/// A TCP load balancer on std threads, balancing with any pickwise strategy.
#[derive(Parser)]
#[command(name = "tcp_forwarder", version)]
struct Args {
    #[command(flatten)]
    proxy: ProxyArgs,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const THREAD_STACK: usize = 128 * 1024;

fn main() {
    let args = Args::parse().proxy;
    args.log.init();
    let pool: SharedPool = args.pool(|addr| addr).unwrap_or_else(|e| e.exit::<Args>());
    let listener = TcpListener::bind(&args.listen).unwrap_or_else(|e| {
        eprintln!("error: cannot listen on {}: {e}", args.listen);
        std::process::exit(1)
    });
    match listener.local_addr() {
        Ok(addr) => println!("listening on {addr}"),
        Err(e) => warn!("cannot read the bound address: {e}"),
    }
    if let Err(e) = common::admin::start(args.admin.as_deref(), &pool, |addr| *addr) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    common::spawn_agent_pollers(&pool, &args.fixed_backends(), args.agent_interval);
    let open = Arc::new(AtomicUsize::new(0));
    for accepted in listener.incoming() {
        let client = match accepted {
            Ok(client) => client,
            Err(e) => {
                warn!("accept failed: {e}");
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        // Over the cap, refuse rather than queue: a client waiting on a
        // connection nobody serves is worse than one that can retry.
        if open.fetch_add(1, Ordering::AcqRel) >= args.max_connections.get() {
            open.fetch_sub(1, Ordering::AcqRel);
            continue;
        }
        let (pool, still_open) = (pool.clone(), open.clone());
        let spawned = thread::Builder::new()
            .stack_size(THREAD_STACK)
            .spawn(move || {
                forward(client, &pool);
                still_open.fetch_sub(1, Ordering::AcqRel);
            });
        if let Err(e) = spawned {
            open.fetch_sub(1, Ordering::AcqRel);
            warn!("cannot start a connection thread: {e}");
        }
    }
}

/// Serves one client connection: connect to a backend, then copy both ways.
fn forward(client: TcpStream, pool: &SharedPool) {
    let peer = match client.peer_addr() {
        Ok(peer) => peer,
        Err(_) => return, // already gone
    };
    let Some((backend, pick)) = connect(pool, peer) else {
        return; // dropping the client closes it: nobody can serve
    };
    let _ = client.set_nodelay(true);
    let _ = backend.set_nodelay(true);
    if let Err(e) = pipe(client, backend) {
        info!("{peer} via {}: {e}", pick.id());
    }
    drop(pick);
}

/// Connects to a backend, trying others when a connect fails.
fn connect(pool: &SharedPool, peer: SocketAddr) -> Option<(TcpStream, Pick<SocketAddr>)> {
    let mut tried: Vec<BackendId> = Vec::new();
    loop {
        let ctx = Context::new().client(peer.ip()).exclude(&tried);
        let mut pick = match pool.pick(&ctx) {
            Ok(pick) => pick,
            Err(none) => {
                warn!("{peer}: {none}");
                return None;
            }
        };
        let started = Instant::now();
        match TcpStream::connect_timeout(pick.backend(), CONNECT_TIMEOUT) {
            Ok(stream) => {
                pick.record(Outcome::success(started.elapsed()));
                return Some((stream, pick));
            }
            Err(e) => {
                pick.record(Outcome::failure(
                    FailureKind::from_io(&e),
                    started.elapsed(),
                ));
                tried.push(pick.id().clone());
            }
        }
    }
}

/// Copies both directions until either side closes, then closes both.
fn pipe(client: TcpStream, backend: TcpStream) -> io::Result<()> {
    let (mut client_read, mut backend_write) = (client.try_clone()?, backend.try_clone()?);
    let upstream = thread::Builder::new()
        .stack_size(THREAD_STACK)
        .spawn(move || {
            let copied = io::copy(&mut client_read, &mut backend_write);
            let _ = backend_write.shutdown(Shutdown::Write);
            copied
        })?;
    let (mut backend_read, mut client_write) = (backend, client);
    let downstream = io::copy(&mut backend_read, &mut client_write);
    // The backend finished: close the client, which also ends the upstream copy.
    let _ = client_write.shutdown(Shutdown::Both);
    let upstream = upstream
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("copy thread panicked")));
    downstream.and(upstream).map(|_| ())
}
