//! The hash tables' own properties: ring points by weight and its balance,
//! Maglev's entries per backend, and a build with very unequal weights.

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{HashKey, MaglevTable, Ring};

const KEY: HashKey = HashKey::from_bytes(*b"pickwise-testkey");

#[test]
fn ring_points_follow_weights_and_are_capped() {
    let ring = Ring::new(&KEY, 160, [("a", 2), ("b", 1), ("c", 3)]).unwrap();
    assert_eq!(ring.points_per_backend(), vec![320, 160, 480]);
    let big = Ring::new(&KEY, 1000, [("a", 1_000_000), ("b", 1)]).unwrap();
    assert!(big.len() as u64 <= Ring::MAX_POINTS + 2, "{}", big.len());
    assert_eq!(
        big.points_per_backend()[1],
        1,
        "every backend keeps a point"
    );
    assert!(Ring::new(&KEY, 0, [("a", 1)]).is_err());
    assert!(Ring::new(&KEY, Ring::MAX_POINTS_PER_UNIT + 1, [("a", 1)]).is_err());
    assert!(Ring::new(&KEY, 10, [("a", 0)]).is_err());
}

#[test]
fn ring_balance_with_the_default_points() {
    // 10 equal backends at 160 points each: measure each one's share of
    // 100,000 random keys. Measured: 18.4% off at worst; allowed: 25%.
    let ids: Vec<String> = (0..10).map(|i| format!("backend-{i}")).collect();
    let ring = Ring::new(&KEY, 160, ids.iter().map(|id| (id.as_str(), 1))).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut counts = [0usize; 10];
    for _ in 0..100_000 {
        counts[ring.owner(rng.gen())] += 1;
    }
    let worst = counts
        .iter()
        .map(|&c| (c as f64 / 10_000.0 - 1.0).abs())
        .fold(0.0, f64::max);
    eprintln!("ring: worst relative deviation {worst:.3} {counts:?}");
    assert!(worst < 0.25, "{worst} {counts:?}");
}

fn entries_per_backend(table: &MaglevTable, n: usize) -> Vec<u64> {
    let mut counts = vec![0u64; n];
    for &owner in table.owners() {
        counts[owner as usize] += 1;
    }
    counts
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("node-{i}")).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn maglev_unweighted_owns_floor_or_ceil_of_m_over_n(
        n in 1usize..=1000,
        size in prop::sample::select(vec![1009u32, 4099, 10007]),
        key in any::<[u8; 16]>(),
    ) {
        prop_assume!(size as usize >= n);
        let ids = names(n);
        let table = MaglevTable::new(
            &HashKey::from_bytes(key),
            size,
            ids.iter().map(|id| (id.as_str(), 1)),
        ).unwrap();
        let (lo, hi) = (u64::from(size) / n as u64, u64::from(size).div_ceil(n as u64));
        for (i, c) in entries_per_backend(&table, n).into_iter().enumerate() {
            prop_assert!(c == lo || c == hi, "backend {} owns {} of {} (n = {})", i, c, size, n);
        }
    }

    /// Stated bound: |entries_i - M w_i / W| < 2 + N w_i / W, checked
    /// exactly as |entries_i W - M w_i| < 2 W + N w_i.
    #[test]
    fn maglev_weighted_is_within_the_stated_bound_of_each_share(
        weights in prop::collection::vec(1u64..100, 1..60),
        key in any::<[u8; 16]>(),
    ) {
        let size = 10007u32;
        let ids = names(weights.len());
        let table = MaglevTable::new(
            &HashKey::from_bytes(key),
            size,
            ids.iter().zip(&weights).map(|(id, &w)| (id.as_str(), w as u32)),
        ).unwrap();
        let total: u64 = weights.iter().sum();
        let n = weights.len() as u64;
        let m = u64::from(size);
        for (i, c) in entries_per_backend(&table, weights.len()).into_iter().enumerate() {
            let error = (c * total).abs_diff(m * weights[i]);
            prop_assert!(
                error < 2 * total + n * weights[i],
                "backend {} weight {} owns {}, share {:.1}",
                i, weights[i], c, (m * weights[i]) as f64 / total as f64
            );
        }
    }
}

#[test]
fn maglev_at_the_default_size() {
    for n in [1usize, 7, 100, 1000] {
        let ids = names(n);
        let table = MaglevTable::new(
            &KEY,
            MaglevTable::DEFAULT_SIZE,
            ids.iter().map(|id| (id.as_str(), 1)),
        )
        .unwrap();
        assert_eq!(table.size(), 65_537);
        let m = 65_537u64;
        for c in entries_per_backend(&table, n) {
            assert!(
                c == m / n as u64 || c == m.div_ceil(n as u64),
                "n = {n}: {c}"
            );
        }
    }
    // Weighted at the default size: the worst error measured, in entries.
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let weights: Vec<u32> = (0..100).map(|_| rng.gen_range(1..=10)).collect();
    let ids = names(100);
    let table = MaglevTable::new(
        &KEY,
        MaglevTable::DEFAULT_SIZE,
        ids.iter().zip(&weights).map(|(id, &w)| (id.as_str(), w)),
    )
    .unwrap();
    let total: u32 = weights.iter().sum();
    let worst = entries_per_backend(&table, 100)
        .iter()
        .zip(&weights)
        .map(|(&c, &w)| (c as f64 - 65_537.0 * f64::from(w) / f64::from(total)).abs())
        .fold(0.0, f64::max);
    eprintln!("maglev weighted, 100 backends at 65537: worst error {worst:.2} entries");
    assert!(worst < 2.0 + 100.0 * 10.0 / f64::from(total));
}

#[test]
fn maglev_builds_quickly_with_very_unequal_weights() {
    // 30,000 light backends and one a million times heavier: turn by turn
    // through every backend would take ~35,000 rounds of 30,001 backends.
    let ids = names(30_001);
    let started = std::time::Instant::now();
    let table = MaglevTable::new(
        &KEY,
        MaglevTable::DEFAULT_SIZE,
        ids.iter().enumerate().map(|(i, id)| {
            (
                id.as_str(),
                if i == 0 { crate::types::MAX_WEIGHT } else { 1 },
            )
        }),
    )
    .unwrap();
    let counts = entries_per_backend(&table, 30_001);
    assert_eq!(
        counts[0],
        65_537 - 30_000,
        "the light ones take one turn each"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
}

#[test]
fn a_small_maglev_table_splits_its_entries_evenly() {
    let key = HashKey::from_bytes([1; 16]);
    let table = MaglevTable::new(&key, 13, [("a", 1), ("b", 1), ("c", 1)]).unwrap();
    let mut counts = [0; 3];
    for &owner in table.owners() {
        counts[owner as usize] += 1;
    }
    counts.sort();
    assert_eq!(counts, [4, 4, 5]);
    assert!(
        MaglevTable::new(&key, 12, [("a", 1)]).is_err(),
        "12 is not prime"
    );
}

#[test]
fn a_ring_holds_points_by_weight_and_every_hash_has_an_owner() {
    let key = HashKey::from_bytes([7; 16]);
    let ring = Ring::new(&key, 100, [("a", 1), ("b", 3)]).unwrap();
    assert_eq!(ring.len(), 400);
    assert!(ring.owner(key.hash(b"user-42")) < 2);
}
