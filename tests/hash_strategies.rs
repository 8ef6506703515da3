//! The hash strategies: agreement across set orders, exclusions, what moves
//! when a backend goes, and the balance of their tables.

mod common;

use std::collections::HashMap;

use pickwise::hash::HashKey;
use pickwise::strategy::{AnyStrategy, StrategyKind, StrategyOptions};
use pickwise::strategy::{BoundedLoad, Maglev};
use pickwise::{AdminState, BackendId, BackendSpec, Balancer, Context, Pick, Pool, Reason};
use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const KEY: HashKey = HashKey::from_bytes(*b"pickwise-testkey");

const HASH_KINDS: &[StrategyKind] = &[
    StrategyKind::Rendezvous,
    StrategyKind::RingHash,
    StrategyKind::Maglev,
    StrategyKind::BoundedLoad,
];

fn strategy(kind: StrategyKind) -> AnyStrategy {
    AnyStrategy::with_options(
        kind,
        &StrategyOptions {
            hash_key: Some(KEY),
            seed: Some(1),
            v6_prefix: None,
            load_report_blackout: None,
        },
    )
}

fn pool(kind: StrategyKind, specs: Vec<BackendSpec<usize>>) -> Pool<AnyStrategy, usize> {
    Pool::new(strategy(kind), specs).expect("valid pool")
}

fn keys(n: usize) -> Vec<Vec<u8>> {
    (0..n).map(|k| format!("key-{k}").into_bytes()).collect()
}

/// Where each key goes (each pick dropped at once, so load never matters).
fn mapping(pool: &Pool<AnyStrategy, usize>, keys: &[Vec<u8>]) -> Vec<BackendId> {
    keys.iter()
        .map(|k| pool.pick(&Context::new().key(k)).unwrap().id().clone())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn shuffled_sets_map_every_key_identically(
        weights in prop::collection::vec(1u32..5, 1..24),
        seed in any::<u64>(),
    ) {
        let specs = common::weighted(&weights);
        let mut shuffled = specs.clone();
        shuffled.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let keys = keys(500);
        for &kind in HASH_KINDS {
            let a = mapping(&pool(kind, specs.clone()), &keys);
            let b = mapping(&pool(kind, shuffled.clone()), &keys);
            prop_assert!(a == b, "{} maps differently after a shuffle", kind);
        }
    }

    #[test]
    fn a_retry_excluding_the_first_pick_lands_elsewhere(
        n in 2usize..12,
        key in prop::collection::vec(any::<u8>(), 0..16),
    ) {
        for &kind in HASH_KINDS {
            let pool = pool(kind, common::equal(n));
            let first = pool.pick(&Context::new().key(&key)).unwrap().id().clone();
            let excluded = [first.clone()];
            let retry = pool.pick(&Context::new().key(&key).exclude(&excluded)).unwrap();
            prop_assert_ne!(retry.id(), &first, "{}", kind);
        }
    }

    /// Ring hash and rendezvous: removing a backend moves its keys and no
    /// other (a key moves if and only if it was on the removed backend).
    #[test]
    fn removing_a_backend_moves_only_its_keys(
        weights in prop::collection::vec(1u32..5, 2..16),
        removed in any::<prop::sample::Index>(),
    ) {
        let specs = common::weighted(&weights);
        let gone = removed.index(specs.len());
        let gone_id = specs[gone].id.clone();
        let rest: Vec<_> = specs.iter().filter(|s| s.id != gone_id).cloned().collect();
        let keys = keys(3_000);
        for kind in [StrategyKind::Rendezvous, StrategyKind::RingHash] {
            let before = mapping(&pool(kind, specs.clone()), &keys);
            let after = mapping(&pool(kind, rest.clone()), &keys);
            for (b, a) in before.iter().zip(&after) {
                prop_assert_eq!(b != a, *b == gone_id, "{}: {} -> {}", kind, b, a);
            }
        }
    }
}

#[test]
fn rendezvous_treats_a_down_backend_exactly_as_a_removed_one() {
    let specs = common::weighted(&[1, 2, 3, 1, 2, 3, 1, 2]);
    let rest: Vec<_> = specs
        .iter()
        .filter(|s| s.id.as_str() != "b5")
        .cloned()
        .collect();
    let with_down = pool(StrategyKind::Rendezvous, specs);
    assert!(with_down.set_state(
        &BackendId::new("b5"),
        AdminState::Down,
        Reason::Admin("test".into())
    ));
    let keys = keys(5_000);
    assert_eq!(
        mapping(&with_down, &keys),
        mapping(&pool(StrategyKind::Rendezvous, rest), &keys)
    );
}

#[test]
fn keys_spread_by_weight() {
    let weights = [1, 2, 3, 4];
    let keys = keys(40_000);
    for &kind in HASH_KINDS {
        let pool = pool(kind, common::weighted(&weights));
        let mut counts: HashMap<BackendId, usize> = HashMap::new();
        for id in mapping(&pool, &keys) {
            *counts.entry(id).or_default() += 1;
        }
        for (i, &w) in weights.iter().enumerate() {
            let share = counts[&BackendId::new(format!("b{i}"))] as f64 / 40_000.0;
            let want = f64::from(w) / 10.0;
            eprintln!("{kind}: b{i} {share:.4} vs {want}");
            // Rendezvous is exact in expectation (sampling noise ~0.25%),
            // Maglev to a few entries of 65,537; a 160-point-per-unit ring
            // (and bounded load on an idle set, which is that ring) is off
            // by a few percent.
            let tolerance = match kind {
                StrategyKind::RingHash | StrategyKind::BoundedLoad => 0.04,
                _ => 0.01,
            };
            assert!(
                (share - want).abs() < tolerance,
                "{kind} b{i}: {share} vs {want}"
            );
        }
    }
}

#[test]
fn clients_fall_back_to_their_address_and_keyless_requests_spread() {
    for &kind in HASH_KINDS {
        let pool = pool(kind, common::equal(8));
        let v6a = "2001:db8:1:2::10".parse().unwrap();
        let v6b = "2001:db8:1:2:ffff::99".parse().unwrap();
        let first = pool.pick(&Context::new().client(v6a)).unwrap().id().clone();
        for _ in 0..20 {
            // Same /64: same backend, every time.
            assert_eq!(pool.pick(&Context::new().client(v6b)).unwrap().id(), &first);
        }
        let mut seen = std::collections::HashSet::new();
        for _ in 0..400 {
            seen.insert(pool.pick(&Context::new()).unwrap().id().clone());
        }
        assert_eq!(seen.len(), 8, "{kind}: keyless requests spread");
    }
}

#[test]
fn maglev_rejects_bad_sizes() {
    assert!(Pool::new(Maglev::new().size(65_536), common::equal(3)).is_err());
    assert!(Pool::new(Maglev::new().size(1), common::equal(1)).is_err());
    assert!(Pool::new(Maglev::new().size(5), common::equal(6)).is_err());
    assert!(Pool::new(Maglev::new().size(Maglev::MAX_SIZE + 1), common::equal(3)).is_err());
    assert!(Pool::new(Maglev::new().size(7), common::equal(7)).is_ok());
}

/// Removing one of N backends: the share of 10,000 keys remapped. Ideal is
/// 1/N (the removed backend's keys); Maglev moves some others too. Measured
/// at M = 65,537: at most 0.63 points of percentage above 1/N (N = 50);
/// stated bound: at most 1/N + 1.5% of all keys move.
#[test]
fn maglev_removal_remaps_little_more_than_the_removed_share() {
    let keys = keys(10_000);
    for n in [5usize, 10, 50] {
        let specs = common::equal(n);
        let before = mapping(&pool(StrategyKind::Maglev, specs.clone()), &keys);
        let mut worst: f64 = 0.0;
        for gone in [0, n / 2, n - 1] {
            let gone_id = specs[gone].id.clone();
            let rest: Vec<_> = specs.iter().filter(|s| s.id != gone_id).cloned().collect();
            let after = mapping(&pool(StrategyKind::Maglev, rest), &keys);
            let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
            let share = moved as f64 / keys.len() as f64;
            eprintln!(
                "maglev n = {n}: removing b{gone} remaps {share:.4} (ideal {:.4})",
                1.0 / n as f64
            );
            worst = worst.max(share - 1.0 / n as f64);
        }
        assert!(worst < 0.015, "n = {n}: {worst} above 1/N");
    }
}

#[derive(Debug, Clone)]
enum LoadOp {
    /// Pick with this key (a few keys, so some get hot).
    Pick(u8),
    /// Drop the held pick at this position (modulo their number).
    Drop(usize),
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every pick lands on a backend under its bound, computed here from
    /// the test's own model: in_flight_i < ceil(1.25 (T + 1) w_i / W),
    /// i.e. 4 in_flight_i W < 5 (T + 1) w_i.
    #[test]
    fn bounded_load_never_picks_a_backend_at_its_bound(
        weights in prop::collection::vec(1u64..5, 1..10),
        ops in prop::collection::vec(
            prop_oneof![3 => (0u8..6).prop_map(LoadOp::Pick), 2 => any::<usize>().prop_map(LoadOp::Drop)],
            1..300,
        ),
    ) {
        let specs = common::weighted(&weights.iter().map(|&w| w as u32).collect::<Vec<_>>());
        let pool = pool(StrategyKind::BoundedLoad, specs);
        let total_weight: u64 = weights.iter().sum();
        let mut model = vec![0u64; weights.len()];
        let mut held: Vec<Pick<usize>> = Vec::new();
        for op in &ops {
            match op {
                LoadOp::Pick(key) => {
                    let pick = pool.pick(&Context::new().key(&[*key])).unwrap();
                    let i = *pick.backend();
                    let total: u64 = model.iter().sum();
                    prop_assert!(
                        4 * model[i] * total_weight < 5 * (total + 1) * weights[i],
                        "picked {} with loads {:?} weights {:?}", i, model, weights
                    );
                    model[i] += 1;
                    held.push(pick);
                }
                LoadOp::Drop(at) if !held.is_empty() => {
                    let pick = held.swap_remove(at % held.len());
                    model[*pick.backend()] -= 1;
                }
                LoadOp::Drop(_) => {}
            }
        }
    }
}

#[test]
fn bounded_load_spills_a_hot_key_and_keeps_it_home_when_idle() {
    let specs = common::equal(4);
    let ring = mapping(&pool(StrategyKind::RingHash, specs.clone()), &keys(2_000));
    let bounded = pool(StrategyKind::BoundedLoad, specs);
    assert_eq!(
        mapping(&bounded, &keys(2_000)),
        ring,
        "idle: same as ring hash"
    );
    // One hot key held 40 times: its home takes at most its bound, the
    // rest spill; plain ring hash would put all 40 on one backend.
    let held: Vec<_> = (0..40)
        .map(|_| bounded.pick(&Context::new().key(b"hot")).unwrap())
        .collect();
    let home = held[0].id().clone();
    let at_home = held.iter().filter(|p| p.id() == &home).count();
    assert!(at_home <= 13, "{at_home}"); // ceil(1.25 × 40 / 4) = 13
    assert!(at_home >= 10, "{at_home}");
}

#[test]
fn bounded_load_rejects_nonsense_epsilon() {
    for eps in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e9] {
        assert!(
            Pool::new(BoundedLoad::new().epsilon(eps), common::equal(2)).is_err(),
            "{eps}"
        );
    }
    assert!(Pool::new(BoundedLoad::new().epsilon(0.1), common::equal(2)).is_ok());
}
