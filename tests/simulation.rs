//! The simulation's shape: on unequal nodes (scenario b, one node twice as
//! fast with weight 2), weighted least connections keeps p99 latency below
//! round robin's; on a node turning slow (scenario c), the agents' reports
//! keep resource-based below round robin. Runs the example's own engine,
//! deterministic by seed.

#[allow(dead_code)]
#[path = "../examples/simulate/agent.rs"]
mod agent;
#[allow(dead_code)]
#[path = "../examples/simulate/engine.rs"]
mod engine;
#[allow(dead_code)]
#[path = "../examples/simulate/model.rs"]
mod model;
#[allow(dead_code)]
#[path = "../examples/simulate/scenarios.rs"]
mod scenarios;
#[allow(dead_code)]
#[path = "../examples/simulate/stats.rs"]
mod stats;

use engine::Router;
use pickwise::strategy::StrategyKind;

const REQUESTS: usize = 20_000;
const SEED: u64 = 7;

#[test]
fn weighted_least_connections_beats_round_robin_on_unequal_nodes() {
    let unequal = scenarios::all(0.7)
        .into_iter()
        .find(|s| s.name == "unequal")
        .expect("scenario (b) exists");
    let run = |kind| engine::run(&unequal, Router::Library(kind), REQUESTS, SEED).unwrap();
    let rr = run(StrategyKind::RoundRobin);
    let wlc = run(StrategyKind::WeightedLeastConnections);
    assert_eq!(rr.failed + wlc.failed, 0);
    assert!(
        wlc.p99 < rr.p99,
        "weighted-least-connections p99 {:?} should be below round-robin p99 {:?}",
        wlc.p99,
        rr.p99
    );
    // Same seed, same numbers.
    assert_eq!(run(StrategyKind::RoundRobin).p99, rr.p99);
}

/// With every node's agent polled (as the scenarios do), resource-based
/// steers off the node that turns 10x slow in scenario (c); round robin,
/// which ignores the reports, keeps sending it a quarter of the traffic.
#[test]
fn agents_steer_resource_based_off_a_slow_node() {
    let slow = scenarios::all(0.7)
        .into_iter()
        .find(|s| s.name == "slow-node")
        .expect("scenario (c) exists");
    assert!(slow.agent_interval.is_some(), "the scenarios run agents");
    let run = |kind| engine::run(&slow, Router::Library(kind), REQUESTS, SEED).unwrap();
    let rr = run(StrategyKind::RoundRobin);
    let resource = run(StrategyKind::ResourceBased);
    assert!(
        resource.p99 < rr.p99,
        "resource-based p99 {:?} should be below round-robin p99 {:?}",
        resource.p99,
        rr.p99
    );
}
