//! hyper_proxy holding up against broken backends and careless clients:
//! fake backends (raw std sockets on 127.0.0.1, written here) that stall
//! after the head, close mid-body, answer garbage, never answer or echo
//! what they got, beside the real worker. Each failure is blamed on the
//! side that caused it, said in the log, and costs the client a bounded time.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::harness::{get, proxy, worker, Program};

/// How long a fake backend keeps a connection it holds up.
const HOLD: Duration = Duration::from_secs(30);

/// A fake backend on 127.0.0.1:0: accepts connections for up to a minute
/// (at most `connections` of them) and runs `serve` on each, on a thread.
fn fake(connections: usize, serve: fn(TcpStream)) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a fake backend");
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut served = 0;
        while served < connections && Instant::now() < deadline {
            match listener.accept() {
                Ok((stream, _)) => {
                    served += 1;
                    stream.set_nonblocking(false).unwrap();
                    stream.set_read_timeout(Some(HOLD)).unwrap();
                    std::thread::spawn(move || serve(stream));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    addr
}

/// Reads a request head (up to the blank line); None if the peer closed.
fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

/// Answers a 200 head announcing 100 bytes, sends 7, then goes silent.
fn stall_after_head(mut stream: TcpStream) {
    if read_head(&mut stream).is_some() {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
        std::thread::sleep(HOLD);
    }
}

/// Answers a 200 head announcing 100 bytes, sends 7 and closes.
fn close_mid_body(mut stream: TcpStream) {
    if read_head(&mut stream).is_some() {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial");
    }
}

/// Answers with bytes that are no HTTP response, and closes.
fn garbage(mut stream: TcpStream) {
    if read_head(&mut stream).is_some() {
        let _ = stream.write_all(b"SSH-2.0-OpenSSH_9.2\r\nthis is not http\r\n\r\n");
    }
}

/// Reads the request and never answers (until HOLD).
fn never_answer(mut stream: TcpStream) {
    if read_head(&mut stream).is_some() {
        std::thread::sleep(HOLD);
    }
}

/// Answers with the request head it received as the body, adding
/// hop-by-hop headers of its own to the response.
fn echo_head(mut stream: TcpStream) {
    if let Some(head) = read_head(&mut stream) {
        let reply = format!(
            "HTTP/1.1 200 OK\r\nConnection: close, X-Resp-Hop\r\nX-Resp-Hop: secret\r\n\
             Keep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\nUpgrade: h2c\r\n\
             X-Resp-End-To-End: kept\r\nContent-Length: {}\r\n\r\n{head}",
            head.len()
        );
        let _ = stream.write_all(reply.as_bytes());
    }
}

/// Answers with the request body it received (Content-Length or chunked,
/// decoded), one request per connection.
fn echo_body(mut stream: TcpStream) {
    let Some(head) = read_head(&mut stream) else {
        return;
    };
    let head = head.to_ascii_lowercase();
    let body = if head.contains("transfer-encoding: chunked") {
        read_chunked(&mut stream)
    } else {
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; length];
        stream.read_exact(&mut body).ok().map(|()| body)
    };
    let reply = match body {
        Some(body) => {
            let mut reply = format!(
                "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            reply.extend_from_slice(&body);
            reply
        }
        None => {
            b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n".to_vec()
        }
    };
    let _ = stream.write_all(&reply);
}

/// A chunked body, decoded; None if it is malformed or cut short.
fn read_chunked(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            stream.read_exact(&mut byte).ok()?;
            line.push(byte[0]);
        }
        let size = std::str::from_utf8(&line).ok()?.trim();
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            // No trailers expected: the final CRLF.
            let mut end = [0u8; 2];
            stream.read_exact(&mut end).ok()?;
            return (&end == b"\r\n").then_some(body);
        }
        let start = body.len();
        body.resize(start + size + 2, 0);
        stream.read_exact(&mut body[start..]).ok()?;
        if !body.ends_with(b"\r\n") {
            return None;
        }
        body.truncate(start + size);
    }
}

/// What a client got: everything read until the proxy closed (or the read
/// failed), and how the reading ended.
struct Received {
    text: String,
    ended: io::Result<()>,
}

impl Received {
    fn status(&self) -> Option<u16> {
        self.text.split_whitespace().nth(1)?.parse().ok()
    }

    fn head(&self) -> &str {
        self.text
            .split_once("\r\n\r\n")
            .map_or(&self.text, |(h, _)| h)
    }

    fn body(&self) -> &str {
        self.text.split_once("\r\n\r\n").map_or("", |(_, b)| b)
    }

    /// The read ended because the client gave up waiting.
    fn timed_out(&self) -> bool {
        matches!(&self.ended, Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut))
    }
}

/// Sends `bytes` on a fresh connection (then shuts down its sending side if
/// `half_close`) and reads until the proxy closes, for at most `wait`.
fn send(addr: SocketAddr, bytes: &[u8], half_close: bool, wait: Duration) -> Received {
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect to the proxy");
    stream.set_read_timeout(Some(wait)).unwrap();
    stream.write_all(bytes).expect("send to the proxy");
    if half_close {
        stream.shutdown(Shutdown::Write).unwrap();
    }
    let mut text = Vec::new();
    let ended = stream.read_to_end(&mut text).map(drop);
    Received {
        text: String::from_utf8_lossy(&text).into_owned(),
        ended,
    }
}

/// Log lines that arrive until the log has been quiet for half a second
/// (at most ten seconds in all).
fn settled_log(program: &Program) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut lines = Vec::new();
    while Instant::now() < deadline {
        match program.log.recv_timeout(Duration::from_millis(500)) {
            Ok(line) => lines.push(line),
            Err(_) => break,
        }
    }
    lines
}

/// The proxy in front of one worker, passive health strict enough that
/// three failures would eject it for a minute.
fn strict_proxy_over_one_worker(extra: &[&str]) -> (Program, Program) {
    let w = worker("w1", &[]);
    let mut flags = vec!["--failures", "3", "--eject-ms", "60000"];
    flags.extend_from_slice(extra);
    let front = proxy("hyper_proxy", "round-robin", &[w.addr.to_string()], &flags);
    (w, front)
}

/// The backend is still up: no ejection logged and a GET is answered by it.
fn assert_still_up(front: &Program) {
    let log = settled_log(front);
    let ejected: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("ejected") || l.contains("consecutive failures"))
        .collect();
    assert!(ejected.is_empty(), "the backend was blamed: {ejected:?}");
    let reply = get(front.addr, "/").expect("GET through the proxy");
    assert_eq!((reply.status, reply.name()), (200, "w1"), "{reply:?}");
}

#[test]
fn forty_posts_with_malformed_chunked_bodies_get_400_and_leave_the_backend_up() {
    let (_w, front) = strict_proxy_over_one_worker(&[]);
    for i in 0..40 {
        let got = send(
            front.addr,
            b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
              5\r\nhello\r\nzz-not-a-size\r\nworld\r\n0\r\n\r\n",
            false,
            Duration::from_secs(15),
        );
        assert_eq!(got.status(), Some(400), "POST {i}: {}", got.text);
    }
    assert_still_up(&front);
}

#[test]
fn forty_uploads_aborted_by_the_client_get_400_and_leave_the_backend_up() {
    let (_w, front) = strict_proxy_over_one_worker(&[]);
    for i in 0..40 {
        // 10 of the 100 000 bytes announced, then the client stops sending.
        let got = send(
            front.addr,
            b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n0123456789",
            true,
            Duration::from_secs(15),
        );
        assert_eq!(got.status(), Some(400), "upload {i}: {}", got.text);
    }
    assert_still_up(&front);
}

#[test]
fn uploads_the_client_stalls_get_408_and_leave_the_backend_up() {
    // The request's 1 s runs out while the client still owes 90 bytes.
    let (_w, front) = strict_proxy_over_one_worker(&["--timeout-ms", "1000"]);
    for i in 0..4 {
        let mut stream = TcpStream::connect_timeout(&front.addr, Duration::from_secs(5)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        stream
            .write_all(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n0123456789")
            .unwrap();
        let mut text = Vec::new();
        let ended = stream.read_to_end(&mut text).map(drop);
        let got = Received {
            text: String::from_utf8_lossy(&text).into_owned(),
            ended,
        };
        assert!(!got.timed_out(), "upload {i}: no answer: {}", got.text);
        assert_eq!(got.status(), Some(408), "upload {i}: {}", got.text);
    }
    assert_still_up(&front);
}

#[test]
fn a_backend_that_stalls_after_its_headers_is_cut_off_and_recorded_as_failed() {
    let live = worker("live", &[]);
    let stalling = fake(4, stall_after_head);
    let front = proxy(
        "hyper_proxy",
        "round-robin",
        &[stalling.to_string(), live.addr.to_string()],
        &[
            "--body-timeout-ms",
            "500",
            "--failures",
            "1",
            "--eject-ms",
            "60000",
        ],
    );
    // Round robin starts on the stalling backend. The client waits up to
    // 10 s; the proxy gives up on the body after 0.5 s.
    let got = send(
        front.addr,
        b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        false,
        Duration::from_secs(10),
    );
    assert!(
        !got.timed_out(),
        "the client hung with the stalled body: {}",
        got.text
    );
    assert_eq!(got.status(), Some(200), "{}", got.text);
    assert!(
        got.body().len() < 100,
        "a stalled body ended as a whole one: {}",
        got.text
    );
    let line = front.wait_for_log("response body stalled", Duration::from_secs(10));
    assert!(line.contains(&stalling.to_string()), "{line}");
    let ejection = front.wait_for_log("ejected", Duration::from_secs(10));
    assert!(
        ejection.contains(&stalling.to_string()) && ejection.contains("response body stalled"),
        "{ejection}"
    );
    // Out: the next GETs go to the live worker.
    for _ in 0..2 {
        let reply = get(front.addr, "/").unwrap();
        assert_eq!((reply.status, reply.name()), (200, "live"), "{reply:?}");
    }
}

#[test]
fn a_body_cut_short_by_its_backend_is_no_clean_200_and_the_log_names_the_backend() {
    let live = worker("live", &[]);
    let cutting = fake(4, close_mid_body);
    let front = proxy(
        "hyper_proxy",
        "round-robin",
        &[cutting.to_string(), live.addr.to_string()],
        &["--failures", "1", "--eject-ms", "60000"],
    );
    let got = send(
        front.addr,
        b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        false,
        Duration::from_secs(10),
    );
    assert!(!got.timed_out(), "the client hung: {}", got.text);
    let whole = got.status() == Some(200) && got.body().len() == 100;
    assert!(
        !whole,
        "a cut body reached the client as whole: {}",
        got.text
    );
    let line = front.wait_for_log("response body cut short", Duration::from_secs(10));
    assert!(line.contains(&cutting.to_string()), "{line}");
    let ejection = front.wait_for_log("ejected", Duration::from_secs(10));
    assert!(ejection.contains(&cutting.to_string()), "{ejection}");
}

#[test]
fn a_garbage_answer_is_logged_as_an_invalid_response_and_the_get_goes_elsewhere() {
    let live = worker("live", &[]);
    let babbling = fake(4, garbage);
    let front = proxy(
        "hyper_proxy",
        "round-robin",
        &[babbling.to_string(), live.addr.to_string()],
        &["--failures", "1", "--eject-ms", "60000"],
    );
    let reply = get(front.addr, "/").expect("GET through the proxy");
    assert_eq!((reply.status, reply.name()), (200, "live"), "{reply:?}");
    let ejection = front.wait_for_log("ejected", Duration::from_secs(10));
    assert!(
        ejection.contains(&babbling.to_string()) && ejection.contains("invalid response"),
        "{ejection}"
    );
}

#[test]
fn a_get_to_a_backend_that_never_answers_is_answered_by_another_within_the_try_timeout() {
    let live = worker("live", &[]);
    let silent = fake(8, never_answer);
    // Default timeouts: 2 s per try, 10 s in all.
    let front = proxy(
        "hyper_proxy",
        "round-robin",
        &[silent.to_string(), live.addr.to_string()],
        &["--failures", "0"],
    );
    let started = Instant::now();
    let got = send(
        front.addr,
        b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        false,
        Duration::from_secs(20),
    );
    let took = started.elapsed();
    assert_eq!(got.status(), Some(200), "{}", got.text);
    assert_eq!(got.body(), "live\n", "{}", got.text);
    // About the 2 s try timeout; far under the 10 s request timeout.
    assert!(took < Duration::from_secs(8), "took {took:?}");
    let line = front.wait_for_log("timed out", Duration::from_secs(10));
    assert!(line.contains(&silent.to_string()), "{line}");

    // A PUT with a small body is as safe to send twice: buffered, retried.
    let put = send(
        front.addr,
        b"PUT /item HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        false,
        Duration::from_secs(20),
    );
    assert_eq!(put.status(), Some(200), "{}", put.text);
    let put2 = send(
        front.addr,
        b"PUT /item HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        false,
        Duration::from_secs(20),
    );
    assert_eq!(put2.status(), Some(200), "{}", put2.text);
    // Round robin sent one of them to the silent backend first.
    let line = front.wait_for_log("timed out", Duration::from_secs(10));
    assert!(line.contains(&silent.to_string()), "{line}");
}

#[test]
fn hop_by_hop_headers_reach_neither_the_backend_nor_the_client() {
    let echo = fake(2, echo_head);
    let front = proxy("hyper_proxy", "round-robin", &[echo.to_string()], &[]);
    let got = send(
        front.addr,
        b"GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close, X-Hop\r\nX-Hop: secret\r\n\
          Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nTE: gzip, trailers\r\n\
          Upgrade: websocket\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n\
          Trailer: X-Checksum\r\nX-End-To-End: kept\r\n\r\n",
        false,
        Duration::from_secs(10),
    );
    assert_eq!(got.status(), Some(200), "{}", got.text);
    let seen = got.body().to_ascii_lowercase();
    for hop in [
        "x-hop",
        "keep-alive",
        "proxy-connection",
        "gzip",
        "upgrade",
        "proxy-authorization",
        "trailer:",
        "x-checksum",
    ] {
        assert!(!seen.contains(hop), "`{hop}` reached the backend:\n{seen}");
    }
    assert!(seen.contains("x-end-to-end: kept"), "{seen}");
    assert!(seen.contains("te: trailers"), "{seen}");

    let head = got.head().to_ascii_lowercase();
    for hop in ["x-resp-hop", "keep-alive", "proxy-authenticate", "upgrade"] {
        assert!(!head.contains(hop), "`{hop}` reached the client:\n{head}");
    }
    assert!(head.contains("x-resp-end-to-end: kept"), "{head}");
}

#[test]
fn a_chunked_post_body_arrives_whole_at_the_backend() {
    let echo = fake(4, echo_body);
    let front = proxy("hyper_proxy", "round-robin", &[echo.to_string()], &[]);
    // Small chunks and one bigger than the proxy's 64 KiB buffer.
    let big = "x".repeat(100_000);
    let mut request =
        b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            .to_vec();
    for chunk in ["hello", " ", "world;", big.as_str(), "!"] {
        request.extend_from_slice(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes());
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let got = send(front.addr, &request, false, Duration::from_secs(10));
    assert_eq!(got.status(), Some(200), "{}", got.head());
    assert_eq!(got.body(), format!("hello world;{big}!"));

    // A chunked PUT is streamed too (its size is unknown), and a small
    // PUT with a length is buffered whole: both arrive intact.
    let put = send(
        front.addr,
        b"PUT /item HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
          3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n",
        false,
        Duration::from_secs(10),
    );
    assert_eq!(
        (put.status(), put.body()),
        (Some(200), "abcdef"),
        "{}",
        put.text
    );
    let put = send(
        front.addr,
        b"PUT /item HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\nConnection: close\r\n\r\nabcdef",
        false,
        Duration::from_secs(10),
    );
    assert_eq!(
        (put.status(), put.body()),
        (Some(200), "abcdef"),
        "{}",
        put.text
    );
}

#[test]
fn hyper_proxy_takes_try_and_body_timeouts_and_refuses_zero() {
    let help = std::process::Command::new(crate::harness::program("hyper_proxy"))
        .arg("--help")
        .output()
        .expect("run hyper_proxy --help");
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in ["--try-timeout-ms <MS>", "--body-timeout-ms <MS>"] {
        assert!(text.contains(flag), "--help lacks {flag}: {text}");
    }
    for flag in ["--try-timeout-ms", "--body-timeout-ms"] {
        let mut child = std::process::Command::new(crate::harness::program("hyper_proxy"))
            .args(["--listen", "127.0.0.1:0", "--strategy", "round-robin"])
            .args(["--backend", "127.0.0.1:1", flag, "0"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run hyper_proxy");
        // Refused at once; one that accepted the value would serve on: killed.
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let refused = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(2), "{flag} 0: {stderr}");
        assert!(
            stderr.contains(&format!(
                "invalid value '0' for '{flag} <MS>': must be at least 1"
            )),
            "{stderr}"
        );
    }
}

#[test]
fn a_slow_backend_with_no_other_to_go_to_is_waited_for_past_the_try_timeout() {
    // 1.5 s of work against a 0.5 s try timeout: with nowhere else to go
    // the proxy waits for the answer, within the 10 s request timeout.
    let slow = worker("slow", &["--delay-ms", "1500"]);
    let front = proxy(
        "hyper_proxy",
        "round-robin",
        &[slow.addr.to_string()],
        &["--try-timeout-ms", "500"],
    );
    let reply = get(front.addr, "/").expect("GET through the proxy");
    assert_eq!((reply.status, reply.name()), (200, "slow"), "{reply:?}");
    let blamed: Vec<String> = settled_log(&front)
        .into_iter()
        .filter(|l| l.contains("timed out"))
        .collect();
    assert!(blamed.is_empty(), "{blamed:?}");
}

/// An address on loopback where nothing listens: connects are refused.
fn refusing() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

#[test]
fn requests_that_never_reached_a_backend_go_on_past_two_refusing_ones_to_one_that_serves() {
    let live = worker("live", &[]);
    let (dead1, dead2) = (refusing(), refusing());
    // No ejection: the refusing backends stay in the rotation, so a request
    // often meets both before the live one (the chaos soak's two hosts
    // down at once, before the proxy has noticed either).
    let front = proxy(
        "hyper_proxy",
        "round-robin",
        &[dead1.to_string(), dead2.to_string(), live.addr.to_string()],
        &["--failures", "0"],
    );
    let requests: [&[u8]; 2] = [
        b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        // Not idempotent, streamed: still safe, since it never left.
        b"POST /order HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    ];
    for round in 0..6 {
        for request in requests {
            let got = send(front.addr, request, false, Duration::from_secs(20));
            assert_eq!(got.status(), Some(200), "round {round}: {}", got.text);
            assert_eq!(got.body(), "live\n", "round {round}: {}", got.text);
        }
    }
}

#[test]
fn clients_that_stop_reading_lose_their_connections_and_free_their_backend_slots() {
    // Issue 26, finding 1: five clients behind max_conns=5 read a little
    // of a large answer and stop; their picks held the backend's every
    // slot for good. With a send timeout they are closed, the slots freed,
    // and no backend is blamed.
    let backend = worker("w1", &["--body-bytes", "50000000"]);
    let capped = format!("{},max_conns=5", backend.addr);
    let front = proxy(
        "hyper_proxy",
        "round-robin",
        &[capped],
        &["--send-timeout-ms", "1000"],
    );
    let stalled: Vec<TcpStream> = (0..5)
        .map(|_| {
            let mut stream = TcpStream::connect(front.addr).unwrap();
            stream
                .write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
                .unwrap();
            let mut head = [0u8; 100];
            stream.read_exact(&mut head).unwrap();
            assert!(head.starts_with(b"HTTP/1.1 200"));
            stream
        })
        .collect();
    // Every slot is taken now...
    let refused = get(front.addr, "/").expect("a GET while the slots are held");
    assert_eq!(
        refused.status,
        502,
        "{}",
        &refused.body[..refused.body.len().min(200)]
    );
    // ...until the send timeout closes the stalled connections.
    front.wait_for_log("read nothing for", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(200));
    let reply = get(front.addr, "/").expect("a GET after the stalls");
    assert_eq!(
        reply.status,
        200,
        "{}",
        &reply.body[..reply.body.len().min(200)]
    );
    drop(stalled);
    let log = settled_log(&front);
    assert!(
        !log.iter()
            .any(|l| l.contains("ejected") || l.contains("failure")),
        "{log:?}"
    );
}

#[test]
fn a_request_head_over_32_kib_gets_431_and_the_admin_listener_bounds_its_own() {
    // Issue 26, finding 3: hyper's default buffer (about 400 KiB a
    // connection) let 2,000 half-sent heads take 849 MB.
    // A backend that takes any head (the worker stops at 16 KiB).
    let backend = fake(4, echo_head);
    let front = proxy(
        "hyper_proxy",
        "round-robin",
        &[backend.to_string()],
        &["--admin", "127.0.0.1:0"],
    );
    let head = |size: usize| {
        format!(
            "GET / HTTP/1.1\r\nHost: test\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
            "x".repeat(size)
        )
    };
    let fits = crate::harness::raw(front.addr, head(24 * 1024).as_bytes()).expect("a 24 KiB head");
    assert_eq!(fits.status, 200, "{fits:?}");
    let big = crate::harness::raw(front.addr, head(40 * 1024).as_bytes()).expect("a 40 KiB head");
    assert_eq!(big.status, 431, "{big:?}");
    let admin = front.admin.expect("an admin listener");
    let big = crate::harness::raw(admin, head(20 * 1024).as_bytes()).expect("a 20 KiB head");
    assert_eq!(big.status, 431, "{big:?}");
}

#[test]
fn host_and_target_rules_are_rfc_9112s_as_nginx_applies_them() {
    // Issue 26, finding 6: two Host headers were forwarded, a missing one
    // accepted, an absolute-form target's host ignored, CONNECT forwarded
    // as `CONNECT /`.
    let backend = fake(8, echo_head);
    let front = proxy("hyper_proxy", "round-robin", &[backend.to_string()], &[]);
    for (request, why) in [
        (
            &b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n"[..],
            "needs a Host header",
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\nConnection: close\r\n\r\n",
            "one Host header",
        ),
        (
            b"CONNECT b.test:443 HTTP/1.1\r\nHost: b.test:443\r\nConnection: close\r\n\r\n",
            "CONNECT",
        ),
    ] {
        let reply = crate::harness::raw(front.addr, request).expect("an answer");
        assert_eq!(reply.status, 400, "{reply:?}");
        assert!(reply.body.contains(why), "{reply:?}");
    }
    // HTTP/1.0 may leave Host out.
    let reply = crate::harness::raw(front.addr, b"GET / HTTP/1.0\r\n\r\n").expect("an answer");
    assert_eq!(reply.status, 200, "{reply:?}");
    // An absolute-form target's host becomes the Host.
    let reply = crate::harness::raw(
        front.addr,
        b"GET http://named.test/x HTTP/1.1\r\nHost: other.test\r\nConnection: close\r\n\r\n",
    )
    .expect("an answer");
    assert_eq!(reply.status, 200, "{reply:?}");
    let seen = reply.body.to_ascii_lowercase();
    assert!(seen.starts_with("get /x http/1.1"), "{seen}");
    assert!(
        seen.contains("host: named.test\r\n") && !seen.contains("other.test"),
        "{seen}"
    );
}

#[test]
fn failures_0_says_at_start_that_nothing_will_be_ejected() {
    // Issue 26, finding 6: `--failures 0` silently disabled ejection.
    let w = worker("w1", &[]);
    let front = proxy(
        "hyper_proxy",
        "round-robin",
        &[w.addr.to_string()],
        &["--failures", "0"],
    );
    let line = front.wait_for_log("never eject", Duration::from_secs(5));
    assert!(line.contains("--failures 0"), "{line}");
}

/// Answers a 200 whose head carries a 200 KB header, then the body.
fn huge_head(mut stream: TcpStream) {
    if read_head(&mut stream).is_some() {
        let big = "x".repeat(200 * 1024);
        let reply = format!("HTTP/1.1 200 OK\r\nX-Big: {big}\r\nContent-Length: 2\r\n\r\nok");
        let _ = stream.write_all(reply.as_bytes());
    }
}

/// Answers 101 Switching Protocols to a request that asked for no upgrade,
/// then bytes of another protocol.
fn unasked_upgrade(mut stream: TcpStream) {
    if read_head(&mut stream).is_some() {
        let _ = stream.write_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello",
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}

#[test]
fn a_response_head_over_32_kib_is_a_502_blamed_on_its_backend_and_not_relayed() {
    for (serve, what) in [
        (huge_head as fn(TcpStream), "a 200 KB header"),
        (unasked_upgrade, "an unasked 101"),
    ] {
        let broken = fake(4, serve);
        let front = proxy(
            "hyper_proxy",
            "round-robin",
            &[broken.to_string()],
            &["--failures", "1", "--eject-ms", "60000"],
        );
        let reply = get(front.addr, "/").expect("GET through the proxy");
        assert_eq!(reply.status, 502, "{what}: {reply:?}");
        assert!(
            !reply.body.contains("xxxxxxxx") && !reply.body.contains("hello"),
            "{what}: relayed"
        );
        let line = front.wait_for_log("invalid response", Duration::from_secs(10));
        assert!(line.contains(&broken.to_string()), "{what}: {line}");
    }
}
