//! `lab`: the lab on four hosts in one command. Four workers, each on a host
//! of its own (a network namespace with a veth link and its own address when
//! run as root, else an address on loopback), and hyper_proxy on this host in
//! front of them.
//!
//! ```text
//! cargo run --release --bin lab                          # interactive: look and try
//! sudo target/release/lab --replay [--strategy NAME ...] [--phase-secs N] [--json]
//! sudo target/release/lab --chaos SECS [--seed N] [--no-nginx] [--json]
//! lab [--hosts auto|loopback|netns] [--strategy NAME] [--eject-ms N]
//!     [--proxy-arg ARG ...] [--verbose]
//! ```
//!
//! Interactive (the default): the proxy runs with its status page
//! (`--admin 127.0.0.1:0`) and active health checks (`--health-check http:/
//! --health-interval-ms 500`) unless `--proxy-arg` sets those flags; the lab
//! prints the proxy's address, the status page's, and what to try: drain a
//! worker on its admin listener, kill one (the lab
//! starts it again 5 s later), firewall one or congest its link (the exact
//! `ip netns exec ...` lines). The programs' logs follow on stderr; Ctrl-C
//! stops everything.
//!
//! `--replay`: for each strategy (round-robin, least-connections, peak-ewma,
//! maglev by default) a fresh proxy under a steady GET load through five
//! phases: baseline, one host's firewall rejecting (ICMP host unreachable),
//! then dropping, its link congested (tc tbf 1 Mbit/s with an upload filling
//! it), its worker killed and started again. Prints a table: requests,
//! failed (not 200, transport error, no answer in 10 s), slower than 2 s,
//! p50, p99, max, time until the proxy took the node out (its log) and until
//! the node served again. `--json` prints the rows as JSON instead. The
//! replay needs namespaces: run it as root (bench/lab.sh does).
//!
//! `--chaos SECS`: the chaos soak (chaos.rs): hyper_proxy and tcp_forwarder
//! side by side under load while a driver plays a seeded schedule of faults
//! on the hosts (workers killed and started again, firewalls rejecting,
//! dropping and lifted, agents draining and back up, hosts leaving and
//! joining the membership the proxies follow through the lab's DNS
//! server), then nginx in front of the same hosts under the same schedule.
//! Prints failed requests by kind, GET latency, and each proxy's memory and
//! open descriptors before and after (a markdown table; `--json` the
//! report). Needs root, and nginx unless `--no-nginx` (bench/chaos.sh
//! installs it).
//!
//! Whatever happens (an error, a panic, Ctrl-C, SIGTERM), the programs are
//! killed and the namespaces and links removed; namespaces left by a lab
//! that was killed outright are removed at the next start.
//!
//! The worker and hyper_proxy binaries are looked for beside the lab's own
//! (`target/<profile>/`); `cargo run --bin lab` builds them when
//! they are missing, otherwise build them with `cargo build --release
//! -p pickwise-programs`.

mod chaos;
mod chaos_report;
mod cluster;
mod dns;
mod driver;
mod faults;
mod hosts;
mod load;
mod nginx;
mod programs;
mod replay;
mod resources;
mod schedule;

use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser};
use cluster::Cluster;
use hosts::{Firewall, Hosts, HostsMode};
use pickwise::strategy::StrategyKind;
use replay::Plan;

/// The lab on four hosts: four workers and hyper_proxy, interactive or
/// replaying the faults the lab has seen.
#[derive(Parser)]
#[command(name = "lab", version)]
struct Args {
    /// Replay the faults (needs root) and print a table instead of
    /// running interactively
    #[arg(long, conflicts_with = "chaos")]
    replay: bool,
    /// Run the chaos soak for this many seconds (needs root) and print its
    /// report instead of running interactively
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(10..=86_400))]
    chaos: Option<u64>,
    /// The chaos schedule's seed: the same seed, the same faults at the same times
    #[arg(long, value_name = "N", default_value = "1")]
    seed: u64,
    /// Leave nginx out of the chaos soak
    #[arg(long)]
    no_nginx: bool,
    /// Chaos soak: requests per client connection before a new one
    #[arg(long, value_name = "N", default_value = "20", value_parser = clap::value_parser!(u32).range(1..))]
    per_connection: u32,
    /// Chaos soak: every Nth request of a client is a POST (0: none)
    #[arg(long, value_name = "N", default_value = "10")]
    post_every: u32,
    /// Chaos soak: the proxies' runtime threads and nginx's worker processes
    #[arg(long, value_name = "N", default_value = "2", value_parser = clap::value_parser!(u64).range(1..=64))]
    threads: u64,
    /// Strategy of the proxy; repeat for several (the replay runs each)
    /// [default: round-robin; the replay: round-robin, least-connections,
    /// peak-ewma, maglev]
    #[arg(long = "strategy", value_name = "NAME", value_parser = strategy)]
    strategies: Vec<String>,
    /// How long each replay phase's fault (and the baseline) lasts
    #[arg(long, value_name = "N", default_value = "10", value_parser = clap::value_parser!(u64).range(1..=300))]
    phase_secs: u64,
    /// Print the replay's rows as JSON on stdout instead of the table
    #[arg(long)]
    json: bool,
    /// Where the workers run
    #[arg(long, value_enum, default_value = "auto")]
    hosts: HostsMode,
    /// The proxy's first ejection of a failing backend (its --eject-ms)
    #[arg(long = "eject-ms", value_name = "MS", default_value = "3000")]
    eject_ms: u64,
    /// Extra flags for hyper_proxy; repeat, or give several at once split
    /// at spaces: --proxy-arg "--admin 127.0.0.1:0"
    #[arg(long = "proxy-arg", value_name = "ARG", allow_hyphen_values = true)]
    proxy_args: Vec<String>,
    /// Replay clients, each on a keep-alive connection of its own
    #[arg(long, value_name = "N", default_value = "4", value_parser = clap::value_parser!(u64).range(1..=64))]
    clients: u64,
    /// Time between one replay client's requests
    #[arg(long = "interval-ms", value_name = "MS", default_value = "10", value_parser = clap::value_parser!(u64).range(1..=10_000))]
    interval_ms: u64,
    /// Show the programs' logs during the replay
    #[arg(long)]
    verbose: bool,
    /// Replay: the clients make unary gRPC calls over one HTTP/2 connection
    /// each (the workers answer gRPC on their port; the proxy balances each
    /// call on its own)
    #[arg(long)]
    grpc: bool,
}

fn strategy(name: &str) -> Result<String, String> {
    name.parse::<StrategyKind>()
        .map(|kind| kind.name().to_owned())
        .map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.json && !args.replay && args.chaos.is_none() {
        Args::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "--json goes with --replay or --chaos",
            )
            .exit();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        // Listening before anything is made, so no signal finds the lab
        // half made without its cleanup.
        let signals = match stop_signals() {
            Ok(signals) => signals,
            Err(e) => return Err(format!("cannot listen for signals: {e}")),
        };
        tokio::select! {
            result = run(args) => result.map(|()| None),
            signal = signals => Ok(Some(signal)),
        }
        // `run`'s future, and with it the lab, is dropped here: programs
        // killed, namespaces removed.
    });
    match outcome {
        Ok(None) => ExitCode::SUCCESS,
        Ok(Some(signal)) => {
            eprintln!("lab: stopped by {signal}; everything it made is removed");
            if signal == "SIGINT" {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(130)
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves with the name of the first of SIGINT, SIGTERM, SIGHUP.
fn stop_signals() -> std::io::Result<impl std::future::Future<Output = &'static str>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
            _ = hup.recv() => "SIGHUP",
        }
    })
}

async fn run(args: Args) -> Result<(), String> {
    if let Some(secs) = args.chaos {
        return chaos(args, secs).await;
    }
    let bin = programs::binaries(&["worker", "hyper_proxy"])?;
    let proxy_args: Vec<String> = std::iter::once(format!("--eject-ms={}", args.eject_ms))
        .chain(
            args.proxy_args
                .iter()
                .flat_map(|a| a.split_whitespace().map(str::to_owned)),
        )
        .collect();
    if args.replay {
        let hosts = match args.hosts {
            HostsMode::Loopback => {
                return Err(
                    "the replay needs network namespaces: drop --hosts loopback and run it as root"
                        .into(),
                )
            }
            _ => Hosts::netns().map_err(|e| format!("the replay needs network namespaces: {e}"))?,
        };
        eprintln!("lab: {hosts}");
        let mut cluster = Cluster::start(hosts, bin, false, args.verbose)?;
        let strategies = if args.strategies.is_empty() {
            ["round-robin", "least-connections", "peak-ewma", "maglev"]
                .map(String::from)
                .to_vec()
        } else {
            args.strategies.clone()
        };
        let plan = Plan {
            strategies,
            phase: Duration::from_secs(args.phase_secs),
            clients: args.clients as usize,
            interval: Duration::from_millis(args.interval_ms),
            proxy_args,
            grpc: args.grpc,
        };
        let rows = replay::replay(&mut cluster, &plan, |row| {
            eprint!(
                "{}",
                replay::table(std::slice::from_ref(row))
                    .lines()
                    .nth(1)
                    .map_or(String::new(), |l| format!("lab: {l}\n"))
            );
        })
        .await?;
        if args.json {
            let json = serde_json::json!({
                "hosts": cluster.hosts.to_string(),
                "phase_secs": args.phase_secs,
                "clients": args.clients,
                "interval_ms": args.interval_ms,
                "grpc": args.grpc,
                "proxy_args": plan.proxy_args,
                "rows": rows,
            });
            println!("{json:#}");
        } else {
            print!("{}", replay::table(&rows));
        }
        return Ok(());
    }
    interactive(args, bin, proxy_args).await
}

async fn chaos(args: Args, secs: u64) -> Result<(), String> {
    let bin = programs::binaries(&["worker", "hyper_proxy", "tcp_forwarder"])?;
    if args.hosts == HostsMode::Loopback {
        return Err(
            "the chaos soak needs network namespaces: drop --hosts loopback and run it as root"
                .into(),
        );
    }
    let hosts =
        Hosts::netns().map_err(|e| format!("the chaos soak needs network namespaces: {e}"))?;
    eprintln!("lab: {hosts}");
    let mut cluster = Cluster::start(hosts, bin, true, args.verbose)?;
    let plan = chaos::Plan {
        secs,
        seed: args.seed,
        shape: load::Shape {
            clients: args.clients as usize,
            interval: Duration::from_millis(args.interval_ms),
            per_connection: Some(args.per_connection),
            post_every: (args.post_every > 0).then_some(args.post_every),
            grpc: false,
        },
        threads: args.threads as usize,
        strategy: args
            .strategies
            .first()
            .cloned()
            .unwrap_or_else(|| "round-robin".into()),
        proxy_args: args
            .proxy_args
            .iter()
            .flat_map(|a| a.split_whitespace().map(str::to_owned))
            .collect(),
        nginx: !args.no_nginx,
    };
    let report = chaos::soak(&mut cluster, &plan).await?;
    if args.json {
        let json = serde_json::to_string_pretty(&report)
            .map_err(|e| format!("cannot write the report as JSON: {e}"))?;
        println!("{json}");
        eprint!("{}", chaos_report::table(&report));
    } else {
        print!("{}", chaos_report::table(&report));
    }
    if !report.driver_errors.is_empty() {
        return Err(format!(
            "the chaos driver failed {} times (see above)",
            report.driver_errors.len()
        ));
    }
    Ok(())
}

async fn interactive(
    args: Args,
    bin: std::path::PathBuf,
    proxy_args: Vec<String>,
) -> Result<(), String> {
    let hosts = match args.hosts {
        HostsMode::Loopback => Hosts::loopback(),
        HostsMode::Netns => Hosts::netns().map_err(|e| format!("{e} (or use --hosts loopback)"))?,
        HostsMode::Auto if hosts::is_root() => Hosts::netns().unwrap_or_else(|e| {
            eprintln!("lab: no namespaces ({e}); the workers run on loopback");
            Hosts::loopback()
        }),
        HostsMode::Auto => Hosts::loopback(),
    };
    let mut cluster = Cluster::start(hosts, bin, true, true)?;
    let strategy = args
        .strategies
        .first()
        .cloned()
        .unwrap_or_else(|| "round-robin".into());
    // The status page and active health checks are what the lab is for:
    // on unless the flags given say otherwise.
    let mut proxy_args = proxy_args;
    if !proxy_args.iter().any(|a| a.starts_with("--admin")) {
        proxy_args.extend(["--admin", "127.0.0.1:0"].map(String::from));
    }
    if !proxy_args.iter().any(|a| a.starts_with("--health-check")) {
        proxy_args
            .extend(["--health-check", "http:/", "--health-interval-ms", "500"].map(String::from));
    }
    cluster.start_proxy(&strategy, &proxy_args)?;
    println!("{}", guide(&cluster, &strategy));

    // Watch the programs: a killed worker comes back 5 s later, as a
    // restarted host would; the proxy ending ends the lab.
    let mut gone: Vec<Option<tokio::time::Instant>> = vec![None; cluster.workers.len()];
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if let Some(status) = cluster.proxy.as_mut().and_then(|p| p.exited()) {
            return Err(format!("the proxy exited ({status})"));
        }
        for (i, since) in gone.iter_mut().enumerate() {
            let worker = &mut cluster.workers[i];
            match (
                since.as_ref(),
                worker.program.as_mut().and_then(|p| p.exited()),
            ) {
                (None, Some(status)) => {
                    eprintln!(
                        "lab: {} exited ({status}); starting it again in 5 s",
                        worker.host.name
                    );
                    *since = Some(tokio::time::Instant::now());
                }
                (Some(at), _) if at.elapsed() >= Duration::from_secs(5) => {
                    *since = None;
                    match cluster.restart(i) {
                        Ok(()) => eprintln!(
                            "lab: {} started again (pid {})",
                            cluster.workers[i].host.name,
                            cluster.workers[i].program.as_ref().map_or(0, |p| p.pid())
                        ),
                        Err(e) => eprintln!(
                            "lab: cannot start {} again: {e}",
                            cluster.workers[i].host.name
                        ),
                    }
                }
                _ => {}
            }
        }
    }
}

/// Where to look and what to try.
fn guide(cluster: &Cluster, strategy: &str) -> String {
    let proxy = cluster.proxy.as_ref();
    let addr = proxy.map(|p| p.listen.to_string()).unwrap_or_default();
    let mut text = format!("pickwise lab: {}\n\n", cluster.hosts);
    for worker in &cluster.workers {
        let pid = worker.program.as_ref().map_or(0, |p| p.pid());
        text += &format!(
            "  {}  http://{}/  pid {pid}{}\n",
            worker.host.name,
            worker.listen,
            worker
                .host
                .netns
                .as_ref()
                .map_or(String::new(), |ns| format!("  namespace {ns}"))
        );
    }
    text += &format!("\nproxy ({strategy}): http://{addr}/\n");
    match proxy.and_then(|p| p.admin) {
        Some(admin) => {
            text += &format!("status page: http://{admin}/  (and /status.json, /metrics)\n")
        }
        None => text += "status page: none (the --admin flag was given without an address?)\n",
    }
    let (w2, w3, w4) = (
        &cluster.workers[1],
        &cluster.workers[2],
        &cluster.workers[3],
    );
    text += "\nTry:\n";
    text += &format!(
        "  for i in $(seq 8); do curl -s http://{addr}/; done    # round robin over w1..w4\n"
    );
    if let Some(admin) = w2.admin {
        text += &format!(
            "  curl -s -X POST http://{admin}/admin/drain     # drain w2 (its agent says drain; the proxy logs why)\n  curl -s -X POST http://{admin}/admin/ready     # and back\n"
        );
    }
    let pid = w3.program.as_ref().map_or(0, |p| p.pid());
    text += &format!("  kill {pid}     # kill w3 (the lab starts it again after 5 s)\n");
    let port = w4.listen.port();
    match w4.host.firewall_line("-A", port, Firewall::Reject) {
        Some(line) => {
            text += &format!(
                "  {}     # firewall w4 (as the seed's firewall did)\n",
                line.join(" ")
            );
            if let Some(drop) = w4.host.firewall_line("-A", port, Firewall::Drop) {
                text += &format!("  {}     # or silently\n", drop.join(" "));
            }
            text += "      (remove a rule: the same line with -D instead of -A)\n";
            if let Some(lines) = w4.host.congestion_lines("add") {
                let lines: Vec<String> = lines.iter().map(|l| l.join(" ")).collect();
                text += &format!(
                    "  {}     # congest w4's link (undo: qdisc del dev ... root)\n",
                    lines.join("; ")
                );
            }
        }
        None => {
            let pid = w4.program.as_ref().map_or(0, |p| p.pid());
            text += &format!(
                "  kill -STOP {pid}; kill -CONT {pid}     # freeze w4, then thaw it (firewalls need namespaces: run as root)\n"
            );
        }
    }
    text += "\nThe programs' logs follow (every backend state change with its reason). Ctrl-C stops everything.";
    text
}
