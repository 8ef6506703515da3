//! `worker`: the tiny HTTP backend that `pickwise` examples, tests and
//! benchmarks put behind a load balancer (nginx, HAProxy or our own proxy).
//!
//! ```text
//! cargo run --release --example worker -- --listen 127.0.0.1:8001 --name w1 \
//!     [--agent 127.0.0.1:9001] [--delay-ms N] [--threads N] [--capacity N] \
//!     [--drain-file PATH]
//! ```
//!
//! * `--listen HOST:PORT` (required; port 0 picks a free port). The first
//!   line on stdout is `listening on ADDR` with the address actually bound;
//!   with `--agent` a second line `agent listening on ADDR` follows.
//! * `--name NAME`: what the worker answers with; defaults to `$HOSTNAME`,
//!   else `worker`.
//! * `--delay-ms N`: service time slept before answering each request.
//! * `--threads N`: serve at most N connections at once (one thread each);
//!   further clients wait in the kernel's accept queue, like a fixed-size
//!   pre-forked server. Without it every connection gets its own thread.
//! * `--capacity N` (default 64): requests in flight counted as "full" by the
//!   agent port.
//! * `--drain-file PATH`: while this file exists the worker reports `drain`.
//! * `--agent HOST:PORT`: an HAProxy `agent-check` port. Each connection gets
//!   one line and is closed: `drain` when draining, otherwise
//!   `up ready NN%` where NN = max(1, 100 - 100 * in_flight / capacity).
//!
//! HTTP/1.1 with keep-alive and pipelining (HTTP/1.0 only keeps the
//! connection when asked). Any method on any path answers `200 text/plain`
//! whose body is the worker's name on a line of its own, except:
//!
//! * `POST /admin/drain` / `POST /admin/ready` switch draining on / off;
//! * `GET /admin/status` answers `drain` or `ready`.
//!
//! Draining only changes what the agent port reports: the worker keeps
//! serving, since stopping traffic is the balancer's job. Admin requests get
//! no `--delay-ms` and do not count as load.
//!
//! Request heads over 16 KiB get 431, malformed ones 400, request bodies
//! (`Content-Length` only) are read and discarded. Idle keep-alive
//! connections are closed after 60 s, a head not completed within 10 s gets
//! 408. std only, so it builds anywhere the crate does.

use std::env;
use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: worker --listen HOST:PORT [--name NAME] [--agent HOST:PORT] \
[--delay-ms N] [--threads N] [--capacity N] [--drain-file PATH]";

/// Largest request head (request line + headers) accepted; also the size of
/// each connection's read buffer.
const HEAD_LIMIT: usize = 16 * 1024;
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Time allowed to finish a request head once it has started, and the longest
/// pause tolerated inside a request body.
const STALL_TIMEOUT: Duration = Duration::from_secs(10);
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);
const LINGER_TIME: Duration = Duration::from_millis(500);
const LINGER_BYTES: usize = 256 * 1024;
/// Pipelined responses are batched into one write up to this size.
const OUT_FLUSH_AT: usize = 64 * 1024;
/// Connection threads only hold a few small frames; the buffers are on the
/// heap, so a small stack lets thousands of connections coexist.
const THREAD_STACK: usize = 256 * 1024;
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

fn main() {
    if env::args().skip(1).any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return;
    }
    let config = Config::from_args(env::args().skip(1)).unwrap_or_else(|msg| {
        eprintln!("worker: {msg}\n{USAGE}");
        process::exit(2);
    });
    let listener = bind("--listen", &config.listen);
    let agent = config.agent.as_deref().map(|addr| bind("--agent", addr));
    announce(&listener, agent.as_ref());

    let shared = Arc::new(Shared::new(&config));
    if let Some(agent) = agent {
        let shared = Arc::clone(&shared);
        thread::Builder::new()
            .name("agent".into())
            .spawn(move || serve_agent(&agent, &shared))
            .unwrap_or_else(|e| fail(format_args!("cannot start the agent thread: {e}")));
    }
    let slots = config.threads.map(Slots::new);
    serve_http(&listener, &shared, slots.as_ref());
}

struct Config {
    listen: String,
    agent: Option<String>,
    name: String,
    delay: Duration,
    threads: Option<usize>,
    capacity: usize,
    drain_file: Option<PathBuf>,
}

impl Config {
    /// Accepts both `--flag value` and `--flag=value`.
    fn from_args(mut args: impl Iterator<Item = String>) -> Result<Config, String> {
        let mut config = Config {
            listen: String::new(),
            agent: None,
            name: env::var("HOSTNAME")
                .ok()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "worker".into()),
            delay: Duration::ZERO,
            threads: None,
            capacity: 64,
            drain_file: None,
        };
        while let Some(arg) = args.next() {
            let (flag, mut inline) = match arg.split_once('=') {
                Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
                None => (arg, None),
            };
            let mut value = || {
                inline
                    .take()
                    .or_else(|| args.next())
                    .ok_or_else(|| format!("{flag} needs a value"))
            };
            match flag.as_str() {
                "--listen" => config.listen = value()?,
                "--agent" => config.agent = Some(value()?),
                "--name" => config.name = value()?,
                "--delay-ms" => config.delay = Duration::from_millis(number(&flag, &value()?)?),
                "--threads" => config.threads = Some(positive(&flag, &value()?)?),
                "--capacity" => config.capacity = positive(&flag, &value()?)?,
                "--drain-file" => config.drain_file = Some(value()?.into()),
                _ => return Err(format!("unknown argument {flag:?}")),
            }
        }
        if config.listen.is_empty() {
            return Err("--listen is required".into());
        }
        // The name goes into a header and a body line; keep both well formed.
        if config.name.is_empty() || config.name.chars().any(char::is_control) {
            return Err("--name must be non-empty and without control characters".into());
        }
        Ok(config)
    }
}

fn number<T: FromStr>(flag: &str, text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{flag} expects a number, got {text:?}"))
}

fn positive(flag: &str, text: &str) -> Result<usize, String> {
    match number(flag, text)? {
        0 => Err(format!("{flag} must be at least 1")),
        n => Ok(n),
    }
}

fn bind(flag: &str, addr: &str) -> TcpListener {
    TcpListener::bind(addr).unwrap_or_else(|e| fail(format_args!("cannot bind {flag} {addr}: {e}")))
}

fn fail(msg: fmt::Arguments) -> ! {
    eprintln!("worker: {msg}");
    process::exit(1);
}

/// Tests parse these lines to learn the ports, so they go out (and are
/// flushed) before anything can be served.
fn announce(listener: &TcpListener, agent: Option<&TcpListener>) {
    let local = |l: &TcpListener| {
        l.local_addr()
            .unwrap_or_else(|e| fail(format_args!("cannot read bound address: {e}")))
    };
    let mut text = format!("listening on {}\n", local(listener));
    if let Some(agent) = agent {
        text += &format!("agent listening on {}\n", local(agent));
    }
    let mut out = io::stdout().lock();
    // A parent that stopped reading stdout must not take the server down.
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Writes one line to stderr; unlike `eprintln!` it cannot panic when stderr
/// has gone away.
fn log(msg: fmt::Arguments) {
    let _ = writeln!(io::stderr(), "worker: {msg}");
}

/// State shared by all connections and the agent port.
struct Shared {
    delay: Duration,
    capacity: usize,
    drain_file: Option<PathBuf>,
    draining: AtomicBool,
    in_flight: AtomicUsize,
    /// The name response for each [`Mode`], built once so the hot path only
    /// copies bytes.
    hello: [Canned; 3],
}

impl Shared {
    fn new(config: &Config) -> Shared {
        let body = format!("{}\n", config.name);
        let extra = format!("X-Worker: {}\r\n", config.name);
        let hello = [Mode::KeepAlive11, Mode::KeepAlive10, Mode::Close]
            .map(|mode| Canned::new("200 OK", mode, &extra, &body));
        Shared {
            delay: config.delay,
            capacity: config.capacity,
            drain_file: config.drain_file.clone(),
            draining: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            hello,
        }
    }

    fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
            || self.drain_file.as_ref().is_some_and(|f| f.exists())
    }

    fn agent_line(&self) -> String {
        if self.is_draining() {
            return "drain\n".into();
        }
        let in_flight = self.in_flight.load(Ordering::Relaxed);
        let busy = (in_flight.saturating_mul(100) / self.capacity).min(100);
        // 0% would make HAProxy stop sending entirely; an overloaded worker
        // should still get a trickle, so report at least 1%.
        format!("up ready {}%\n", (100 - busy).max(1))
    }
}

/// Counts a request as in flight for as long as it lives, even on early
/// return or panic.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        InFlight(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The `--threads` limit: a counting semaphore taken *before* accept, so
/// excess clients wait in the kernel backlog instead of being refused.
struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

/// One taken slot, given back when the connection thread ends.
struct Slot(Arc<Slots>);

impl Slots {
    fn new(count: usize) -> Arc<Slots> {
        Arc::new(Slots {
            free: Mutex::new(count),
            freed: Condvar::new(),
        })
    }

    fn acquire(self: &Arc<Self>) -> Slot {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        while *free == 0 {
            free = self
                .freed
                .wait(free)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *free -= 1;
        Slot(Arc::clone(self))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.0.freed.notify_one();
    }
}

fn serve_http(listener: &TcpListener, shared: &Arc<Shared>, slots: Option<&Arc<Slots>>) {
    loop {
        let slot = slots.map(Slots::acquire);
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(e) => {
                accept_failed(&e);
                continue;
            }
        };
        let shared = Arc::clone(shared);
        let spawned = thread::Builder::new()
            .stack_size(THREAD_STACK)
            .spawn(move || {
                let _slot = slot;
                serve_connection(stream, peer, &shared);
            });
        if let Err(e) = spawned {
            log(format_args!("{peer}: cannot start a thread: {e}"));
        }
    }
}

fn accept_failed(e: &io::Error) {
    if e.kind() != ErrorKind::ConnectionAborted {
        log(format_args!("accept failed: {e}"));
        // Typically out of file descriptors: back off rather than spin.
        thread::sleep(Duration::from_millis(50));
    }
}

/// Answers each agent-check connection with one line. The line is computed
/// at accept time; the write and close go to a thread so a slow checker
/// cannot hold up the next one.
fn serve_agent(listener: &TcpListener, shared: &Shared) {
    for conn in listener.incoming() {
        let mut stream = match conn {
            Ok(stream) => stream,
            Err(e) => {
                accept_failed(&e);
                continue;
            }
        };
        let line = shared.agent_line();
        let spawned = thread::Builder::new()
            .stack_size(THREAD_STACK)
            .spawn(move || {
                let _ = stream.set_write_timeout(Some(LINGER_TIME));
                if stream.write_all(line.as_bytes()).is_ok() {
                    linger_close(&stream);
                }
            });
        if let Err(e) = spawned {
            log(format_args!("agent: cannot start a thread: {e}"));
        }
    }
}

/// Closes without losing the last response: closing a socket with unread
/// input makes the kernel send RST, which can destroy data the client has
/// not read yet. So half-close, then drain what the client still sends for a
/// moment (bounded in time and bytes).
fn linger_close(stream: &TcpStream) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let started = Instant::now();
    let mut sink = [0u8; 4096];
    let mut budget = LINGER_BYTES;
    let mut reader = stream;
    while budget > 0 {
        let left = LINGER_TIME.saturating_sub(started.elapsed());
        if left.is_zero() || reader.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match reader.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => budget = budget.saturating_sub(n),
        }
    }
}

fn serve_connection(stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    // Responses are small and complete: don't let Nagle hold them back.
    let setup = stream
        .set_nodelay(true)
        .and_then(|()| stream.set_write_timeout(Some(WRITE_TIMEOUT)));
    if let Err(e) = setup {
        log(format_args!("{peer}: socket setup failed: {e}"));
        return;
    }
    let mut conn = Conn::new(stream, peer, shared);
    let outcome = conn.serve();
    conn.close(outcome);
}

/// Why a connection ends early.
enum Failure {
    /// The client broke the protocol (or was too slow): answer with this
    /// status line and reason, then close.
    Reject(&'static str, &'static str),
    /// The transport failed; nothing more can be said to the client.
    Io(io::Error),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Io(e)
    }
}

fn bad_request(why: &'static str) -> Failure {
    Failure::Reject("400 Bad Request", why)
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// The client hanging up on us is routine and not worth a log line.
fn is_hang_up(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe
    )
}

/// What happens to the connection after a response, which also decides the
/// `Connection` header we send. Used as an index into [`Shared::hello`].
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    KeepAlive11 = 0,
    /// HTTP/1.0 only persists when we say so explicitly.
    KeepAlive10 = 1,
    Close = 2,
}

impl Mode {
    fn header(self) -> &'static str {
        match self {
            Mode::KeepAlive11 => "",
            Mode::KeepAlive10 => "Connection: keep-alive\r\n",
            Mode::Close => "Connection: close\r\n",
        }
    }
}

/// A complete response, plus where its head ends so HEAD can send only that.
struct Canned {
    bytes: Vec<u8>,
    head_len: usize,
}

impl Canned {
    fn new(status: &str, mode: Mode, extra_headers: &str, body: &str) -> Canned {
        let mut text = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}{extra_headers}\r\n",
            body.len(),
            mode.header()
        );
        let head_len = text.len();
        text += body;
        Canned {
            bytes: text.into_bytes(),
            head_len,
        }
    }

    fn bytes(&self, method: Method) -> &[u8] {
        match method {
            Method::Head => &self.bytes[..self.head_len],
            _ => &self.bytes,
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Method {
    Get,
    Head,
    Post,
    Other,
}

#[derive(Clone, Copy, PartialEq)]
enum Target {
    Drain,
    Ready,
    Status,
    /// Everything else gets the name.
    Hello,
}

/// The parts of a request head the worker acts on. Owned (no borrows of the
/// read buffer) so the connection can keep reading while handling it.
struct Request {
    method: Method,
    target: Target,
    mode: Mode,
    body_len: u64,
    expect_continue: bool,
}

/// One client connection. Input is read into a fixed buffer that survives
/// across requests, so pipelined requests that arrive in one read are
/// served from it; output is collected in `out` and written in one call.
struct Conn<'a> {
    stream: TcpStream,
    peer: SocketAddr,
    shared: &'a Shared,
    buf: Box<[u8]>,
    /// Unconsumed input is `buf[start..end]`.
    start: usize,
    end: usize,
    /// Where the search for the end of the head resumes, so a head arriving
    /// in pieces is not rescanned from its start each time.
    scanned: usize,
    out: Vec<u8>,
    /// The socket's current read timeout, to skip redundant syscalls.
    timeout: Option<Duration>,
}

impl<'a> Conn<'a> {
    fn new(stream: TcpStream, peer: SocketAddr, shared: &'a Shared) -> Self {
        Conn {
            stream,
            peer,
            shared,
            buf: vec![0; HEAD_LIMIT].into_boxed_slice(),
            start: 0,
            end: 0,
            scanned: 0,
            out: Vec::with_capacity(1024),
            timeout: None,
        }
    }

    fn serve(&mut self) -> Result<(), Failure> {
        while let Some(head_len) = self.read_head()? {
            let request = parse_head(&self.buf[self.start..self.start + head_len])?;
            self.start += head_len;
            self.answer(&request)?;
            if request.mode == Mode::Close {
                break;
            }
        }
        Ok(())
    }

    fn close(mut self, outcome: Result<(), Failure>) {
        match outcome {
            Ok(()) => match self.flush() {
                Ok(()) => linger_close(&self.stream),
                Err(e) if is_hang_up(&e) => {}
                Err(e) => self.log(&e),
            },
            Err(Failure::Reject(status, why)) => {
                self.log(&why);
                let response = Canned::new(status, Mode::Close, "", &format!("{why}\n"));
                self.out.extend_from_slice(&response.bytes);
                if self.flush().is_ok() {
                    linger_close(&self.stream);
                }
            }
            Err(Failure::Io(e)) if is_hang_up(&e) => {}
            Err(Failure::Io(e)) => self.log(&e),
        }
    }

    fn log(&self, what: &dyn fmt::Display) {
        log(format_args!("{}: {what}", self.peer));
    }

    fn pending(&self) -> usize {
        self.end - self.start
    }

    /// Returns the length of the next request head, at `buf[start..]`,
    /// reading more input as needed. `None` means the client is done: it
    /// closed or stayed idle between requests.
    fn read_head(&mut self) -> Result<Option<usize>, Failure> {
        let mut deadline = None;
        loop {
            self.skip_blank_lines();
            if let Some(len) = self.find_head_end() {
                return Ok(Some(len));
            }
            if self.pending() >= HEAD_LIMIT {
                return Err(Failure::Reject(
                    "431 Request Header Fields Too Large",
                    "request head over 16 KiB",
                ));
            }
            // The client may wait for earlier pipelined answers before
            // sending more, so they must go out before we block.
            self.flush()?;
            let idle = self.pending() == 0;
            let timeout = if idle {
                IDLE_TIMEOUT
            } else {
                let deadline = *deadline.get_or_insert_with(|| Instant::now() + STALL_TIMEOUT);
                deadline.saturating_duration_since(Instant::now())
            };
            if timeout.is_zero() {
                return Err(Failure::Reject(
                    "408 Request Timeout",
                    "request head stalled for 10 s",
                ));
            }
            match self.fill(timeout) {
                Ok(0) if idle => return Ok(None),
                Ok(0) => return Err(eof("connection closed mid-head")),
                Ok(_) => {}
                Err(e) if is_timeout(&e) && idle => return Ok(None),
                Err(e) if is_timeout(&e) => {} // the deadline check above fires
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Tolerates stray line ends between requests (RFC 9112 §2.2), e.g. a
    /// CRLF some clients add after a POST body.
    fn skip_blank_lines(&mut self) {
        while self.start < self.end && matches!(self.buf[self.start], b'\r' | b'\n') {
            self.start += 1;
        }
    }

    /// Finds the empty line ending the head and returns the head's length.
    /// Bare LF line ends are accepted too, so hand-typed requests work.
    fn find_head_end(&mut self) -> Option<usize> {
        let data = &self.buf[..self.end];
        let mut at = self.scanned.max(self.start);
        while let Some(offset) = data[at..].iter().position(|&b| b == b'\n') {
            let newline = at + offset;
            match (data.get(newline + 1), data.get(newline + 2)) {
                (Some(b'\n'), _) => return Some(newline + 2 - self.start),
                (Some(b'\r'), Some(b'\n')) => return Some(newline + 3 - self.start),
                // Can't tell yet: look at this newline again after more input.
                (None, _) | (Some(b'\r'), None) => {
                    self.scanned = newline;
                    return None;
                }
                _ => at = newline + 1,
            }
        }
        self.scanned = self.end;
        None
    }

    /// Reads more input after the pending bytes; returns how much (0 at EOF).
    fn fill(&mut self, timeout: Duration) -> io::Result<usize> {
        if self.timeout != Some(timeout) {
            self.stream.set_read_timeout(Some(timeout))?;
            self.timeout = Some(timeout);
        }
        if self.start == self.end || self.end == self.buf.len() {
            self.compact();
        }
        let n = self.stream.read(&mut self.buf[self.end..])?;
        self.end += n;
        Ok(n)
    }

    fn compact(&mut self) {
        self.buf.copy_within(self.start..self.end, 0);
        self.scanned = self.scanned.saturating_sub(self.start);
        self.end -= self.start;
        self.start = 0;
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.stream.write_all(&self.out)?;
            self.out.clear();
        }
        Ok(())
    }

    fn answer(&mut self, request: &Request) -> Result<(), Failure> {
        let shared = self.shared;
        if request.target == Target::Hello {
            let _load = InFlight::enter(&shared.in_flight);
            self.discard_body(request)?;
            self.pause()?;
            let canned = &shared.hello[request.mode as usize];
            self.out.extend_from_slice(canned.bytes(request.method));
        } else {
            self.discard_body(request)?;
            let (status, extra, body) = admin(shared, request);
            let canned = Canned::new(status, request.mode, extra, body);
            self.out.extend_from_slice(canned.bytes(request.method));
        }
        if self.out.len() >= OUT_FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    /// Sleeps the `--delay-ms` service time. Earlier pipelined answers go out
    /// first so they are not held up by this request's delay.
    fn pause(&mut self) -> io::Result<()> {
        if !self.shared.delay.is_zero() {
            self.flush()?;
            thread::sleep(self.shared.delay);
        }
        Ok(())
    }

    fn discard_body(&mut self, request: &Request) -> Result<(), Failure> {
        let mut left = request.body_len;
        if request.expect_continue && left > self.pending() as u64 {
            self.out.extend_from_slice(CONTINUE);
        }
        loop {
            let take = left.min(self.pending() as u64);
            self.start += take as usize;
            left -= take;
            if left == 0 {
                return Ok(());
            }
            self.flush()?;
            match self.fill(STALL_TIMEOUT) {
                Ok(0) => return Err(eof("connection closed mid-body")),
                Ok(_) => {}
                Err(e) if is_timeout(&e) => {
                    return Err(Failure::Reject(
                        "408 Request Timeout",
                        "request body stalled for 10 s",
                    ))
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

fn eof(what: &'static str) -> Failure {
    Failure::Io(io::Error::new(ErrorKind::UnexpectedEof, what))
}

/// Handles the admin endpoints: returns status line, extra headers, body.
fn admin(shared: &Shared, request: &Request) -> (&'static str, &'static str, &'static str) {
    let state = |draining: bool| if draining { "drain\n" } else { "ready\n" };
    match (request.target, request.method) {
        (Target::Drain, Method::Post) => {
            shared.draining.store(true, Ordering::Relaxed);
            ("200 OK", "", state(true))
        }
        (Target::Ready, Method::Post) => {
            shared.draining.store(false, Ordering::Relaxed);
            ("200 OK", "", state(false))
        }
        (Target::Status, Method::Get | Method::Head) => ("200 OK", "", state(shared.is_draining())),
        (Target::Status, _) => (
            "405 Method Not Allowed",
            "Allow: GET, HEAD\r\n",
            "use GET\n",
        ),
        _ => ("405 Method Not Allowed", "Allow: POST\r\n", "use POST\n"),
    }
}

fn parse_head(head: &[u8]) -> Result<Request, Failure> {
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    let (method, target, http10) = parse_request_line(lines.next().unwrap_or_default())?;
    let mut request = Request {
        method,
        target,
        mode: Mode::KeepAlive11,
        body_len: 0,
        expect_continue: false,
    };
    let (mut close, mut keep_alive, mut body_len) = (false, false, None);
    for line in lines.take_while(|line| !line.is_empty()) {
        let (name, value) = split_header(line)?;
        if name.eq_ignore_ascii_case(b"content-length") {
            let len = parse_content_length(value)?;
            if body_len.is_some_and(|previous| previous != len) {
                return Err(bad_request("conflicting Content-Length headers"));
            }
            body_len = Some(len);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // Without decoding chunks we cannot find where the next request
            // starts, so refuse rather than misread the stream.
            return Err(Failure::Reject(
                "501 Not Implemented",
                "Transfer-Encoding is not supported",
            ));
        } else if name.eq_ignore_ascii_case(b"connection") {
            for option in value.split(|&b| b == b',').map(trim) {
                close |= option.eq_ignore_ascii_case(b"close");
                keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            request.expect_continue = !http10 && value.eq_ignore_ascii_case(b"100-continue");
        }
    }
    request.body_len = body_len.unwrap_or(0);
    request.mode = match (close, http10, keep_alive) {
        (true, _, _) | (false, true, false) => Mode::Close,
        (false, true, true) => Mode::KeepAlive10,
        (false, false, _) => Mode::KeepAlive11,
    };
    Ok(request)
}

/// Parses `METHOD SP TARGET SP HTTP/1.x`; returns whether it is HTTP/1.0.
fn parse_request_line(line: &[u8]) -> Result<(Method, Target, bool), Failure> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad_request("malformed request line"));
    };
    if method.is_empty() || !method.iter().all(|&b| is_token_byte(b)) {
        return Err(bad_request("malformed method"));
    }
    if target.is_empty() || target.iter().any(|&b| b <= b' ' || b == 0x7f) {
        return Err(bad_request("malformed request target"));
    }
    let http10 = match version {
        b"HTTP/1.1" => false,
        b"HTTP/1.0" => true,
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            return Err(Failure::Reject(
                "505 HTTP Version Not Supported",
                "only HTTP/1.0 and HTTP/1.1 are supported",
            ))
        }
        _ => return Err(bad_request("malformed HTTP version")),
    };
    let method = match method {
        b"GET" => Method::Get,
        b"HEAD" => Method::Head,
        b"POST" => Method::Post,
        _ => Method::Other,
    };
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    let target = match path {
        b"/admin/drain" => Target::Drain,
        b"/admin/ready" => Target::Ready,
        b"/admin/status" => Target::Status,
        _ => Target::Hello,
    };
    Ok((method, target, http10))
}

fn split_header(line: &[u8]) -> Result<(&[u8], &[u8]), Failure> {
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or_else(|| bad_request("header line without a colon"))?;
    let name = &line[..colon];
    // Also rejects whitespace before the colon and obsolete line folding,
    // both of which RFC 9112 says to refuse.
    if name.is_empty() || !name.iter().all(|&b| is_token_byte(b)) {
        return Err(bad_request("malformed header name"));
    }
    Ok((name, trim(&line[colon + 1..])))
}

fn parse_content_length(value: &[u8]) -> Result<u64, Failure> {
    let invalid = || bad_request("invalid Content-Length");
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    // Only ASCII digits remain, so the text is valid UTF-8; overflow fails.
    std::str::from_utf8(value)
        .ok()
        .and_then(|digits| digits.parse().ok())
        .ok_or_else(invalid)
}

/// Strips the optional whitespace (spaces and tabs) around header values.
fn trim(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// `tchar` from RFC 9110 §5.6.2: what methods and header names are made of.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
