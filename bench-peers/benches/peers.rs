//! pickwise beside its Rust peers (pingora-load-balancing, arcboxlabs'
//! `loadwise`, tower's p2c balancer), side by side in one criterion group
//! per comparison, over the identical backend set (`10.0.X.Y:80`, weight 1
//! unless said) at 4, 64 and 1024 backends:
//!
//! - `round-robin`: pingora `LoadBalancer<RoundRobin>::select` vs pickwise
//!   `Pool<RoundRobin>::pick` (pick plus drop of the guard);
//! - `random`: pingora `LoadBalancer<Random>` vs pickwise `Random`;
//! - `consistent`: pingora `LoadBalancer<Consistent>` (ketama) vs pickwise
//!   `RingHash` and `Maglev`, with varied pre-generated keys;
//! - `round-robin-2threads`: both round robins, two threads picking from one
//!   shared balancer (time per pick per thread);
//! - `build-balancer`: a whole balancer over a static set:
//!   `LoadBalancer::<Consistent>::try_from_iter` vs `Pool::new` with
//!   `RingHash` and `Maglev`;
//! - `anatomy`: the parts a round-robin pick is made of, each alone (one
//!   relaxed `fetch_add`, an `ArcSwap` load, an `Arc` clone and drop), to
//!   show where its time goes on this machine;
//! - `loadwise-*`: arcboxlabs' `loadwise` 0.1 (crates.io; renamed
//!   `loadwise_peer` here, this project's first name was the same) beside
//!   pickwise's equivalent: `loadwise-round-robin` (`RoundRobin`),
//!   `loadwise-weighted-round-robin` (`WeightedRoundRobin`, weights 1 to 4
//!   on both sides), `loadwise-p2c` (`PowerOfTwoChoices` vs `P2c`),
//!   `loadwise-least-load` (`LeastLoad` vs `LeastConnections`),
//!   `loadwise-consistent` (`ConsistentHash`, 150 virtual nodes, vs
//!   `RingHash` and `Maglev`);
//! - `tower-p2c`: per request through a `tower::Service` over ready no-op
//!   backend services (`service_fn` returning a ready future): tower's
//!   `balance::p2c::Balance` (pending-requests load, as tower's docs pair
//!   it) vs `pickwise::tower::Balance` over a `Pool<P2c>`: `poll_ready`,
//!   `call`, and the response future polled to its (immediate) answer.
//!
//! ```text
//! cargo bench -p bench-peers
//! cargo bench -p bench-peers -- consistent
//! ```
//!
//! pingora's `select` is the call its users make: a selector snapshot, its
//! iterator, a health lookup, and a clone of the `Backend`; the bench reads
//! the backend's weight. pickwise's is `Pool::pick` (`pickwise`) or a
//! per-thread `Picker::pick` (`pickwise-picker`) and the drop of the returned
//! guard; the bench reads the address's port. Both read one small field, so
//! neither pays for copying its payload out (a whole `SocketAddr` through
//! `black_box` costs a store-forwarding stall that dwarfs a pick).
//!
//! loadwise's `Strategy::select(&candidates, &ctx)` is the call its users
//! make: it returns an index into the caller's own slice of nodes (nothing
//! cloned); the bench reads that node's port. What the caller must do
//! around it is timed too, as pickwise does it inside the pick: for the
//! load-aware strategies the node's in-flight count (its `load_score`) is
//! raised after the select and lowered after the read (pickwise's guard
//! does both); for consistent hashing the request key is hashed into the
//! `u64` `hash_key` with std's `DefaultHasher` (SipHash-1-3, as its docs
//! do; pickwise hashes the key bytes with keyed SipHash inside the pick).
//! A node's id (what loadwise fingerprints every weighted round-robin and
//! consistent-hash pick, and hashes into its ring) is its `SocketAddr`.

use std::convert::Infallible;
use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::hint::black_box;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use loadwise_peer::strategy as peer;
use loadwise_peer::{LoadMetric, Node, SelectionContext, Strategy as PeerStrategy, Weighted};
use pickwise::hash::HashKey;
use pickwise::strategy::{
    LeastConnections, Maglev, P2c, Random, RingHash, RoundRobin, WeightedRoundRobin,
};
use pickwise::{BackendSpec, Balancer, Context, Pool, Strategy};
use pingora_load_balancing::selection::{self, BackendSelection};
use pingora_load_balancing::LoadBalancer;
use tower::Service;

const SIZES: [usize; 3] = [4, 64, 1024];
const BUILD_SIZES: [usize; 3] = [10, 100, 1000];
const KEYS: usize = 4096;
/// pingora's `select` bound on its search past unhealthy backends; every
/// backend is healthy here, so the first candidate is taken.
const MAX_ITERATIONS: usize = 256;

fn addresses(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("10.0.{}.{}:80", i / 256, i % 256))
        .collect()
}

fn hash_key() -> HashKey {
    HashKey::from_bytes([7; 16])
}

fn pool<S: Strategy>(strategy: S, n: usize) -> Pool<S, SocketAddr> {
    let backends = addresses(n)
        .into_iter()
        .map(|a| BackendSpec::new(a.clone(), a.parse::<SocketAddr>().unwrap()));
    Pool::new(strategy, backends).expect("valid pool")
}

/// The weight of the `i`th backend in the weighted round-robin groups:
/// 1, 2, 3, 4, 1, ... on both sides.
fn varied_weight(i: usize) -> u32 {
    1 + (i % 4) as u32
}

/// The same set as [`pool`], with the weights of [`varied_weight`].
fn weighted_pool<S: Strategy>(strategy: S, n: usize) -> Pool<S, SocketAddr> {
    let backends = addresses(n).into_iter().enumerate().map(|(i, a)| {
        BackendSpec::new(a.clone(), a.parse::<SocketAddr>().unwrap()).weight(varied_weight(i))
    });
    Pool::new(strategy, backends).expect("valid pool")
}

fn pingora<S>(n: usize) -> LoadBalancer<S>
where
    S: BackendSelection + 'static,
    S::Iter: selection::BackendIter,
{
    LoadBalancer::try_from_iter(addresses(n)).expect("valid backends")
}

/// Varied request keys, generated before timing.
fn keys() -> Vec<[u8; 8]> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..KEYS)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .collect()
}

type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// One comparison: a criterion group `name` in which `body` times each
/// side at every size of [`SIZES`], on the same pre-generated keys.
fn compare(c: &mut Criterion, name: &str, mut body: impl FnMut(&mut Group<'_>, usize, &[[u8; 8]])) {
    let keys = keys();
    let mut group = c.benchmark_group(name);
    for n in SIZES {
        body(&mut group, n, &keys);
    }
    group.finish();
}

/// Times pingora's `select` over `n` backends (reading the weight).
fn bench_pingora<S>(group: &mut Group<'_>, name: &str, n: usize, keys: &[[u8; 8]])
where
    S: BackendSelection + 'static,
    S::Iter: selection::BackendIter,
{
    let lb = pingora::<S>(n);
    let mut i = 0usize;
    group.bench_function(BenchmarkId::new(name, n), |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let key = &keys[i % KEYS];
            black_box(
                lb.select(key, MAX_ITERATIONS)
                    .map_or(0, |b| b.weight as u64),
            )
        })
    });
}

/// Times pickwise's `Pool::pick` (as `name`) and a per-thread
/// `Picker::pick` (as `name-picker`), each with the drop of its guard,
/// over the pool `make` builds (reading the port).
fn bench_pickwise<S: Strategy>(
    group: &mut Group<'_>,
    name: &str,
    n: usize,
    keys: &[[u8; 8]],
    make: impl Fn() -> Pool<S, SocketAddr>,
) {
    let pool = make();
    let mut i = 0usize;
    group.bench_function(BenchmarkId::new(name, n), |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let key = &keys[i % KEYS];
            let pick = pool.pick(&Context::new().key(key));
            black_box(pick.map_or(0, |p| u64::from(p.backend().port())))
        })
    });
    let pool = make();
    let mut picker = pool.picker();
    group.bench_function(BenchmarkId::new(format!("{name}-picker"), n), |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let key = &keys[i % KEYS];
            let pick = picker.pick(&Context::new().key(key));
            black_box(pick.map_or(0, |p| u64::from(p.backend().port())))
        })
    });
}

fn round_robin(c: &mut Criterion) {
    compare(c, "round-robin", |group, n, keys| {
        bench_pingora::<selection::RoundRobin>(group, "pingora", n, keys);
        bench_pickwise(group, "pickwise", n, keys, || pool(RoundRobin::new(), n));
    });
}

fn random(c: &mut Criterion) {
    compare(c, "random", |group, n, keys| {
        bench_pingora::<selection::Random>(group, "pingora", n, keys);
        bench_pickwise(group, "pickwise", n, keys, || pool(Random::new(), n));
    });
}

/// pickwise's two consistent hashes, keyed alike.
fn bench_pickwise_hashes(group: &mut Group<'_>, n: usize, keys: &[[u8; 8]]) {
    bench_pickwise(group, "pickwise-ring-hash", n, keys, || {
        pool(RingHash::new().with_key(hash_key()), n)
    });
    bench_pickwise(group, "pickwise-maglev", n, keys, || {
        pool(Maglev::new().with_key(hash_key()), n)
    });
}

fn consistent(c: &mut Criterion) {
    compare(c, "consistent", |group, n, keys| {
        bench_pingora::<selection::Consistent>(group, "pingora-ketama", n, keys);
        bench_pickwise_hashes(group, n, keys);
    });
}

/// Runs `work(thread, iters)` on two threads at once and reports the
/// slower thread's time: time per pick per thread.
fn two_threads<F>(iters: u64, work: F) -> Duration
where
    F: Fn(usize, u64) + Send + Sync + 'static,
{
    let work = Arc::new(work);
    let barrier = Arc::new(Barrier::new(2));
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let (work, barrier) = (work.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let started = Instant::now();
                work(t, iters);
                started.elapsed()
            })
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .max()
        .unwrap_or_default()
}

fn round_robin_two_threads(c: &mut Criterion) {
    let keys = Arc::new(keys());
    let mut group = c.benchmark_group("round-robin-2threads");
    for n in SIZES {
        let lb = Arc::new(pingora::<selection::RoundRobin>(n));
        let k = keys.clone();
        group.bench_function(BenchmarkId::new("pingora", n), |b| {
            b.iter_custom(|iters| {
                let (lb, k) = (lb.clone(), k.clone());
                two_threads(iters, move |t, iters| {
                    for i in 0..iters as usize {
                        let key = &k[(i * 2 + t) % KEYS];
                        black_box(
                            lb.select(key, MAX_ITERATIONS)
                                .map_or(0, |b| b.weight as u64),
                        );
                    }
                })
            })
        });
        let pool = Arc::new(pool(RoundRobin::new(), n));
        let (shared, k) = (pool.clone(), keys.clone());
        group.bench_function(BenchmarkId::new("pickwise-picker", n), |b| {
            b.iter_custom(|iters| {
                let (pool, k) = (shared.clone(), k.clone());
                two_threads(iters, move |t, iters| {
                    let mut picker = pool.picker();
                    for i in 0..iters as usize {
                        let key = &k[(i * 2 + t) % KEYS];
                        let pick = picker.pick(&Context::new().key(key));
                        black_box(pick.map_or(0, |p| u64::from(p.backend().port())));
                    }
                })
            })
        });
        let k = keys.clone();
        group.bench_function(BenchmarkId::new("pickwise", n), |b| {
            b.iter_custom(|iters| {
                let (pool, k) = (pool.clone(), k.clone());
                two_threads(iters, move |t, iters| {
                    for i in 0..iters as usize {
                        let key = &k[(i * 2 + t) % KEYS];
                        let pick = pool.pick(&Context::new().key(key));
                        black_box(pick.map_or(0, |p| u64::from(p.backend().port())));
                    }
                })
            })
        });
    }
    group.finish();
}

fn build_balancer(c: &mut Criterion) {
    let mut group = c.benchmark_group("build-balancer");
    group.sample_size(10);
    for n in BUILD_SIZES {
        group.bench_function(BenchmarkId::new("pingora-ketama", n), |b| {
            b.iter(|| black_box(pingora::<selection::Consistent>(n)))
        });
        group.bench_function(BenchmarkId::new("pickwise-ring-hash", n), |b| {
            b.iter(|| black_box(pool(RingHash::new().with_key(hash_key()), n)))
        });
        group.bench_function(BenchmarkId::new("pickwise-maglev", n), |b| {
            b.iter(|| black_box(pool(Maglev::new().with_key(hash_key()), n)))
        });
    }
    group.finish();
}

/// The building blocks of a pickwise round-robin pick, each timed alone.
fn anatomy(c: &mut Criterion) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let mut group = c.benchmark_group("anatomy");
    let counter = AtomicUsize::new(0);
    group.bench_function("fetch-add", |b| {
        b.iter(|| black_box(counter.fetch_add(1, Ordering::Relaxed)))
    });
    let swap = arc_swap::ArcSwap::from_pointee(7u64);
    group.bench_function("arc-swap-load", |b| b.iter(|| black_box(**swap.load())));
    let shared = Arc::new(7u64);
    group.bench_function("arc-clone-drop", |b| {
        b.iter(|| black_box(*Arc::clone(&shared)))
    });
    let pool = pool(RoundRobin::new(), 4);
    group.bench_function("round-robin-pick-drop", |b| {
        b.iter(|| {
            black_box(
                pool.pick(&Context::new())
                    .map_or(0, |p| u64::from(p.backend().port())),
            )
        })
    });
    group.finish();
}

/// One backend as a loadwise caller holds it: an element of the caller's
/// own slice, with the in-flight count its load-aware strategies read.
struct PeerNode {
    addr: SocketAddr,
    weight: u32,
    in_flight: AtomicUsize,
}

impl Node for PeerNode {
    type Id = SocketAddr;
    fn id(&self) -> &SocketAddr {
        &self.addr
    }
}

impl Weighted for PeerNode {
    fn weight(&self) -> u32 {
        self.weight
    }
}

impl LoadMetric for PeerNode {
    fn load_score(&self) -> f64 {
        self.in_flight.load(Ordering::Relaxed) as f64
    }
}

/// The backend set as loadwise's candidates, weights from `weight`.
fn peer_nodes(n: usize, weight: fn(usize) -> u32) -> Vec<PeerNode> {
    addresses(n)
        .into_iter()
        .enumerate()
        .map(|(i, a)| PeerNode {
            addr: a.parse().unwrap(),
            weight: weight(i),
            in_flight: AtomicUsize::new(0),
        })
        .collect()
}

/// What the loadwise caller does per request besides `select`.
#[derive(Clone, Copy)]
enum PeerUse {
    /// `select` with an empty context, read the node.
    Plain,
    /// Also raise the node's in-flight count before the read and lower it
    /// after (what pickwise's pick and guard drop do).
    CountInFlight,
    /// Hash the request key into `hash_key` first (`DefaultHasher`).
    HashKey,
}

/// Times loadwise's `select` (and what `how` adds) on the same keys as
/// the pickwise side, as `loadwise`.
fn bench_loadwise<S: PeerStrategy<PeerNode>>(
    group: &mut Group<'_>,
    strategy: S,
    nodes: Vec<PeerNode>,
    keys: &[[u8; 8]],
    how: PeerUse,
) {
    let n = nodes.len();
    let mut i = 0usize;
    group.bench_function(BenchmarkId::new("loadwise", n), |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let key = &keys[i % KEYS];
            let ctx = match how {
                PeerUse::HashKey => {
                    let mut hasher = DefaultHasher::new();
                    key.hash(&mut hasher);
                    SelectionContext {
                        hash_key: Some(hasher.finish()),
                        ..SelectionContext::default()
                    }
                }
                PeerUse::Plain | PeerUse::CountInFlight => SelectionContext::default(),
            };
            let Some(picked) = strategy.select(&nodes, &ctx) else {
                return black_box(0);
            };
            let node = &nodes[picked];
            match how {
                PeerUse::CountInFlight => {
                    node.in_flight.fetch_add(1, Ordering::Relaxed);
                    let port = u64::from(node.addr.port());
                    node.in_flight.fetch_sub(1, Ordering::Relaxed);
                    black_box(port)
                }
                PeerUse::Plain | PeerUse::HashKey => black_box(u64::from(node.addr.port())),
            }
        })
    });
}

fn loadwise_round_robin(c: &mut Criterion) {
    compare(c, "loadwise-round-robin", |group, n, keys| {
        let nodes = peer_nodes(n, |_| 1);
        bench_loadwise(group, peer::RoundRobin::new(), nodes, keys, PeerUse::Plain);
        bench_pickwise(group, "pickwise", n, keys, || pool(RoundRobin::new(), n));
    });
}

fn loadwise_weighted_round_robin(c: &mut Criterion) {
    compare(c, "loadwise-weighted-round-robin", |group, n, keys| {
        let nodes = peer_nodes(n, varied_weight);
        bench_loadwise(
            group,
            peer::WeightedRoundRobin::new(),
            nodes,
            keys,
            PeerUse::Plain,
        );
        bench_pickwise(group, "pickwise", n, keys, || {
            weighted_pool(WeightedRoundRobin::new(), n)
        });
    });
}

fn loadwise_p2c(c: &mut Criterion) {
    compare(c, "loadwise-p2c", |group, n, keys| {
        let nodes = peer_nodes(n, |_| 1);
        let how = PeerUse::CountInFlight;
        bench_loadwise(group, peer::PowerOfTwoChoices::new(), nodes, keys, how);
        bench_pickwise(group, "pickwise", n, keys, || pool(P2c::new(), n));
    });
}

fn loadwise_least_load(c: &mut Criterion) {
    compare(c, "loadwise-least-load", |group, n, keys| {
        let nodes = peer_nodes(n, |_| 1);
        let how = PeerUse::CountInFlight;
        bench_loadwise(group, peer::LeastLoad::new(), nodes, keys, how);
        bench_pickwise(group, "pickwise", n, keys, || {
            pool(LeastConnections::new(), n)
        });
    });
}

fn loadwise_consistent(c: &mut Criterion) {
    compare(c, "loadwise-consistent", |group, n, keys| {
        let nodes = peer_nodes(n, |_| 1);
        let how = PeerUse::HashKey;
        bench_loadwise(group, peer::ConsistentHash::default(), nodes, keys, how);
        bench_pickwise_hashes(group, n, keys);
    });
}

/// A backend's service that answers its port at once: a ready future.
fn no_op(
    port: u16,
) -> impl Service<
    (),
    Response = u16,
    Error = Infallible,
    Future = impl Future<Output = Result<u16, Infallible>> + Send,
> + Clone
       + Send
       + Sync
       + 'static {
    tower::service_fn(move |()| std::future::ready(Ok::<u16, Infallible>(port)))
}

/// One request through `service`: `poll_ready`, `call`, and the response
/// future polled once. Every backend answers at once, so anything but an
/// immediate answer is a broken bench, said as such.
fn one_request<S>(service: &mut S, cx: &mut TaskContext<'_>) -> u16
where
    S: Service<(), Response = u16>,
    S::Error: std::fmt::Debug,
{
    match service.poll_ready(cx) {
        Poll::Ready(Ok(())) => {}
        Poll::Ready(Err(e)) => panic!("the balancer failed its poll_ready: {e:?}"),
        Poll::Pending => panic!("the balancer is not ready over ready backends"),
    }
    let response = pin!(service.call(()));
    match response.poll(cx) {
        Poll::Ready(Ok(port)) => port,
        Poll::Ready(Err(e)) => panic!("a call to a no-op backend failed: {e:?}"),
        Poll::Pending => panic!("a no-op backend's response is pending"),
    }
}

fn tower_p2c(c: &mut Criterion) {
    let mut group = c.benchmark_group("tower-p2c");
    let mut cx = TaskContext::from_waker(Waker::noop());
    for n in SIZES {
        let ports = || (0..n).map(|i| 1 + i as u16);
        let list = tower::discover::ServiceList::new(ports().map(no_op).collect::<Vec<_>>());
        let load = tower::load::PendingRequestsDiscover::new(
            list,
            tower::load::CompleteOnResponse::default(),
        );
        let mut towers = tower::balance::p2c::Balance::new(load);
        group.bench_function(BenchmarkId::new("tower-p2c", n), |b| {
            b.iter(|| black_box(one_request(&mut towers, &mut cx)))
        });
        let backends = addresses(n)
            .into_iter()
            .zip(ports())
            .map(|(a, port)| BackendSpec::new(a, no_op(port)));
        let pool = Pool::new(P2c::new(), backends).expect("valid pool");
        let mut ours = pickwise::tower::Balance::new(pool);
        group.bench_function(BenchmarkId::new("pickwise-p2c", n), |b| {
            b.iter(|| black_box(one_request(&mut ours, &mut cx)))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    targets = round_robin, random, consistent, round_robin_two_threads, build_balancer, anatomy,
        loadwise_round_robin, loadwise_weighted_round_robin, loadwise_p2c, loadwise_least_load,
        loadwise_consistent, tower_p2c
}
criterion_main!(benches);
