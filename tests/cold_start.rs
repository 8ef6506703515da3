//! Cold start: the latency strategies try a backend they have never measured.

use std::sync::Arc;
use std::time::Duration;

use pickwise::clock::ManualClock;
use pickwise::health::HealthConfig;
use pickwise::strategy::{PeakEwma, SdnAdaptive};
use pickwise::{BackendId, BackendSpec, Balancer, Context, FailureKind, Outcome, Pool, Strategy};

/// What the measured backends answer in: well below peak EWMA's 1 ms guess,
/// as on a local network.
const FAST: Duration = Duration::from_micros(200);

/// `n` backends `b0..` on a manual clock, passive health off so that only
/// the strategy decides.
fn pool<S: Strategy>(strategy: S, n: usize) -> (Pool<S, usize>, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new());
    let health = HealthConfig {
        consecutive_failures: 0,
        ..HealthConfig::default()
    };
    let specs = (0..n)
        .map(|i| BackendSpec::new(format!("b{i}"), i))
        .collect::<Vec<_>>();
    let pool = Pool::builder(strategy)
        .clock(clock.clone())
        .health(health)
        .build(specs)
        .expect("valid pool");
    (pool, clock)
}

/// Gives every backend but the last a latency sample: 20 sequential
/// requests each, answered in `FAST`, with the other backends excluded.
fn measure_all_but_last<S: Strategy>(pool: &Pool<S, usize>, clock: &ManualClock, n: usize) {
    for measured in 0..n - 1 {
        let others = (0..n)
            .filter(|&i| i != measured)
            .map(|i| BackendId::new(format!("b{i}")))
            .collect::<Vec<_>>();
        for _ in 0..20 {
            let mut pick = pool.pick(&Context::new().exclude(&others)).unwrap();
            assert_eq!(*pick.backend(), measured);
            clock.advance(FAST);
            pick.record(Outcome::success(FAST));
        }
    }
}

/// Sends `requests` sequential requests, each answered in `FAST`, and
/// counts them per backend.
fn sequential<S: Strategy>(
    pool: &Pool<S, usize>,
    clock: &ManualClock,
    n: usize,
    requests: usize,
) -> Vec<usize> {
    let mut counts = vec![0; n];
    for _ in 0..requests {
        let mut pick = pool.pick(&Context::new()).unwrap();
        counts[*pick.backend()] += 1;
        clock.advance(FAST);
        pick.record(Outcome::success(FAST));
    }
    counts
}

#[test]
fn peak_ewma_gives_a_never_measured_backend_its_share_of_sequential_requests() {
    // The first user's run: two backends measured at 200 µs, a third never
    // measured; 200 sequential requests used to give it none, because its
    // assumed 1 ms lost every comparison.
    let (pool, clock) = pool(PeakEwma::new().seeded(16), 3);
    measure_all_but_last(&pool, &clock, 3);
    let counts = sequential(&pool, &clock, 3, 200);
    // Once measured it is as fast as the others: about a third.
    assert!(
        counts[2] >= 40,
        "the never-measured backend b2 got {} of 200 sequential requests ({counts:?})",
        counts[2]
    );
}

#[test]
fn sdn_adaptive_gives_a_never_measured_backend_its_share_of_sequential_requests() {
    let (pool, clock) = pool(SdnAdaptive::new().seeded(16), 3);
    measure_all_but_last(&pool, &clock, 3);
    let counts = sequential(&pool, &clock, 3, 200);
    assert!(
        counts[2] >= 40,
        "the never-measured backend b2 got {} of 200 sequential requests ({counts:?})",
        counts[2]
    );
}

/// Over 32 fresh pools of one measured and one unmeasured backend, where the
/// first pick goes.
fn first_picks_to_the_unmeasured<S: Strategy>(strategy: impl Fn(u64) -> S) -> usize {
    (0..32)
        .filter(|&seed| {
            let (pool, clock) = pool(strategy(seed), 2);
            measure_all_but_last(&pool, &clock, 2);
            *pool.pick(&Context::new()).unwrap().backend() == 1
        })
        .count()
}

#[test]
fn peak_ewma_tries_an_unmeasured_backend_the_first_time_it_is_drawn() {
    assert_eq!(
        first_picks_to_the_unmeasured(|seed| PeakEwma::new().seeded(seed)),
        32,
        "the first pick against a backend measured at 200 µs must go to the unmeasured one"
    );
}

#[test]
fn sdn_adaptive_tries_an_unmeasured_backend_the_first_time_it_is_drawn() {
    // It used to be a coin: half the pools did not try the newcomer.
    assert_eq!(
        first_picks_to_the_unmeasured(|seed| SdnAdaptive::new().seeded(seed)),
        32,
        "the first pick against a measured backend must go to the unmeasured one"
    );
}

#[test]
fn an_unmeasured_backend_with_a_request_in_flight_is_not_flooded() {
    for (name, first) in [
        ("peak-ewma", first_of(PeakEwma::new().seeded(7))),
        ("sdn-adaptive", first_of(SdnAdaptive::new().seeded(7))),
    ] {
        assert_eq!(
            first, 0,
            "{name}: with its first request still in flight, the newcomer must lose to an idle measured backend"
        );
    }
}

/// One measured backend, one unmeasured holding a request: where the next
/// pick goes.
fn first_of<S: Strategy>(strategy: S) -> usize {
    let (pool, clock) = pool(strategy, 2);
    measure_all_but_last(&pool, &clock, 2);
    let held = pool.pick(&Context::new()).unwrap();
    assert_eq!(*held.backend(), 1, "the newcomer is tried first");
    let next = *pool.pick(&Context::new()).unwrap().backend();
    drop(held);
    next
}

#[test]
fn an_unmeasured_backend_that_fails_fast_is_not_tried_first_again() {
    for seed in 0..8 {
        let (pool, clock) = pool(PeakEwma::new().seeded(seed), 2);
        measure_all_but_last(&pool, &clock, 2);
        // The newcomer refuses connections: errors, never a latency sample.
        let mut pick = pool.pick(&Context::new()).unwrap();
        assert_eq!(
            *pick.backend(),
            1,
            "seed {seed}: the newcomer is tried first"
        );
        pick.record(Outcome::failure(
            FailureKind::ConnectRefused,
            Duration::from_micros(50),
        ));
        let counts = sequential(&pool, &clock, 2, 20);
        assert!(
            counts[1] <= 2,
            "seed {seed}: a backend that refused its connection got {} of 20 ({counts:?})",
            counts[1]
        );
    }
}
