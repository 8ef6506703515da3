//! HTTP/2 abuse, bounded as nginx and Envoy bound it: too many streams on
//! one connection, an oversized header list, rapid stream resets
//! (CVE-2023-44487), PING and SETTINGS floods. Each is answered by the
//! proxy itself and never counted against a backend.

use std::time::Duration;

use crate::h2_raw::{self, frame, request_block, Conn};
use crate::harness::{get, proxy, worker, Program};

fn front_over_one_worker(delay_ms: &str) -> (Program, Program) {
    let backend = worker("w1", &["--delay-ms", delay_ms]);
    let front = proxy(
        "hyper_proxy",
        "round-robin",
        &[backend.addr.to_string()],
        &[],
    );
    (backend, front)
}

/// The proxy still answers, and its backend was never blamed.
fn still_serving(front: &Program) {
    let reply = get(front.addr, "/").expect("a GET after the abuse");
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.name(), "w1");
    while let Ok(line) = front.log.try_recv() {
        assert!(!line.contains("ejected"), "a backend was blamed: {line}");
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

#[test]
fn streams_past_128_on_one_connection_are_refused() {
    let (_backend, front) = front_over_one_worker("500");
    let mut conn = Conn::open(front.addr);
    let block = request_block("test", "/", false, &[]);
    let mut burst = Vec::new();
    for n in 0..200u32 {
        let flags = h2_raw::END_STREAM | h2_raw::END_HEADERS;
        burst.extend(frame(h2_raw::HEADERS, flags, 2 * n + 1, &block));
    }
    conn.send(&burst).unwrap();
    let (frames, _) = conn.read_for(Duration::from_millis(1_500));
    let refused = frames
        .iter()
        .filter(|f| f.kind == h2_raw::RST_STREAM && f.error_code() == Some(h2_raw::REFUSED_STREAM))
        .count();
    let answered = frames.iter().filter(|f| f.kind == h2_raw::HEADERS).count();
    eprintln!("200 streams at once: {answered} answered, {refused} refused");
    assert_eq!(answered + refused, 200, "{frames:?}");
    assert!(answered <= 128, "{answered} streams were served at once");
    still_serving(&front);
}

#[test]
fn a_header_list_over_32_kib_is_refused() {
    let (_backend, front) = front_over_one_worker("0");
    let mut conn = Conn::open(front.addr);
    let big = "x".repeat(40 * 1024);
    let block = request_block("test", "/", false, &[("x-big", &big)]);
    // Frames of at most 16 KiB: HEADERS, then CONTINUATIONs.
    let mut pieces = block.chunks(16 * 1024).peekable();
    let first = pieces.next().unwrap();
    conn.send(&frame(h2_raw::HEADERS, h2_raw::END_STREAM, 1, first))
        .unwrap();
    while let Some(piece) = pieces.next() {
        let flags = if pieces.peek().is_none() {
            h2_raw::END_HEADERS
        } else {
            0
        };
        conn.send(&frame(0x9, flags, 1, piece)).unwrap();
    }
    let (frames, _) = conn.read_for(Duration::from_millis(1_000));
    eprintln!("40 KiB of headers: {frames:?}");
    let answered_by_backend = frames
        .iter()
        .any(|f| f.kind == h2_raw::DATA && f.payload.windows(2).any(|w| w == b"w1"));
    assert!(!answered_by_backend, "the request reached the backend");
    // The answer is the proxy's own, on stream 1, with no body: a
    // `:status` literal (0x48) of three Huffman-coded digits (0x83):
    // 0x69 0x90 0xff is "431". (The worker's would be `:status: 200`, the
    // indexed 0x88, with the name in a DATA frame.)
    let answer = frames
        .iter()
        .find(|f| f.kind == h2_raw::HEADERS && f.stream == 1)
        .unwrap_or_else(|| panic!("no answer on stream 1: {frames:?}"));
    assert_eq!(answer.payload, [0x48, 0x83, 0x69, 0x90, 0xff], "{answer:?}");
    assert!(answer.flags & h2_raw::END_STREAM != 0, "{answer:?}");
    still_serving(&front);
}

#[test]
fn rapid_resets_close_the_connection() {
    let (_backend, front) = front_over_one_worker("50");
    let mut conn = Conn::open(front.addr);
    let block = request_block("test", "/", false, &[]);
    let mut burst = Vec::new();
    for n in 0..2_000u32 {
        let id = 2 * n + 1;
        burst.extend(frame(
            h2_raw::HEADERS,
            h2_raw::END_STREAM | h2_raw::END_HEADERS,
            id,
            &block,
        ));
        burst.extend(frame(
            h2_raw::RST_STREAM,
            0,
            id,
            &h2_raw::CANCEL.to_be_bytes(),
        ));
    }
    let _ = conn.send(&burst);
    let (frames, closed) = conn.read_for(Duration::from_millis(2_000));
    let goaway = frames.iter().find(|f| f.kind == h2_raw::GOAWAY);
    eprintln!(
        "2000 rapid resets: closed {closed}, goaway {goaway:?}, {} frames",
        frames.len()
    );
    assert!(
        goaway.is_some_and(|g| g.error_code() == Some(h2_raw::ENHANCE_YOUR_CALM)),
        "{:?}",
        &frames[frames.len().saturating_sub(5)..]
    );
    let line = front.wait_for_log("closed by the proxy", Duration::from_secs(2));
    assert!(line.contains("ENHANCE_YOUR_CALM"), "{line}");
    still_serving(&front);
}

#[test]
fn ping_and_settings_floods_leave_the_proxy_small() {
    let (_backend, front) = front_over_one_worker("0");
    let before = rss_kib(front.pid());
    for kind in [h2_raw::PING, h2_raw::SETTINGS] {
        let mut conn = Conn::open(front.addr);
        let payload: &[u8] = if kind == h2_raw::PING { &[7; 8] } else { &[] };
        let one = frame(kind, 0, 0, payload);
        let burst: Vec<u8> = one
            .iter()
            .copied()
            .cycle()
            .take(one.len() * 20_000)
            .collect();
        // 200,000 frames, never reading an answer.
        for _ in 0..10 {
            if conn.send(&burst).is_err() {
                break;
            }
        }
        let (_frames, _closed) = conn.read_for(Duration::from_millis(500));
    }
    let after = rss_kib(front.pid());
    eprintln!("PING and SETTINGS floods: RSS {before} KiB -> {after} KiB");
    assert!(
        after < before + 16 * 1024,
        "RSS {before} KiB -> {after} KiB"
    );
    still_serving(&front);
}

#[test]
fn a_client_that_stops_reading_an_http2_stream_loses_its_connection_and_frees_the_pick() {
    // 8 MB answers; one request at a time to the backend.
    let backend = worker("w1", &["--body-bytes", "8000000"]);
    let capped = format!("{},max_conns=1", backend.addr);
    let front = proxy(
        "hyper_proxy",
        "round-robin",
        &[capped],
        &["--send-timeout-ms", "1000"],
    );
    let mut conn = Conn::open(front.addr);
    let block = request_block("test", "/", false, &[]);
    let flags = h2_raw::END_STREAM | h2_raw::END_HEADERS;
    conn.send(&frame(h2_raw::HEADERS, flags, 1, &block))
        .unwrap();
    // Read what comes (the first 64 KiB the window allows), never grant
    // more: the stream stalls with the socket free.
    let (frames, closed) = conn.read_for(Duration::from_millis(300));
    assert!(
        !closed && frames.iter().any(|f| f.kind == h2_raw::DATA),
        "{frames:?}"
    );
    let line = front.wait_for_log("read nothing", Duration::from_secs(5));
    assert!(line.contains("HTTP/2 response stream"), "{line}");
    let (_, closed) = conn.read_for(Duration::from_millis(500));
    assert!(closed, "the stalled connection is still open");
    // The pick went with it: the capped backend takes the next request.
    // The proxy drops the stream's pick just after it closes the
    // connection, so a GET may race the release: up to 2 s of tries.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    let reply = loop {
        let reply = get(front.addr, "/").expect("a GET after the stall");
        if reply.status == 200 || std::time::Instant::now() > deadline {
            break reply;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        reply.status,
        200,
        "{}",
        &reply.body[..reply.body.len().min(200)]
    );
}
