//! The lab on four hosts, replayed in a short form: four network namespaces,
//! one worker each, hyper_proxy on this host, and the faults the lab has
//! seen (a firewall rejecting, then dropping, a congested link, a killed
//! worker) for two strategies. Needs root: the tests are `#[ignore]`d with
//! the reason (`cargo test` lists them), and `.ci/run` runs them as root
//! with `-- --ignored`; asked for without root they fail, saying so.
//!
//! The replay runs once (`lab --replay --json`) and each test
//! checks one promise on its rows: 0 failed GETs in every phase, none
//! slower than 2 s, none slower than 100 ms behind a firewall (where a
//! fixed 2 s per-try timeout used to cost 2 s), and hedges at most 5% of the
//! baseline's GETs.

use crate::harness;
use pickwise_programs::system::{is_root, run};

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The strategies of the short replay: one that spreads every client's
/// requests, one that pins each client to a backend.
const STRATEGIES: [&str; 2] = ["round-robin", "maglev"];
/// Seconds each fault lasts: past the old 10 s upstream timeout, which a GET
/// caught on a pooled connection to a firewalled node used to wait out (and
/// get 504); shorter faults let TCP recover before it showed.
const PHASE_SECS: &str = "10";
/// Flags for hyper_proxy beyond the lab's (`--eject-ms 3000`): active health
/// checks every 500 ms (out after 3 failed probes), which take a firewalled
/// node out whatever the strategy.
/// And hedging (`--hedge slow`: every GET whose head is later than the p95
/// of recent ones, at least 5 ms), whose cost the baseline shows.
const PROXY_ARGS: &[&str] = &[
    "--health-check",
    "http:/",
    "--health-interval-ms",
    "500",
    "--hedge",
    "slow",
];
/// The slowest GET allowed behind a firewall (rejecting or dropping): the
/// try caught on the node is hedged after 5 ms (`--hedge slow`; the p95 of
/// recent heads is below that floor here), or given up after the adaptive
/// per-try timeout (4 x the p99 of recent answers, at least 50 ms) and
/// retried elsewhere. Measured: 8-11 ms with hedging, 53-55 ms without
/// (then the slowest GET was the try timeout's); the bound leaves room for a
/// shared machine. Before the adaptive timeout (a fixed 2 s per try) such a
/// GET took 2 s. On the congested link every GET is now within 2 s too
/// (slowest 9-10 ms with hedging, 0.4-1.1 s without).
const FIREWALL_MAX_MS: f64 = 100.0;
/// The phases it applies to.
const FIREWALLS: [&str; 2] = ["firewall-reject", "firewall-drop"];
/// Where the proxy logs the faulty node out (with active health checks: a
/// firewall and a kill, for both strategies).
const TAKEN_OUT: [(&str, &str); 6] = [
    ("round-robin", "firewall-reject"),
    ("round-robin", "firewall-drop"),
    ("round-robin", "killed"),
    ("maglev", "firewall-reject"),
    ("maglev", "firewall-drop"),
    ("maglev", "killed"),
];
/// The fault phases: after each, the node serves again.
const FAULTS: [&str; 4] = ["firewall-reject", "firewall-drop", "congested", "killed"];

/// One phase's figures, as `lab --json` prints them.
#[derive(Debug)]
struct Row {
    strategy: String,
    phase: String,
    victim: Option<String>,
    requests: u64,
    failed: u64,
    slow: u64,
    max_ms: f64,
    out_ms: Option<u64>,
    back_ms: Option<u64>,
    served: BTreeMap<String, u64>,
    failures: serde_json::Value,
    events: serde_json::Value,
    /// Hedges the proxy sent in the phase.
    hedges: Option<u64>,
}

struct Replay {
    rows: Vec<Row>,
    /// The lab's pid: its namespaces are `pw-lab-<pid>-N`.
    pid: u32,
    /// A namespace of a lab that had died, made before the replay, and
    /// whether it was still there after the replay.
    stale: String,
    stale_left: bool,
}

/// Held while a lab runs: the replay and the chaos soak take turns, so
/// neither measures beside the other.
static ONE_LAB: Mutex<()> = Mutex::new(());

/// The gRPC replay: round robin, the clients making unary gRPC calls over
/// one HTTP/2 connection each, with shorter faults.
fn grpc_replay() -> &'static [Row] {
    static REPLAY: OnceLock<Result<Vec<Row>, String>> = OnceLock::new();
    let rows = REPLAY.get_or_init(|| {
        let _one_lab_at_a_time = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
        need_namespaces()?;
        let mut args = vec!["--replay", "--json", "--grpc", "--phase-secs", "4"];
        args.extend(["--strategy", "round-robin"]);
        for arg in PROXY_ARGS {
            args.extend(["--proxy-arg", arg]);
        }
        run_lab(&args).map(|(rows, _)| rows)
    });
    match rows {
        Ok(rows) => rows,
        Err(e) => panic!("{e}"),
    }
}

/// Runs the replay once for all the tests; panics (failing each test that
/// asks) when it cannot.
fn replay() -> &'static Replay {
    static REPLAY: OnceLock<Result<Replay, String>> = OnceLock::new();
    match REPLAY.get_or_init(|| {
        let _one_lab_at_a_time = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
        run_replay()
    }) {
        Ok(replay) => replay,
        Err(e) => panic!("{e}"),
    }
}

fn run_replay() -> Result<Replay, String> {
    need_namespaces()?;
    // A namespace left by a lab that died (a pid no lab has): the lab
    // removes it before making its own.
    let dead = {
        let mut child = Command::new("true").spawn().map_err(|e| e.to_string())?;
        let _ = child.wait();
        child.id()
    };
    let stale = format!("pw-lab-{dead}-1");
    let stale_guard = Namespace(stale.clone());
    run(&["ip", "netns", "add", &stale])?;

    let mut args = vec!["--replay", "--json", "--phase-secs", PHASE_SECS];
    for strategy in STRATEGIES {
        args.extend(["--strategy", strategy]);
    }
    for arg in PROXY_ARGS {
        args.extend(["--proxy-arg", arg]);
    }
    let (rows, pid) = run_lab(&args)?;
    let stale_left = run(&["ip", "netns", "list"])?
        .lines()
        .any(|l| l.split_whitespace().next() == Some(stale.as_str()));
    drop(stale_guard);
    Ok(Replay {
        rows,
        pid,
        stale,
        stale_left,
    })
}

/// Runs `lab ARGS` to its end (at most 10 minutes) and reads its JSON rows;
/// returns them with the lab's pid.
fn run_lab(args: &[&str]) -> Result<(Vec<Row>, u32), String> {
    let child = Command::new(harness::program("lab"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the lab: {e}"))?;
    let mut lab = Lab(child);
    let pid = lab.0.id();
    let (mut stdout, mut stderr) = (lab.0.stdout.take().unwrap(), lab.0.stderr.take().unwrap());
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let out_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    // Bounded: the two strategies take about two and a half minutes.
    let deadline = Instant::now() + Duration::from_secs(600);
    let status = loop {
        if let Some(status) = lab.0.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() > deadline {
            drop(lab);
            return Err(format!(
                "the lab's replay took over 10 minutes; its log:\n{}",
                err_reader.join().unwrap_or_default()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let (out, log) = (
        out_reader.join().unwrap_or_default(),
        err_reader.join().unwrap_or_default(),
    );
    eprintln!("{log}");
    if !status.success() {
        return Err(format!(
            "`lab {}` failed ({status}):\n{log}",
            args.join(" ")
        ));
    }
    let json: serde_json::Value =
        serde_json::from_str(&out).map_err(|e| format!("the lab printed no JSON ({e}):\n{out}"))?;
    let rows: Vec<Row> = json["rows"]
        .as_array()
        .ok_or_else(|| format!("no rows in {json}"))?
        .iter()
        .map(|r| Row {
            strategy: r["strategy"].as_str().unwrap_or_default().to_owned(),
            phase: r["phase"].as_str().unwrap_or_default().to_owned(),
            victim: r["victim"].as_str().map(str::to_owned),
            requests: r["requests"].as_u64().unwrap_or(0),
            failed: r["failed"].as_u64().unwrap_or(u64::MAX),
            slow: r["slow"].as_u64().unwrap_or(u64::MAX),
            max_ms: r["max_ms"].as_f64().unwrap_or(f64::NAN),
            out_ms: r["out_ms"].as_u64(),
            back_ms: r["back_ms"].as_u64(),
            served: serde_json::from_value(r["served"].clone()).unwrap_or_default(),
            failures: r["failures"].clone(),
            events: r["events"].clone(),
            hedges: r["hedges"].as_u64(),
        })
        .collect();
    Ok((rows, pid))
}

/// Fails with what is missing when this process cannot make namespaces.
fn need_namespaces() -> Result<(), String> {
    let why = if !is_root() {
        "these tests run as root (`sudo -E cargo test -p pickwise-programs --test e2e -- --ignored lab_on_hosts`; .ci/run does)".to_owned()
    } else if let Err(e) = run(&["ip", "-V"]).and_then(|_| run(&["iptables", "--version"])) {
        format!("iproute2 and iptables are needed (`apt-get install -y iproute2 iptables`; .ci/run installs them): {e}")
    } else {
        return Ok(());
    };
    Err(format!(
        "the lab on four hosts needs network namespaces, which this process cannot make: {why}"
    ))
}

/// The lab process: asked to stop (SIGTERM, so it removes what it made)
/// when dropped before it ended, then killed.
struct Lab(Child);

impl Drop for Lab {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = run(&["kill", "-TERM", &self.0.id().to_string()]);
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && matches!(self.0.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A namespace this test made, removed when dropped if still there.
struct Namespace(String);

impl Drop for Namespace {
    fn drop(&mut self) {
        let listed = run(&["ip", "netns", "list"]).unwrap_or_default();
        if listed
            .lines()
            .any(|l| l.split_whitespace().next() == Some(self.0.as_str()))
        {
            let _ = run(&["ip", "netns", "del", &self.0]);
        }
    }
}

fn rows(phase: &str) -> Vec<&'static Row> {
    let rows: Vec<&Row> = replay().rows.iter().filter(|r| r.phase == phase).collect();
    assert_eq!(
        rows.len(),
        STRATEGIES.len(),
        "one {phase} row per strategy: {:#?}",
        replay().rows
    );
    rows
}

/// Issue 24: hedging every slow GET costs at most 5% more requests when
/// nothing is wrong.
#[test]
#[ignore = "needs root: network namespaces, veth links and iptables"]
fn hedges_in_the_baseline_are_at_most_five_percent_of_the_gets() {
    for row in rows("baseline") {
        let hedges = row.hedges.expect("the proxy's hedge count");
        eprintln!(
            "{} / baseline: {hedges} hedges for {} GETs",
            row.strategy, row.requests
        );
        assert!(row.requests > 0, "{row:#?}");
        assert!(
            hedges * 20 <= row.requests,
            "{} / baseline: {hedges} hedges for {} GETs",
            row.strategy,
            row.requests
        );
    }
}

#[test]
#[ignore = "needs root: network namespaces, veth links and iptables"]
fn round_robin_splits_the_baseline_exactly_across_the_four_hosts_but_for_hedges() {
    let row = rows("baseline")
        .into_iter()
        .find(|r| r.strategy == "round-robin")
        .expect("a round-robin baseline");
    assert_eq!(row.served.len(), 4, "every worker served: {row:#?}");
    let (min, max) = (
        row.served.values().min().copied().unwrap_or(0),
        row.served.values().max().copied().unwrap_or(0),
    );
    // Each hedge that won moved one answer from its turn's worker to
    // another: exact but for those.
    let hedges = row.hedges.expect("the proxy's hedge count");
    assert!(
        max - min <= 1 + 2 * hedges && min > 0,
        "round robin gives each worker its turn: {row:#?}"
    );
    assert_eq!(row.failed, 0, "{row:#?}");
}

#[test]
#[ignore = "needs root: network namespaces, veth links and iptables"]
fn a_firewall_rejecting_or_dropping_and_a_killed_worker_take_the_node_out() {
    for (strategy, phase) in TAKEN_OUT {
        let row = rows(phase)
            .into_iter()
            .find(|r| r.strategy == strategy)
            .expect("a row per strategy");
        assert!(row.victim.is_some(), "{row:#?}");
        assert!(
            row.out_ms.is_some(),
            "{strategy} / {phase}: the proxy never logged the node out: {row:#?}"
        );
    }
}

#[test]
#[ignore = "needs root: network namespaces, veth links and iptables"]
fn the_node_serves_again_after_each_fault() {
    for phase in FAULTS {
        for row in rows(phase) {
            assert!(
                row.back_ms.is_some(),
                "{} / {phase}: {:?} never served again within 30 s: {row:#?}",
                row.strategy,
                row.victim
            );
        }
    }
}

#[test]
#[ignore = "needs root: network namespaces, veth links and iptables"]
fn no_get_fails_in_any_phase() {
    for row in &replay().rows {
        assert!(row.requests > 0, "{row:#?}");
        assert_eq!(
            row.failed, 0,
            "{} / {}: {} of {} GETs failed: {} (log: {})",
            row.strategy, row.phase, row.failed, row.requests, row.failures, row.events
        );
    }
}

#[test]
#[ignore = "needs root: network namespaces, veth links and iptables"]
fn no_get_takes_over_two_seconds_and_none_over_100_ms_behind_a_firewall() {
    for row in &replay().rows {
        let phase = row.phase.as_str();
        eprintln!(
            "{} / {}: slowest GET {} ms",
            row.strategy, row.phase, row.max_ms
        );
        if FIREWALLS.contains(&phase) {
            assert!(
                row.max_ms < FIREWALL_MAX_MS,
                "{} / {}: a GET took {} ms, past the adaptive try timeout and a retry (log: {})",
                row.strategy,
                row.phase,
                row.max_ms,
                row.events
            );
            continue;
        }
        assert_eq!(
            row.slow, 0,
            "{} / {}: {} GETs over 2 s (max {} ms; log: {})",
            row.strategy, row.phase, row.slow, row.max_ms, row.events
        );
    }
}

#[test]
#[ignore = "needs root: network namespaces, veth links and iptables"]
fn the_lab_leaves_no_namespace_or_link_behind_and_removes_those_of_a_dead_lab() {
    let replay = replay();
    let namespaces = run(&["ip", "netns", "list"]).expect("ip netns list");
    let ours = format!("pw-lab-{}-", replay.pid);
    assert!(
        !namespaces.contains(&ours),
        "namespaces left behind:\n{namespaces}"
    );
    assert!(
        !replay.stale_left,
        "the namespace {} of a lab that had died was not removed",
        replay.stale
    );
    let links = run(&["ip", "-o", "link", "show"]).expect("ip link show");
    let prefix = format!("pwl{}", replay.pid);
    assert!(
        !links.contains(&format!(" {prefix}h")),
        "links left behind:\n{links}"
    );
}

/// Seconds of the short chaos soak: with the default seed, five faults (a
/// firewall rejecting, one dropping, a kill, a drain, a host leaving the
/// membership), two hosts at once for a while.
const CHAOS_SECS: &str = "20";

#[test]
#[ignore = "needs root: network namespaces, veth links and iptables"]
fn a_short_chaos_soak_fails_no_get_through_hyper_proxy_and_leaves_nothing_behind() {
    let _one_lab_at_a_time = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    need_namespaces().unwrap_or_else(|e| panic!("{e}"));
    let args = ["--chaos", CHAOS_SECS, "--no-nginx", "--json"];
    let child = Command::new(harness::program("lab"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start the lab: {e}"));
    let mut lab = Lab(child);
    let pid = lab.0.id();
    let (mut stdout, mut stderr) = (lab.0.stdout.take().unwrap(), lab.0.stderr.take().unwrap());
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let out_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    // Bounded: the soak, 5 s of warming, 8 s of quiet and the starts.
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = lab.0.try_wait().expect("the lab's status") {
            break status;
        }
        if Instant::now() > deadline {
            drop(lab);
            panic!(
                "the chaos soak took over 3 minutes; its log:\n{}",
                err_reader.join().unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let (out, log) = (
        out_reader.join().unwrap_or_default(),
        err_reader.join().unwrap_or_default(),
    );
    eprintln!("{log}");
    assert!(
        status.success(),
        "`lab {}` failed ({status}):\n{log}",
        args.join(" ")
    );
    let report: serde_json::Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("the lab printed no JSON ({e}):\n{out}"));
    assert!(
        report["schedule"].as_array().is_some_and(|s| s.len() >= 3),
        "a few faults were played: {}",
        report["schedule"]
    );
    let row = |proxy: &str| {
        report["rows"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["proxy"] == proxy))
            .unwrap_or_else(|| panic!("no {proxy} row in {report:#}"))
            .clone()
    };
    let total = |kinds: &serde_json::Value| {
        ["status", "transport", "timeout"]
            .iter()
            .map(|k| kinds[k].as_u64().unwrap_or(u64::MAX))
            .sum::<u64>()
    };
    let hyper = row("hyper_proxy");
    assert!(hyper["gets"].as_u64().unwrap_or(0) > 1000, "{hyper:#}");
    assert_eq!(
        total(&hyper["failed_gets"]),
        0,
        "GETs failed through hyper_proxy: {:#}\nschedule: {}",
        hyper["failures"],
        report["schedule"]
    );
    let forwarder = row("tcp_forwarder");
    assert!(
        forwarder["requests"].as_u64().unwrap_or(0) > 1000,
        "{forwarder:#}"
    );
    assert_eq!(
        report["driver_errors"].as_array().map(Vec::len),
        Some(0),
        "{report:#}"
    );
    let namespaces = run(&["ip", "netns", "list"]).expect("ip netns list");
    assert!(
        !namespaces.contains(&format!("pw-lab-{pid}-")),
        "namespaces left behind:\n{namespaces}"
    );
    let links = run(&["ip", "-o", "link", "show"]).expect("ip link show");
    assert!(
        !links.contains(&format!(" pwl{pid}h")),
        "links left behind:\n{links}"
    );
}

#[test]
#[ignore = "needs root: network namespaces, veth links and iptables"]
fn grpc_calls_fail_only_where_a_fault_cut_a_call_in_flight_and_the_node_is_taken_out() {
    // A gRPC call is a POST: once sent it is not sent again (it may have
    // run), so calls on the node when its fault begins, or sent to it
    // before the proxy takes it out (1 to 2 s), fail: at most two per
    // client (the four clients wait for each answer), seen 0 to 7 of about
    // 850 calls. Every other call goes elsewhere.
    let rows = grpc_replay();
    assert_eq!(rows.len(), 5, "{rows:#?}");
    for row in rows {
        eprintln!(
            "gRPC replay: {} {}: {} calls, {} failed, max {} ms, out {:?} ms, back {:?} ms",
            row.strategy, row.phase, row.requests, row.failed, row.max_ms, row.out_ms, row.back_ms
        );
        assert!(row.requests > 0, "{row:#?}");
        match row.phase.as_str() {
            "baseline" | "congested" => assert_eq!(row.failed, 0, "{row:#?}"),
            _ => assert!(row.failed <= 8, "{row:#?}"),
        }
        if row.phase != "baseline" {
            assert!(
                row.back_ms.is_some(),
                "the node never served again: {row:#?}"
            );
        }
        if ["firewall-reject", "firewall-drop", "killed"].contains(&row.phase.as_str()) {
            assert!(
                row.out_ms.is_some(),
                "the node was never taken out: {row:#?}"
            );
        }
    }
    let baseline = &rows[0];
    assert_eq!(baseline.served.len(), 4, "{baseline:#?}");
}
