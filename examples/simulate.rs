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
//! Scenarios: identical, unequal, slow-node, node-fails, hot-keys (see
//! `simulate/scenarios.rs`). Same seed, same table.
//!
//! ```text
//! cargo run --release --example simulate -- [--requests N] [--seed N]
//!     [--scenario NAME] [--utilisation F] [--agent-interval-ms N] [--svg FILE]
//! ```

#[path = "simulate/agent.rs"]
mod agent;
#[path = "simulate/engine.rs"]
mod engine;
#[path = "simulate/model.rs"]
mod model;
#[path = "simulate/report.rs"]
mod report;
#[path = "simulate/scenarios.rs"]
mod scenarios;
#[path = "simulate/stats.rs"]
mod stats;
#[path = "simulate/svg.rs"]
mod svg;

use std::process::ExitCode;

use pickwise::strategy::StrategyKind;

use engine::Router;
use report::ScenarioResult;

const USAGE: &str = "usage: simulate [--requests N] [--seed N] [--scenario NAME|a-e] \
[--utilisation F] [--agent-interval-ms N] [--svg FILE]";

struct Args {
    requests: usize,
    seed: u64,
    scenario: Option<String>,
    utilisation: f64,
    /// `None`: the scenarios' own (500 ms); `Some(0)`: no agents.
    agent_interval_ms: Option<u64>,
    svg: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        requests: 200_000,
        seed: 1,
        scenario: None,
        utilisation: 0.7,
        agent_interval_ms: None,
        svg: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.into());
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--requests" => args.requests = value.parse().map_err(|e| bad(&e))?,
            "--seed" => args.seed = value.parse().map_err(|e| bad(&e))?,
            "--scenario" => args.scenario = Some(value),
            "--utilisation" | "--utilization" => {
                args.utilisation = value.parse().map_err(|e| bad(&e))?;
                if !(args.utilisation > 0.0 && args.utilisation < 1.5) {
                    return Err(bad(&"must be between 0 and 1.5"));
                }
            }
            "--agent-interval-ms" => {
                args.agent_interval_ms = Some(value.parse().map_err(|e| bad(&e))?);
            }
            "--svg" => args.svg = Some(value),
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    if args.requests == 0 {
        return Err("--requests must be at least 1".into());
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let mut scenarios = scenarios::all(args.utilisation);
    if let Some(ms) = args.agent_interval_ms {
        let every = (ms > 0).then(|| std::time::Duration::from_millis(ms));
        scenarios.iter_mut().for_each(|s| s.agent_interval = every);
    }
    if let Some(name) = &args.scenario {
        // By name, or by the issue's letter: `unequal` or `b`.
        let letter = format!("({name})");
        scenarios.retain(|s| s.name == name.as_str() || s.about.starts_with(&letter));
        if scenarios.is_empty() {
            let names: Vec<_> = scenarios::all(args.utilisation)
                .iter()
                .map(|s| s.name)
                .collect();
            eprintln!("unknown scenario {name}; known: {}", names.join(", "));
            return ExitCode::FAILURE;
        }
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
        println!("{}", report::header(&scenario, args.requests));
        let mut lines = Vec::new();
        for &router in &routers {
            // A strategy that cannot be built here is reported, not fatal.
            let summary = match engine::run(&scenario, router, args.requests, args.seed) {
                Ok(summary) => {
                    println!("{}", report::line(router.name(), &summary));
                    Some(summary)
                }
                Err(e) => {
                    println!("{:<28} cannot build: {e}", router.name());
                    None
                }
            };
            lines.push((router.name(), summary));
        }
        results.push(ScenarioResult { scenario, lines });
    }
    println!("{}", report::LEGEND);
    if let Some(path) = &args.svg {
        if let Err(e) = std::fs::write(path, svg::plot(&results, args.requests, args.seed)) {
            eprintln!("cannot write {path}: {e}");
            return ExitCode::FAILURE;
        }
        println!("\nwrote {path}");
    }
    ExitCode::SUCCESS
}
