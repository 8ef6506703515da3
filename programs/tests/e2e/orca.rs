//! ORCA through the programs: workers with `--orca` report their load in
//! every answer, and hyper_proxy's `orca-wrr` turns the reports into
//! weights (gRFC A58) that nobody configured.

use std::time::{Duration, Instant};

use crate::harness::{get, names, proxy, tally, worker};

#[test]
fn orca_weights_send_a_worker_three_times_faster_three_times_the_requests() {
    let fast = worker("fast", &["--orca", "--delay-ms", "2"]);
    let slow = worker("slow", &["--orca", "--delay-ms", "8"]);
    let reply = get(fast.addr, "/").expect("GET the worker");
    assert_eq!(reply.status, 200);
    let backends = [fast.addr.to_string(), slow.addr.to_string()];
    let front = proxy(
        "hyper_proxy",
        "orca-wrr",
        &backends,
        &["--orca-blackout-ms", "0"],
    );
    // Each worker reports its busy share and rate over a second: weights
    // are capacity / service time whatever the split. tokio's timer rounds
    // a sleep up to its next millisecond tick, so the service times are
    // about 2.5-3 ms and 8.5-9 ms: 3 to 3.6 times, 75% to 78% of requests
    // to the fast one (round robin would give 50%).
    // Traffic for 2.5 s first: a window closes on each worker, their
    // reports reach the proxy, and its weights are refreshed (every 1 s).
    let warm = Instant::now();
    let mut sent = 0;
    while warm.elapsed() < Duration::from_millis(2_500) && sent < 5_000 {
        let reply = get(front.addr, "/").expect("GET through the proxy");
        assert_eq!(reply.status, 200, "{reply:?}");
        sent += 1;
    }
    let seen = names(front.addr, 200);
    let counts = tally(&seen, &["fast", "slow"]);
    eprintln!(
        "orca-wrr over 200 GETs: fast {}, slow {}",
        counts[0], counts[1]
    );
    assert!(
        (138..=170).contains(&counts[0]),
        "fast took {} of 200 (about 3/4 expected); slow {}",
        counts[0],
        counts[1]
    );
}

#[test]
fn without_orca_the_same_workers_get_even_shares() {
    // The control: no reports, so orca-wrr is round robin.
    let fast = worker("fast", &["--delay-ms", "2"]);
    let slow = worker("slow", &["--delay-ms", "8"]);
    let backends = [fast.addr.to_string(), slow.addr.to_string()];
    let front = proxy(
        "hyper_proxy",
        "orca-wrr",
        &backends,
        &["--orca-blackout-ms", "0"],
    );
    let seen = names(front.addr, 100);
    assert_eq!(tally(&seen, &["fast", "slow"]), [50, 50], "{seen:?}");
}
