//! The proxies out of file descriptors (issue 26, finding 2): started with
//! an open-files limit they cannot raise and flooded with idle clients, they
//! say at start that the cap exceeds the limit, log failed accepts and
//! connects at most once a second, blame no backend for their own lack of
//! descriptors (hyper_proxy answers 503 saying so) and serve again once the
//! flood is gone.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::harness::{get, worker, Program};

/// The open-files limit both proxies run under: a few dozen client
/// connections use it up.
const OPEN_FILES: u64 = 64;

/// Connects `n` idle clients (the kernel's accept queue holds those the
/// proxy cannot take).
fn flood(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|i| {
            TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("flood connection {i}: {e}"))
        })
        .collect()
}

/// Log lines until `limit` has passed.
fn log_for(program: &Program, limit: Duration) -> Vec<String> {
    let deadline = Instant::now() + limit;
    let mut lines = Vec::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if let Ok(line) = program.log.recv_timeout(left) {
            lines.push(line);
        }
    }
    lines
}

/// One response on a kept-alive connection: its status and body, read by
/// `Content-Length`.
fn keep_alive_get(stream: &mut TcpStream, host: SocketAddr) -> (u16, String) {
    write!(stream, "GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").expect("send a GET");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            other => panic!(
                "the head ended early ({other:?}): {}",
                String::from_utf8_lossy(&head)
            ),
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head}"));
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or_else(|| panic!("no Content-Length in {head}"));
    let mut body = vec![0; length];
    stream.read_exact(&mut body).expect("the body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// `program` in front of a worker `w1`, under an open-files limit it
/// cannot raise, with passive health strict enough that three failures
/// would eject the worker.
fn starved(program: &str) -> (Program, Program) {
    let w1 = worker("w1", &[]);
    let backend = w1.addr.to_string();
    let front = Program::start_with_open_files(
        program,
        &[
            "--listen",
            "127.0.0.1:0",
            "--strategy",
            "round-robin",
            "--backend",
            &backend,
            "--threads",
            "1",
            "--failures",
            "3",
            "--eject-ms",
            "60000",
        ],
        OPEN_FILES,
    );
    (w1, front)
}

/// Once the flood is gone, a GET through `front` is answered by `w1`
/// within 10 s.
fn assert_served_again_by_w1(front: &Program) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let served = loop {
        match get(front.addr, "/") {
            Ok(reply) if reply.status == 200 => break reply,
            other if Instant::now() > deadline => panic!("not served after the flood: {other:?}"),
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    assert_eq!(served.name(), "w1");
}

fn count(lines: &[String], needle: &str) -> usize {
    lines.iter().filter(|l| l.contains(needle)).count()
}

#[test]
fn hyper_proxy_out_of_descriptors_answers_503_blames_no_backend_and_serves_again() {
    let (_w1, front) = starved("hyper_proxy");
    let warning = front.wait_for_log("open files limit", Duration::from_secs(5));
    assert!(
        warning.contains("below") && warning.contains("--max-connections 4096"),
        "no warning that the default cap exceeds the limit: {warning}"
    );
    let mut clients = flood(front.addr, 2 * OPEN_FILES as usize);
    front.wait_for_log("accept failed", Duration::from_secs(5));
    // The first client was accepted long before the descriptors ran out:
    // five GETs on it, each needing a new connection to the backend. Three
    // failures would eject it, were they counted.
    let mut answers = Vec::new();
    for _ in 0..5 {
        answers.push(keep_alive_get(&mut clients[0], front.addr));
    }
    let lines = log_for(&front, Duration::from_millis(2500));
    for (status, body) in &answers {
        assert_eq!(*status, 503, "{body}");
        assert!(
            body.contains("out of resources") && body.contains("open files"),
            "the 503 does not say what ran out: {body}"
        );
    }
    assert_eq!(
        count(&lines, "ejected"),
        0,
        "a backend was blamed: {lines:#?}"
    );
    assert!(
        count(&lines, "not counted against any backend") >= 1,
        "the cause is not logged: {lines:#?}"
    );
    // About 3 s of failing accepts (every 10 ms): at most one line a second.
    assert!(
        count(&lines, "accept failed") <= 4,
        "accept errors are not throttled: {} lines",
        count(&lines, "accept failed")
    );
    drop(clients);
    assert_served_again_by_w1(&front);
}

#[test]
fn tcp_forwarder_out_of_descriptors_blames_no_backend_and_serves_again() {
    let (_w1, front) = starved("tcp_forwarder");
    let warning = front.wait_for_log("open files limit", Duration::from_secs(5));
    assert!(warning.contains("below"), "no warning: {warning}");
    // Each client takes two descriptors (its own and the backend's): past
    // about 25, connects to the backend fail here, then accepts.
    let clients = flood(front.addr, 2 * OPEN_FILES as usize);
    let lines = log_for(&front, Duration::from_millis(2500));
    assert_eq!(
        count(&lines, "ejected"),
        0,
        "a backend was blamed: {lines:#?}"
    );
    assert!(
        count(&lines, "not counted against any backend") >= 1,
        "no line says the proxy ran out: {lines:#?}"
    );
    assert!(
        count(&lines, "not counted against any backend") + count(&lines, "accept failed") <= 8,
        "not throttled: {lines:#?}"
    );
    drop(clients);
    assert_served_again_by_w1(&front);
}

#[test]
fn hyper_proxy_closes_an_address_past_its_connection_limit_and_serves_others() {
    let w1 = worker("w1", &[]);
    let backend = w1.addr.to_string();
    let front = Program::start(
        "hyper_proxy",
        &[
            "--listen",
            "127.0.0.1:0",
            "--strategy",
            "round-robin",
            "--backend",
            &backend,
            "--threads",
            "1",
            "--max-connections",
            "20",
            "--max-connections-per-client",
            "5",
        ],
    );
    let mut held = flood(front.addr, 5);
    let mut sixth = flood(front.addr, 1).remove(0);
    sixth
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    match sixth.read(&mut [0u8; 64]) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("the sixth connection from one address was not closed: {other:?}"),
    }
    front.wait_for_log("--max-connections-per-client", Duration::from_secs(5));
    let other = crate::harness::get_from("127.0.0.2".parse().unwrap(), front.addr)
        .expect("a GET from another address");
    assert_eq!((other.status, other.name()), (200, "w1"));
    let (status, body) = keep_alive_get(&mut held[0], front.addr);
    assert_eq!(status, 200, "the first five are kept: {body}");
}
