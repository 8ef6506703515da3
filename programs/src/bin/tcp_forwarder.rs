//! `tcp_forwarder`: a TCP load balancer on tokio with a bounded number of
//! threads, any pickwise strategy by name.
//!
//! ```text
//! cargo run --release --bin tcp_forwarder -- --listen 127.0.0.1:9092 --strategy least-connections \
//!     --backend 127.0.0.1:8001 --backend 127.0.0.1:8002,weight=2 [--hash-key HEX] [--eject-ms N] \
//!     [--health-check tcp|http:PATH] [--max-connections N] [--idle-timeout-ms N] \
//!     [--connect-timeout-ms N] [--threads N] [--log-level FILTER]
//! ```
//!
//! The balancing flags are hyper_proxy's (`--help` lists them: backend
//! words, host names with `--resolver`, health checks, `--config FILE`); logs go to
//! stderr (tracing; `--log-level`, else `RUST_LOG`, else info).
//!
//! Each client connection picks a backend (the client address feeds
//! `source-ip-hash`); a failed or timed-out connect is recorded and another
//! backend tried, excluding the ones that failed; then bytes are copied both
//! ways until both sides have closed: either side's close is passed on as a
//! half-close and the other direction goes on. A connect that fails because
//! this host is out of descriptors is no backend's failure: the client is
//! closed, the backend not blamed, and the cause logged at most once a
//! second. The pick is held for the connection's life, so
//! least-connections balances open connections.
//!
//! Connections are tasks on `--threads` serving threads (default one per
//! core; each a current-thread runtime with its own `SO_REUSEPORT`
//! listener, as nginx's workers), never a thread each, so thousands of open
//! connections cost memory, not threads. What bounds them:
//! - `--idle-timeout-ms` (default 60000): a connection with no byte either
//!   way for that long is closed on both sides (logged at debug, counted).
//! - `--max-connections-per-client` (default half of `--max-connections`):
//!   a client address holding that many has its new connections closed at
//!   once (logged at most once a second).
//! - `--max-connections`: at the cap, a new client is admitted by closing a
//!   connection of the address holding the most, its idlest, if that
//!   address holds more than the newcomer's will (fair shares: a flood from
//!   one address gives way to other clients however young its
//!   connections); failing that, the connection idle the longest, if it has
//!   been idle at least a second; otherwise the new client is closed at
//!   once. Either is logged (warn, at most once a second, with counts). A
//!   client moving bytes from an address holding no more than others is
//!   never the one closed, so a crowd of idle connections cannot lock it
//!   out.
//! - The open-files limit is raised to its hard limit at start (and
//!   logged), so the cap, not the limit, is what refuses clients.

use std::collections::HashMap;
use std::io::{self, Read as _};
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use clap::Parser;
use common::limits::{ClientSlot, PerClient, Throttle};
use common::{millis, positive_millis, ProxyArgs, SharedPool};
use pickwise::{BackendId, Balancer, Context, FailureKind, Outcome, Pick};
use pickwise_programs as common;
use tokio::io::Interest;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tracing::{debug, info, warn};

/// A TCP load balancer on a tokio runtime, balancing with any pickwise strategy.
#[derive(Parser)]
#[command(name = "tcp_forwarder", version)]
struct Args {
    #[command(flatten)]
    proxy: ProxyArgs,
    /// Close a connection after no byte either way for this long (0: never)
    #[arg(long = "idle-timeout-ms", value_name = "MS", default_value = "60000", value_parser = millis)]
    idle_timeout: Duration,
    /// How long a backend has to accept a connection before another is tried
    #[arg(long = "connect-timeout-ms", value_name = "MS", default_value = "2000", value_parser = positive_millis)]
    connect_timeout: Duration,
    /// Serving threads, each with its own runtime and listener (as nginx's
    /// workers) [default: one per core]
    #[arg(long, value_name = "N")]
    threads: Option<NonZeroUsize>,
}

/// The least idle time that makes a connection the one closed to admit a
/// new client at the cap: below it, every connection is busy enough to keep.
const EVICT_AFTER_IDLE: Duration = Duration::from_secs(1);
/// Bytes read at once per direction, allocated on a connection's first byte.
const BUFFER: usize = 16 * 1024;

fn main() {
    let args = Args::parse();
    args.proxy.log.init();
    let pool: SharedPool = args
        .proxy
        .pool(|addr| addr)
        .unwrap_or_else(|e| e.exit::<Args>());
    common::limits::raise_open_files_limit(args.proxy.max_connections.get());
    common::limits::give_back_freed_memory();
    if let Err(e) = start(args, pool) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// Listens (a listener per thread), starts what runs beside the forwarder,
/// then serves on the threads for ever.
fn start(args: Args, pool: SharedPool) -> io::Result<()> {
    let threads = common::cores::count(args.threads);
    // Bound before the threads start: no name lookup in a runtime.
    let listeners = common::cores::listeners(&args.proxy.listen, threads)?;
    println!("listening on {}", listeners[0].local_addr()?);
    info!(
        "{threads} serving threads, at most {} connections, idle timeout {}",
        args.proxy.max_connections,
        match args.idle_timeout.as_millis() {
            0 => "off".to_owned(),
            ms => format!("{ms} ms"),
        }
    );
    common::admin::start(args.proxy.admin.as_deref(), &pool, |addr| *addr, None)?;
    let _agents = common::spawn_agent_pollers(&pool, args.proxy.agent_interval);
    // One registry for all threads: the cap and its evictions are global.
    let limits = Arc::new(Limits {
        registry: Registry::new(
            args.proxy.max_connections.get(),
            PerClient::new(args.proxy.per_client_cap()),
        ),
        idle_timeout: (!args.idle_timeout.is_zero()).then_some(args.idle_timeout),
        connect_timeout: args.connect_timeout,
        idle_closed: AtomicU64::new(0),
        accept_errors: Throttle::new(),
        local_errors: Throttle::new(),
    });
    common::cores::serve(listeners, move |listener| {
        serve(listener, pool.clone(), limits.clone())
    })
}

/// One serving thread: accepts clients on its own listener for ever, each
/// served by a task of this thread's runtime.
async fn serve(listener: TcpListener, pool: SharedPool, limits: Arc<Limits>) -> io::Result<()> {
    loop {
        let (client, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, most likely: wait for some to close.
                if let Some(missed) = limits.accept_errors.hit() {
                    warn!("accept failed: {e} ({missed} times in the last second)");
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let Some(admission) = limits.registry.admit(peer) else {
            continue; // dropping the client closes it
        };
        let (pool, limits) = (pool.clone(), limits.clone());
        tokio::spawn(async move {
            forward(client, peer, &pool, &limits, &admission.activity).await;
            drop(admission);
        });
    }
}

/// What every connection task shares.
struct Limits {
    registry: Arc<Registry>,
    idle_timeout: Option<Duration>,
    connect_timeout: Duration,
    /// Connections closed for being idle, since start.
    idle_closed: AtomicU64,
    accept_errors: Throttle,
    /// Connects that failed for lack of descriptors here.
    local_errors: Throttle,
}

/// Serves one client connection: connect to a backend, then copy both ways
/// until the backend closes, an error, the idle timeout, or the cap closes
/// it for a newcomer.
async fn forward(
    client: TcpStream,
    peer: SocketAddr,
    pool: &SharedPool,
    limits: &Limits,
    activity: &Activity,
) {
    let Some((backend, pick)) =
        connect(pool, peer, limits.connect_timeout, &limits.local_errors).await
    else {
        return; // dropping the client closes it: nobody can serve
    };
    let _ = client.set_nodelay(true);
    let _ = backend.set_nodelay(true);
    activity.touch(&limits.registry);
    // Both directions use the sockets through shared references (tokio's
    // reads and writes take `&self`).
    let upstream = copy(&client, &backend, activity, &limits.registry);
    let downstream = copy(&backend, &client, activity, &limits.registry);
    tokio::pin!(upstream, downstream);
    // Each direction ends on its own: a side that half-closes (shutdown of
    // its writing side) is passed on, and the other direction goes on until
    // it ends too, as HAProxy does and nginx's `proxy_half_close`.
    let (mut upstream_done, mut downstream_done) = (false, false);
    let ended = loop {
        if upstream_done && downstream_done {
            break None;
        }
        tokio::select! {
            copied = &mut upstream, if !upstream_done => match copied {
                // The client finished sending (the backend saw the half-close);
                // the backend may still answer.
                Ok(()) => upstream_done = true,
                Err(e) => break Some(format!("from the client: {e}")),
            },
            copied = &mut downstream, if !downstream_done => match copied {
                // The backend finished sending (the client saw the
                // half-close); the client may still send.
                Ok(()) => downstream_done = true,
                Err(e) => break Some(format!("from the backend: {e}")),
            },
            idle = idle_for(activity, &limits.registry, limits.idle_timeout) => {
                let closed = limits.idle_closed.fetch_add(1, Ordering::Relaxed) + 1;
                debug!(
                    "{peer} via {}: no byte either way for {} ms, closed ({closed} idle connections closed so far)",
                    pick.id(),
                    idle.as_millis()
                );
                break None;
            }
            () = activity.evicted.notified() => {
                debug!("{peer} via {}: closed to admit a new client at the connection cap", pick.id());
                break None;
            }
        }
    };
    if let Some(e) = ended {
        info!("{peer} via {}: {e}", pick.id());
    }
    drop(pick);
}

/// Connects to a backend, trying others when a connect fails or times out.
async fn connect(
    pool: &SharedPool,
    peer: SocketAddr,
    timeout: Duration,
    local_errors: &Throttle,
) -> Option<(TcpStream, Pick<SocketAddr>)> {
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
        let connected =
            match tokio::time::timeout(timeout, TcpStream::connect(*pick.backend())).await {
                Ok(connected) => connected,
                Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
            };
        match connected {
            Ok(stream) => {
                pick.record(Outcome::success(started.elapsed()));
                return Some((stream, pick));
            }
            // This host is out of descriptors (or buffers, or memory): no
            // backend's fault, and no other backend would fare better. The
            // pick is dropped unrecorded.
            Err(e) if FailureKind::is_local_exhaustion(&e) => {
                if let Some(count) = local_errors.hit() {
                    warn!(
                        "{peer}: cannot open a connection to a backend: {e} \
                         ({count} times in the last second; not counted against any backend)"
                    );
                }
                return None;
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

/// Copies one direction until its reader ends, then half-closes the writer.
/// The buffer is allocated on the first byte: an idle connection holds none.
async fn copy(
    from: &TcpStream,
    to: &TcpStream,
    activity: &Activity,
    registry: &Registry,
) -> io::Result<()> {
    let mut buf = Vec::new();
    loop {
        from.readable().await?;
        if buf.is_empty() {
            buf.resize(BUFFER, 0);
        }
        let n = match read_some(from, &mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return socket2::SockRef::from(to).shutdown(std::net::Shutdown::Write);
        }
        activity.touch(registry);
        write_all(to, &buf[..n]).await?;
        activity.touch(registry);
    }
}

/// Reads what `from` has. A read that did not fill the buffer has drained
/// the socket, so the readiness is cleared at once, as nginx and HAProxy
/// do: the next wait goes straight to the poller instead of first paying
/// for a read that finds nothing (tokio clears it only on `WouldBlock`; an
/// event that arrives meanwhile is not lost, its readiness tick differs).
fn read_some(from: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    let read = from.try_io(Interest::READABLE, || {
        got = (&*socket2::SockRef::from(from)).read(buf)?;
        if got > 0 && got < buf.len() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(())
    });
    match read {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock && got > 0 => Ok(got),
        Err(e) => Err(e),
        Ok(()) => Ok(got),
    }
}

/// Writes all of `bytes` to `to`, waiting while its send buffer is full.
async fn write_all(to: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match to.try_write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => to.writable().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Returns once the connection has been idle for `timeout` (never if
/// `None`), with how long it was idle.
async fn idle_for(activity: &Activity, registry: &Registry, timeout: Option<Duration>) -> Duration {
    let Some(timeout) = timeout else {
        return std::future::pending().await;
    };
    loop {
        let idle = activity.idle(registry);
        if idle >= timeout {
            return idle;
        }
        tokio::time::sleep(timeout - idle).await;
    }
}

/// One open connection as the cap sees it.
struct Activity {
    /// Its client.
    peer: SocketAddr,
    /// When a byte last moved, in ms since the registry started.
    last: AtomicU64,
    /// Told to close, to admit a new client.
    evicted: Notify,
}

impl Activity {
    fn touch(&self, registry: &Registry) {
        self.last.store(registry.now_ms(), Ordering::Relaxed);
    }

    fn idle(&self, registry: &Registry) -> Duration {
        let last = self.last.load(Ordering::Relaxed);
        Duration::from_millis(registry.now_ms().saturating_sub(last))
    }
}

/// The open connections, up to the cap, and how many each client address
/// holds.
struct Registry {
    cap: usize,
    per_client: Arc<PerClient>,
    started: Instant,
    open: Mutex<Open>,
    /// The cap's log line, at most once a second.
    at_cap: Mutex<CapLog>,
}

#[derive(Default)]
struct Open {
    next: u64,
    connections: HashMap<u64, Arc<Activity>>,
}

/// What happened at the cap since its last log line.
#[derive(Default)]
struct CapLog {
    logged: Option<Instant>,
    evicted: u64,
    refused: u64,
}

/// A connection's place under the cap and in its address's count, given
/// back on drop.
struct Admission {
    key: u64,
    activity: Arc<Activity>,
    registry: Arc<Registry>,
    _counted: ClientSlot,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut open = self.registry.lock();
        // Gone already if it was closed to admit another.
        open.connections.remove(&self.key);
    }
}

impl Registry {
    fn new(cap: usize, per_client: Arc<PerClient>) -> Arc<Self> {
        Arc::new(Registry {
            cap,
            per_client,
            started: Instant::now(),
            open: Mutex::new(Open::default()),
            at_cap: Mutex::new(CapLog::default()),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        // The map stays consistent whatever panicked while holding it.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place for a new client from `peer`, if its address holds fewer
    /// than its limit: free under the cap, or made by closing a connection
    /// (see [`victim`](Self::victim)); `None` when neither (the client is
    /// refused).
    fn admit(self: &Arc<Self>, peer: SocketAddr) -> Option<Admission> {
        let counted = self.per_client.admit(peer.ip())?;
        let activity = Arc::new(Activity {
            peer,
            last: AtomicU64::new(self.now_ms()),
            evicted: Notify::new(),
        });
        let mut open = self.lock();
        let mut evicted = None;
        if open.connections.len() >= self.cap {
            match self.victim(&open, peer) {
                Some((key, idle)) => {
                    if let Some(victim) = open.connections.remove(&key) {
                        // A stored permit: the task sees it even if it is
                        // not waiting yet.
                        victim.evicted.notify_one();
                        evicted = Some((victim.peer, idle));
                    }
                }
                _ => {
                    drop(open);
                    self.cap_reached(peer, None);
                    return None;
                }
            }
        }
        let key = open.next;
        open.next += 1;
        open.connections.insert(key, activity.clone());
        drop(open);
        if evicted.is_some() {
            self.cap_reached(peer, evicted);
        }
        Some(Admission {
            key,
            activity,
            registry: self.clone(),
            _counted: counted,
        })
    }

    /// The connection closed to admit a client from `peer` at the cap, with
    /// its idle time: the idlest connection of the address holding the most,
    /// if that address holds more than `peer`'s will (fair shares: an
    /// address that floods gives way to one that does not, however young
    /// its connections); else the connection idle the longest if it has
    /// been idle for [`EVICT_AFTER_IDLE`]. The scan is linear, and only at
    /// the cap: a few microseconds for thousands of connections.
    fn victim(&self, open: &Open, peer: SocketAddr) -> Option<(u64, Duration)> {
        let counts = self.per_client.snapshot();
        let holds = |ip| counts.get(&ip).copied().unwrap_or(0);
        // `peer` is counted already: it will hold `holds(peer)`.
        let newcomer = holds(peer.ip());
        let heaviest = open
            .connections
            .iter()
            .max_by_key(|(_, a)| {
                (
                    holds(a.peer.ip()),
                    std::cmp::Reverse(a.last.load(Ordering::Relaxed)),
                )
            })
            .filter(|(_, a)| holds(a.peer.ip()) > newcomer);
        if let Some((&key, a)) = heaviest {
            return Some((key, a.idle(self)));
        }
        open.connections
            .iter()
            .min_by_key(|(_, a)| a.last.load(Ordering::Relaxed))
            .map(|(&key, a)| (key, a.idle(self)))
            .filter(|&(_, idle)| idle >= EVICT_AFTER_IDLE)
    }

    /// Counts a client met at the cap, admitted by closing `evicted` (its
    /// client and idle time) or refused, and logs the counts at most once a
    /// second.
    fn cap_reached(&self, peer: SocketAddr, evicted: Option<(SocketAddr, Duration)>) {
        match evicted {
            Some((victim, idle)) => debug!(
                "{peer} admitted at the connection cap by closing {victim}, idle for {} ms",
                idle.as_millis()
            ),
            None => debug!("{peer} refused at the connection cap: no connection idle for 1 s"),
        }
        let mut log = self.at_cap.lock().unwrap_or_else(PoisonError::into_inner);
        match evicted {
            Some(_) => log.evicted += 1,
            None => log.refused += 1,
        }
        let now = Instant::now();
        if log
            .logged
            .is_some_and(|at| now.duration_since(at) < Duration::from_secs(1))
        {
            return;
        }
        warn!(
            "connection cap reached ({} open, --max-connections){}: {} clients admitted by \
             closing another (of the address holding the most, or idle the longest), {} refused \
             (no address holding more, no connection idle for {} ms)",
            self.cap,
            match log.logged {
                Some(at) => format!(", in the last {} ms", now.duration_since(at).as_millis()),
                None => String::new(),
            },
            log.evicted,
            log.refused,
            EVICT_AFTER_IDLE.as_millis(),
        );
        *log = CapLog {
            logged: Some(now),
            ..CapLog::default()
        };
    }
}
