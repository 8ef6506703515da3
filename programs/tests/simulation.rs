//! The simulation's shape: on unequal nodes (scenario b, one node twice as
//! fast with weight 2), weighted least connections keeps p99 latency below
//! round robin's; on a node turning slow (scenario c), the agents' reports
//! keep resource-based below round robin; with eight proxies (scenario f)
//! prequal stays near the oracle, and a subset of four costs little; on a
//! blackhole (scenario h) prequal sends it fewer requests than p2c; on
//! uneven nodes at weight 1 (scenario i) ORCA reports find their capacity.
//! Runs the program's own engine, deterministic by seed.

use pickwise::strategy::StrategyKind;
use pickwise_programs::simulation::engine::{self, Router};
use pickwise_programs::simulation::{model, scenarios};

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

fn scenario(name: &str) -> model::Scenario {
    scenarios::all(0.7)
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("scenario {name} exists"))
}

/// Scenario (f): 8 proxies, each seeing only its own requests in flight.
/// Prequal's probes show every proxy's load: its p99 stays within 1.2x the
/// global join-shortest-queue oracle's and below p2c's and peak EWMA's.
#[test]
fn prequal_stays_near_the_oracle_with_eight_proxies_and_beats_p2c_and_peak_ewma() {
    let many = scenario("many-balancers");
    assert_eq!(many.balancers, 8);
    let run = |router| engine::run(&many, router, REQUESTS, SEED).unwrap();
    let oracle = run(Router::Oracle);
    let prequal = run(Router::Library(StrategyKind::Prequal));
    let p2c = run(Router::Library(StrategyKind::P2c));
    let peak = run(Router::Library(StrategyKind::PeakEwma));
    assert!(
        prequal.p99.as_secs_f64() <= 1.2 * oracle.p99.as_secs_f64(),
        "prequal p99 {:?}, oracle {:?}",
        prequal.p99,
        oracle.p99
    );
    assert!(
        prequal.p99 < p2c.p99 && prequal.p99 < peak.p99,
        "prequal p99 {:?}, p2c {:?}, peak EWMA {:?}",
        prequal.p99,
        p2c.p99,
        peak.p99
    );
}

/// Scenario (h): a node accepts and never answers. It stops answering
/// probes too, so prequal sends it fewer requests than p2c, and none of its
/// slowest 0.1% waits for the timeout.
#[test]
fn prequal_sends_fewer_requests_into_a_blackhole_than_p2c() {
    let blackhole = scenario("blackhole");
    let run = |kind| engine::run(&blackhole, Router::Library(kind), REQUESTS, SEED).unwrap();
    let prequal = run(StrategyKind::Prequal);
    let p2c = run(StrategyKind::P2c);
    assert!(
        prequal.retried < p2c.retried,
        "timed out and retried: prequal {}, p2c {}",
        prequal.retried,
        p2c.retried
    );
    assert!(
        p2c.p999 >= engine::TIMEOUT && prequal.p999 < engine::TIMEOUT / 2,
        "p999: prequal {:?}, p2c {:?}",
        prequal.p999,
        p2c.p999
    );
}

/// Scenario (f) with each proxy keeping 4 of the 16 nodes: a quarter of the
/// links, and least connections' p99 within 10% of its full mesh.
#[test]
fn a_subset_of_four_keeps_a_quarter_of_the_links_at_much_the_same_latency() {
    let many = scenario("many-balancers");
    let (full, subset) = (
        Router::Library(StrategyKind::LeastConnections),
        Router::Subset(StrategyKind::LeastConnections, scenarios::SUBSET),
    );
    assert_eq!(subset.links(8, 16) * 4, full.links(8, 16));
    let run = |router| engine::run(&many, router, REQUESTS, SEED).unwrap();
    let (full, subset) = (run(full), run(subset));
    assert!(
        subset.p99.as_secs_f64() <= 1.1 * full.p99.as_secs_f64(),
        "least connections p99: subset {:?}, full mesh {:?}",
        subset.p99,
        full.p99
    );
}

/// Scenario (i): nodes of unequal cores and speeds, all at weight 1. ORCA
/// weighted round robin (blackout off, so the short run is past it) finds
/// their capacities from the load reports alone: utilisation more even
/// than least connections', a lower median, and a p99 a fraction of round
/// robin's, which overloads the 2-core node.
#[test]
fn orca_weights_find_capacity_nobody_configured() {
    let mut uneven = scenario("uneven");
    uneven.orca_blackout = std::time::Duration::ZERO;
    let run = |kind| engine::run(&uneven, Router::Library(kind), REQUESTS, SEED).unwrap();
    let rr = run(StrategyKind::RoundRobin);
    let lc = run(StrategyKind::LeastConnections);
    let orca = run(StrategyKind::OrcaWrr);
    assert_eq!(rr.failed + lc.failed + orca.failed, 0);
    assert!(
        orca.load < lc.load && orca.p50 < lc.p50,
        "orca-wrr max/mean {} p50 {:?}, least-connections {} {:?}",
        orca.load,
        orca.p50,
        lc.load,
        lc.p50
    );
    assert!(
        orca.p99 * 5 < rr.p99,
        "orca-wrr p99 {:?}, round robin {:?}",
        orca.p99,
        rr.p99
    );
}

/// Scenario (f), random: its p99 must not depend on the seed. It did
/// (seed 1: 1.47 s; seeds 2 and 7: 96 ms) while the eight proxies polled
/// their agents in step, all applying the same snapshot at the same
/// instant and herding together; each proxy now polls on its own timer.
#[test]
fn random_with_eight_proxies_gives_the_same_tail_whatever_the_seed() {
    let many = scenario("many-balancers");
    let p99s: Vec<std::time::Duration> = [1u64, 2, 3, 4, 5]
        .iter()
        .map(|&seed| {
            engine::run(&many, Router::Library(StrategyKind::Random), 60_000, seed)
                .unwrap()
                .p99
        })
        .collect();
    let (low, high) = (p99s.iter().min().unwrap(), p99s.iter().max().unwrap());
    assert!(
        high.as_secs_f64() <= low.as_secs_f64() * 1.5,
        "random's p99 in (f) by seed 1..=5: {p99s:?}"
    );
}

/// With `--hedge`, the balancers' hedges stay within their budget (20% of
/// requests plus 10 a second), and the blackhole's requests are still all
/// answered.
#[test]
fn hedges_stay_within_the_budget_in_the_blackhole_scenario() {
    let mut blackhole = scenario("blackhole");
    blackhole.hedge = Some(model::Hedging::Slow);
    let run = engine::run(
        &blackhole,
        Router::Library(StrategyKind::LeastConnections),
        REQUESTS,
        SEED,
    )
    .unwrap();
    assert_eq!(run.failed, 0);
    assert!(run.hedged > 0, "no hedge was sent");
    // 20 s of simulated time at most: 20% of the requests and 10 a second.
    let bound = REQUESTS as u64 / 5 + 10 * 20;
    assert!(
        run.hedged <= bound,
        "{} hedges for {REQUESTS} requests",
        run.hedged
    );
}

/// Issue 24's target: with hedging on (`--hedge silent`), the blackhole's
/// p99 is within 1.1x of the oracle's for the load-aware strategies. The
/// balancers hedge only tries whose node has answered nobody for a hedge
/// delay, and a try beaten by its hedge on a node silent for a try timeout
/// is outpaced, so a run of them takes the blackhole out. Hedging every
/// slow try (`--hedge slow`) misses it (least connections 2.0x here): the
/// copies of long requests add load the nodes left cannot carry.
#[test]
fn with_silent_hedging_the_blackholes_p99_stays_within_1_1x_of_the_oracle() {
    const REQUESTS: usize = 50_000;
    let mut blackhole = scenario("blackhole");
    blackhole.hedge = Some(model::Hedging::Silent);
    let oracle = engine::run(&blackhole, Router::Oracle, REQUESTS, SEED).unwrap();
    for kind in [
        StrategyKind::LeastConnections,
        StrategyKind::P2c,
        StrategyKind::Prequal,
    ] {
        let run = engine::run(&blackhole, Router::Library(kind), REQUESTS, SEED).unwrap();
        let ratio = run.p99.as_secs_f64() / oracle.p99.as_secs_f64();
        eprintln!(
            "{}: p99 {:?}, oracle {:?} ({ratio:.3}x), {} hedges",
            kind.name(),
            run.p99,
            oracle.p99,
            run.hedged
        );
        assert_eq!(run.failed, 0, "{}", kind.name());
        assert!(
            ratio <= 1.1,
            "{}: {ratio:.3}x the oracle's p99",
            kind.name()
        );
    }
}
