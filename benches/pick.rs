//! What a pick costs: pick plus drop of the guard, for every strategy at 4,
//! 64 and 1024 backends, on one thread and on two threads sharing one pool,
//! through `Pool::pick` (`pick/...`, an owned guard) and through a
//! per-thread `Picker` (`picker/...`, a borrowed guard); what replacing
//! the set costs while another thread picks; and what a production set
//! (caps on every backend, or a backup tier) adds to a pick
//! (`pool/production/...`); and the least-loaded strategies with every
//! backend busy (`picker/1thread-busy/...`, the same pick and drop every
//! time; `pick/1thread-busy-churn/...`, two requests on every backend and
//! each pick replacing one that ends anywhere in the set, as in a busy
//! proxy).
//!
//! ```text
//! cargo bench --bench pick
//! cargo bench --bench pick -- 'pick/1thread/round-robin'
//! cargo bench --bench pick -- 'pool/production'
//! ```

use std::hint::black_box;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use pickwise::hash::HashKey;
use pickwise::strategy::{AnyStrategy, StrategyKind, StrategyOptions};
use pickwise::{BackendSpec, Balancer, Context, Pool};

const SIZES: [usize; 3] = [4, 64, 1024];
const KEYS: usize = 4096;

fn pool(kind: StrategyKind, n: usize) -> Pool<AnyStrategy, u32> {
    let options = StrategyOptions {
        hash_key: Some(HashKey::from_bytes([7; 16])),
        seed: None,
        v6_prefix: None,
        load_report_blackout: None,
    };
    let backends =
        (0..n).map(|i| BackendSpec::new(format!("10.0.{}.{}:80", i / 256, i % 256), i as u32));
    Pool::new(AnyStrategy::with_options(kind, &options), backends).expect("valid pool")
}

/// How a production set differs from a plain one.
#[derive(Clone, Copy)]
enum Shape {
    /// One tier, no caps: the same set as the other groups.
    Plain,
    /// A `max_conns` cap on every backend, never reached.
    Capped,
    /// Half the backends primaries, half backups, all available.
    Tiered,
}

impl Shape {
    const ALL: [Shape; 3] = [Shape::Plain, Shape::Capped, Shape::Tiered];

    fn name(self) -> &'static str {
        match self {
            Shape::Plain => "one-tier",
            Shape::Capped => "capped",
            Shape::Tiered => "two-tiers",
        }
    }

    fn pool(self, kind: StrategyKind, n: usize) -> Pool<AnyStrategy, u32> {
        let pool = pool(kind, n);
        let specs = pool
            .specs()
            .into_iter()
            .enumerate()
            .map(|(i, spec)| match self {
                Shape::Plain => spec,
                Shape::Capped => spec.max_conns(1_000_000),
                Shape::Tiered if i >= n / 2 => spec.backup(),
                Shape::Tiered => spec,
            });
        pool.update(specs.collect::<Vec<_>>())
            .expect("valid update");
        let tiers = if matches!(self, Shape::Tiered) { 2 } else { 1 };
        assert_eq!(pool.tiers().len(), tiers);
        pool
    }
}

/// Varied request keys and client addresses, generated before timing.
struct Requests {
    keys: Vec<[u8; 8]>,
    clients: Vec<IpAddr>,
}

impl Requests {
    fn new() -> Self {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let keys = (0..KEYS).map(|_| next().to_le_bytes()).collect();
        let clients = (0..KEYS)
            .map(|_| IpAddr::from((next() as u32).to_be_bytes()))
            .collect();
        Requests { keys, clients }
    }

    #[inline]
    fn context(&self, i: usize) -> Context<'_> {
        let i = i % KEYS;
        Context::new().key(&self.keys[i]).client(self.clients[i])
    }
}

fn one_thread(c: &mut Criterion) {
    let requests = Requests::new();
    let mut group = c.benchmark_group("pick/1thread");
    for &kind in StrategyKind::ALL {
        for n in SIZES {
            let pool = pool(kind, n);
            let mut i = 0usize;
            group.bench_function(BenchmarkId::new(kind.name(), n), |b| {
                b.iter(|| {
                    i = i.wrapping_add(1);
                    let pick = pool.pick(&requests.context(i));
                    black_box(pick.map_or(u32::MAX, |p| *p.backend()))
                })
            });
        }
    }
    group.finish();
}

/// The same through a per-thread [`pickwise::Picker`]: a borrowed guard, no
/// shared reference count.
fn one_thread_picker(c: &mut Criterion) {
    let requests = Requests::new();
    let mut group = c.benchmark_group("picker/1thread");
    for &kind in StrategyKind::ALL {
        for n in SIZES {
            let pool = pool(kind, n);
            let mut picker = pool.picker();
            let mut i = 0usize;
            group.bench_function(BenchmarkId::new(kind.name(), n), |b| {
                b.iter(|| {
                    i = i.wrapping_add(1);
                    let pick = picker.pick(&requests.context(i));
                    black_box(pick.map_or(u32::MAX, |p| *p.backend()))
                })
            });
        }
    }
    group.finish();
}

/// Two threads pick from one shared pool; the time reported is per pick per
/// thread, so perfect scaling shows the same figure as one thread.
fn two_threads(c: &mut Criterion) {
    let requests = Arc::new(Requests::new());
    let mut group = c.benchmark_group("pick/2threads");
    for &kind in StrategyKind::ALL {
        for n in SIZES {
            let pool = Arc::new(pool(kind, n));
            group.bench_function(BenchmarkId::new(kind.name(), n), |b| {
                b.iter_custom(|iters| {
                    let barrier = Arc::new(Barrier::new(2));
                    let threads: Vec<_> = (0..2)
                        .map(|t| {
                            let (pool, requests, barrier) =
                                (pool.clone(), requests.clone(), barrier.clone());
                            std::thread::spawn(move || {
                                barrier.wait();
                                let started = Instant::now();
                                for i in 0..iters as usize {
                                    let pick = pool.pick(&requests.context(i * 2 + t));
                                    black_box(pick.map_or(u32::MAX, |p| *p.backend()));
                                }
                                started.elapsed()
                            })
                        })
                        .collect();
                    let times: Vec<Duration> =
                        threads.into_iter().map(|t| t.join().unwrap()).collect();
                    times.into_iter().max().unwrap_or_default()
                })
            });
        }
    }
    group.finish();
}

/// Two threads, each with its own [`pickwise::Picker`] on one shared pool.
fn two_threads_picker(c: &mut Criterion) {
    let requests = Arc::new(Requests::new());
    let mut group = c.benchmark_group("picker/2threads");
    for &kind in StrategyKind::ALL {
        for n in SIZES {
            let pool = Arc::new(pool(kind, n));
            group.bench_function(BenchmarkId::new(kind.name(), n), |b| {
                b.iter_custom(|iters| {
                    let barrier = Barrier::new(2);
                    std::thread::scope(|scope| {
                        let threads: Vec<_> = (0..2)
                            .map(|t| {
                                let (pool, requests, barrier) = (&pool, &requests, &barrier);
                                scope.spawn(move || {
                                    let mut picker = pool.picker();
                                    barrier.wait();
                                    let started = Instant::now();
                                    for i in 0..iters as usize {
                                        let pick = picker.pick(&requests.context(i * 2 + t));
                                        black_box(pick.map_or(u32::MAX, |p| *p.backend()));
                                    }
                                    started.elapsed()
                                })
                            })
                            .collect();
                        let times = threads.into_iter().map(|t| t.join().unwrap());
                        times.max().unwrap_or_default()
                    })
                })
            });
        }
    }
    group.finish();
}

/// Round robin and least connections at 64 backends, one thread, through
/// `Pool::pick` (`pick`) and a `Picker` (`picker`): the plain set (the
/// figures of `pick/1thread`), caps on every backend (admission by
/// compare-and-swap, counts kept even for round robin), and two tiers.
fn production(c: &mut Criterion) {
    const N: usize = 64;
    let requests = Requests::new();
    let mut group = c.benchmark_group("pool/production");
    for kind in [StrategyKind::RoundRobin, StrategyKind::LeastConnections] {
        for shape in Shape::ALL {
            let pool = shape.pool(kind, N);
            let name = format!("{}/{}", kind.name(), shape.name());
            let mut i = 0usize;
            group.bench_function(BenchmarkId::new(format!("pick/{name}"), N), |b| {
                b.iter(|| {
                    i = i.wrapping_add(1);
                    let pick = pool.pick(&requests.context(i));
                    black_box(pick.map_or(u32::MAX, |p| *p.backend()))
                })
            });
            let mut picker = pool.picker();
            group.bench_function(BenchmarkId::new(format!("picker/{name}"), N), |b| {
                b.iter(|| {
                    i = i.wrapping_add(1);
                    let pick = picker.pick(&requests.context(i));
                    black_box(pick.map_or(u32::MAX, |p| *p.backend()))
                })
            });
        }
    }
    group.finish();
}

/// The least-loaded strategies when no backend is idle, through a
/// `Picker`: one pick held on every backend before timing, so that a pick
/// cannot stop at an idle backend and reads every count (the O(N) case;
/// the other groups time the idle case, where a pick stops at the first
/// idle backend).
fn busy(c: &mut Criterion) {
    let requests = Requests::new();
    let mut group = c.benchmark_group("picker/1thread-busy");
    let kinds = [
        StrategyKind::LeastConnections,
        StrategyKind::WeightedLeastConnections,
        StrategyKind::ResourceBased,
    ];
    for kind in kinds {
        for n in [64, 1024] {
            let pool = pool(kind, n);
            let held: Vec<_> = (0..n)
                .map(|_| pool.pick(&Context::new()).expect("a backend"))
                .collect();
            assert!(pool.backends().iter().all(|b| b.in_flight == Some(1)));
            let mut picker = pool.picker();
            let mut i = 0usize;
            group.bench_function(BenchmarkId::new(kind.name(), n), |b| {
                b.iter(|| {
                    i = i.wrapping_add(1);
                    let pick = picker.pick(&requests.context(i));
                    black_box(pick.map_or(u32::MAX, |p| *p.backend()))
                })
            });
            drop(picker);
            drop(held);
        }
    }
    group.finish();
}

/// The least-loaded strategies over a busy set that churns: two picks held
/// on every backend, and each iteration ends one of them (chosen by a
/// xorshift stream, so anywhere in the set) and takes a new owned pick.
/// The least loaded backend is then the one a request just left, which a
/// scan from a rotating start meets after N/2 counts on average.
fn busy_churn(c: &mut Criterion) {
    let mut group = c.benchmark_group("pick/1thread-busy-churn");
    let kinds = [
        StrategyKind::LeastConnections,
        StrategyKind::WeightedLeastConnections,
        StrategyKind::ResourceBased,
    ];
    for kind in kinds {
        for n in [64, 1024] {
            let pool = pool(kind, n);
            let mut held: Vec<_> = (0..2 * n)
                .map(|_| pool.pick(&Context::new()).expect("a backend"))
                .collect();
            let mut state = 0x9E37_79B9_7F4A_7C15u64;
            group.bench_function(BenchmarkId::new(kind.name(), n), |b| {
                b.iter(|| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let at = (state % held.len() as u64) as usize;
                    let pick = pool.pick(&Context::new()).expect("a backend");
                    black_box(*pick.backend());
                    drop(std::mem::replace(&mut held[at], pick));
                })
            });
        }
    }
    group.finish();
}

/// `Pool::update` with 64 backends while another thread keeps picking.
fn update_while_picking(c: &mut Criterion) {
    let mut group = c.benchmark_group("update/64");
    for &kind in StrategyKind::ALL {
        let pool = Arc::new(pool(kind, 64));
        let stop = Arc::new(AtomicBool::new(false));
        let picker = {
            let (pool, stop) = (pool.clone(), stop.clone());
            std::thread::spawn(move || {
                let requests = Requests::new();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    black_box(pool.pick(&requests.context(i)).ok());
                }
            })
        };
        let specs: Vec<Vec<BackendSpec<u32>>> = (0..2)
            .map(|round| {
                (0..64)
                    .map(|i| {
                        BackendSpec::new(format!("10.0.0.{i}:80"), i).weight(1 + (i + round) % 3)
                    })
                    .collect()
            })
            .collect();
        let mut round = 0;
        group.bench_function(kind.name(), |b| {
            b.iter(|| {
                round += 1;
                pool.update(specs[round % 2].clone()).expect("valid update")
            })
        });
        stop.store(true, Ordering::Relaxed);
        picker.join().unwrap();
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
    targets = one_thread, one_thread_picker, two_threads, two_threads_picker, update_while_picking, production, busy, busy_churn
}
criterion_main!(benches);
