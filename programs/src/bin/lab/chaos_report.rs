//! The chaos soak's report: per proxy, requests and failures by kind,
//! method and connection, GET latency, and what it held before, at most and
//! after; as JSON (serde) or a markdown table with the goals met or missed.
//!
//! Through a TCP forwarder a connection is tied to the worker it was
//! forwarded to: when that worker dies or is firewalled, the requests on it
//! fail and no proxy can save them. Such a failure is "explained" when a
//! kill or firewall on the worker that answered the connection's previous
//! request overlapped it (from [`SLACK`] before it was sent to [`SLACK`]
//! after the fault was lifted).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use super::cluster::Cluster;
use super::driver::Driver;
use super::load::{FailureKind, Sample};
use super::resources::Held;
use super::schedule::{self, Strike};

/// The margin around a fault within which a failure on a connection tied
/// to its worker counts as caused by it.
pub const SLACK: Duration = Duration::from_secs(2);

/// Failures by kind.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Kinds {
    pub status: usize,
    pub transport: usize,
    pub timeout: usize,
}

impl Kinds {
    fn add(&mut self, kind: FailureKind) {
        match kind {
            FailureKind::Status => self.status += 1,
            FailureKind::Transport => self.transport += 1,
            FailureKind::Timeout => self.timeout += 1,
        }
    }

    pub fn total(&self) -> usize {
        self.status + self.transport + self.timeout
    }
}

/// One proxy's figures for the soak.
#[derive(Debug, Serialize)]
pub struct Row {
    pub proxy: &'static str,
    pub requests: usize,
    pub gets: usize,
    pub posts: usize,
    pub failed_gets: Kinds,
    pub failed_posts: Kinds,
    /// Failures (any method) of the first request on a new connection.
    pub failed_on_new_connections: Kinds,
    /// Failures (any method) of a later request on a connection.
    pub failed_on_open_connections: Kinds,
    /// Of those, how many a kill or firewall on the connection's worker explains.
    pub open_connection_failures_explained: usize,
    /// Failures on new connections while a kill or firewall began on some
    /// host (from [`SLACK`] before the request to its end): the forwarder
    /// had connected to that host just before.
    pub new_connection_failures_as_a_fault_began: usize,
    /// Failures (any connection) within [`SLACK`] of a membership change
    /// (for nginx: a reload).
    pub failures_at_a_membership_change: usize,
    pub new_connections: usize,
    pub get_p50_ms: f64,
    pub get_p99_ms: f64,
    pub get_max_ms: f64,
    pub before: Held,
    pub after: Held,
    pub peak: Held,
    /// Successful answers per worker.
    pub served: BTreeMap<String, usize>,
    /// What the failed requests' clients saw, counted (at most 12 kinds).
    pub failures: BTreeMap<String, usize>,
    /// nginx: reloads done; its error log's complaints, counted.
    pub reloads: Option<u64>,
    pub proxy_errors: Vec<(String, usize)>,
}

/// The soak's outcome.
#[derive(Debug, Serialize)]
pub struct Report {
    pub secs: u64,
    pub seed: u64,
    pub strategy: String,
    pub clients: usize,
    pub interval_ms: u64,
    pub per_connection: Option<u32>,
    pub post_every: Option<u32>,
    pub threads: usize,
    /// Hosts behind the proxies.
    pub hosts: usize,
    pub faults: BTreeMap<&'static str, usize>,
    pub schedule: Vec<Strike>,
    pub rows: Vec<Row>,
    /// What the driver could not do (a restart that failed...): empty in a
    /// sound soak.
    pub driver_errors: Vec<String>,
}

/// One proxy's row from its samples and what the driver did meanwhile.
pub fn row(proxy: &'static str, samples: &[Sample], cluster: &Cluster, driver: &Driver) -> Row {
    let windows = &driver.windows;
    let mut get_latencies: Vec<Duration> = samples
        .iter()
        .filter(|s| s.method == "GET")
        .map(|s| s.latency)
        .collect();
    get_latencies.sort();
    let quantile = |q: f64| -> f64 {
        if get_latencies.is_empty() {
            return 0.0;
        }
        let rank = ((q * get_latencies.len() as f64).ceil() as usize).clamp(1, get_latencies.len());
        ms(get_latencies[rank - 1])
    };
    let mut row = Row {
        proxy,
        requests: samples.len(),
        gets: samples.iter().filter(|s| s.method == "GET").count(),
        posts: samples.iter().filter(|s| s.method == "POST").count(),
        failed_gets: Kinds::default(),
        failed_posts: Kinds::default(),
        failed_on_new_connections: Kinds::default(),
        failed_on_open_connections: Kinds::default(),
        open_connection_failures_explained: 0,
        new_connection_failures_as_a_fault_began: 0,
        failures_at_a_membership_change: 0,
        new_connections: samples.iter().filter(|s| s.fresh).count(),
        get_p50_ms: quantile(0.50),
        get_p99_ms: quantile(0.99),
        get_max_ms: get_latencies.last().copied().map_or(0.0, ms),
        before: Held::default(),
        after: Held::default(),
        peak: Held::default(),
        served: BTreeMap::new(),
        failures: BTreeMap::new(),
        reloads: None,
        proxy_errors: Vec::new(),
    };
    let host_of = |worker: &str| cluster.workers.iter().position(|w| w.host.name == worker);
    let mut failures: BTreeMap<String, usize> = BTreeMap::new();
    for sample in samples {
        let kind = match (&sample.result, sample.failure()) {
            (Ok(worker), _) => {
                *row.served.entry(worker.clone()).or_insert(0) += 1;
                continue;
            }
            (Err(_), None) => continue,
            (Err(why), Some(kind)) => {
                let line = why.lines().next().unwrap_or_default();
                let why: String = line.chars().take(100).collect();
                *failures
                    .entry(format!("{} {why}", sample.method))
                    .or_insert(0) += 1;
                kind
            }
        };
        match sample.method {
            "GET" => row.failed_gets.add(kind),
            _ => row.failed_posts.add(kind),
        }
        let (from, to) = (
            sample.sent.checked_sub(SLACK).unwrap_or(sample.sent),
            sample.sent + sample.latency,
        );
        if driver
            .changes
            .iter()
            .any(|&at| from <= at && at <= to + SLACK)
        {
            row.failures_at_a_membership_change += 1;
        }
        if sample.fresh {
            row.failed_on_new_connections.add(kind);
            let began = windows
                .iter()
                .flatten()
                .any(|&(start, _)| from <= start && start <= to);
            if began {
                row.new_connection_failures_as_a_fault_began += 1;
            }
            continue;
        }
        row.failed_on_open_connections.add(kind);
        let explained = sample
            .pinned
            .as_deref()
            .and_then(host_of)
            .is_some_and(|host| {
                windows[host]
                    .iter()
                    .any(|&(start, end)| start <= to && end + SLACK >= from)
            });
        if explained {
            row.open_connection_failures_explained += 1;
        }
    }
    let mut kinds: Vec<(String, usize)> = failures.into_iter().collect();
    kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    row.failures = kinds.into_iter().take(12).collect();
    row
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}

/// The report as markdown: the plan, a table of the proxies, the goals.
pub fn table(report: &Report) -> String {
    let faults: Vec<String> = report
        .faults
        .iter()
        .map(|(name, n)| format!("{name} {n}"))
        .collect();
    let mut out = format!(
        "chaos soak: {} s, seed {}, {} faults ({}), at most {} hosts at once; {}, {} threads; \
         per proxy {} clients, a request every {} ms each, a new connection every {} requests, every {} a POST\n\n",
        report.secs,
        report.seed,
        report.schedule.len(),
        faults.join(", "),
        schedule::MAX_AT_ONCE,
        report.strategy,
        report.threads,
        report.clients,
        report.interval_ms,
        report.per_connection.map_or("-".into(), |n| n.to_string()),
        report.post_every.map_or("-".into(), |n| format!("{n}th")),
    );
    let kinds = |k: &Kinds| format!("{} / {} / {}", k.status, k.transport, k.timeout);
    let change = |before: u64, after: u64| {
        if before == 0 {
            return "-".to_owned();
        }
        format!(
            "{:+.1}%",
            (after as f64 - before as f64) * 100.0 / before as f64
        )
    };
    out += "| proxy | requests (GET / POST) | failed GETs: status / transport / timeout | failed POSTs | failed on new connections (as a fault began) | failed on open connections (explained) | GET p50 / p99 / max ms | RSS KiB before → after (peak) | fds before → after (peak); of which to the hosts |\n";
    out += "|---|---|---|---|---|---|---|---|---|\n";
    for r in &report.rows {
        out += &format!(
            "| {} | {} ({} / {}) | {} | {} | {} of {} ({}) | {} ({}) | {:.1} / {:.1} / {:.0} | {} → {} ({}; peak {}) | {} → {} (peak {}); {} → {} |\n",
            r.proxy,
            r.requests,
            r.gets,
            r.posts,
            kinds(&r.failed_gets),
            kinds(&r.failed_posts),
            r.failed_on_new_connections.total(),
            r.new_connections,
            r.new_connection_failures_as_a_fault_began,
            r.failed_on_open_connections.total(),
            r.open_connection_failures_explained,
            r.get_p50_ms,
            r.get_p99_ms,
            r.get_max_ms,
            r.before.rss_kib,
            r.after.rss_kib,
            change(r.before.rss_kib, r.after.rss_kib),
            r.peak.rss_kib,
            r.before.fds,
            r.after.fds,
            r.peak.fds,
            r.before.upstream,
            r.after.upstream,
        );
    }
    out += "\n";
    for r in &report.rows {
        let rss_ok = r.after.rss_kib as f64 <= r.before.rss_kib as f64 * 1.10;
        // Descriptors other than connections to the hosts must not grow;
        // those connections (idle in a keep-alive pool) stay within what
        // the load can open: a request in flight per client per host.
        let other = |h: &Held| h.fds.saturating_sub(h.upstream);
        let bound = (report.clients * report.hosts) as u64;
        let fds_ok = other(&r.after) <= other(&r.before) && r.after.upstream <= bound;
        let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
        out += &format!(
            "{}: 0 failed GETs: {} ({}); RSS within 10% of before: {} ({}); no descriptor growth: {} (other than to the hosts {} → {}; to the hosts {} → {}, at most {bound}); new connections never fail: {} ({})\n",
            r.proxy,
            verdict(r.failed_gets.total() == 0),
            r.failed_gets.total(),
            verdict(rss_ok),
            change(r.before.rss_kib, r.after.rss_kib),
            verdict(fds_ok),
            other(&r.before),
            other(&r.after),
            r.before.upstream,
            r.after.upstream,
            verdict(r.failed_on_new_connections.total() == 0),
            r.failed_on_new_connections.total(),
        );
        for (what, n) in &r.failures {
            out += &format!("    {n} × {what}\n");
        }
        if r.failures_at_a_membership_change > 0 {
            out += &format!(
                "    {} of the failures within 2 s of a membership change\n",
                r.failures_at_a_membership_change
            );
        }
        if let Some(reloads) = r.reloads {
            out += &format!("    nginx reloaded {reloads} times (membership)\n");
        }
        for (what, n) in &r.proxy_errors {
            out += &format!("    nginx error log: {n} × {what}\n");
        }
    }
    for e in &report.driver_errors {
        out += &format!("driver error: {e}\n");
    }
    out
}
