//! The replay: for each strategy, a fresh proxy and five phases under a
//! steady GET load, one row of figures per phase.
//!
//! - `baseline`: nothing wrong; the victim for the next phases is the worker
//!   that served the most (with a hash strategy, one that has clients).
//! - `firewall-reject`: the victim's firewall rejects its port with ICMP host
//!   unreachable (the seed's firewall), `firewall-drop`: drops it silently,
//!   `congested`: its link is limited to 1 Mbit/s (tc tbf, both ends) while
//!   an upload fills it, `killed`: the worker is killed (SIGKILL) and started
//!   again on the same address.
//!
//! A fault phase runs 1 s of normal load, the fault for `--phase-secs`, then
//! normal load until the victim serves again (at most 30 s) and 1 s more.
//! "out" is from the fault to the proxy's log line taking the victim out
//! (`-> ejected`, `-> down`, `-> unhealthy`); "back" is from the end of the
//! fault to the victim's first answer after that (and after it was last
//! taken out): a strategy that stops sending to it has it never back.
//! "hedges" and "retries" are the proxy's own counts over the phase (its
//! `/status.json`, read before and after; the replay gives the proxy an
//! admin listener when `--proxy-arg` gave none): with `--proxy-arg "--hedge
//! slow"` they show what hedging cost.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use serde::Serialize;

use super::cluster::Cluster;
use super::faults::HostFault;
use super::hosts::Firewall;
use super::load::{flood, Load, Sample};

/// A request slower than this misses the goal.
pub const SLOW: Duration = Duration::from_secs(2);
/// Normal load before a fault.
const LEAD: Duration = Duration::from_secs(1);
/// The longest wait for the victim to serve again after a fault.
const RECOVERY_LIMIT: Duration = Duration::from_secs(30);
/// Normal load after the victim is back.
const TAIL: Duration = Duration::from_secs(1);

/// What one replay does.
pub struct Plan {
    pub strategies: Vec<String>,
    pub phase: Duration,
    pub clients: usize,
    pub interval: Duration,
    pub proxy_args: Vec<String>,
    /// The clients make gRPC calls over HTTP/2 instead of GETs.
    pub grpc: bool,
}

/// The phases, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Baseline,
    Reject,
    Drop,
    Congested,
    Killed,
}

impl Phase {
    const ALL: [Phase; 5] = [
        Phase::Baseline,
        Phase::Reject,
        Phase::Drop,
        Phase::Congested,
        Phase::Killed,
    ];

    fn name(self) -> &'static str {
        match self {
            Phase::Baseline => "baseline",
            Phase::Reject => "firewall-reject",
            Phase::Drop => "firewall-drop",
            Phase::Congested => "congested",
            Phase::Killed => "killed",
        }
    }
}

/// One phase's figures (a row of the table; an object in `--json`).
#[derive(Debug, Serialize)]
pub struct Row {
    pub strategy: String,
    pub phase: &'static str,
    /// The worker the fault was done to.
    pub victim: Option<String>,
    pub requests: usize,
    /// Not 200, a transport error, or no answer within 10 s.
    pub failed: usize,
    /// Slower than 2 s (failed or not).
    pub slow: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// From the fault to the proxy taking the victim out.
    pub out_ms: Option<u64>,
    /// From the end of the fault to the victim serving again (None: not
    /// within 30 s).
    pub back_ms: Option<u64>,
    /// Successful answers per worker.
    pub served: BTreeMap<String, usize>,
    /// Failures by what the client saw.
    pub failures: BTreeMap<String, usize>,
    /// The proxy's log lines about the victim, with their time from the fault.
    pub events: Vec<String>,
    /// Hedges and retries the proxy sent during the phase (None: its
    /// status could not be read).
    pub hedges: Option<u64>,
    pub retries: Option<u64>,
}

/// Runs the plan; `done` sees each row as it is measured.
pub async fn replay(
    cluster: &mut Cluster,
    plan: &Plan,
    mut done: impl FnMut(&Row),
) -> Result<Vec<Row>, String> {
    if !cluster.hosts.namespaced() {
        return Err("the replay needs the four hosts in network namespaces (firewalls, links): run it as root".into());
    }
    let mut rows = Vec::new();
    let mut proxy_args = plan.proxy_args.clone();
    if !proxy_args.iter().any(|a| a.starts_with("--admin")) {
        proxy_args.extend(["--admin", "127.0.0.1:0"].map(String::from));
    }
    for strategy in &plan.strategies {
        cluster.start_proxy(strategy, &proxy_args)?;
        // The proxy answers before it is measured.
        let warm = Load::start(
            cluster.proxy_addr()?,
            1,
            plan.interval,
            Duration::from_secs(1),
            plan.grpc,
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        warm.stop().await;
        let mut victim = 0;
        for phase in Phase::ALL {
            eprintln!(
                "lab: {strategy}: {}{}",
                phase.name(),
                if phase == Phase::Baseline {
                    String::new()
                } else {
                    format!(" on {}", cluster.workers[victim].host.name)
                }
            );
            let before = counters(cluster).await;
            let mut row = match phase {
                Phase::Baseline => {
                    let row = baseline(cluster, plan, strategy).await?;
                    victim = cluster
                        .workers
                        .iter()
                        .enumerate()
                        .max_by_key(|(i, w)| {
                            (
                                row.served.get(&w.host.name).copied().unwrap_or(0),
                                usize::MAX - i,
                            )
                        })
                        .map_or(0, |(i, _)| i);
                    row
                }
                fault => fault_phase(cluster, plan, strategy, fault, victim).await?,
            };
            if let (Some(before), Some(after)) = (before, counters(cluster).await) {
                row.hedges = Some(after.0.saturating_sub(before.0));
                row.retries = Some(after.1.saturating_sub(before.1));
            }
            done(&row);
            rows.push(row);
        }
        cluster.proxy = None;
    }
    Ok(rows)
}

async fn baseline(cluster: &Cluster, plan: &Plan, strategy: &str) -> Result<Row, String> {
    let load = Load::start(
        cluster.proxy_addr()?,
        plan.clients,
        plan.interval,
        plan.phase,
        plan.grpc,
    );
    tokio::time::sleep(plan.phase).await;
    let samples = load.stop().await;
    Ok(row(strategy, Phase::Baseline, None, &samples))
}

async fn fault_phase(
    cluster: &mut Cluster,
    plan: &Plan,
    strategy: &str,
    phase: Phase,
    victim: usize,
) -> Result<Row, String> {
    let name = cluster.workers[victim].host.name.clone();
    let limit = LEAD + plan.phase + RECOVERY_LIMIT + TAIL + Duration::from_secs(1);
    let load = Load::start(
        cluster.proxy_addr()?,
        plan.clients,
        plan.interval,
        limit,
        plan.grpc,
    );
    tokio::time::sleep(LEAD).await;
    let fault_at = Instant::now();
    let mut flooding = None;
    let lifted = apply(cluster, phase, victim, plan.phase, &mut flooding);
    if lifted.is_ok() {
        tokio::time::sleep(plan.phase).await;
    }
    let lifted_at = Instant::now();
    // Lift the fault whatever happened; report the first error.
    let lift_result = lift(cluster, phase, victim);
    if let Some(flooding) = flooding {
        let _ = flooding.await;
    }
    lifted.and(lift_result)?;
    let recovery_end = lifted_at + RECOVERY_LIMIT;
    while Instant::now() < recovery_end {
        let last_out = outs(cluster, &name, fault_at).last().copied();
        let since = last_out.map_or(lifted_at, |t| t.max(lifted_at));
        if load.served_since(&name, since) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(TAIL).await;
    let samples = load.stop().await;

    let mut row = row(strategy, phase, Some(name.clone()), &samples);
    let outs = outs(cluster, &name, fault_at);
    row.out_ms = outs
        .first()
        .map(|t| millis(t.saturating_duration_since(fault_at)));
    let since = outs.last().map_or(lifted_at, |&t| t.max(lifted_at));
    row.back_ms = samples
        .iter()
        .find(|s| s.sent >= since && s.result.as_deref() == Ok(name.as_str()))
        .map(|s| millis(s.sent.saturating_duration_since(lifted_at)));
    row.events = events(cluster, &name, fault_at);
    Ok(row)
}

/// The fault a phase puts on its victim (none in the baseline).
fn fault_of(phase: Phase) -> Option<HostFault> {
    match phase {
        Phase::Baseline => None,
        Phase::Reject => Some(HostFault::Firewall(Firewall::Reject)),
        Phase::Drop => Some(HostFault::Firewall(Firewall::Drop)),
        Phase::Congested => Some(HostFault::Congestion),
        Phase::Killed => Some(HostFault::Kill),
    }
}

/// Puts the phase's fault on the victim; a congested link is also flooded
/// for `length`.
fn apply(
    cluster: &mut Cluster,
    phase: Phase,
    victim: usize,
    length: Duration,
    flooding: &mut Option<tokio::task::JoinHandle<()>>,
) -> Result<(), String> {
    let Some(fault) = fault_of(phase) else {
        return Ok(());
    };
    fault.apply(cluster, victim)?;
    if fault == HostFault::Congestion {
        let until = Instant::now() + length;
        *flooding = Some(flood(cluster.workers[victim].listen, until));
    }
    Ok(())
}

fn lift(cluster: &mut Cluster, phase: Phase, victim: usize) -> Result<(), String> {
    fault_of(phase).map_or(Ok(()), |fault| fault.lift(cluster, victim))
}

/// When the proxy logged the victim going out (ejected, down, unhealthy)
/// since `since`.
fn outs(cluster: &Cluster, name: &str, since: Instant) -> Vec<Instant> {
    let needle = format!("backend {name} ");
    proxy_log(cluster)
        .into_iter()
        .filter(|(at, line)| {
            *at >= since
                && line.contains(&needle)
                && [" -> ejected", " -> down", " -> unhealthy"]
                    .iter()
                    .any(|to| line.contains(to))
        })
        .map(|(at, _)| at)
        .collect()
}

/// The proxy's log lines about the victim since the fault, with their time
/// from it (at most 20).
fn events(cluster: &Cluster, name: &str, since: Instant) -> Vec<String> {
    let needle = format!(" {name} ");
    proxy_log(cluster)
        .into_iter()
        .filter(|(at, line)| *at >= since && line.contains(&needle))
        .take(20)
        .map(|(at, line)| {
            // Drop tracing's timestamp: the offset says when.
            let text = line
                .split_once(' ')
                .map_or(line.as_str(), |(_, rest)| rest)
                .trim();
            format!("+{} ms {text}", millis(at.saturating_duration_since(since)))
        })
        .collect()
}

fn proxy_log(cluster: &Cluster) -> Vec<(Instant, String)> {
    cluster
        .proxy
        .as_ref()
        .and_then(|p| p.log.lock().ok().map(|log| log.clone()))
        .unwrap_or_default()
}

fn row(strategy: &str, phase: Phase, victim: Option<String>, samples: &[Sample]) -> Row {
    let mut latencies: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    latencies.sort();
    let quantile = |q: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let rank = ((q * latencies.len() as f64).ceil() as usize).clamp(1, latencies.len());
        ms(latencies[rank - 1])
    };
    let mut served = BTreeMap::new();
    let mut failures = BTreeMap::new();
    for sample in samples {
        match &sample.result {
            Ok(worker) => *served.entry(worker.clone()).or_insert(0) += 1,
            Err(why) => *failures.entry(failure_kind(why)).or_insert(0) += 1,
        }
    }
    Row {
        strategy: strategy.to_owned(),
        phase: phase.name(),
        victim,
        requests: samples.len(),
        failed: samples.iter().filter(|s| s.result.is_err()).count(),
        slow: latencies.iter().filter(|&&l| l > SLOW).count(),
        p50_ms: quantile(0.50),
        p99_ms: quantile(0.99),
        max_ms: latencies.last().copied().map_or(0.0, ms),
        out_ms: None,
        back_ms: None,
        served,
        failures,
        events: Vec::new(),
        hedges: None,
        retries: None,
    }
}

/// The proxy's hedges and retries so far, from its `/status.json`.
async fn counters(cluster: &Cluster) -> Option<(u64, u64)> {
    let admin = cluster.proxy.as_ref()?.admin?;
    let status = tokio::time::timeout(Duration::from_secs(2), status_json(admin))
        .await
        .ok()??;
    let proxy = &status["proxy"];
    Some((proxy["hedges"].as_u64()?, proxy["retries"].as_u64()?))
}

/// GET /status.json over HTTP/1.0 (a whole body, no chunks).
async fn status_json(admin: SocketAddr) -> Option<serde_json::Value> {
    let mut stream = tokio::net::TcpStream::connect(admin).await.ok()?;
    // The admin listener answers requests to its own address only.
    let request = format!("GET /status.json HTTP/1.0\r\nHost: {admin}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await.ok()?;
    let start = reply.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    serde_json::from_slice(&reply[start..]).ok()
}

/// A failure's kind without its details: `status 504`, `transport error`...
fn failure_kind(why: &str) -> String {
    why.split(':').next().unwrap_or(why).to_owned()
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

fn millis(d: Duration) -> u64 {
    d.as_millis() as u64
}

/// The table: one line per strategy and phase.
pub fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<18} {:<16} {:<6} {:>8} {:>6} {:>5} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7}\n",
        "strategy",
        "phase",
        "victim",
        "requests",
        "failed",
        ">2s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "out ms",
        "back ms",
        "hedges"
    );
    let opt = |v: Option<u64>| v.map_or("-".to_owned(), |v| v.to_string());
    for r in rows {
        out += &format!(
            "{:<18} {:<16} {:<6} {:>8} {:>6} {:>5} {:>8.1} {:>8.1} {:>8.1} {:>8} {:>8} {:>7}\n",
            r.strategy,
            r.phase,
            r.victim.as_deref().unwrap_or("-"),
            r.requests,
            r.failed,
            r.slow,
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            opt(r.out_ms),
            opt(r.back_ms),
            opt(r.hedges),
        );
    }
    out
}
