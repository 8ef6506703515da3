mod common;

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use pickwise::hash::HashKey;
use pickwise::strategy::SourceIpHash;
use pickwise::{AdminState, BackendId, BackendSpec, Balancer, Context, Pool, Reason};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const KEY: HashKey = HashKey::from_bytes(*b"pickwise-test-k1");
const TTL: Duration = Duration::from_secs(60);

fn clients(n: usize, seed: u64) -> Vec<IpAddr> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut seen = HashSet::new();
    while seen.len() < n {
        seen.insert(IpAddr::V4(Ipv4Addr::from(rng.gen::<u32>())));
    }
    let mut all: Vec<IpAddr> = seen.into_iter().collect();
    all.sort();
    all
}

fn place<B: Send + Sync + 'static>(
    pool: &Pool<SourceIpHash, B>,
    clients: &[IpAddr],
) -> Vec<BackendId> {
    clients
        .iter()
        .map(|&ip| pool.pick(&Context::new().client(ip)).unwrap().id().clone())
        .collect()
}

fn without(specs: &[BackendSpec<usize>], gone: &str) -> Vec<BackendSpec<usize>> {
    specs
        .iter()
        .filter(|s| s.id.as_str() != gone)
        .map(|s| BackendSpec::new(s.id.clone(), s.value).weight(s.weight))
        .collect()
}

/// Removes `b2` of five backends and checks that exactly its clients moved.
fn removing_a_node_moves_exactly_its_clients(strategy: SourceIpHash, expire_first: bool) {
    let specs = common::weighted(&[1, 2, 1, 3, 1]);
    let (pool, clock) = common::pool_with_clock(strategy, without(&specs, "none"));
    let clients = clients(1000, 11);
    let before = place(&pool, &clients);
    assert_eq!(before, place(&pool, &clients), "same client, same node");
    if expire_first {
        clock.advance(TTL + Duration::from_secs(1));
    }
    pool.update(without(&specs, "b2")).unwrap();
    let after = place(&pool, &clients);
    let mut moved = 0;
    for (b, a) in before.iter().zip(&after) {
        if b.as_str() == "b2" {
            assert_ne!(a.as_str(), "b2");
            moved += 1;
        } else {
            assert_eq!(a, b, "a client of a remaining node moved");
        }
    }
    // b2 has weight 1 of 8: about 125 clients.
    assert!((80..=170).contains(&moved), "{moved} clients were on b2");
    assert_eq!(after, place(&pool, &clients), "same client, same node");
}

#[test]
fn without_a_table_removing_a_node_moves_exactly_its_clients() {
    removing_a_node_moves_exactly_its_clients(
        SourceIpHash::new().with_key(KEY).without_sticky(),
        false,
    );
}

#[test]
fn after_the_ttl_removing_a_node_moves_exactly_its_clients() {
    let strategy = SourceIpHash::new().with_key(KEY).sticky(TTL, 10_000);
    removing_a_node_moves_exactly_its_clients(strategy, true);
}

#[test]
fn balancers_with_shuffled_backends_and_the_same_key_agree() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let clients = clients(1000, 13);
    for sticky in [false, true] {
        let make = |specs: Vec<BackendSpec<usize>>| {
            let strategy = SourceIpHash::new().with_key(KEY);
            let strategy = if sticky {
                strategy
            } else {
                strategy.without_sticky()
            };
            Pool::new(strategy, specs).unwrap()
        };
        let specs = common::weighted(&[3, 1, 4, 1, 5, 9, 2]);
        let mut shuffled = common::weighted(&[3, 1, 4, 1, 5, 9, 2]);
        shuffled.shuffle(&mut rng);
        let (a, b) = (make(specs), make(shuffled));
        assert_eq!(place(&a, &clients), place(&b, &clients));
        // A different key disagrees somewhere: the key matters.
        let other = Pool::new(
            SourceIpHash::new()
                .with_key(HashKey::from_bytes([7; 16]))
                .without_sticky(),
            common::weighted(&[3, 1, 4, 1, 5, 9, 2]),
        )
        .unwrap();
        assert_ne!(place(&a, &clients), place(&other, &clients));
    }
}

#[test]
fn ipv6_clients_hash_by_prefix_and_requests_without_client_still_go_somewhere() {
    let pool = Pool::new(
        SourceIpHash::new().with_key(KEY).without_sticky(),
        common::equal(8),
    )
    .unwrap();
    let full = Pool::new(
        SourceIpHash::new()
            .with_key(KEY)
            .without_sticky()
            .v6_prefix(128),
        common::equal(8),
    )
    .unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    let mut differ = 0;
    for _ in 0..200 {
        let site: u128 = u128::from(rng.gen::<u64>()) << 64;
        let a = IpAddr::V6(Ipv6Addr::from(site | u128::from(rng.gen::<u64>())));
        let b = IpAddr::V6(Ipv6Addr::from(site | u128::from(rng.gen::<u64>())));
        assert_eq!(place(&pool, &[a]), place(&pool, &[b]), "one /64, one node");
        differ += usize::from(place(&full, &[a]) != place(&full, &[b]));
    }
    assert!(differ > 100, "with /128 only {differ} of 200 pairs split");
    assert!(Pool::new(SourceIpHash::new().v6_prefix(129), common::equal(2)).is_err());

    let by_key = |k: &[u8]| pool.pick(&Context::new().key(k)).unwrap().id().clone();
    assert_eq!(by_key(b"user-1"), by_key(b"user-1"));
    assert!(pool.pick(&Context::new()).is_ok());
}

#[test]
fn sticky_clients_stay_across_a_set_change_within_the_ttl_and_leave_after_it() {
    let strategy = SourceIpHash::new().with_key(KEY).sticky(TTL, 10_000);
    let (pool, clock) = common::pool_with_clock(strategy, common::equal(3));
    let hashing = Pool::new(
        SourceIpHash::new().with_key(KEY).without_sticky(),
        common::equal(4),
    )
    .unwrap();
    let clients = clients(1000, 15);
    let before = place(&pool, &clients);
    // A fourth node joins: pure hashing would give it about a quarter.
    pool.update(common::equal(4)).unwrap();
    let would_move = place(&hashing, &clients)
        .iter()
        .filter(|id| id.as_str() == "b3")
        .count();
    assert!(would_move > 150, "{would_move}");
    // Within the TTL, refreshed by each request, nobody moves.
    for _ in 0..3 {
        clock.advance(TTL - Duration::from_secs(1));
        assert_eq!(place(&pool, &clients), before);
    }
    // Silent for a full TTL: they follow the hash, as the new set has it.
    clock.advance(TTL);
    assert_eq!(place(&pool, &clients), place(&hashing, &clients));
}

#[test]
fn sticky_clients_leave_a_down_node_stay_on_a_draining_one_and_skip_an_excluded_one() {
    let strategy = SourceIpHash::new().with_key(KEY).sticky(TTL, 10_000);
    let (pool, _clock) = common::pool_with_clock(strategy, common::equal(4));
    let clients = clients(400, 16);
    let before = place(&pool, &clients);
    let on = |node: &str| -> Vec<IpAddr> {
        clients
            .iter()
            .zip(&before)
            .filter(|(_, id)| id.as_str() == node)
            .map(|(ip, _)| *ip)
            .collect()
    };

    // Draining: its clients stay; new clients never land there.
    let b1 = BackendId::new("b1");
    pool.set_state(&b1, AdminState::Draining, Reason::Admin("test".into()));
    assert!(place(&pool, &on("b1")).iter().all(|id| *id == b1));
    let newcomers = place(&pool, &self::clients(400, 17));
    assert!(newcomers.iter().all(|id| *id != b1));

    // A retry that excludes b0 goes elsewhere, once; the client keeps b0.
    let b0 = BackendId::new("b0");
    let client = on("b0")[0];
    let excluded = [b0.clone()];
    let retry = pool
        .pick(&Context::new().client(client).exclude(&excluded))
        .unwrap();
    assert_ne!(*retry.id(), b0);
    assert_eq!(place(&pool, &[client]), vec![b0.clone()]);

    // Down: its clients leave, and stay where they went when it returns.
    pool.set_state(&b0, AdminState::Down, Reason::Admin("test".into()));
    let moved = place(&pool, &on("b0"));
    assert!(moved.iter().all(|id| *id != b0));
    pool.set_state(&b0, AdminState::Up, Reason::Admin("test".into()));
    assert_eq!(place(&pool, &on("b0")), moved);
}

#[test]
fn concurrent_picks_and_updates_keep_the_cap_and_release_everything() {
    let strategy = SourceIpHash::new().with_key(KEY).sticky(TTL, 64);
    let pool = Pool::builder(strategy).counts_in_flight(true);
    let pool = std::sync::Arc::new(pool.build(common::equal(4)).unwrap());
    let workers: Vec<_> = (0..4u32)
        .map(|t| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                for n in 0..20_000u32 {
                    let ip = IpAddr::V4(Ipv4Addr::from(t << 24 | (n % 500)));
                    let pick = pool.pick(&Context::new().client(ip)).unwrap();
                    assert!(pool.strategy().sticky_table().len() <= 64);
                    drop(pick);
                }
            })
        })
        .collect();
    for round in 0..200 {
        let n = 2 + round % 3;
        pool.update(common::equal(n)).unwrap();
    }
    for worker in workers {
        worker.join().unwrap();
    }
    assert!(pool.strategy().sticky_table().len() <= 64);
    assert!(pool
        .backends()
        .iter()
        .all(|b| b.in_flight.unwrap_or(0) == 0));
}
