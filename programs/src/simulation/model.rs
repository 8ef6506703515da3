//! The modelled cluster: nodes, what happens to them during a run, and the
//! clients sending requests.

use std::time::Duration;

pub use crate::hedging::Hedging;

/// One node: how many requests it serves at once and how long one takes.
#[derive(Debug, Clone)]
pub struct NodeModel {
    /// The weight given to the balancer in the backend spec.
    pub weight: u32,
    /// Requests served concurrently; the rest wait in a FIFO queue at the node.
    pub cores: u32,
    /// Mean of the exponential service time.
    pub mean_service: Duration,
}

impl NodeModel {
    /// A node of `cores` cores serving in `mean_ms` on average.
    pub fn new(weight: u32, cores: u32, mean_ms: f64) -> Self {
        NodeModel {
            weight,
            cores,
            mean_service: Duration::from_secs_f64(mean_ms / 1e3),
        }
    }

    /// Requests per second it completes when fully busy.
    pub fn capacity(&self) -> f64 {
        f64::from(self.cores) / self.mean_service.as_secs_f64()
    }
}

/// Something that happens to a node for part of the run. `from` and `to` are
/// fractions of the run's expected length.
#[derive(Debug, Clone, Copy)]
pub enum Disturbance {
    /// Service times multiplied by `factor`.
    Slow {
        node: usize,
        factor: f64,
        from: f64,
        to: f64,
    },
    /// New connections are refused; requests it already accepted finish.
    Down { node: usize, from: f64, to: f64 },
    /// A blackhole: connections are accepted and requests never answered;
    /// each one the node swallows ends at the proxy's timeout.
    Blackhole { node: usize, from: f64, to: f64 },
}

/// How a request's work (in units of the node's mean service time) is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Service {
    /// Exponential, mean 1.
    Exponential,
    /// Lognormal with this sigma, mean 1 (mu = -sigma^2 / 2): most requests
    /// short, a few very long (sigma 1.5: median 0.32, p99 10.6).
    LogNormal { sigma: f64 },
}

/// Who sends requests: `clients` addresses (each with its own key), of which
/// the first `hot` carry `hot_share` of the traffic.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    pub clients: usize,
    pub hot: usize,
    pub hot_share: f64,
}

impl Workload {
    /// Traffic spread evenly over `clients`.
    pub fn uniform(clients: usize) -> Self {
        Workload {
            clients,
            hot: 0,
            hot_share: 0.0,
        }
    }
}

/// A cluster, its workload and its disturbances.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    pub nodes: Vec<NodeModel>,
    pub disturbances: Vec<Disturbance>,
    pub workload: Workload,
    /// Offered load as a share of the nominal total capacity.
    pub utilisation: f64,
    /// How often the balancer polls each node's agent (`None`: no agents).
    pub agent_interval: Option<Duration>,
    /// Independent balancers (proxies), each with its own pool and so its own
    /// in-flight counts; each request arrives at one of them at random.
    pub balancers: usize,
    /// The distribution of service times.
    pub service: Service,
    /// How long `orca-wrr` waits before a node's reports count (gRFC A58's
    /// blackout period; its default is 10 s).
    pub orca_blackout: Duration,
    /// Whether and how the balancers hedge: a copy to another node after
    /// the p95 of recent latencies, within a budget of 20% of requests
    /// plus 10 a second. With it they also give up on a try after an
    /// adaptive timeout (4 x p99, 50 ms to 1 s) instead of the fixed 1 s.
    pub hedge: Option<Hedging>,
}

impl Scenario {
    /// Requests per second arriving (Poisson).
    pub fn arrival_rate(&self) -> f64 {
        self.utilisation * self.nodes.iter().map(NodeModel::capacity).sum::<f64>()
    }

    /// How much slower node `node` serves at `at` (a fraction of the run).
    pub fn slowdown(&self, node: usize, at: f64) -> f64 {
        self.disturbances
            .iter()
            .map(|d| match *d {
                Disturbance::Slow {
                    node: n,
                    factor,
                    from,
                    to,
                } if n == node && (from..to).contains(&at) => factor,
                _ => 1.0,
            })
            .product()
    }

    /// Whether node `node` refuses connections at `at` (a fraction of the run).
    pub fn is_down(&self, node: usize, at: f64) -> bool {
        self.disturbances.iter().any(|d| match *d {
            Disturbance::Down { node: n, from, to } => n == node && (from..to).contains(&at),
            _ => false,
        })
    }

    /// Whether node `node` swallows requests at `at` (a fraction of the run).
    pub fn is_blackhole(&self, node: usize, at: f64) -> bool {
        self.disturbances.iter().any(|d| match *d {
            Disturbance::Blackhole { node: n, from, to } => n == node && (from..to).contains(&at),
            _ => false,
        })
    }
}
