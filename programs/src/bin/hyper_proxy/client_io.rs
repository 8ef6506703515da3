//! A client connection's socket with a send timeout: a write that cannot
//! go out for `--send-timeout-ms` (the client stopped reading: its window
//! or its socket buffer is full) fails the connection, as nginx's
//! `send_timeout` and HAProxy's `timeout client` do. The connection's
//! requests end with it, their picks released and nothing counted against
//! their backends: the client left, the backend did its part.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Sleep;

/// The error a stalled send ends the connection with.
#[derive(Debug)]
pub struct ClientStoppedReading(pub Duration);

impl fmt::Display for ClientStoppedReading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the client read nothing for {:?}", self.0)
    }
}

impl std::error::Error for ClientStoppedReading {}

/// The client's socket, its writes bounded in time.
pub struct ClientIo {
    inner: TokioIo<TcpStream>,
    timeout: Duration,
    /// Runs while a write waits; made on the first wait.
    stalled: Option<Pin<Box<Sleep>>>,
    waiting: bool,
}

impl ClientIo {
    pub fn new(stream: TcpStream, timeout: Duration) -> Self {
        ClientIo {
            inner: TokioIo::new(stream),
            timeout,
            stalled: None,
            waiting: false,
        }
    }

    /// After a write (or flush) came back `Pending`: the timer runs from
    /// the first such wait, and fails the connection when it fires.
    fn wait(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        if !self.waiting {
            self.waiting = true;
            let until = tokio::time::Instant::now() + self.timeout;
            match &mut self.stalled {
                Some(timer) => timer.as_mut().reset(until),
                None => self.stalled = Some(Box::pin(tokio::time::sleep_until(until))),
            }
        }
        match self.stalled.as_mut().map(|t| t.as_mut().poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(io::Error::new(
                io::ErrorKind::TimedOut,
                ClientStoppedReading(self.timeout),
            )),
            _ => Poll::Pending,
        }
    }

    fn done<T>(
        &mut self,
        result: Poll<io::Result<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<T>> {
        match result {
            Poll::Pending => self.wait(cx).map(Err),
            ready => {
                self.waiting = false;
                ready
            }
        }
    }
}

impl Read for ClientIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl Write for ClientIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.done(result, cx)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_flush(cx);
        self.done(result, cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.done(result, cx)
    }
}

/// What a client connection's end says worth logging: a send timeout, or
/// an HTTP/2 connection the proxy closed for breaking its limits (rapid
/// resets, a flood); `None` for the routine (the client hung up).
pub fn notable(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        // io::Error's source() skips the error it wraps: look inside.
        let wrapped = e
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<ClientStoppedReading>());
        if let Some(stalled) = wrapped.or_else(|| e.downcast_ref::<ClientStoppedReading>()) {
            return Some(format!(
                "{stalled}: connection closed, its requests' backends not blamed"
            ));
        }
        if let Some(h2) = e.downcast_ref::<h2::Error>() {
            if h2.is_go_away() && !h2.is_remote() {
                let reason = h2.reason().map_or("?".into(), |r| format!("{r:?}: {r}"));
                return Some(format!("HTTP/2 connection closed by the proxy: {reason}"));
            }
            return None;
        }
        cause = e.source();
    }
    None
}

/// The response streams of one HTTP/2 client connection, watched for a
/// client that stops reading one of them: HTTP/2's flow control then holds
/// the stream (and its pick) with the socket still free, so the send
/// timeout of [`ClientIo`] never sees it. Each stream's relay notes when it
/// handed a frame over and was not asked for the next; a stream waiting so
/// longer than the send timeout closes the connection.
#[derive(Default)]
pub struct StreamStalls {
    streams: parking_lot::Mutex<Vec<std::sync::Weak<StreamClock>>>,
}

/// One stream's clock: milliseconds (since [`epoch`]) at which it handed a
/// frame over and has not been asked for the next, 0 when it is not waiting
/// on the client.
#[derive(Default)]
pub struct StreamClock(std::sync::atomic::AtomicU64);

/// The time base of the stream clocks.
fn epoch() -> std::time::Instant {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(std::time::Instant::now)
}

fn now_ms() -> u64 {
    (epoch().elapsed().as_millis() as u64).max(1)
}

impl StreamClock {
    /// The stream handed a frame over: it waits on the client from now.
    pub fn handed_over(&self) {
        self.0.store(now_ms(), std::sync::atomic::Ordering::Relaxed);
    }

    /// The client asked for more: it is not waiting.
    pub fn asked(&self) {
        self.0.store(0, std::sync::atomic::Ordering::Relaxed);
    }
}

impl StreamStalls {
    /// A clock for a new stream of this connection.
    pub fn clock(&self) -> std::sync::Arc<StreamClock> {
        let clock = std::sync::Arc::new(StreamClock::default());
        let mut streams = self.streams.lock();
        if streams.len() >= 64 {
            streams.retain(|s| s.strong_count() > 0);
        }
        streams.push(std::sync::Arc::downgrade(&clock));
        clock
    }

    /// Resolves when a stream has waited on the client for longer than
    /// `timeout` (checked every quarter of it).
    pub async fn stalled(&self, timeout: Duration) -> Duration {
        let every = (timeout / 4).max(Duration::from_millis(50));
        let limit = timeout.as_millis() as u64;
        loop {
            tokio::time::sleep(every).await;
            let now = now_ms();
            let mut streams = self.streams.lock();
            streams.retain(|s| s.strong_count() > 0);
            let oldest = streams
                .iter()
                .filter_map(|s| s.upgrade())
                .map(|c| c.0.load(std::sync::atomic::Ordering::Relaxed))
                .filter(|&since| since > 0)
                .min();
            if let Some(since) = oldest {
                if now.saturating_sub(since) > limit {
                    return Duration::from_millis(now - since);
                }
            }
        }
    }
}
