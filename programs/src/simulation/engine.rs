//! The discrete-event simulation: Poisson arrivals, nodes serving `cores`
//! requests at once with a FIFO queue, routed either by a real pickwise
//! [`Pool`] (its [`ManualClock`] set to simulated time before every event) or
//! by an all-knowing join-shortest-queue oracle.
//!
//! Each node's agent is polled every `scenario.agent_interval` of simulated
//! time and its reply applied with [`Pool::apply_agent_reply`], for every
//! strategy, each balancer on its own timer (their polls spread over the
//! interval, as proxies started at different times poll): that is what the proxy does, so each strategy faces the cluster
//! a deployment with agents gives it. Strategies that read effective weights
//! (weighted round robin and resource-based, which is the same smooth
//! round robin, weighted least connections, p2c, peak EWMA, SDN adaptive,
//! bounded load, random) follow the reports; round robin, least connections
//! and the hash tables (built from configured weights) ignore them, as the
//! replies never say `drain` or 0%.
//!
//! Every answer also carries the node's ORCA load report (queries per
//! second and CPU utilization over its last second, as a gRPC server's
//! metrics recorder gives them), recorded on the pick with
//! [`Pick::record_load_report`]: `orca-wrr` weighs by it, the others
//! ignore it.
//!
//! The workload (arrival times, clients, each request's work) comes from its
//! own seeded RNG and does not depend on routing, so every strategy faces the
//! very same requests.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use pickwise::clock::ManualClock;
use pickwise::hash::HashKey;
use pickwise::health::HealthConfig;
use pickwise::orca::LoadReport;
use pickwise::strategy::ProbeReply;
use pickwise::strategy::{AnyStrategy, StrategyKind, StrategyOptions};
use pickwise::subset::{ClientIndex, Subsetting};
use pickwise::tail::{LatencyWindow, RetryBudget, TryTimeout};
use pickwise::{
    BackendId, BackendSpec, Balancer, ConfigError, Context, FailureKind, Outcome, Pick, Pool,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::agent;
use super::model::{Scenario, Service};
use super::stats::{Measured, Summary};
use crate::hedging;

/// What a refused connection costs before the retry goes out.
pub const REFUSED: Duration = Duration::from_millis(1);
/// Probes a balancer sends per request it receives, to random nodes of its
/// pool, when its strategy reads probes (prequal).
pub const PROBES_PER_REQUEST: usize = 2;
/// A probe's round trip; the node reads its state half way.
pub const PROBE_DELAY: Duration = Duration::from_micros(500);
/// A probe's cost at the node: core time taken from the next request served.
pub const PROBE_COST: Duration = Duration::from_micros(20);

/// Mixed into the run's seed for the stream the balancers' seeds come from.
const PROXY_SEEDS: u64 = 0x0070_726f_7869_6573;
/// Mixed into the run's seed for the hash strategies' key.
const HASH_KEY: u64 = 0x6b65_7973;

/// How fast a node's service-time estimate follows each request.
const SERVICE_EWMA: f64 = 0.05;

/// The window over which a node measures the load it reports (ORCA).
pub const REPORT_WINDOW: Duration = Duration::from_secs(1);

/// The proxy's response timeout: what a request swallowed by a blackhole
/// costs before the retry goes out (scenario h).
pub const TIMEOUT: Duration = Duration::from_secs(1);

/// Who routes the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Router {
    /// A pickwise pool with this strategy.
    Library(StrategyKind),
    /// Each balancer's pool holds only its deterministic subset of this
    /// many nodes (`pickwise::subset`).
    Subset(StrategyKind, usize),
    /// Join the shortest queue, knowing every node's queue, speed and health.
    Oracle,
}

impl Router {
    /// The table's label.
    pub fn name(self) -> String {
        match self {
            Router::Library(kind) => kind.name().to_owned(),
            Router::Subset(kind, size) => format!("{}, subset {size}", kind.name()),
            Router::Oracle => "oracle (JSQ)".to_owned(),
        }
    }

    /// Client-to-node links (connections kept) with `balancers` proxies over
    /// `nodes` nodes: a full mesh, or a subset per proxy.
    pub fn links(self, balancers: usize, nodes: usize) -> usize {
        match self {
            Router::Subset(_, size) => balancers * size.min(nodes),
            _ => balancers * nodes,
        }
    }
}

/// Runs `requests` requests through `scenario`, routed by `router`.
pub fn run(
    scenario: &Scenario,
    router: Router,
    requests: usize,
    seed: u64,
) -> Result<Summary, ConfigError> {
    let mut sim = Sim::new(scenario, router, requests, seed)?;
    sim.run();
    Ok(sim.measured.summarise())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Arrival,
    Retry(usize),
    /// A request swallowed by a blackhole reaches the proxy's timeout.
    TimedOut(usize),
    /// A request's hedge is due (with `--hedge`).
    Hedge(usize),
    /// A balancer's probe reaches a node.
    ProbeAt {
        balancer: usize,
        node: usize,
    },
    /// A node's probe reply reaches its balancer.
    ProbeReply {
        balancer: usize,
        node: usize,
        in_flight: u32,
        latency_ns: u64,
    },
    /// A balancer polls every agent of its pool.
    Agents(usize),
    Done {
        node: usize,
        req: usize,
        /// The request's hedge, not its first try.
        copy: bool,
    },
}

struct Request {
    arrival: u64,
    attempt: u64,
    /// Work in units of the node's mean service time (exponential, mean 1).
    work: f64,
    client: usize,
    /// The balancer it arrived at.
    balancer: usize,
    pick: Option<Pick<usize>>,
    refused_by: Option<BackendId>,
    /// With `--hedge`: the node and pick of its copy, once sent.
    hedge: Option<(usize, Pick<usize>)>,
    /// The node its first try went to.
    node: Option<usize>,
    /// Answered (by either try).
    finished: bool,
}

/// A balancer's tail-latency state with `--hedge`: its recent latencies,
/// the hedge delay and adaptive try timeout they give, and its budget.
struct Tail {
    latencies: LatencyWindow,
    budget: RetryBudget,
    timeout: TryTimeout,
    hedge_delay: TryTimeout,
}

impl Tail {
    fn new(clock: Arc<ManualClock>) -> Self {
        let window = Duration::from_secs(10);
        Tail {
            latencies: LatencyWindow::with_clock(window, clock.clone()),
            budget: RetryBudget::with_clock(0.2, 10, window, clock),
            timeout: TryTimeout::new(0.99, 4.0, Duration::from_millis(50), TIMEOUT),
            hedge_delay: TryTimeout::new(0.95, 1.0, Duration::from_millis(5), TIMEOUT),
        }
    }
}

#[derive(Default)]
struct NodeState {
    busy: u32,
    /// Requests waiting: (request, whether it is the request's hedge).
    queue: VecDeque<(usize, bool)>,
    /// Core time owed to probes, taken from the next request started.
    debt: u64,
    /// The node's own estimate of its service time (EWMA, nanoseconds), for
    /// its probe replies.
    service_ns: f64,
    /// The load it measures in the current window, and the report of the
    /// last window closed.
    window: LoadWindow,
    report: LoadReport,
}

/// A node's load over one report window: requests completed and core
/// time started since `start`.
#[derive(Default)]
struct LoadWindow {
    start: u64,
    completed: u32,
    busy_ns: u64,
}

struct Sim<'a> {
    scenario: &'a Scenario,
    /// Per balancer, with `--hedge`.
    tails: Vec<Tail>,
    /// One pool per balancer; none for the oracle.
    pools: Vec<Pool<AnyStrategy, usize>>,
    /// Per balancer, the nodes of its pool.
    members: Vec<Vec<usize>>,
    /// Whether the balancers probe (their strategy reads probe replies).
    probing: bool,
    /// Which nodes get probed: its own stream, so the workload stays the same.
    probes: ChaCha8Rng,
    clock: Arc<ManualClock>,
    workload: ChaCha8Rng,
    /// Expected run length in nanoseconds: disturbances are placed in it.
    horizon: f64,
    remaining: usize,
    /// Backend ids, by node index, for the agents' replies.
    ids: Vec<BackendId>,
    clients: Vec<IpAddr>,
    keys: Vec<Vec<u8>>,
    nodes: Vec<NodeState>,
    requests: Vec<Request>,
    events: BinaryHeap<Reverse<(u64, u64, Event)>>,
    seq: u64,
    tie: usize,
    measured: Measured,
}

impl<'a> Sim<'a> {
    fn new(
        scenario: &'a Scenario,
        router: Router,
        requests: usize,
        seed: u64,
    ) -> Result<Self, ConfigError> {
        let clock = Arc::new(ManualClock::new());
        let n = scenario.nodes.len();
        let balancers = scenario.balancers.max(1);
        let mut pools = Vec::new();
        let mut all_members = Vec::new();
        // Each balancer its own seed, drawn from a stream of their own (not
        // `seed + b`, and not the workload's `seed`): no two components of
        // the model share a random stream.
        let mut proxy_seeds = ChaCha8Rng::seed_from_u64(seed ^ PROXY_SEEDS);
        // One hash key for every proxy, as a deployment configures them
        // (`--hash-key`): a client's requests hash alike at every proxy.
        let mut key = [0u8; 16];
        ChaCha8Rng::seed_from_u64(seed ^ HASH_KEY).fill(&mut key);
        let key = HashKey::from_bytes(key);
        for b in 0..balancers {
            let seed: u64 = proxy_seeds.gen();
            let members: Vec<usize> = match router {
                Router::Oracle => break,
                Router::Library(_) => (0..n).collect(),
                Router::Subset(_, size) => {
                    let ids: Vec<String> = (0..n).map(|i| backend_id(i).to_string()).collect();
                    Subsetting::new(size).subset(&ids, ClientIndex::new(b, balancers)?)?
                }
            };
            let (Router::Library(kind) | Router::Subset(kind, _)) = router else {
                break;
            };
            pools.push(library_pool(
                scenario,
                &members,
                kind,
                seed,
                key,
                clock.clone(),
            )?);
            all_members.push(members);
        }
        let probing = matches!(
            router,
            Router::Library(StrategyKind::Prequal) | Router::Subset(StrategyKind::Prequal, _)
        );
        let clients = scenario.workload.clients;
        let tails = match scenario.hedge {
            Some(_) => (0..pools.len()).map(|_| Tail::new(clock.clone())).collect(),
            None => Vec::new(),
        };
        Ok(Sim {
            scenario,
            tails,
            pools,
            members: all_members,
            probing,
            probes: ChaCha8Rng::seed_from_u64(seed ^ 0x7072_6f62_6573),
            clock,
            workload: ChaCha8Rng::seed_from_u64(seed),
            horizon: requests as f64 / scenario.arrival_rate() * 1e9,
            remaining: requests,
            ids: (0..n).map(backend_id).collect(),
            clients: (0..clients as u32)
                .map(|i| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)))
                .collect(),
            keys: (0..clients)
                .map(|i| format!("user-{i}").into_bytes())
                .collect(),
            nodes: scenario
                .nodes
                .iter()
                .map(|node| NodeState {
                    service_ns: node.mean_service.as_nanos() as f64,
                    ..NodeState::default()
                })
                .collect(),
            requests: Vec::with_capacity(requests),
            events: BinaryHeap::new(),
            seq: 0,
            tie: 0,
            measured: Measured {
                busy: vec![0; n],
                cores: scenario.nodes.iter().map(|node| node.cores).collect(),
                peak: vec![0; n],
                ..Measured::default()
            },
        })
    }

    fn run(&mut self) {
        if self.remaining > 0 {
            self.schedule(0, Event::Arrival);
        }
        if let Some(every) = self.scenario.agent_interval {
            // Each balancer polls on a timer of its own, started when it
            // was: their polls are spread over the interval, not in step
            // (eight proxies all reacting to the same snapshot at the same
            // instant herd together).
            let balancers = self.pools.len() as u64;
            for b in 0..self.pools.len() {
                let offset = nanos(every) * b as u64 / balancers.max(1);
                self.schedule(nanos(every) + offset, Event::Agents(b));
            }
        }
        while let Some(Reverse((t, _, event))) = self.events.pop() {
            self.clock.set(Duration::from_nanos(t));
            self.measured.end = t;
            match event {
                Event::Arrival => self.arrive(t),
                Event::Retry(req) => {
                    self.requests[req].attempt = t;
                    self.dispatch(req, t);
                }
                Event::TimedOut(req) => self.timed_out(req, t),
                Event::Hedge(req) => self.hedge(req, t),
                Event::ProbeAt { balancer, node } => self.probe_at(balancer, node, t),
                Event::ProbeReply {
                    balancer,
                    node,
                    in_flight,
                    latency_ns,
                } => {
                    let reply = ProbeReply::new(in_flight, Duration::from_nanos(latency_ns));
                    self.pools[balancer]
                        .apply_probe(&self.ids[node], reply)
                        .expect("a probe reply about a backend of the set");
                }
                Event::Done { node, req, copy } => self.done(node, req, copy, t),
                Event::Agents(balancer) => self.poll_agents(balancer, t),
            }
        }
    }

    fn schedule(&mut self, at: u64, event: Event) {
        self.seq += 1;
        self.events.push(Reverse((at, self.seq, event)));
    }

    /// Where `t` falls in the run, from 0 to about 1.
    fn phase(&self, t: u64) -> f64 {
        t as f64 / self.horizon
    }

    fn arrive(&mut self, t: u64) {
        let w = self.scenario.workload;
        let rng = &mut self.workload;
        let client = if w.hot > 0 && rng.gen::<f64>() < w.hot_share {
            rng.gen_range(0..w.hot)
        } else {
            rng.gen_range(0..w.clients)
        };
        let work = match self.scenario.service {
            Service::Exponential => exponential(rng),
            Service::LogNormal { sigma } => lognormal(rng, sigma),
        };
        let gap = exponential(rng) / self.scenario.arrival_rate() * 1e9;
        // Drawn only with several balancers, so that the single-balancer
        // scenarios keep their request stream.
        let balancer = match self.scenario.balancers {
            0 | 1 => 0,
            many => rng.gen_range(0..many),
        };
        let id = self.requests.len();
        self.requests.push(Request {
            arrival: t,
            attempt: t,
            work,
            client,
            balancer,
            pick: None,
            refused_by: None,
            hedge: None,
            node: None,
            finished: false,
        });
        if let Some(tail) = self.tails.get(balancer) {
            tail.budget.deposit();
        }
        self.remaining -= 1;
        if self.remaining > 0 {
            self.schedule(t + gap.round() as u64, Event::Arrival);
        }
        if self.probing {
            self.send_probes(balancer, t);
        }
        self.dispatch(id, t);
    }

    /// The balancer probes random nodes of its pool; replies come back
    /// after the round trip, and only from nodes that answer.
    fn send_probes(&mut self, balancer: usize, t: u64) {
        let members = self.members[balancer].len();
        for _ in 0..PROBES_PER_REQUEST.min(members) {
            let node = self.members[balancer][self.probes.gen_range(0..members)];
            self.schedule(
                t + nanos(PROBE_DELAY) / 2,
                Event::ProbeAt { balancer, node },
            );
        }
    }

    /// A probe at the node: it pays the probe's cost and answers with its
    /// requests in flight and the latency it expects a new one to see.
    fn probe_at(&mut self, balancer: usize, node: usize, t: u64) {
        let phase = self.phase(t);
        if self.scenario.is_down(node, phase) || self.scenario.is_blackhole(node, phase) {
            return;
        }
        let cores = self.scenario.nodes[node].cores;
        let state = &mut self.nodes[node];
        state.debt += nanos(PROBE_COST);
        let in_flight = state.busy + state.queue.len() as u32;
        let waiting = (in_flight + 1).saturating_sub(cores);
        let latency = state.service_ns * (1.0 + f64::from(waiting) / f64::from(cores));
        self.schedule(
            t + nanos(PROBE_DELAY) / 2,
            Event::ProbeReply {
                balancer,
                node,
                in_flight,
                latency_ns: latency.round() as u64,
            },
        );
    }

    fn dispatch(&mut self, id: usize, t: u64) {
        let req = &self.requests[id];
        let Some(pool) = self.pools.get(req.balancer) else {
            match self.shortest_queue(t) {
                Some(node) => self.admit(id, node, t),
                None => self.measured.failed += 1,
            }
            return;
        };
        let ctx = Context::new()
            .client(self.clients[req.client])
            .key(&self.keys[req.client])
            .exclude(req.refused_by.as_slice());
        let Ok(mut pick) = pool.pick(&ctx) else {
            self.measured.failed += 1;
            return;
        };
        let node = *pick.backend();
        let phase = self.phase(t);
        let balancer = req.balancer;
        let first_try = req.refused_by.is_none();
        if !self.scenario.is_down(node, phase) {
            self.requests[id].pick = Some(pick);
            self.requests[id].node = Some(node);
            if let (Some(tail), true) = (self.tails.get(balancer), first_try) {
                let delay = tail.hedge_delay.of(&tail.latencies);
                if delay < TIMEOUT {
                    self.schedule(t + nanos(delay), Event::Hedge(id));
                }
            }
            if self.scenario.is_blackhole(node, phase) {
                // Accepted, never answered: the pick stays in flight until
                // the proxy's timeout (adaptive with `--hedge`).
                let timeout = self
                    .tails
                    .get(balancer)
                    .map_or(TIMEOUT, |tail| tail.timeout.of(&tail.latencies));
                self.schedule(t + nanos(timeout), Event::TimedOut(id));
                return;
            }
            self.admit(id, node, t);
            return;
        }
        pick.record(Outcome::failure(FailureKind::ConnectRefused, REFUSED));
        self.retry_once(id, pick.id().clone(), t + nanos(REFUSED));
    }

    /// Retries a failed request once, on another node, at `at`; a second
    /// failure is final.
    fn retry_once(&mut self, id: usize, failed_on: BackendId, at: u64) {
        let req = &mut self.requests[id];
        if req.refused_by.is_none() {
            req.refused_by = Some(failed_on);
            self.measured.retried += 1;
            self.schedule(at, Event::Retry(id));
        } else {
            self.measured.failed += 1;
        }
    }

    /// The proxy gives up on a request a blackhole swallowed: a timeout
    /// recorded, then the retry.
    fn timed_out(&mut self, id: usize, t: u64) {
        if self.requests[id].finished {
            return;
        }
        let Some(mut pick) = self.requests[id].pick.take() else {
            return;
        };
        let waited = Duration::from_nanos(t - self.requests[id].attempt);
        pick.record(Outcome::failure(FailureKind::Timeout, waited));
        let failed_on = pick.id().clone();
        drop(pick);
        if self.requests[id].hedge.is_some() {
            // Its hedge is the other try: wait for it.
            return;
        }
        self.retry_once(id, failed_on, t);
    }

    /// A request still unanswered after the hedge delay: a copy to another
    /// node of its pool, within the budget.
    fn hedge(&mut self, id: usize, t: u64) {
        let req = &self.requests[id];
        let Some(first_pick) = &req.pick else { return };
        if req.finished || req.hedge.is_some() {
            return;
        }
        let balancer = req.balancer;
        let Some(first) = req.node else { return };
        if let Some(hedging) = self.scenario.hedge {
            // With `silent`, only a try whose node has answered nobody for
            // a hedge delay; else it is asked again a delay later.
            let tail = &self.tails[balancer];
            let delay = tail.hedge_delay.of(&tail.latencies);
            let (sent, now) = (Duration::from_nanos(req.attempt), Duration::from_nanos(t));
            if !hedging.due(first_pick, sent, now, delay) {
                let deadline = req.attempt + nanos(tail.timeout.of(&tail.latencies));
                if t + nanos(delay) < deadline {
                    self.schedule(t + nanos(delay), Event::Hedge(id));
                }
                return;
            }
        }
        if !self.tails[balancer].budget.withdraw() {
            return;
        }
        let not_again = [self.ids[first].clone()];
        let ctx = Context::new()
            .client(self.clients[req.client])
            .key(&self.keys[req.client])
            .exclude(&not_again);
        let Ok(mut pick) = self.pools[balancer].pick(&ctx) else {
            return;
        };
        let node = *pick.backend();
        let phase = self.phase(t);
        self.measured.hedged += 1;
        if self.scenario.is_down(node, phase) {
            pick.record(Outcome::failure(FailureKind::ConnectRefused, REFUSED));
            return;
        }
        self.requests[id].hedge = Some((node, pick));
        if !self.scenario.is_blackhole(node, phase) {
            self.admit_copy(id, node, t);
        }
    }

    /// Applies every answering agent's reply, then schedules the next poll
    /// while requests are still to arrive (after that the run only drains).
    /// A node that refuses connections has no agent answering either: its
    /// last capacity expires with the pool's agent expiry, on the pool's
    /// clock, and passive health handles the refusals.
    fn poll_agents(&mut self, balancer: usize, t: u64) {
        let Some(every) = self.scenario.agent_interval else {
            return;
        };
        let phase = self.phase(t);
        for (i, state) in self.nodes.iter().enumerate() {
            // A node that refuses connections, or a blackhole, does not
            // answer its agent port either.
            if self.scenario.is_down(i, phase) || self.scenario.is_blackhole(i, phase) {
                continue;
            }
            let in_flight = state.busy + state.queue.len() as u32;
            let reply = agent::reply(in_flight, self.scenario.nodes[i].cores);
            // A balancer keeping a subset polls only its own nodes' agents.
            if self.members[balancer].contains(&i) {
                self.pools[balancer]
                    .apply_agent_reply(&self.ids[i], reply.as_bytes())
                    .expect("a worker's reply about a backend of the set");
            }
        }
        if self.remaining > 0 {
            self.schedule(t + nanos(every), Event::Agents(balancer));
        }
    }

    /// The oracle: the live node where a new request expects to finish
    /// soonest, `(queued + busy + 1) / cores` times the node's current mean
    /// service time; ties rotate.
    fn shortest_queue(&mut self, t: u64) -> Option<usize> {
        let phase = self.phase(t);
        let n = self.nodes.len();
        self.tie = (self.tie + 1) % n;
        let mut best: Option<(usize, f64)> = None;
        for i in (self.tie..n).chain(0..self.tie) {
            if self.scenario.is_down(i, phase) || self.scenario.is_blackhole(i, phase) {
                continue;
            }
            let model = &self.scenario.nodes[i];
            let state = &self.nodes[i];
            let in_system = f64::from(state.busy) + state.queue.len() as f64 + 1.0;
            let cost = in_system / f64::from(model.cores)
                * model.mean_service.as_secs_f64()
                * self.scenario.slowdown(i, phase);
            if best.is_none_or(|(_, top)| cost < top) {
                best = Some((i, cost));
            }
        }
        best.map(|(i, _)| i)
    }

    fn admit(&mut self, id: usize, node: usize, t: u64) {
        self.enqueue(id, node, false, t);
    }

    fn admit_copy(&mut self, id: usize, node: usize, t: u64) {
        self.enqueue(id, node, true, t);
    }

    fn enqueue(&mut self, id: usize, node: usize, copy: bool, t: u64) {
        let state = &mut self.nodes[node];
        if state.busy < self.scenario.nodes[node].cores {
            self.start(id, node, copy, t);
        } else {
            state.queue.push_back((id, copy));
        }
        let state = &self.nodes[node];
        let in_system = state.busy + state.queue.len() as u32;
        let peak = &mut self.measured.peak[node];
        *peak = (*peak).max(in_system);
    }

    fn start(&mut self, id: usize, node: usize, copy: bool, t: u64) {
        let model = &self.scenario.nodes[node];
        let mean = model.mean_service.as_nanos() as f64;
        let slowdown = self.scenario.slowdown(node, self.phase(t));
        let work = (self.requests[id].work * mean * slowdown).round() as u64;
        let state = &mut self.nodes[node];
        // The node learns its service time (probe replies quote it).
        state.service_ns += (work as f64 - state.service_ns) * SERVICE_EWMA;
        let service = work + std::mem::take(&mut state.debt);
        self.nodes[node].busy += 1;
        self.nodes[node].window.busy_ns += service;
        self.measured.busy[node] += service;
        self.schedule(
            t + service,
            Event::Done {
                node,
                req: id,
                copy,
            },
        );
    }

    fn done(&mut self, node: usize, id: usize, copy: bool, t: u64) {
        self.nodes[node].busy -= 1;
        let cores = self.scenario.nodes[node].cores;
        let report = self.nodes[node].load_report(t, cores).clone();
        if !self.requests[id].finished {
            let req = &mut self.requests[id];
            req.finished = true;
            // The winner records its success; the other try is cancelled,
            // taken out of its node's queue if it still waits there. A
            // first try beaten by its hedge (sent later) on a node that has
            // answered nothing for a whole try timeout is recorded as
            // outpaced (it counts only in the failures in a row: a node
            // silent that long, several times over, is taken out); any
            // other loser is dropped, counted for nothing.
            let (winner, loser) = match copy {
                false => (req.pick.take(), req.hedge.take()),
                true => (
                    req.hedge.take().map(|(_, pick)| pick),
                    req.pick.take().map(|p| (req.node.unwrap_or(node), p)),
                ),
            };
            let latency = Duration::from_nanos(t - req.attempt);
            if let Some(mut pick) = winner {
                pick.record_load_report(&report);
                pick.record(Outcome::success(latency));
            }
            let (arrival, balancer) = (req.arrival, req.balancer);
            if let Some((other, mut pick)) = loser {
                if copy {
                    let tail = &self.tails[balancer];
                    let silence = tail.timeout.of(&tail.latencies);
                    let waited = Duration::from_nanos(t - self.requests[id].attempt);
                    let now = Duration::from_nanos(t);
                    hedging::record_outpaced(&mut pick, waited, now, silence);
                }
                drop(pick);
                self.nodes[other]
                    .queue
                    .retain(|&(r, c)| !(r == id && c != copy));
            }
            self.measured.latencies.push(t - arrival);
            if let Some(tail) = self.tails.get(balancer) {
                tail.latencies.record(latency);
            }
        }
        if let Some((next, next_copy)) = self.nodes[node].queue.pop_front() {
            self.start(next, node, next_copy, t);
        }
    }
}

impl NodeState {
    /// Counts one request completed at `t` and returns the report the
    /// node sends with it: the last closed window's (a window closes after
    /// [`REPORT_WINDOW`]), queries per second and CPU utilization.
    fn load_report(&mut self, t: u64, cores: u32) -> &LoadReport {
        let window = &mut self.window;
        window.completed += 1;
        let elapsed = t.saturating_sub(window.start);
        if elapsed >= nanos(REPORT_WINDOW) {
            let seconds = elapsed as f64 / 1e9;
            self.report = LoadReport {
                rps_fractional: f64::from(window.completed) / seconds,
                cpu_utilization: (window.busy_ns as f64 / 1e9 / seconds / f64::from(cores))
                    .min(1.0),
                ..LoadReport::default()
            };
            *window = LoadWindow {
                start: t,
                ..LoadWindow::default()
            };
        }
        &self.report
    }
}

/// A balancer's pool over nodes `members`.
fn library_pool(
    scenario: &Scenario,
    members: &[usize],
    kind: StrategyKind,
    seed: u64,
    key: HashKey,
    clock: Arc<ManualClock>,
) -> Result<Pool<AnyStrategy, usize>, ConfigError> {
    let specs = members
        .iter()
        .map(|&i| BackendSpec::new(backend_id(i), i).weight(scenario.nodes[i].weight));
    let options = StrategyOptions {
        hash_key: Some(key),
        seed: Some(seed),
        v6_prefix: None,
        load_report_blackout: Some(scenario.orca_blackout),
    };
    Pool::builder(AnyStrategy::with_options(kind, &options))
        .clock(clock)
        .health(HealthConfig {
            consecutive_failures: 5,
            base_ejection: Duration::from_secs(5),
            max_ejection: Duration::from_secs(60),
            ..HealthConfig::default()
        })
        .build(specs)
}

/// Node `i`'s backend id: `n1`, `n2`, ...
fn backend_id(i: usize) -> BackendId {
    BackendId::new(format!("n{}", i + 1))
}

/// An exponential draw with mean 1.
fn exponential(rng: &mut ChaCha8Rng) -> f64 {
    -(1.0 - rng.gen::<f64>()).ln()
}

/// A lognormal draw with mean 1: exp(mu + sigma Z), mu = -sigma^2 / 2, Z
/// standard normal (Box-Muller).
fn lognormal(rng: &mut ChaCha8Rng, sigma: f64) -> f64 {
    let (u, v) = (1.0 - rng.gen::<f64>(), rng.gen::<f64>());
    let z = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
    (sigma * z - sigma * sigma / 2.0).exp()
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
