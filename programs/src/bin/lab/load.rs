//! The lab's users: a few clients sending GETs (and, if asked, some POSTs)
//! through the proxy on keep-alive connections (hyper), or with `grpc`
//! unary gRPC calls (`pickwise.lab.Worker/Name`) over one HTTP/2
//! connection each, as a gRPC client does; each from its own
//! loopback address so the hash strategies see several clients, every
//! request's latency and outcome recorded with the connection it went on;
//! and a bulk upload that fills a host's link.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Bytes, Frame};
use hyper::client::conn::http1::SendRequest;
use hyper::header::HOST;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpSocket;
use tokio::task::JoinHandle;

/// A request with no complete answer by then has failed.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(10);

/// One request as its client saw it.
#[derive(Clone, Debug)]
pub struct Sample {
    /// When it was sent.
    pub sent: Instant,
    pub latency: Duration,
    /// GET, or POST (not idempotent: a proxy may not send it twice).
    pub method: &'static str,
    /// Whether it was the first request on its connection to the proxy.
    pub fresh: bool,
    /// The worker that answered the previous request on the same
    /// connection (through a TCP forwarder, the one the connection is tied to).
    pub pinned: Option<String>,
    /// The worker that answered (its `X-Worker` header), or why it failed:
    /// a status other than 200, a transport error, no answer in 10 s.
    pub result: Result<String, String>,
}

/// What a failed request's client saw, by kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// An answer with a status other than 200.
    Status,
    /// The connection failed: connect, reset, closed before the answer, body cut.
    Transport,
    /// No complete answer within [`REQUEST_DEADLINE`].
    Timeout,
}

impl Sample {
    /// Why it failed, by kind; None when it succeeded.
    pub fn failure(&self) -> Option<FailureKind> {
        let why = self.result.as_ref().err()?;
        Some(if why.starts_with("status ") {
            FailureKind::Status
        } else if why == TIMED_OUT {
            FailureKind::Timeout
        } else {
            FailureKind::Transport
        })
    }
}

/// A request's failure when no answer came in time.
const TIMED_OUT: &str = "no answer within 10 s";

/// How the clients load the proxy.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub clients: usize,
    /// Time between one client's requests.
    pub interval: Duration,
    /// A client opens a new connection after this many requests on one
    /// (None: it keeps its connection until a request fails).
    pub per_connection: Option<u32>,
    /// Every Nth request of a client is a small POST (None: GETs only).
    pub post_every: Option<u32>,
    /// gRPC calls over HTTP/2 (h2c) instead of HTTP/1.1 GETs and POSTs.
    pub grpc: bool,
}

/// Clients running until stopped or their bound is reached.
pub struct Load {
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
    clients: Vec<JoinHandle<()>>,
}

impl Load {
    /// Starts `clients` clients, each sending one GET every `interval` (or
    /// as soon as its previous answer arrives, when slower) to `proxy`, for
    /// at most `limit` and `limit / interval` requests.
    /// With `grpc`, each request is a gRPC call over HTTP/2.
    pub fn start(
        proxy: SocketAddr,
        clients: usize,
        interval: Duration,
        limit: Duration,
        grpc: bool,
    ) -> Load {
        let shape = Shape {
            clients,
            interval,
            per_connection: None,
            post_every: None,
            grpc,
        };
        Load::shaped(proxy, shape, limit)
    }

    /// Starts the clients `shape` describes, for at most `limit` and
    /// `limit / interval` requests each.
    pub fn shaped(proxy: SocketAddr, shape: Shape, limit: Duration) -> Load {
        let Shape {
            clients, interval, ..
        } = shape;
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let deadline = Instant::now() + limit;
        let bound = (limit.as_millis() / interval.as_millis().max(1)) as u64 + 1;
        let clients = (0..clients)
            .map(|i| {
                let source = match proxy.ip() {
                    IpAddr::V4(ip) if ip.is_loopback() => {
                        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 11 + (i % 200) as u8))
                    }
                    IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
                };
                let client = Client {
                    proxy,
                    source,
                    connection: None,
                    shape,
                    sent_on_connection: 0,
                    last_worker: None,
                };
                tokio::spawn(client.run(interval, deadline, bound, stop.clone(), samples.clone()))
            })
            .collect();
        Load {
            samples,
            stop,
            clients,
        }
    }

    /// Whether `worker` answered a request sent at or after `since`.
    pub fn served_since(&self, worker: &str, since: Instant) -> bool {
        self.samples.lock().is_ok_and(|samples| {
            samples
                .iter()
                .any(|s| s.sent >= since && s.result.as_deref() == Ok(worker))
        })
    }

    /// Stops the clients (a request in flight finishes or times out) and
    /// returns every sample.
    pub async fn stop(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        for client in self.clients {
            let _ = client.await;
        }
        let mut samples =
            std::mem::take(&mut *self.samples.lock().unwrap_or_else(|e| e.into_inner()));
        samples.sort_by_key(|s| s.sent);
        samples
    }
}

/// A client's connection to the proxy.
enum Connection {
    Http1(SendRequest<Full<Bytes>>),
    Http2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

impl Connection {
    fn is_closed(&self) -> bool {
        match self {
            Connection::Http1(sender) => sender.is_closed(),
            Connection::Http2(sender) => sender.is_closed(),
        }
    }
}

struct Client {
    proxy: SocketAddr,
    source: IpAddr,
    connection: Option<Connection>,
    shape: Shape,
    /// Requests sent on the current connection.
    sent_on_connection: u32,
    /// The worker that answered the last request on the current connection.
    last_worker: Option<String>,
}

impl Client {
    async fn run(
        mut self,
        interval: Duration,
        deadline: Instant,
        bound: u64,
        stop: Arc<AtomicBool>,
        samples: Arc<Mutex<Vec<Sample>>>,
    ) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for n in 0..bound {
            ticks.tick().await;
            if stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
                break;
            }
            let used_up = self
                .shape
                .per_connection
                .is_some_and(|most| self.sent_on_connection >= most);
            if used_up || self.connection.as_ref().is_some_and(|c| c.is_closed()) {
                self.connection = None;
            }
            if self.connection.is_none() {
                self.sent_on_connection = 0;
                self.last_worker = None;
            }
            let post = self
                .shape
                .post_every
                .is_some_and(|every| every > 0 && n % u64::from(every) == u64::from(every) - 1);
            let (fresh, pinned) = (self.connection.is_none(), self.last_worker.clone());
            let sent = Instant::now();
            self.sent_on_connection += 1;
            let result = match tokio::time::timeout(REQUEST_DEADLINE, self.send(post)).await {
                Ok(result) => result,
                Err(_) => Err(TIMED_OUT.into()),
            };
            match &result {
                Ok(worker) => self.last_worker = Some(worker.clone()),
                // Whatever the connection's state, start afresh.
                Err(_) => self.connection = None,
            }
            let sample = Sample {
                sent,
                latency: sent.elapsed(),
                method: match (self.shape.grpc, post) {
                    (true, _) => "gRPC",
                    (false, true) => "POST",
                    (false, false) => "GET",
                },
                fresh,
                pinned,
                result,
            };
            if let Ok(mut samples) = samples.lock() {
                samples.push(sample);
            }
        }
    }

    async fn send(&mut self, post: bool) -> Result<String, String> {
        let connection = match &mut self.connection {
            Some(connection) if !connection.is_closed() => connection,
            _ => self
                .connection
                .insert(connect(self.source, self.proxy, self.shape.grpc).await?),
        };
        let sender = match connection {
            Connection::Http1(sender) => sender,
            Connection::Http2(sender) => return call(sender, self.proxy).await,
        };
        sender
            .ready()
            .await
            .map_err(|e| format!("connection lost: {e}"))?;
        let request = if post {
            Request::post("/")
                .header(HOST, self.proxy.to_string())
                .body(Full::new(Bytes::from_static(b"chaos=1")))
        } else {
            Request::get("/")
                .header(HOST, self.proxy.to_string())
                .body(Full::new(Bytes::new()))
        }
        .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("transport error: {e}"))?;
        let status = response.status();
        let worker = response
            .headers()
            .get("x-worker")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body cut: {e}"))?
            .to_bytes();
        if status != hyper::StatusCode::OK {
            let why = String::from_utf8_lossy(&body);
            return Err(format!("status {}: {}", status.as_u16(), why.trim()));
        }
        let name = String::from_utf8_lossy(&body).trim().to_owned();
        Ok(worker.unwrap_or(name))
    }
}

/// One unary gRPC call of `pickwise.lab.Worker/Name`: the worker's name
/// from the reply (field 1), or why the call failed (its gRPC status).
async fn call(
    sender: &mut hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    proxy: SocketAddr,
) -> Result<String, String> {
    sender
        .ready()
        .await
        .map_err(|e| format!("connection lost: {e}"))?;
    let request = Request::post(format!("http://{proxy}/pickwise.lab.Worker/Name"))
        .version(hyper::Version::HTTP_2)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        // An empty message, length-prefixed.
        .body(Full::new(Bytes::from_static(&[0, 0, 0, 0, 0])))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("transport error: {e}"))?;
    let status = response.status();
    let head_status = response.headers().get("grpc-status").cloned();
    let collected = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body cut: {e}"))?;
    let grpc_status = collected
        .trailers()
        .and_then(|t| t.get("grpc-status").cloned())
        .or(head_status);
    let body = collected.to_bytes();
    if status != hyper::StatusCode::OK {
        let why = String::from_utf8_lossy(&body);
        return Err(format!("status {}: {}", status.as_u16(), why.trim()));
    }
    match grpc_status.as_ref().map(|v| v.as_bytes()) {
        Some(b"0") => {}
        Some(code) => return Err(format!("status {} (gRPC)", String::from_utf8_lossy(code))),
        None => return Err("status none: the call ended with no gRPC status".into()),
    }
    // 5 bytes of framing, then 0x0a, the name's length, the name.
    match body.get(5..) {
        Some([0x0a, len, name @ ..]) if usize::from(*len) == name.len() => {
            Ok(String::from_utf8_lossy(name).into_owned())
        }
        _ => Err(format!(
            "status 200 with a reply that has no name: {body:?}"
        )),
    }
}

/// A keep-alive connection from `source` (port 0) to `proxy`: HTTP/1.1,
/// or with `grpc` HTTP/2 with prior knowledge.
async fn connect(source: IpAddr, proxy: SocketAddr, grpc: bool) -> Result<Connection, String> {
    let socket = match proxy {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(|e| format!("socket: {e}"))?;
    socket
        .bind(SocketAddr::new(source, 0))
        .map_err(|e| format!("bind {source}: {e}"))?;
    let stream = socket
        .connect(proxy)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    if grpc {
        let (sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(connection);
        return Ok(Connection::Http2(sender));
    }
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(connection);
    Ok(Connection::Http1(sender))
}

/// A request body of 64 KiB chunks, sent as fast as the link takes them,
/// until a deadline.
struct Flood {
    chunk: Bytes,
    until: Instant,
}

impl Body for Flood {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if Instant::now() >= self.until {
            return Poll::Ready(None);
        }
        Poll::Ready(Some(Ok(Frame::data(self.chunk.clone()))))
    }
}

/// Uploads to `worker` (directly, not through the proxy) until `until`: the
/// other traffic that fills a congested link. Bounded by the deadline and
/// the link's rate; gives up 15 s after the deadline at the latest.
pub fn flood(worker: SocketAddr, until: Instant) -> JoinHandle<()> {
    tokio::spawn(async move {
        let upload = async {
            let stream = tokio::net::TcpStream::connect(worker).await.ok()?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .ok()?;
            tokio::spawn(connection);
            let body = Flood {
                chunk: Bytes::from(vec![b'x'; 64 * 1024]),
                until,
            };
            let request = Request::post("/")
                .header(HOST, worker.to_string())
                .body(body)
                .ok()?;
            sender.send_request(request).await.ok()
        };
        let limit = until.saturating_duration_since(Instant::now()) + Duration::from_secs(15);
        let _ = tokio::time::timeout(limit, upload).await;
    })
}
