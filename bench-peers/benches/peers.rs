//! pickwise beside pingora-load-balancing, side by side in one criterion
//! group per comparison, over the identical backend set (`10.0.X.Y:80`,
//! weight 1) at 4, 64 and 1024 backends:
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
//!   show where its time goes on this machine.
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

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use pickwise::hash::HashKey;
use pickwise::strategy::{Maglev, Random, RingHash, RoundRobin};
use pickwise::{BackendSpec, Balancer, Context, Pool, Strategy};
use pingora_load_balancing::selection::{self, BackendSelection};
use pingora_load_balancing::{Backend, LoadBalancer};

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

/// Times pingora's select and pickwise's pick + drop on the same keys.
macro_rules! side_by_side {
    ($group:expr, $name:expr, $n:expr, $keys:expr, pingora: $lb:expr) => {{
        let lb = $lb;
        let keys = $keys;
        let mut i = 0usize;
        $group.bench_function(BenchmarkId::new($name, $n), |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                let key = &keys[i % KEYS];
                black_box(
                    lb.select(key, MAX_ITERATIONS)
                        .map_or(0, |b| b.weight as u64),
                )
            })
        });
    }};
    ($group:expr, $name:expr, $n:expr, $keys:expr, pickwise: $pool:expr) => {{
        let pool = $pool;
        let keys = $keys;
        let mut i = 0usize;
        $group.bench_function(BenchmarkId::new($name, $n), |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                let key = &keys[i % KEYS];
                let pick = pool.pick(&Context::new().key(key));
                black_box(pick.map_or(0, |p| u64::from(p.backend().port())))
            })
        });
    }};
    ($group:expr, $name:expr, $n:expr, $keys:expr, picker: $pool:expr) => {{
        let pool = $pool;
        let mut picker = pool.picker();
        let keys = $keys;
        let mut i = 0usize;
        $group.bench_function(BenchmarkId::new($name, $n), |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                let key = &keys[i % KEYS];
                let pick = picker.pick(&Context::new().key(key));
                black_box(pick.map_or(0, |p| u64::from(p.backend().port())))
            })
        });
    }};
}

fn round_robin(c: &mut Criterion) {
    let keys = keys();
    let mut group = c.benchmark_group("round-robin");
    for n in SIZES {
        side_by_side!(group, "pingora", n, &keys, pingora: pingora::<selection::RoundRobin>(n));
        side_by_side!(group, "pickwise", n, &keys, pickwise: pool(RoundRobin::new(), n));
        side_by_side!(group, "pickwise-picker", n, &keys, picker: pool(RoundRobin::new(), n));
    }
    group.finish();
}

fn random(c: &mut Criterion) {
    let keys = keys();
    let mut group = c.benchmark_group("random");
    for n in SIZES {
        side_by_side!(group, "pingora", n, &keys, pingora: pingora::<selection::Random>(n));
        side_by_side!(group, "pickwise", n, &keys, pickwise: pool(Random::new(), n));
        side_by_side!(group, "pickwise-picker", n, &keys, picker: pool(Random::new(), n));
    }
    group.finish();
}

fn consistent(c: &mut Criterion) {
    let keys = keys();
    let mut group = c.benchmark_group("consistent");
    for n in SIZES {
        side_by_side!(group, "pingora-ketama", n, &keys, pingora: pingora::<selection::Consistent>(n));
        side_by_side!(group, "pickwise-ring-hash", n, &keys,
            pickwise: pool(RingHash::new().with_key(hash_key()), n));
        side_by_side!(group, "pickwise-maglev", n, &keys,
            pickwise: pool(Maglev::new().with_key(hash_key()), n));
        side_by_side!(group, "pickwise-ring-hash-picker", n, &keys,
            picker: pool(RingHash::new().with_key(hash_key()), n));
        side_by_side!(group, "pickwise-maglev-picker", n, &keys,
            picker: pool(Maglev::new().with_key(hash_key()), n));
    }
    group.finish();
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

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    targets = round_robin, random, consistent, round_robin_two_threads, build_balancer, anatomy
}
criterion_main!(benches);
