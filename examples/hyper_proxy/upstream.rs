//! Keep-alive HTTP/1.1 connections to the backends: one stack of idle
//! connections per backend, taken for a request and put back when its
//! response body has been relayed.
//!
//! Written for the proxy rather than using hyper-util's general client: the
//! backend is already chosen (by the balancer), so there is no per-request
//! URI parsing, host keying or pool bookkeeping to pay for.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use pickwise::FailureKind;
use tokio::net::TcpStream;

use crate::Body;

/// Idle connections kept per backend; more are closed when returned.
const MAX_IDLE: usize = 1024;

pub struct Upstreams {
    idle: Vec<Mutex<Vec<SendRequest<Body>>>>,
    connect_timeout: Duration,
}

/// Why a request to a backend failed.
#[derive(Debug)]
pub enum UpstreamError {
    /// No connection: the request never left.
    Connect(io::Error),
    /// The connection failed while sending or before the response head.
    Send(hyper::Error),
}

impl UpstreamError {
    /// What passive health should count.
    pub fn failure_kind(&self) -> FailureKind {
        match self {
            UpstreamError::Connect(e) => FailureKind::from_io(e),
            UpstreamError::Send(e) => {
                let io = std::error::Error::source(e).and_then(|s| s.downcast_ref::<io::Error>());
                io.map_or(FailureKind::Reset, FailureKind::from_io)
            }
        }
    }
}

impl Upstreams {
    /// Room for `backends` backends, numbered by the payload's index.
    pub fn new(backends: usize, connect_timeout: Duration) -> Arc<Self> {
        Arc::new(Upstreams {
            idle: (0..backends).map(|_| Mutex::new(Vec::new())).collect(),
            connect_timeout,
        })
    }

    /// Sends `request` to backend `index` at `addr` over an idle connection,
    /// or a new one; returns the response head and the connection's lease.
    /// On failure the request comes back if it never left (no connection, or
    /// a pooled connection that closed first), so it can go elsewhere.
    pub async fn send(
        self: &Arc<Self>,
        index: usize,
        addr: SocketAddr,
        request: Request<Body>,
    ) -> Result<(Response<Incoming>, Lease), (UpstreamError, Option<Request<Body>>)> {
        let mut sender = match self.checkout(index).await {
            Some(sender) => sender,
            None => match self.connect(addr).await {
                Ok(sender) => sender,
                Err(e) => return Err((e, Some(request))),
            },
        };
        let response = sender.try_send_request(request).await.map_err(|mut e| {
            let unsent = e.take_message();
            (UpstreamError::Send(e.into_error()), unsent)
        })?;
        let lease = Lease {
            upstreams: Arc::clone(self),
            index,
            sender: Some(sender),
        };
        Ok((response, lease))
    }

    /// The most recently used idle connection that is still open (its
    /// socket is the likeliest to be warm and not yet timed out).
    async fn checkout(&self, index: usize) -> Option<SendRequest<Body>> {
        loop {
            let mut sender = self.idle.get(index)?.lock().pop()?;
            // Ready once the previous response has been read to the end.
            if !sender.is_closed() && sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    async fn connect(&self, addr: SocketAddr) -> Result<SendRequest<Body>, UpstreamError> {
        let connecting = tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr));
        let stream = match connecting.await {
            Ok(connected) => connected.map_err(UpstreamError::Connect)?,
            Err(_) => return Err(UpstreamError::Connect(io::ErrorKind::TimedOut.into())),
        };
        let _ = stream.set_nodelay(true);
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(UpstreamError::Send)?;
        tokio::spawn(async move {
            // Ends when either side closes; the lease sees it as `is_closed`.
            let _ = connection.await;
        });
        Ok(sender)
    }
}

/// A connection in use; dropping it (when the response body is done)
/// returns the connection to its backend's idle stack.
pub struct Lease {
    upstreams: Arc<Upstreams>,
    index: usize,
    sender: Option<SendRequest<Body>>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Some(sender) = self.sender.take() else {
            return;
        };
        if sender.is_closed() {
            return;
        }
        if let Some(idle) = self.upstreams.idle.get(self.index) {
            let mut idle = idle.lock();
            if idle.len() < MAX_IDLE {
                idle.push(sender);
            }
        }
    }
}
