mod common;

use std::time::Duration;

use loadwise::strategy::ResourceBased;
use loadwise::{BackendId, Balancer, Context, Pool, Strategy};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Picks `n` times (each pick released at once) and counts per backend.
fn shares<S: Strategy>(pool: &Pool<S, usize>, backends: usize, n: usize) -> Vec<usize> {
    let mut counts = vec![0; backends];
    for _ in 0..n {
        let pick = pool.pick(&Context::new()).unwrap();
        counts[*pick.backend()] += 1;
    }
    counts
}

fn id(i: usize) -> BackendId {
    BackendId::new(format!("b{i}"))
}

#[test]
fn resource_based_drain_gets_no_new_picks_even_when_stale() {
    let (pool, clock) = common::pool_with_clock(ResourceBased::new(), common::weighted(&[5, 1]));
    pool.apply_agent_reply(&id(0), b"drain").unwrap();
    assert_eq!(shares(&pool, 2, 1000), vec![0, 1000]);
    // A drain does not expire: an hour later it still holds.
    clock.advance(Duration::from_secs(3600));
    assert_eq!(shares(&pool, 2, 1000), vec![0, 1000]);
    pool.apply_agent_reply(&id(0), b"ready").unwrap();
    assert_eq!(shares(&pool, 2, 600), vec![500, 100]);
}

#[test]
fn resource_based_half_capacity_gives_half_the_configured_share() {
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_0003);
    for _round in 0..5 {
        let weights: Vec<u32> = (0..4).map(|_| rng.gen_range(1..=10)).collect();
        let halved = rng.gen_range(0..4);
        let (pool, _clock) =
            common::pool_with_clock(ResourceBased::new(), common::weighted(&weights));
        pool.apply_agent_reply(&id(halved), b"50%").unwrap();
        // Start the run at a random point of the smooth cycle.
        for _ in 0..rng.gen_range(0..100) {
            drop(pool.pick(&Context::new()).unwrap());
        }
        let n = rng.gen_range(5_000..20_000);
        let counts = shares(&pool, 4, n);
        let total: f64 =
            weights.iter().map(|&w| f64::from(w)).sum::<f64>() - f64::from(weights[halved]) / 2.0;
        let p = f64::from(weights[halved]) / 2.0 / total;
        let expected = n as f64 * p;
        let sigma = (n as f64 * p * (1.0 - p)).sqrt();
        let got = counts[halved] as f64;
        assert!(
            (got - expected).abs() <= 3.0 * sigma,
            "weights {weights:?}, b{halved} at 50%: {got} picks of {n}, expected {expected:.0} ± {:.0}",
            3.0 * sigma
        );
    }
}

#[test]
fn resource_based_stale_capacity_falls_back_to_the_configured_weight() {
    let (pool, clock) = common::pool_with_clock(ResourceBased::new(), common::weighted(&[2, 2]));
    pool.apply_agent_reply(&id(0), b"25%").unwrap();
    // 0.5 against 2: b0 gets a fifth.
    assert_eq!(shares(&pool, 2, 1000), vec![200, 800]);
    clock.advance(Duration::from_secs(11));
    assert_eq!(shares(&pool, 2, 1000), vec![500, 500]);
}
