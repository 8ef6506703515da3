//! The scenarios every strategy runs through.

use crate::agent;
use crate::model::{Disturbance, NodeModel, Scenario, Workload};

/// Cores per node and the lab's mean service time.
const CORES: u32 = 4;
const MEAN_MS: f64 = 10.0;
const CLIENTS: usize = 10_000;

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
            ..base
        },
    ]
}
