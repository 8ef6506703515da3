//! Deterministic subsetting: the spread (every backend serves C·k/N clients,
//! give or take one) for any C, k and N, agreement whatever the backends'
//! order, and little movement when the fleet changes, against a seeded
//! random subset per client.

use std::collections::BTreeSet;

use pickwise::hash::HashKey;
use pickwise::subset::{ClientIndex, Subsetting};
use pickwise::ConfigError;
use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn ids(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("10.0.{}.{}:80", i / 200, i % 200))
        .collect()
}

/// Each client's subset as a set of ids, so that assignments over different
/// backend lists compare.
fn named(backends: &[String], rows: &[Vec<usize>]) -> Vec<BTreeSet<String>> {
    rows.iter()
        .map(|row| row.iter().map(|&b| backends[b].clone()).collect())
        .collect()
}

/// Client–backend links present in `before` and gone in `after`, over the
/// clients both have.
fn moved(before: &[BTreeSet<String>], after: &[BTreeSet<String>]) -> usize {
    before
        .iter()
        .zip(after)
        .map(|(old, new)| old.difference(new).count())
        .sum()
}

/// The baseline: each client draws `k` of the backends at random, seeded by
/// its index (a seed that does not depend on the fleet, the kindest to it).
fn random_subsets(backends: &[String], k: usize, clients: usize) -> Vec<BTreeSet<String>> {
    (0..clients)
        .map(|client| {
            let mut rng = ChaCha8Rng::seed_from_u64(client as u64);
            backends
                .choose_multiple(&mut rng, k.min(backends.len()))
                .cloned()
                .collect()
        })
        .collect()
}

fn ours(backends: &[String], k: usize, clients: usize) -> Vec<BTreeSet<String>> {
    let rows = Subsetting::new(k).assignment(backends, clients).unwrap();
    named(backends, &rows)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_backend_serves_c_times_k_over_n_clients_give_or_take_one(
        n in 1usize..40,
        k in 1usize..12,
        clients in 1usize..120,
        key in any::<[u8; 16]>(),
    ) {
        let backends = ids(n);
        let rows = Subsetting::new(k)
            .key(HashKey::from_bytes(key))
            .assignment(&backends, clients)
            .unwrap();
        prop_assert_eq!(rows.len(), clients);
        let size = k.min(n);
        let mut served = vec![0usize; n];
        for (client, row) in rows.iter().enumerate() {
            let distinct: BTreeSet<usize> = row.iter().copied().collect();
            prop_assert_eq!(distinct.len(), size, "client {} got {:?}", client, row);
            prop_assert!(row.iter().all(|&b| b < n));
            for &b in row {
                served[b] += 1;
            }
        }
        let exact = (clients * size) as f64 / n as f64;
        for (b, &count) in served.iter().enumerate() {
            prop_assert!(
                (count as f64 - exact).abs() < 1.0,
                "backend {} serves {} clients, C·k/N = {:.2} (N {}, k {}, C {}): {:?}",
                b, count, exact, n, k, clients, served
            );
        }
    }

    #[test]
    fn a_client_gets_its_row_of_the_assignment_whatever_the_backends_order(
        n in 1usize..30,
        k in 1usize..8,
        clients in 1usize..40,
        pick in any::<prop::sample::Index>(),
        seed in any::<u64>(),
    ) {
        let backends = ids(n);
        let client = pick.index(clients);
        let all = ours(&backends, k, clients);
        let mut shuffled = backends.clone();
        shuffled.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        let mine = Subsetting::new(k)
            .subset(&shuffled, ClientIndex::new(client, clients).unwrap())
            .unwrap();
        let mine: BTreeSet<String> = mine.iter().map(|&b| shuffled[b].clone()).collect();
        prop_assert_eq!(&mine, &all[client]);
    }
}

/// Fleets of several shapes: (backends, subset size, clients).
const FLEETS: &[(usize, usize, usize)] = &[
    (16, 4, 8),
    (50, 10, 100),
    (40, 5, 300),
    (12, 3, 50),
    (100, 8, 60),
    (9, 7, 33),
];

#[test]
fn a_backend_joining_or_leaving_moves_few_links_where_random_subsets_move_most() {
    let (mut ours_moved, mut random_moved, mut least) = (0, 0, 0.0);
    for &(n, k, clients) in FLEETS {
        let backends = ids(n + 1);
        let (small, large) = (&backends[..n], &backends[..]);
        ours_moved += moved(&ours(small, k, clients), &ours(large, k, clients));
        ours_moved += moved(&ours(large, k, clients), &ours(small, k, clients));
        random_moved += moved(
            &random_subsets(small, k, clients),
            &random_subsets(large, k, clients),
        );
        random_moved += moved(
            &random_subsets(large, k, clients),
            &random_subsets(small, k, clients),
        );
        // The least possible: the joining backend's share of links, each
        // taken from some other backend; the same when it leaves.
        least += 2.0 * (clients * k) as f64 / (n + 1) as f64;
    }
    println!("links moved: ours {ours_moved}, random {random_moved}, least possible {least:.0}");
    assert!(
        (ours_moved as f64) < 2.5 * least,
        "ours moved {ours_moved} links, the least possible is {least:.0}"
    );
    assert!(
        ours_moved * 5 < random_moved,
        "ours moved {ours_moved} links, random subsets {random_moved}"
    );
}

#[test]
fn a_client_joining_or_leaving_moves_few_links_of_the_others() {
    let (mut ours_moved, mut links) = (0, 0);
    for &(n, k, clients) in FLEETS {
        let backends = ids(n);
        let before = ours(&backends, k, clients);
        ours_moved += moved(&before, &ours(&backends, k, clients + 1));
        ours_moved += moved(&ours(&backends, k, clients - 1), &before);
        links += 2 * clients * k.min(n);
    }
    println!("links moved: {ours_moved} of {links}");
    // A client joining needs only k links moved to make room for it.
    assert!(
        ours_moved * 20 < links,
        "{ours_moved} of {links} links moved when one client joined or left"
    );
}

#[test]
fn bad_subsetting_input_is_a_clear_error() {
    let backends = ids(4);
    let one = ClientIndex::new(0, 1).unwrap();
    assert!(matches!(
        Subsetting::new(0).subset(&backends, one),
        Err(ConfigError::Invalid {
            setting: "subset size",
            ..
        })
    ));
    assert!(matches!(
        Subsetting::new(2).subset(&Vec::<String>::new(), one),
        Err(ConfigError::EmptySet)
    ));
    let twice = vec!["a".to_string(), "b".into(), "a".into()];
    assert!(matches!(
        Subsetting::new(2).subset(&twice, one),
        Err(ConfigError::DuplicateId(id)) if id.as_str() == "a"
    ));
    for bad in ["3", "3/3", "-1/4", "a/4", "1/0", "1/4/5"] {
        let err = bad.parse::<ClientIndex>().expect_err(bad);
        assert!(err.to_string().contains("client index"), "{bad}: {err}");
    }
    assert_eq!("1/4".parse::<ClientIndex>().unwrap().to_string(), "1/4");
    // A size of at least the set's is the whole set.
    assert_eq!(
        Subsetting::new(9).subset(&backends, one).unwrap(),
        vec![0, 1, 2, 3]
    );
}
