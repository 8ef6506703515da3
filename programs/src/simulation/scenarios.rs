//! The scenarios every strategy runs through.

use super::agent;
use super::model::{Disturbance, NodeModel, Scenario, Service, Workload};

/// Cores per node and the lab's mean service time.
const CORES: u32 = 4;
const MEAN_MS: f64 = 10.0;
const CLIENTS: usize = 10_000;
/// Scenario (f)'s offered load, whatever `--utilisation` says: many proxies
/// matter when the fleet is busy.
pub const MANY_BALANCERS_LOAD: f64 = 0.85;
/// The subset each of (f)'s proxies keeps in its subset rows.
pub const SUBSET: usize = 4;

/// `orca-wrr`'s blackout unless `--orca-blackout-ms` says otherwise:
/// gRFC A58's default.
pub const ORCA_BLACKOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Every scenario, in order, at `utilisation` of the nominal capacity.
pub fn all(utilisation: f64) -> Vec<Scenario> {
    let node = NodeModel::new(1, CORES, MEAN_MS);
    let four = vec![node.clone(); 4];
    let base = Scenario {
        name: "",
        about: "",
        nodes: four.clone(),
        disturbances: Vec::new(),
        workload: Workload::uniform(CLIENTS),
        utilisation,
        // Agents on every node, polled at the proxy's default interval.
        agent_interval: Some(agent::INTERVAL),
        balancers: 1,
        service: Service::Exponential,
        orca_blackout: ORCA_BLACKOUT,
        hedge: None,
    };
    vec![
        Scenario {
            name: "identical",
            about: "(a) four identical nodes, the lab's case",
            ..base.clone()
        },
        Scenario {
            name: "unequal",
            about: "(b) four nodes, n4 twice as fast (weight 2)",
            nodes: vec![
                node.clone(),
                node.clone(),
                node.clone(),
                NodeModel::new(2, CORES, MEAN_MS / 2.0),
            ],
            ..base.clone()
        },
        Scenario {
            name: "slow-node",
            about: "(c) n2 turns 10x slow from 30% to 60% of the run",
            disturbances: vec![Disturbance::Slow {
                node: 1,
                factor: 10.0,
                from: 0.3,
                to: 0.6,
            }],
            ..base.clone()
        },
        Scenario {
            name: "node-fails",
            about: "(d) n3 refuses connections from 30% to 60% of the run, then returns",
            disturbances: vec![Disturbance::Down {
                node: 2,
                from: 0.3,
                to: 0.6,
            }],
            ..base.clone()
        },
        Scenario {
            name: "hot-keys",
            about: "(e) 8 of 10000 clients (and keys) send 80% of the requests",
            workload: Workload {
                clients: CLIENTS,
                hot: 8,
                hot_share: 0.8,
            },
            ..base.clone()
        },
        Scenario {
            name: "many-balancers",
            about:
                "(f) 8 proxies, each with its own pool and in-flight counts, over 16 nodes at 85%",
            nodes: vec![node.clone(); 16],
            utilisation: MANY_BALANCERS_LOAD,
            balancers: 8,
            ..base.clone()
        },
        Scenario {
            name: "heavy-tail",
            about: "(g) four nodes, lognormal service times (sigma 1.5, same 10 ms mean)",
            service: Service::LogNormal { sigma: 1.5 },
            ..base.clone()
        },
        Scenario {
            name: "blackhole",
            about: "(h) n3 accepts and never answers from 30% to 60% of the run (1 s timeout)",
            disturbances: vec![Disturbance::Blackhole {
                node: 2,
                from: 0.3,
                to: 0.6,
            }],
            ..base.clone()
        },
        Scenario {
            name: "uneven",
            about: "(i) nodes of 2, 4, 4 and 8 cores, n3's twice as slow, all at weight 1: only load reports tell",
            nodes: vec![
                NodeModel::new(1, CORES / 2, MEAN_MS),
                node.clone(),
                NodeModel::new(1, CORES, MEAN_MS * 2.0),
                NodeModel::new(1, CORES * 2, MEAN_MS),
            ],
            ..base
        },
    ]
}
