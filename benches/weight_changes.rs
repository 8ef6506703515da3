//! What a pick costs while weights move: weighted round robin over 256
//! backends with large weights of no common factor (each schedule build is
//! near the build budget, about 10 ms), one thread applying an agent's
//! `weight:N` to a random backend 100 times a second, one thread picking
//! and timing every pick. Prints the picks' latency percentiles, the
//! slowest, and how many took over 1 ms.
//!
//! ```text
//! cargo bench --bench weight_changes            # 5 s
//! cargo bench --bench weight_changes -- 20      # 20 s
//! cargo bench --bench weight_changes -- 20 0    # 20 s, weights still
//! ```
//!
//! Run as a test (`cargo test --benches`), it runs for 0.3 s and checks
//! only that picks went on.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pickwise::strategy::WeightedRoundRobin;
use pickwise::{BackendId, BackendSpec, Balancer, Context, Pool};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const BACKENDS: usize = 256;

/// Latencies in log-linear buckets: 32 per power of two, 1 ns to 2^40 ns.
struct Histogram {
    buckets: Vec<u64>,
    count: u64,
    max: u64,
}

impl Histogram {
    const SUB: u64 = 32;

    fn new() -> Self {
        Histogram {
            buckets: vec![0; 41 * Self::SUB as usize],
            count: 0,
            max: 0,
        }
    }

    fn index(ns: u64) -> usize {
        let ns = ns.max(1);
        let power = 63 - ns.leading_zeros() as u64;
        let sub = if power >= 5 {
            (ns >> (power - 5)) & (Self::SUB - 1)
        } else {
            ns & (Self::SUB - 1)
        };
        (power * Self::SUB + sub) as usize
    }

    fn value(index: usize) -> u64 {
        let (power, sub) = (index as u64 / Self::SUB, index as u64 % Self::SUB);
        if power >= 5 {
            (Self::SUB + sub) << (power - 5)
        } else {
            sub.max(1)
        }
    }

    fn record(&mut self, ns: u64) {
        let i = Self::index(ns).min(self.buckets.len() - 1);
        self.buckets[i] += 1;
        self.count += 1;
        self.max = self.max.max(ns);
    }

    fn quantile(&self, q: f64) -> u64 {
        let rank = (q * self.count as f64).ceil() as u64;
        let mut seen = 0;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank.max(1) {
                return Self::value(i);
            }
        }
        self.max
    }

    fn above(&self, ns: u64) -> u64 {
        self.buckets
            .iter()
            .enumerate()
            .filter(|&(i, _)| Self::value(i) > ns)
            .map(|(_, &n)| n)
            .sum()
    }
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let numbers: Vec<f64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let seconds = numbers
        .first()
        .copied()
        .unwrap_or(if bench { 5.0 } else { 0.3 });
    // Weight changes a second (0: the agent replies repeat the weights).
    let per_second = numbers.get(1).copied().unwrap_or(100.0);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let weights: Vec<u32> = (0..BACKENDS).map(|_| rng.gen_range(180..300)).collect();
    let specs: Vec<BackendSpec<usize>> = (0..BACKENDS)
        .map(|i| BackendSpec::new(format!("b{i}"), i).weight(weights[i]))
        .collect();
    let pool = Arc::new(Pool::new(WeightedRoundRobin::new(), specs).expect("valid set"));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (pool, stop) = (pool.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut rng = ChaCha8Rng::seed_from_u64(11);
            let every = Duration::from_secs_f64(1.0 / per_second.max(100.0));
            let mut next = Instant::now();
            let mut changes = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let backend = rng.gen_range(0..BACKENDS);
                let id = BackendId::new(format!("b{backend}"));
                let weight = match per_second > 0.0 {
                    true => rng.gen_range(180..300),
                    false => weights[backend],
                };
                let reply = format!("weight:{weight}");
                pool.apply_agent_reply(&id, reply.as_bytes())
                    .expect("a known backend");
                changes += 1;
                next += every;
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            changes
        })
    };
    let mut histogram = Histogram::new();
    let ctx = Context::new();
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(seconds);
    let mut now = started;
    while now < until {
        let pick = pool.pick(&ctx);
        std::hint::black_box(pick.ok());
        let after = Instant::now();
        histogram.record(after.duration_since(now).as_nanos() as u64);
        now = after;
    }
    stop.store(true, Ordering::Relaxed);
    let changes = writer.join().expect("the writer thread");
    assert!(histogram.count > 1000, "picks went on: {}", histogram.count);
    println!(
        "weighted-round-robin/{BACKENDS}, {changes} agent replies ({per_second} weight changes a second) in {seconds} s, {} picks",
        histogram.count
    );
    for (name, q) in [
        ("p50", 0.5),
        ("p99", 0.99),
        ("p99.9", 0.999),
        ("p99.99", 0.9999),
    ] {
        println!("  {name:>7}: {:>10} ns", histogram.quantile(q));
    }
    println!("  {:>7}: {:>10} ns", "max", histogram.max);
    println!("  picks over 1 ms: {}", histogram.above(1_000_000));
}
