//! Tail latency through hyper_proxy: the per-try timeout follows the
//! backends (4 x p99, at least 50 ms) instead of waiting a fixed 2 s on a
//! backend that went silent, and retries stay within their budget when
//! every backend fails.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::{get, proxy, worker, Program};

/// A backend on 127.0.0.1 that accepts, reads a request head and then
/// runs `then` on the connection; counts the heads it read.
fn fake(then: fn(TcpStream)) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let heads = Arc::new(AtomicUsize::new(0));
    let counted = heads.clone();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        for stream in listener.incoming() {
            if Instant::now() > deadline {
                break;
            }
            let Ok(mut stream) = stream else { continue };
            let counted = counted.clone();
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                counted.fetch_add(1, Ordering::Relaxed);
                then(stream);
            });
        }
    });
    (addr, heads)
}

fn never_answer(stream: TcpStream) {
    std::thread::sleep(Duration::from_secs(30));
    drop(stream);
}

fn hang_up(stream: TcpStream) {
    drop(stream);
}

/// The slowest of `n` GETs through `front`, each answered 200.
fn slowest_of(front: &Program, n: usize) -> Duration {
    (0..n)
        .map(|_| {
            let started = Instant::now();
            let reply = get(front.addr, "/").expect("a GET through the proxy");
            assert_eq!(reply.status, 200, "{reply:?}");
            started.elapsed()
        })
        .max()
        .unwrap_or_default()
}

#[test]
fn a_backend_gone_silent_costs_a_get_the_adaptive_try_timeout_not_two_seconds() {
    let w = worker("w1", &[]);
    let (silent, _) = fake(never_answer);
    // One silent try in 21 (weights), so the latencies fill fast; a high
    // failure count keeps the silent one in the set.
    let backends = [
        format!("{},weight=20", w.addr),
        format!("{silent},weight=1"),
    ];
    let front = proxy(
        "hyper_proxy",
        "weighted-round-robin",
        &backends,
        &["--failures", "100000"],
    );
    let warm = slowest_of(&front, 42);
    let slowest = slowest_of(&front, 84);
    eprintln!("adaptive try timeout: warm-up's slowest GET {warm:?}, then {slowest:?}");
    // The ceiling (2 s) until 20 samples; then 4 x p99 (a few ms here),
    // held at the 50 ms floor: the silent try is given up after ~50 ms.
    assert!(slowest < Duration::from_millis(500), "{slowest:?}");

    let fixed = proxy(
        "hyper_proxy",
        "weighted-round-robin",
        &backends,
        &["--failures", "100000", "--adaptive-try-timeout", "off"],
    );
    let slowest = slowest_of(&fixed, 21);
    eprintln!("fixed try timeout: slowest GET {slowest:?}");
    assert!(slowest >= Duration::from_millis(1_900), "{slowest:?}");
}

#[test]
fn when_every_backend_fails_retries_stay_within_the_budget() {
    let fakes: Vec<(SocketAddr, Arc<AtomicUsize>)> = (0..3).map(|_| fake(hang_up)).collect();
    let backends: Vec<String> = fakes.iter().map(|(addr, _)| addr.to_string()).collect();
    let front = proxy(
        "hyper_proxy",
        "round-robin",
        &backends,
        &[
            "--failures",
            "100000",
            "--retry-budget-floor",
            "0",
            "--admin",
            "127.0.0.1:0",
        ],
    );
    let requests = 200;
    for _ in 0..requests {
        let reply = get(front.addr, "/").expect("a GET through the proxy");
        assert_eq!(reply.status, 502, "{reply:?}");
    }
    let tries: usize = fakes
        .iter()
        .map(|(_, heads)| heads.load(Ordering::Relaxed))
        .sum();
    let per_request = tries as f64 / requests as f64;
    eprintln!("every backend failing: {tries} tries for {requests} GETs ({per_request:.2} each)");
    // Without a budget every GET was tried twice; now 1 + 20%.
    assert!(per_request <= 1.21, "{per_request}");
    assert!(
        per_request >= 1.15,
        "the budget was not used: {per_request}"
    );
    front.wait_for_log("retry budget spent", Duration::from_secs(2));
    // The status page and /metrics say so.
    let admin = front.admin.expect("an admin listener");
    let status = get(admin, "/status.json").expect("GET /status.json");
    let json: serde_json::Value = serde_json::from_str(&status.body).expect("JSON");
    let retries = json["proxy"]["retries"].as_u64().expect("proxy.retries");
    let refused = json["proxy"]["retries_refused_by_budget"]
        .as_u64()
        .expect("refused");
    assert_eq!(retries as usize, tries - requests, "{json}");
    assert_eq!(retries + refused, requests as u64, "{json}");
    let metrics = get(admin, "/metrics").expect("GET /metrics").body;
    assert!(
        metrics.contains(&format!("pickwise_proxy_retries_total {retries}\n")),
        "{metrics}"
    );
}

/// `/status.json`'s `proxy.hedges`.
fn hedges(front: &Program) -> u64 {
    let admin = front.admin.expect("an admin listener");
    let status = get(admin, "/status.json").expect("GET /status.json");
    let json: serde_json::Value = serde_json::from_str(&status.body).expect("JSON");
    json["proxy"]["hedges"].as_u64().expect("proxy.hedges")
}

#[test]
fn hedged_gets_skip_an_occasionally_slow_backend_and_cost_little_when_none_is() {
    let fast = worker("fast", &[]);
    let slow = worker("slow", &["--delay-ms", "300"]);
    // One GET in 21 lands on the slow worker: the p95 stays fast.
    let backends = [
        format!("{},weight=20", fast.addr),
        format!("{},weight=1", slow.addr),
    ];
    let flags = ["--failures", "100000", "--admin", "127.0.0.1:0", "--hedge"];
    let hedged = proxy(
        "hyper_proxy",
        "weighted-round-robin",
        &backends,
        &[&flags[..], &["on"]].concat(),
    );
    slowest_of(&hedged, 42);
    let slowest = slowest_of(&hedged, 84);
    let sent = hedges(&hedged);
    eprintln!("hedging on: slowest of 84 GETs {slowest:?}, {sent} hedges in 126 GETs");
    assert!(slowest < Duration::from_millis(150), "{slowest:?}");
    assert!(sent >= 4, "the slow worker's GETs were not hedged: {sent}");

    let unhedged = proxy(
        "hyper_proxy",
        "weighted-round-robin",
        &backends,
        &[&flags[..], &["off"]].concat(),
    );
    slowest_of(&unhedged, 42);
    let slowest = slowest_of(&unhedged, 42);
    eprintln!("hedging off: slowest of 42 GETs {slowest:?}");
    assert!(slowest >= Duration::from_millis(290), "{slowest:?}");
    assert_eq!(hedges(&unhedged), 0);

    // Two fast workers: a hedge only for the odd slow answer, at most 5%.
    let other = worker("fast2", &[]);
    let even = [fast.addr.to_string(), other.addr.to_string()];
    let baseline = proxy(
        "hyper_proxy",
        "round-robin",
        &even,
        &["--admin", "127.0.0.1:0", "--hedge", "on"],
    );
    slowest_of(&baseline, 200);
    let sent = hedges(&baseline);
    eprintln!("hedging on, no slow backend: {sent} hedges in 200 GETs");
    assert!(sent <= 10, "{sent} hedges in 200 GETs");
}

#[test]
fn silent_hedging_leaves_a_backend_that_answers_nobody_at_once_and_then_takes_it_out() {
    let w = worker("w1", &[]);
    let (silent, heads) = fake(never_answer);
    // One try in 21 on the silent backend (weights); a high failure count
    // would hide the ejection, so the default (5 in a row) stays.
    let backends = [
        format!("{},weight=20,id=fast", w.addr),
        format!("{silent},weight=1,id=silent"),
    ];
    let front = proxy(
        "hyper_proxy",
        "weighted-round-robin",
        &backends,
        &["--admin", "127.0.0.1:0", "--hedge", "silent"],
    );
    // Until 20 answers the delays are at their ceiling: warm up on the
    // fast backend alone (the silent one's turn comes once in 21).
    let warm = slowest_of(&front, 20);
    let slowest = slowest_of(&front, 147);
    let sent = hedges(&front);
    eprintln!(
        "silent hedging: warm-up's slowest GET {warm:?}, then {slowest:?}; {sent} hedges, {} heads reached the silent backend",
        heads.load(Ordering::Relaxed)
    );
    // A try caught on the silent backend is hedged after 5 ms (the floor;
    // the fast backend answers in about 1 ms), not given up after the
    // 50 ms try timeout.
    assert!(slowest < Duration::from_millis(45), "{slowest:?}");
    assert!(sent >= 3, "{sent} hedges");
    // Beaten by their hedges on a backend that answered nobody for a try
    // timeout, its tries are outpaced; five in a row take it out.
    let ejected = front.wait_for_log("ejected", Duration::from_secs(2));
    assert!(ejected.contains("silent"), "{ejected}");
    assert!(
        ejected.contains("no answer while a later hedge to another backend answered"),
        "{ejected}"
    );
}
