//! Connections to the backends. HTTP/1.1 (keep-alive): each backend carries a
//! stack of idle connections per serving thread, taken for a request and put
//! back when its response body has been relayed to its end. A thread only
//! ever uses its own stacks, so a connection is driven by the runtime that
//! made it and its lock is never contended or its line shared.
//!
//! HTTP/2 (h2c, for requests that came over HTTP/2, gRPC calls among them):
//! one multiplexed connection per backend and serving thread, shared by its
//! requests, opened again when it closes.
//!
//! Written for the proxy rather than using hyper-util's general client: the
//! backend is already chosen (by the balancer), so there is no per-request
//! URI parsing, host keying or pool bookkeeping to pay for.
//!
//! Dead connections are found fast: upstream sockets have TCP keepalive and
//! (on Linux) `TCP_USER_TIMEOUT`, so a peer that vanished behind a firewall
//! closes the connection within seconds instead of the kernel's minutes;
//! and a connection left idle for longer than [`MAX_IDLE_AGE`] is closed
//! rather than reused (the backend may be about to close it, or its path
//! may have died with no packet to tell).

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::client::conn::http2;
use hyper::header::HeaderValue;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use parking_lot::Mutex;
use pickwise::FailureKind;
use socket2::{SockRef, TcpKeepalive};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::body::Body;

/// Idle connections kept per backend; more are closed when returned.
const MAX_IDLE: usize = 1024;

/// An idle connection older than this is closed instead of reused.
pub const MAX_IDLE_AGE: Duration = Duration::from_secs(10);

/// Keepalive probes start after this long without traffic...
const KEEPALIVE_IDLE: Duration = Duration::from_secs(5);
/// ...and go every this long...
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);
/// ...this many times before the kernel gives the connection up.
#[cfg(target_os = "linux")]
const KEEPALIVE_RETRIES: u32 = 3;
/// Data sent and not acknowledged for this long closes the connection
/// (Linux; it also bounds the keepalive probes).
#[cfg(target_os = "linux")]
const USER_TIMEOUT: Duration = Duration::from_secs(5);

/// A backend as the proxy keeps it: where it is, its `Host` value ready
/// made, and its idle connections, a stack per serving thread. Built from
/// the address alone, so backends may come and go at run time. A clone
/// shares the idle connections (the health checker and DNS discovery copy
/// payloads).
#[derive(Clone)]
pub struct Backend {
    addr: SocketAddr,
    host: HeaderValue,
    idle: Arc<[Idle]>,
    /// HTTP/2 (h2c): one multiplexed connection per serving thread.
    h2: Arc<[Multiplexed]>,
}

/// One thread's HTTP/2 connection to a backend, if open; on a cache line
/// of its own.
#[repr(align(128))]
#[derive(Default)]
struct Multiplexed(Mutex<Option<H2Conn>>);

/// An HTTP/2 connection: a sender (cloned for each request) and the task
/// driving it, stopped when the last holder drops it.
#[derive(Clone)]
struct H2Conn {
    sender: http2::SendRequest<Body>,
    /// Held for its drop: the connection's task stops with the last holder.
    _task: Arc<AbortOnDrop>,
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Pings on an idle HTTP/2 connection to a backend, which is closed when
/// one goes unanswered as long.
const H2_KEEPALIVE: Duration = Duration::from_secs(10);

/// One thread's idle connections to a backend, the most recently used at
/// the back; on a cache line of its own.
#[repr(align(128))]
#[derive(Default)]
struct Idle(Mutex<VecDeque<Conn>>);

/// One connection: the request sender, the task driving the socket and
/// when it was last put back idle. Dropping it closes the connection.
struct Conn {
    sender: SendRequest<Body>,
    task: JoinHandle<()>,
    idle_since: Instant,
}

impl Drop for Conn {
    fn drop(&mut self) {
        // A connection dropped in the middle of an exchange (a timed-out
        // try, a stalled body) cannot carry another request: close it now
        // rather than leave the task waiting on a silent backend.
        self.task.abort();
    }
}

impl Conn {
    fn is_stale(&self, now: Instant) -> bool {
        self.sender.is_closed() || now.saturating_duration_since(self.idle_since) > MAX_IDLE_AGE
    }
}

/// Why a request to a backend failed.
#[derive(Debug)]
pub enum UpstreamError {
    /// No connection: the request never left.
    Connect(io::Error),
    /// The connection failed while sending or before the response head.
    Send(hyper::Error),
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamError::Connect(e) => write!(f, "connect: {e}"),
            UpstreamError::Send(e) => f.write_str(&crate::body::chain(e)),
        }
    }
}

impl UpstreamError {
    /// What passive health should count: the first telling I/O error in
    /// the chain, else what hyper says (a response that does not parse is
    /// an invalid response, a connection closed before the response a reset).
    pub fn failure_kind(&self) -> FailureKind {
        match self {
            UpstreamError::Connect(e) => FailureKind::from_io(e),
            UpstreamError::Send(e) => match FailureKind::from_error(e) {
                // A timeout on a connection already open (TCP_USER_TIMEOUT,
                // keepalive) is no connect that timed out.
                FailureKind::ConnectTimeout => FailureKind::Timeout,
                FailureKind::Other if e.is_parse() => FailureKind::InvalidResponse,
                FailureKind::Other if e.is_timeout() => FailureKind::Timeout,
                FailureKind::Other
                    if e.is_incomplete_message() || e.is_canceled() || e.is_closed() =>
                {
                    FailureKind::Reset
                }
                kind => kind,
            },
        }
    }

    /// Whether this host ran out of descriptors, buffers or memory to
    /// reach the backend: no failure of the backend's
    /// ([`FailureKind::is_local_exhaustion`]).
    pub fn is_local_exhaustion(&self) -> bool {
        match self {
            UpstreamError::Connect(e) => FailureKind::is_local_exhaustion(e),
            UpstreamError::Send(_) => false,
        }
    }

    /// The error of the request body the proxy was sending, if that is what
    /// failed (hyper calls it a user error and keeps it as the cause).
    pub fn body_error(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            UpstreamError::Send(e) if e.is_user() => std::error::Error::source(e),
            _ => None,
        }
    }
}

impl Backend {
    /// A backend at `addr` for `threads` serving threads, with no
    /// connection yet.
    pub fn new(addr: SocketAddr, threads: usize) -> Backend {
        Backend {
            addr,
            host: HeaderValue::from_str(&addr.to_string())
                .unwrap_or_else(|_| HeaderValue::from_static("backend")),
            idle: (0..threads.max(1)).map(|_| Idle::default()).collect(),
            h2: (0..threads.max(1))
                .map(|_| Multiplexed::default())
                .collect(),
        }
    }

    /// Where this thread's idle connections are in `idle`.
    fn slot(&self) -> usize {
        pickwise_programs::cores::index() % self.idle.len()
    }

    /// Where the backend listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `Host` value for requests that come without one.
    pub fn host(&self) -> &HeaderValue {
        &self.host
    }

    /// Sends `request` over an idle connection, or a new one (connecting
    /// within `connect_timeout`); returns the response head and the
    /// connection's lease. A pooled connection the backend closed before the
    /// request went out (the race every keep-alive client meets) is no
    /// failure: the request goes again on a new connection. On failure the
    /// request comes back if it never left (no connection), so it can go
    /// elsewhere.
    pub async fn send(
        &self,
        mut request: Request<Body>,
        connect_timeout: Duration,
    ) -> Result<(Response<Incoming>, Lease), (UpstreamError, Option<Request<Body>>)> {
        if request.version() == hyper::Version::HTTP_2 {
            return self.send_h2(request, connect_timeout).await;
        }
        if let Some(conn) = self.checkout().await {
            match self.send_on(conn, request).await {
                Err((_, Some(unsent))) => request = unsent,
                done => return done,
            }
        }
        let conn = match connect(self.addr, connect_timeout).await {
            Ok(conn) => conn,
            Err(e) => return Err((e, Some(request))),
        };
        self.send_on(conn, request).await
    }

    async fn send_on(
        &self,
        mut conn: Conn,
        request: Request<Body>,
    ) -> Result<(Response<Incoming>, Lease), (UpstreamError, Option<Request<Body>>)> {
        let response = conn
            .sender
            .try_send_request(request)
            .await
            .map_err(|mut e| {
                let unsent = e.take_message();
                (UpstreamError::Send(e.into_error()), unsent)
            })?;
        let lease = Lease {
            idle: Arc::clone(&self.idle),
            slot: self.slot(),
            conn: Some(conn),
            reusable: false,
        };
        Ok((response, lease))
    }

    /// Sends `request` over this thread's HTTP/2 connection to the
    /// backend, opened (h2c, prior knowledge) if there is none or it
    /// closed. A connection that closed before the request went out is no
    /// failure: the request goes again on a new one.
    async fn send_h2(
        &self,
        mut request: Request<Body>,
        connect_timeout: Duration,
    ) -> Result<(Response<Incoming>, Lease), (UpstreamError, Option<Request<Body>>)> {
        let lease = || Lease {
            idle: Arc::clone(&self.idle),
            slot: self.slot(),
            conn: None,
            reusable: false,
        };
        let open = {
            let mut slot = self.h2[self.slot()].0.lock();
            if slot.as_ref().is_some_and(|c| c.sender.is_closed()) {
                *slot = None;
            }
            slot.clone()
        };
        if let Some(mut conn) = open {
            match conn.sender.try_send_request(request).await {
                Ok(response) => return Ok((response, lease())),
                Err(mut e) => match e.take_message() {
                    Some(unsent) => request = unsent,
                    None => return Err((UpstreamError::Send(e.into_error()), None)),
                },
            }
        }
        let mut conn = match connect_h2(self.addr, connect_timeout).await {
            Ok(conn) => conn,
            Err(e) => return Err((e, Some(request))),
        };
        *self.h2[self.slot()].0.lock() = Some(conn.clone());
        match conn.sender.try_send_request(request).await {
            Ok(response) => Ok((response, lease())),
            Err(mut e) => {
                let unsent = e.take_message();
                Err((UpstreamError::Send(e.into_error()), unsent))
            }
        }
    }

    /// The most recently used idle connection that is still open and fresh
    /// (its socket is the likeliest to be warm); stale ones are closed.
    async fn checkout(&self) -> Option<Conn> {
        loop {
            let mut conn = {
                let mut idle = self.idle[self.slot()].0.lock();
                let now = Instant::now();
                // The oldest are at the front: close those gone stale.
                while idle.front().is_some_and(|c| c.is_stale(now)) {
                    idle.pop_front();
                }
                idle.pop_back()?
            };
            if conn.is_stale(Instant::now()) {
                continue;
            }
            // Ready once the previous response has been read to the end,
            // which it has (only then is a connection put back): at once.
            if conn.sender.ready().await.is_ok() {
                return Some(conn);
            }
        }
    }
}

/// The largest response head a backend may send (nginx refuses more than
/// its 4-8 KiB `proxy_buffer_size` with 502 "upstream sent too big
/// header", HAProxy more than its 16 KiB buffer): past it the response is
/// an invalid one, the backend's failure, and the client gets 502 rather
/// than the proxy holding hyper's default 400 KiB per connection.
pub const MAX_RESPONSE_HEAD: usize = 32 * 1024;

/// A TCP connection to `addr` within `timeout`, with Nagle off and dead
/// peers detected: what both protocols' connections start from.
async fn open(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, UpstreamError> {
    let connecting = tokio::time::timeout(timeout, TcpStream::connect(addr));
    let stream = match connecting.await {
        Ok(connected) => connected.map_err(UpstreamError::Connect)?,
        Err(_) => return Err(UpstreamError::Connect(io::ErrorKind::TimedOut.into())),
    };
    let _ = stream.set_nodelay(true);
    if let Err(e) = detect_dead_peers(&stream) {
        tracing::debug!("cannot set keepalive on the connection to {addr}: {e}");
    }
    Ok(stream)
}

async fn connect(addr: SocketAddr, timeout: Duration) -> Result<Conn, UpstreamError> {
    let stream = open(addr, timeout).await?;
    let (sender, connection) = http1::Builder::new()
        .max_buf_size(MAX_RESPONSE_HEAD)
        .handshake(TokioIo::new(stream))
        .await
        .map_err(UpstreamError::Send)?;
    let task = tokio::spawn(async move {
        // Ends when either side closes; the sender sees it as `is_closed`.
        let _ = connection.await;
    });
    Ok(Conn {
        sender,
        task,
        idle_since: Instant::now(),
    })
}

/// An HTTP/2 connection with prior knowledge (h2c), as gRPC servers and
/// nginx's `grpc_pass` speak it.
async fn connect_h2(addr: SocketAddr, timeout: Duration) -> Result<H2Conn, UpstreamError> {
    let stream = open(addr, timeout).await?;
    let (sender, connection) = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_KEEPALIVE)
        .keep_alive_timeout(H2_KEEPALIVE)
        .max_header_list_size(MAX_RESPONSE_HEAD as u32)
        .handshake(TokioIo::new(stream))
        .await
        .map_err(UpstreamError::Send)?;
    let task = tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(H2Conn {
        sender,
        _task: Arc::new(AbortOnDrop(task)),
    })
}

/// TCP keepalive and, on Linux, `TCP_USER_TIMEOUT`: a connection whose peer
/// went silent (a firewall dropping, a host gone) errors out in seconds.
fn detect_dead_peers(stream: &TcpStream) -> io::Result<()> {
    let socket = SockRef::from(stream);
    let keepalive = TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(KEEPALIVE_INTERVAL);
    #[cfg(target_os = "linux")]
    let keepalive = keepalive.with_retries(KEEPALIVE_RETRIES);
    socket.set_tcp_keepalive(&keepalive)?;
    #[cfg(target_os = "linux")]
    socket.set_tcp_user_timeout(Some(USER_TIMEOUT))?;
    Ok(())
}

/// A connection in use. Dropped once the response body is done: back to
/// its backend's idle stack if the body was read to its end
/// ([`reusable`](Lease::reusable)), closed otherwise.
pub struct Lease {
    /// The backend's idle stacks, and this thread's among them.
    idle: Arc<[Idle]>,
    slot: usize,
    conn: Option<Conn>,
    reusable: bool,
}

impl Lease {
    /// The response was read to its end: the connection can carry another.
    pub fn reusable(&mut self) {
        self.reusable = true;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        if !self.reusable || conn.sender.is_closed() {
            return;
        }
        conn.idle_since = Instant::now();
        let mut idle = self.idle[self.slot].0.lock();
        if idle.len() < MAX_IDLE {
            idle.push_back(conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use http_body_util::BodyExt as _;
    use hyper::rt::{Read, ReadBufCursor, Write};

    use super::*;

    /// A connection already open whose peer went silent: writes go out,
    /// and the read fails as TCP_USER_TIMEOUT makes it fail.
    struct SilentPeer;

    impl Read for SilentPeer {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: ReadBufCursor<'_>,
        ) -> Poll<io::Result<()>> {
            Poll::Ready(Err(io::ErrorKind::TimedOut.into()))
        }
    }

    impl Write for SilentPeer {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn a_timeout_on_an_open_connection_is_a_response_timeout_not_a_connect_timeout() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let error = runtime.block_on(async {
            let (mut sender, connection) = http1::handshake(SilentPeer).await.unwrap();
            tokio::spawn(connection);
            let request = Request::get("/")
                .header("host", "backend")
                .body(crate::body::Body::new(
                    http_body_util::Empty::new().map_err(|never| match never {}),
                ))
                .unwrap();
            sender.send_request(request).await.unwrap_err()
        });
        let error = UpstreamError::Send(error);
        assert_eq!(error.failure_kind(), FailureKind::Timeout, "{error}");
        // The same error on connect is a connect timeout.
        let connect = UpstreamError::Connect(io::ErrorKind::TimedOut.into());
        assert_eq!(connect.failure_kind(), FailureKind::ConnectTimeout);
    }
}
