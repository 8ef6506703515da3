//! Every strategy against a modelled cluster, compared on latency and balance.
//!
//! A deterministic discrete-event simulation drives the real library: a
//! `Pool` per strategy on a `ManualClock` set to simulated time, one pick per
//! request held for the request's whole stay at the node (queue + service),
//! outcomes recorded with the simulated latency, refused connections retried
//! once on another node. Nodes serve 4 requests at once with exponential
//! service times (mean 10 ms) and queue the rest FIFO; requests arrive as a
//! Poisson stream from 10,000 clients, each with its own key. An all-knowing
//! join-shortest-queue oracle (not the library) is the reference line.
//!
//! Every node runs an agent answering like the lab's worker (`up ready NN%`
//! from its queue against its cores), polled every 500 ms of simulated time
//! (`--agent-interval-ms`, 0 for none) and applied to every strategy's pool.
//!
//! Balancers running `prequal` probe 2 random nodes of their pool per
//! request: a probe's round trip takes 0.5 ms and costs its node 20 µs of a
//! core (taken from the next request it serves); the node answers with its
//! requests in flight and the latency it expects (its service-time EWMA,
//! plus the queue's wait), applied with `Pool::apply_probe`. A node that is
//! down or a blackhole does not answer.
//!
//! Scenarios: identical, unequal, slow-node, node-fails, hot-keys,
//! many-balancers (8 proxies with their own pools over 16 nodes, and the
//! same with each proxy keeping a deterministic subset), heavy-tail
//! (lognormal service times), blackhole (a node that accepts and never
//! answers, up to the proxy's 1 s timeout), uneven (nodes of unequal
//! cores and speeds, all at weight 1: only load reports tell) (see
//! `pickwise_programs::simulation::scenarios`).
//! Same seed, same table.
//!
//! ```text
//! cargo run --release --bin simulate -- [--requests N] [--seed N]
//!     [--scenario NAME] [--strategy NAME ...] [--utilisation F]
//!     [--agent-interval-ms N] [--svg FILE]
//! ```

use pickwise_programs::simulation::model::Hedging;
use pickwise_programs::simulation::{engine, report, scenarios, svg};
use std::process::ExitCode;

use clap::Parser;
use pickwise::strategy::StrategyKind;

use engine::Router;
use report::ScenarioResult;

/// The strategies that also run with subsetting in the many-balancer scenario.
const SUBSET_ROWS: [StrategyKind; 3] = [
    StrategyKind::LeastConnections,
    StrategyKind::P2c,
    StrategyKind::Prequal,
];

/// Every strategy against a modelled cluster: latency and balance tables.
#[derive(Parser)]
#[command(name = "simulate", version)]
struct Args {
    /// Requests per scenario and strategy
    #[arg(
        long,
        value_name = "N",
        default_value = "200000",
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..),
    )]
    requests: usize,
    /// Seed of the run: same seed, same table
    #[arg(long, value_name = "N", default_value = "1")]
    seed: u64,
    /// One scenario, by name or by letter (a-i) [default: all]
    #[arg(long, value_name = "NAME", value_parser = scenario_name)]
    scenario: Option<String>,
    /// Offered load, a fraction of the nominal capacity (0 < F < 1.5)
    #[arg(long, visible_alias = "utilization", value_name = "F", default_value = "0.7", value_parser = utilisation)]
    utilisation: f64,
    /// How often agents are polled, in simulated ms (0: no agents)
    /// [default: 500]
    #[arg(long, value_name = "MS")]
    agent_interval_ms: Option<u64>,
    /// How long orca-wrr waits before a node's load reports count, in
    /// simulated ms (gRFC A58's blackout period) [default: 10000]
    #[arg(long, value_name = "MS")]
    orca_blackout_ms: Option<u64>,
    /// The balancers hedge: `slow`, every request later than the p95 of
    /// recent latencies; `silent`, only one whose node has answered
    /// nothing for that long. A copy goes to another node within a retry
    /// budget, and a try is given up after 4 x p99 (50 ms to 1 s); the
    /// `retried` column then shows retried/hedged
    #[arg(long, value_name = "MODE", value_parser = hedging)]
    hedge: Option<Hedging>,
    /// Only this strategy (repeat for more; the oracle always runs)
    /// [default: all]
    #[arg(long, value_name = "NAME")]
    strategy: Vec<StrategyKind>,
    /// Also plot p99 latency per strategy and scenario to this SVG file
    #[arg(long, value_name = "FILE")]
    svg: Option<String>,
}

fn hedging(text: &str) -> Result<Hedging, String> {
    Hedging::parse(text)?.ok_or_else(|| "to hedge not, leave --hedge out".to_owned())
}

fn utilisation(text: &str) -> Result<f64, String> {
    let value: f64 = text.parse().map_err(|e| format!("{e}"))?;
    if value > 0.0 && value < 1.5 {
        Ok(value)
    } else {
        Err("must be between 0 and 1.5".into())
    }
}

/// A scenario by name (`unequal`) or by the issue's letter (`b`).
fn scenario_name(name: &str) -> Result<String, String> {
    let all = scenarios::all(0.7);
    let letter = format!("({name})");
    if all
        .iter()
        .any(|s| s.name == name || s.about.starts_with(&letter))
    {
        return Ok(name.to_owned());
    }
    let names: Vec<_> = all.iter().map(|s| s.name).collect();
    Err(format!(
        "unknown scenario; known: {} (or a-i)",
        names.join(", ")
    ))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let requests = args.requests;
    let mut scenarios = scenarios::all(args.utilisation);
    if let Some(ms) = args.agent_interval_ms {
        let every = (ms > 0).then(|| std::time::Duration::from_millis(ms));
        scenarios.iter_mut().for_each(|s| s.agent_interval = every);
    }
    if let Some(ms) = args.orca_blackout_ms {
        let blackout = std::time::Duration::from_millis(ms);
        scenarios
            .iter_mut()
            .for_each(|s| s.orca_blackout = blackout);
    }
    if let Some(hedging) = args.hedge {
        scenarios.iter_mut().for_each(|s| s.hedge = Some(hedging));
    }
    if let Some(name) = &args.scenario {
        // By name, or by the issue's letter: `unequal` or `b`.
        let letter = format!("({name})");
        scenarios.retain(|s| s.name == name.as_str() || s.about.starts_with(&letter));
    }
    let routers: Vec<Router> = StrategyKind::ALL
        .iter()
        .map(|&kind| Router::Library(kind))
        .chain([Router::Oracle])
        .collect();
    println!(
        "pickwise simulation: seed {}, {} strategies + oracle",
        args.seed,
        StrategyKind::ALL.len()
    );
    let mut results = Vec::new();
    for scenario in scenarios {
        println!("{}", report::header(&scenario, requests));
        let mut lines = Vec::new();
        let mut routers = routers.clone();
        if !args.strategy.is_empty() {
            routers.retain(|r| match r {
                Router::Library(kind) | Router::Subset(kind, _) => args.strategy.contains(kind),
                Router::Oracle => true,
            });
        }
        if scenario.balancers > 1 {
            // Subsetting: fewer links, at what cost in latency?
            routers.extend(SUBSET_ROWS.map(|kind| Router::Subset(kind, scenarios::SUBSET)));
        }
        for &router in &routers {
            // A strategy that cannot be built here is reported, not fatal.
            let summary = match engine::run(&scenario, router, requests, args.seed) {
                Ok(summary) => {
                    println!("{}", report::line(&router.name(), &summary));
                    Some(summary)
                }
                Err(e) => {
                    println!("{:<28} cannot build: {e}", router.name());
                    None
                }
            };
            lines.push((router.name(), summary));
        }
        if scenario.balancers > 1 {
            let (b, n) = (scenario.balancers, scenario.nodes.len());
            println!(
                "links (proxy-node connections kept): full mesh {}, subset {} of {n}: {}",
                Router::Oracle.links(b, n),
                scenarios::SUBSET,
                Router::Subset(StrategyKind::P2c, scenarios::SUBSET).links(b, n),
            );
        }
        results.push(ScenarioResult { scenario, lines });
    }
    println!("{}", report::LEGEND);
    if let Some(path) = &args.svg {
        if let Err(e) = std::fs::write(path, svg::plot(&results, requests, args.seed)) {
            eprintln!("cannot write {path}: {e}");
            return ExitCode::FAILURE;
        }
        println!("\nwrote {path}");
    }
    ExitCode::SUCCESS
}
