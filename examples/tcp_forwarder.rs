//! A TCP forwarder with std only: a thread per connection, `std::net`
//! sockets, pickwise choosing the backend.
//!
//! ```text
//! cargo run --example tcp_forwarder -- --listen 127.0.0.1:0 --strategy least-connections \
//!     --backend 127.0.0.1:8001 --backend 127.0.0.1:8002,weight=2
//! ```
//!
//! It prints `listening on ADDR` first (port 0: a free port). Each client
//! connection takes one pick: the pick counts as a connection in flight
//! (what least-connections weighs) until both directions are closed. A
//! backend that refuses or does not answer the connect within a second is
//! recorded as failed, which passive health counts (5 in a row eject it),
//! and the next backend is tried, at most three tries. The production
//! program, with tokio, an admin page, health checks and limits, is
//! `tcp_forwarder` in the workspace's `programs/` member.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use pickwise::strategy::AnyStrategy;
use pickwise::{BackendSpec, Balancer, Context, FailureKind, Outcome, Pick, Pool};

/// How long a backend has to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Backends tried for one client before giving up on it.
const TRIES: usize = 3;

type SharedPool = Arc<Pool<AnyStrategy, SocketAddr>>;

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut listen = None;
    let mut strategy: Option<AnyStrategy> = None;
    let mut backends: Vec<BackendSpec<SocketAddr>> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--listen" => listen = Some(value),
            "--strategy" => strategy = Some(value.parse()?),
            // `ADDR[,weight=N][,id=NAME]...`, parsed by the library.
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

    let listener = TcpListener::bind(&listen)?;
    println!("listening on {}", listener.local_addr()?);
    for client in listener.incoming() {
        match client {
            Ok(client) => {
                let pool = Arc::clone(&pool);
                thread::spawn(move || {
                    if let Err(e) = forward(&pool, client) {
                        eprintln!("connection dropped: {e}");
                    }
                });
            }
            // A client gone before it was accepted, or out of descriptors:
            // neither is a backend's fault; wait a little and go on.
            Err(e) => {
                eprintln!("accept: {e}");
                thread::sleep(Duration::from_millis(10));
            }
        }
    }
    Ok(())
}

/// Connects `client` to a backend and copies bytes both ways until both
/// sides are done; the pick is held (one connection in flight) until then.
fn forward(pool: &SharedPool, client: TcpStream) -> io::Result<()> {
    let (mut pick, upstream) = connect(pool)?;
    let started = Instant::now();
    let (client_read, upstream_write) = (client.try_clone()?, upstream.try_clone()?);
    // One direction on a thread of its own, the other on this one.
    let up = thread::spawn(move || copy_then_close(client_read, upstream_write));
    let down = copy_then_close(upstream, client);
    let up = up
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("copy thread panicked")));
    // The connection worked once it was made: errors after that (a client
    // resetting) are not counted against the backend.
    pick.record(Outcome::success(started.elapsed()));
    drop(pick);
    down.and(up).map(|_| ())
}

/// Picks a backend and connects to it, trying another one (at most
/// [`TRIES`]) when a connect fails; each failure is recorded on its pick.
fn connect(pool: &SharedPool) -> io::Result<(Pick<SocketAddr>, TcpStream)> {
    let mut failed = Vec::new();
    let mut last_error = None;
    for _ in 0..TRIES {
        // The next try avoids the backends that failed this client.
        let pick = match pool.pick(&Context::new().exclude(&failed)) {
            Ok(pick) => pick,
            Err(none) => {
                let why = last_error.map_or(String::new(), |e| format!(" (last: {e})"));
                return Err(io::Error::other(format!("{none}{why}")));
            }
        };
        let started = Instant::now();
        match TcpStream::connect_timeout(pick.backend(), CONNECT_TIMEOUT) {
            Ok(stream) => return Ok((pick, stream)),
            Err(e) => {
                let mut pick = pick;
                pick.record(Outcome::failure(
                    FailureKind::from_io(&e),
                    started.elapsed(),
                ));
                eprintln!("connect to {} ({}): {e}", pick.id(), pick.backend());
                failed.push(pick.id().clone());
                last_error = Some(e);
            }
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::other("no try was made")))
}

/// Copies `from` to `to` until `from` ends, then half-closes `to` so the
/// other side sees the end too (the other direction goes on).
fn copy_then_close(mut from: TcpStream, mut to: TcpStream) -> io::Result<u64> {
    let copied = io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
    copied
}
