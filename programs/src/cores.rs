//! A thread per core, as nginx runs its workers: `--threads N` threads, each
//! with a current-thread tokio runtime and a listener of its own on the same
//! address (`SO_REUSEPORT`: the kernel spreads new connections over them).
//! A connection lives on the thread that accepted it, so nothing a request
//! touches (its tasks, timers, upstream connections, the proxy's state) is
//! woken or written from another core; there is no work stealing to pay for.
//!
//! The admin page, health checks, agents and DNS discovery run beside them
//! on threads of their own, as before.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::num::NonZeroUsize;

use socket2::{Domain, Protocol, Socket, Type};

/// Pending connections each listener keeps (tokio's default).
const BACKLOG: i32 = 1024;

thread_local! {
    /// This thread's place among the serving threads (0 elsewhere).
    static INDEX: Cell<usize> = const { Cell::new(0) };
}

/// The serving threads for `--threads`: the number given, else one per core.
pub fn count(threads: Option<NonZeroUsize>) -> usize {
    threads
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, NonZeroUsize::get)
}

/// Which serving thread this is, in `0..count` (0 on any other thread).
// hyper_proxy keeps per-thread state with it; tcp_forwarder has none.
#[allow(dead_code)]
pub fn index() -> usize {
    INDEX.with(Cell::get)
}

/// `n` listeners on `listen` (port 0: one free port for all), each with
/// `SO_REUSEPORT`, non-blocking, for [`serve`]. The error names `listen`.
pub fn listeners(listen: &str, n: usize) -> io::Result<Vec<TcpListener>> {
    let cannot = |e: io::Error| io::Error::new(e.kind(), format!("cannot listen on {listen}: {e}"));
    let mut addrs = listen.to_socket_addrs().map_err(cannot)?;
    let first = addrs.next().ok_or_else(|| {
        cannot(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the name resolves to no address",
        ))
    })?;
    let mut all = vec![bind(first).map_err(cannot)?];
    // The others share the first one's port, a free one if port 0 was asked.
    let bound = all[0].local_addr()?;
    for _ in 1..n {
        all.push(bind(bound).map_err(cannot)?);
    }
    Ok(all)
}

fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    #[cfg(unix)]
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Runs `serve(listener)` for each listener on a thread of its own, in a
/// current-thread runtime (timers and sockets enabled), and waits for them
/// all; the first error any thread returns (or could not start with) comes
/// back.
pub fn serve<F, Fut>(listeners: Vec<TcpListener>, serve: F) -> io::Result<()>
where
    F: Fn(tokio::net::TcpListener) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = io::Result<()>>,
{
    let mut threads = Vec::with_capacity(listeners.len());
    for (index, listener) in listeners.into_iter().enumerate() {
        let serve = serve.clone();
        // Nothing on these threads blocks; keep the blocking pool from
        // growing all the same.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .max_blocking_threads(2)
            .build()
            .map_err(|e| io::Error::new(e.kind(), format!("cannot start a runtime: {e}")))?;
        let thread = std::thread::Builder::new()
            .name(format!("serve-{index}"))
            .spawn(move || {
                INDEX.with(|i| i.set(index));
                runtime.block_on(async move {
                    serve(tokio::net::TcpListener::from_std(listener)?).await
                })
            })
            .map_err(|e| io::Error::new(e.kind(), format!("cannot start a thread: {e}")))?;
        threads.push(thread);
    }
    let mut first_error = None;
    for thread in threads {
        let ended = thread
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("a serving thread panicked")));
        if let (Err(e), None) = (ended, &first_error) {
            first_error = Some(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}
