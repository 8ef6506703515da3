mod common;

use pickwise::strategy::WeightedRoundRobin;
use pickwise::{Balancer, Context, Pool};
use proptest::prelude::*;

/// nginx's smooth weighted round robin, written plainly: the reference.
fn nginx_sequence(weights: &[i64], picks: usize) -> Vec<usize> {
    let mut current = vec![0i64; weights.len()];
    let total: i64 = weights.iter().sum();
    (0..picks)
        .map(|_| {
            let mut best = 0;
            for i in 0..weights.len() {
                current[i] += weights[i];
                if current[i] > current[best] {
                    best = i;
                }
            }
            current[best] -= total;
            best
        })
        .collect()
}

fn sequence(pool: &Pool<WeightedRoundRobin, usize>, picks: usize) -> Vec<usize> {
    (0..picks)
        .map(|_| *pool.pick(&Context::new()).unwrap().backend())
        .collect()
}

#[test]
fn matches_the_known_nginx_example() {
    let pool = Pool::new(WeightedRoundRobin::new(), common::weighted(&[5, 1, 1])).unwrap();
    assert_eq!(sequence(&pool, 7), vec![0, 0, 1, 0, 2, 0, 0]);
}

proptest! {
    #[test]
    fn equals_the_nginx_reference(weights in prop::collection::vec(1u32..50, 1..12), picks in 0usize..600) {
        let pool = Pool::new(WeightedRoundRobin::new(), common::weighted(&weights)).unwrap();
        let reference = nginx_sequence(&weights.iter().map(|&w| i64::from(w)).collect::<Vec<_>>(), picks);
        prop_assert_eq!(sequence(&pool, picks), reference);
    }

    #[test]
    fn every_window_gives_each_backend_its_weight(weights in prop::collection::vec(1u32..20, 1..10), windows in 1usize..5) {
        let pool = Pool::new(WeightedRoundRobin::new(), common::weighted(&weights)).unwrap();
        let total: u32 = weights.iter().sum();
        for _ in 0..windows {
            let mut counts = vec![0u32; weights.len()];
            for i in sequence(&pool, total as usize) {
                counts[i] += 1;
            }
            prop_assert_eq!(&counts, &weights);
        }
    }
}

#[test]
fn follows_weight_changes_made_by_an_update() {
    let pool = Pool::new(WeightedRoundRobin::new(), common::weighted(&[1, 1])).unwrap();
    pool.update(common::weighted(&[3, 1])).unwrap();
    let mut counts = [0; 2];
    for i in sequence(&pool, 40) {
        counts[i] += 1;
    }
    assert_eq!(counts, [30, 10]);
}
