//! The chaos soak (`lab --chaos SECS`): load through the proxies while a
//! driver plays a seeded schedule of faults (schedule.rs) on the four
//! hosts, then what failed, how slow it was, and what the proxies hold.
//!
//! Two passes under the same schedule:
//! 1. hyper_proxy and tcp_forwarder side by side, each with its own
//!    clients. Their backends: w1 and w2 by address with their agents
//!    (`agent=`; the drain faults), w3 and w4 through the SRV name the
//!    lab's DNS server serves (dns.rs; the leave faults), with active
//!    health checks (`http:/` every 500 ms) and `--eject-ms 3000`.
//! 2. nginx (nginx.rs) in front of the same four workers, unless left out.
//!
//! A pass: 5 s of load with nothing wrong, 3 s of quiet, what each proxy
//! holds (RSS, open descriptors); then the soak, load and schedule for
//! SECS; every fault still on is lifted, 5 s of quiet, what each holds
//! again (and the most it held, sampled every 2 s during the soak).
//!
//! Failed requests are counted by kind (a status other than 200, a
//! transport error, no answer in 10 s), by method (GET, which a proxy may
//! send again; POST, which it may not once sent) and by connection: the
//! first request on a new connection to the proxy, or a later one
//! (chaos_report.rs). The faults are applied and lifted by driver.rs.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use super::chaos_report::{row, Report};
use super::cluster::Cluster;
use super::dns::{LabDns, SERVICE};
use super::driver::{members, Driver, BY_ADDRESS, BY_NAME};
use super::load::{Load, Shape};
use super::nginx::Nginx;
use super::programs::Program;
use super::resources::{held, Held};
use super::schedule::{self, Strike, Targets};

/// Load with nothing wrong before the first measure.
const WARM: Duration = Duration::from_secs(5);
/// Quiet before the first measure.
const QUIET_BEFORE: Duration = Duration::from_secs(3);
/// Quiet after the soak, before the second.
const QUIET_AFTER: Duration = Duration::from_secs(5);
/// How often what the proxies hold is sampled during the soak.
const SAMPLE_EVERY: Duration = Duration::from_secs(2);

/// What one soak does.
pub struct Plan {
    pub secs: u64,
    pub seed: u64,
    pub shape: Shape,
    /// The proxies' runtime threads and nginx's worker processes.
    pub threads: usize,
    pub strategy: String,
    /// Extra flags for both proxies (after the lab's).
    pub proxy_args: Vec<String>,
    pub nginx: bool,
}

/// A proxy under test.
enum Proxy {
    Program(&'static str, Program),
    Nginx(Nginx),
}

impl Proxy {
    fn name(&self) -> &'static str {
        match self {
            Proxy::Program(name, _) => name,
            Proxy::Nginx(_) => "nginx",
        }
    }

    fn addr(&self) -> SocketAddr {
        match self {
            Proxy::Program(_, program) => program.listen,
            Proxy::Nginx(nginx) => nginx.listen,
        }
    }

    /// What it holds; connections to `hosts` (their /24) count as upstream.
    fn held(&mut self, hosts: Ipv4Addr) -> Result<Held, String> {
        let name = self.name();
        match self {
            Proxy::Program(_, program) => {
                if let Some(status) = program.exited() {
                    return Err(format!("{name} exited ({status})"));
                }
                held(program.pid(), false, hosts)
            }
            Proxy::Nginx(nginx) => held(nginx.pid(), true, hosts),
        }
    }
}

/// Runs the soak: the pickwise pass, then nginx's.
pub async fn soak(cluster: &mut Cluster, plan: &Plan) -> Result<Report, String> {
    if !cluster.hosts.namespaced() {
        return Err("the chaos soak needs the four hosts in network namespaces (firewalls, kills): run it as root".into());
    }
    let total = Duration::from_secs(plan.secs);
    let targets = Targets {
        hosts: cluster.workers.len(),
        drainable: BY_ADDRESS.to_vec(),
        members: BY_NAME.to_vec(),
    };
    let strikes = schedule::draw(plan.seed, total, &targets);
    let mut faults = BTreeMap::new();
    for strike in &strikes {
        *faults.entry(strike.fault.name()).or_insert(0) += 1;
    }
    eprintln!(
        "lab: chaos: {} faults in {} s (seed {}): {faults:?}",
        strikes.len(),
        plan.secs,
        plan.seed
    );
    let mut dns = LabDns::start(&members(cluster, &[true; 4])).await?;
    let mut report = Report {
        secs: plan.secs,
        seed: plan.seed,
        strategy: plan.strategy.clone(),
        clients: plan.shape.clients,
        interval_ms: plan.shape.interval.as_millis() as u64,
        per_connection: plan.shape.per_connection,
        post_every: plan.shape.post_every,
        threads: plan.threads,
        hosts: cluster.workers.len(),
        faults,
        schedule: strikes.clone(),
        rows: Vec::new(),
        driver_errors: Vec::new(),
    };
    let outcome = async {
        let proxies = vec![
            Proxy::Program(
                "hyper_proxy",
                start_proxy(cluster, &dns, plan, "hyper_proxy")?,
            ),
            Proxy::Program(
                "tcp_forwarder",
                start_proxy(cluster, &dns, plan, "tcp_forwarder")?,
            ),
        ];
        eprintln!("lab: chaos: hyper_proxy and tcp_forwarder");
        pass(cluster, &mut dns, plan, &strikes, proxies, &mut report).await?;
        if plan.nginx {
            let all: Vec<SocketAddr> = cluster.workers.iter().map(|w| w.listen).collect();
            let nginx = tokio::task::block_in_place(|| Nginx::start(plan.threads, &all))?;
            eprintln!("lab: chaos: nginx");
            pass(
                cluster,
                &mut dns,
                plan,
                &strikes,
                vec![Proxy::Nginx(nginx)],
                &mut report,
            )
            .await?;
        }
        Ok::<(), String>(())
    }
    .await;
    dns.stop().await;
    outcome.map(|()| report)
}

/// Starts `binary` (hyper_proxy or tcp_forwarder) in front of the hosts.
fn start_proxy(
    cluster: &Cluster,
    dns: &LabDns,
    plan: &Plan,
    binary: &'static str,
) -> Result<Program, String> {
    let mut args: Vec<String> = [
        "--listen",
        "127.0.0.1:0",
        "--strategy",
        &plan.strategy,
        "--threads",
        &plan.threads.to_string(),
        "--eject-ms",
        "3000",
        "--health-check",
        "http:/",
        "--health-interval-ms",
        "500",
        "--resolver",
        &dns.addr.to_string(),
        "--backend",
        SERVICE,
    ]
    .map(String::from)
    .to_vec();
    for &i in &BY_ADDRESS {
        let worker = &cluster.workers[i];
        let mut spec = format!("{},id={}", worker.listen, worker.host.name);
        if let Some(agent) = worker.agent {
            spec += &format!(",agent={agent}");
        }
        args.extend(["--backend".into(), spec]);
    }
    args.extend(plan.proxy_args.iter().cloned());
    tokio::task::block_in_place(|| {
        Program::start(
            binary,
            &cluster.bin.join(binary),
            &args,
            None,
            (false, false),
            false,
        )
    })
}

/// One pass: warm, measure, soak under the schedule, quiet, measure.
async fn pass(
    cluster: &mut Cluster,
    dns: &mut LabDns,
    plan: &Plan,
    strikes: &[Strike],
    mut proxies: Vec<Proxy>,
    report: &mut Report,
) -> Result<(), String> {
    let warm: Vec<Load> = proxies
        .iter()
        .map(|p| Load::shaped(p.addr(), plan.shape, WARM))
        .collect();
    tokio::time::sleep(WARM).await;
    for load in warm {
        let samples = load.stop().await;
        let failed = samples.iter().filter(|s| s.result.is_err()).count();
        if failed > 0 || samples.is_empty() {
            let why: Vec<&String> = samples
                .iter()
                .filter_map(|s| s.result.as_ref().err())
                .take(5)
                .collect();
            return Err(format!(
                "{} of {} requests failed with nothing wrong yet: {why:?}",
                failed,
                samples.len()
            ));
        }
    }
    tokio::time::sleep(QUIET_BEFORE).await;
    let hosts = cluster.hosts.subnet.unwrap_or(Ipv4Addr::UNSPECIFIED);
    let mut before = Vec::new();
    for proxy in &mut proxies {
        before.push(proxy.held(hosts)?);
    }

    let total = Duration::from_secs(plan.secs);
    let loads: Vec<Load> = proxies
        .iter()
        .map(|p| Load::shaped(p.addr(), plan.shape, total))
        .collect();
    let start = Instant::now();
    let mut peak = before.clone();
    let mut driver = Driver::new(cluster.workers.len());
    let mut actions: Vec<(Duration, bool, usize)> = strikes
        .iter()
        .enumerate()
        .flat_map(|(i, s)| [(s.at, true, i), (s.end(), false, i)])
        .collect();
    // In time order; at the same time, lifts (false) first.
    actions.sort_by_key(|&(at, apply, i)| (at, apply, i));
    let mut next_sample = SAMPLE_EVERY;
    let mut actions = actions.into_iter().peekable();
    loop {
        let next_action = actions.peek().map(|&(at, _, _)| at);
        let wake = next_action.map_or(next_sample, |at| at.min(next_sample));
        if wake >= total {
            break;
        }
        tokio::time::sleep_until((start + wake).into()).await;
        if next_action == Some(wake) {
            let Some((_, apply, i)) = actions.next() else {
                break;
            };
            let strike = strikes[i];
            if apply {
                driver
                    .apply(cluster, dns, nginx_of(&mut proxies), strike)
                    .await;
            } else {
                driver
                    .lift(cluster, dns, nginx_of(&mut proxies), strike)
                    .await;
            }
        } else {
            next_sample += SAMPLE_EVERY;
            for (proxy, peak) in proxies.iter_mut().zip(&mut peak) {
                *peak = peak.max(proxy.held(hosts)?);
            }
        }
    }
    tokio::time::sleep_until((start + total).into()).await;
    let mut all_samples = Vec::new();
    for load in loads {
        all_samples.push(load.stop().await);
    }
    // Whatever is still on (nothing, by the schedule's bounds) comes off.
    while let Some(strike) = driver.on.first().copied() {
        driver
            .lift(cluster, dns, nginx_of(&mut proxies), strike)
            .await;
    }
    tokio::time::sleep(QUIET_AFTER).await;
    for (((proxy, samples), before), peak) in
        proxies.iter_mut().zip(all_samples).zip(before).zip(peak)
    {
        let after = proxy.held(hosts)?;
        let mut row = row(proxy.name(), &samples, cluster, &driver);
        row.before = before;
        row.after = after;
        row.peak = peak.max(after);
        if let Proxy::Nginx(nginx) = proxy {
            row.reloads = Some(nginx.reloads);
            row.proxy_errors = nginx.errors();
        }
        report.rows.push(row);
    }
    report.driver_errors.append(&mut driver.errors);
    Ok(())
}

/// The nginx among the proxies, if any (membership changes reload it).
fn nginx_of(proxies: &mut [Proxy]) -> Option<&mut Nginx> {
    proxies.iter_mut().find_map(|p| match p {
        Proxy::Nginx(nginx) => Some(nginx),
        Proxy::Program(..) => None,
    })
}
