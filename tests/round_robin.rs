mod common;

use pickwise::strategy::RoundRobin;
use pickwise::{AdminState, BackendId, Balancer, Context, NoBackend, Pool, Reason};
use proptest::prelude::*;

proptest! {
    #[test]
    fn counts_differ_by_at_most_one_over_every_prefix(n in 1usize..40, picks in 1usize..400) {
        let pool = Pool::new(RoundRobin::new(), common::equal(n)).unwrap();
        let mut counts = vec![0u32; n];
        for step in 0..picks {
            let pick = pool.pick(&Context::new()).unwrap();
            counts[*pick.backend()] += 1;
            let (lo, hi) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
            prop_assert!(hi - lo <= 1, "after {} picks: {:?}", step + 1, counts);
        }
    }

    #[test]
    fn follows_set_order(n in 1usize..20) {
        let pool = Pool::new(RoundRobin::new(), common::equal(n)).unwrap();
        let order: Vec<usize> = (0..2 * n).map(|_| *pool.pick(&Context::new()).unwrap().backend()).collect();
        let expected: Vec<usize> = (0..2 * n).map(|i| i % n).collect();
        prop_assert_eq!(order, expected);
    }
}

#[test]
fn skips_drained_and_down_backends_and_shares_evenly_among_the_rest() {
    let pool = Pool::new(RoundRobin::new(), common::equal(4)).unwrap();
    pool.set_state(
        &BackendId::new("b1"),
        AdminState::Draining,
        Reason::Admin("test".into()),
    );
    pool.set_state(
        &BackendId::new("b3"),
        AdminState::Down,
        Reason::Admin("test".into()),
    );
    let mut counts = [0u32; 4];
    for _ in 0..100 {
        counts[*pool.pick(&Context::new()).unwrap().backend()] += 1;
    }
    assert_eq!(counts, [50, 0, 50, 0]);
}

#[test]
fn honours_exclusions_and_says_why_when_nothing_is_left() {
    let pool = Pool::new(RoundRobin::new(), common::equal(2)).unwrap();
    let b0 = [BackendId::new("b0")];
    for _ in 0..5 {
        let pick = pool.pick(&Context::new().exclude(&b0)).unwrap();
        assert_eq!(*pick.backend(), 1);
    }
    let both = [BackendId::new("b0"), BackendId::new("b1")];
    assert_eq!(
        pool.pick(&Context::new().exclude(&both)).unwrap_err(),
        NoBackend::AllExcluded
    );

    for id in ["b0", "b1"] {
        pool.set_state(
            &BackendId::new(id),
            AdminState::Draining,
            Reason::Admin("test".into()),
        );
    }
    assert_eq!(
        pool.pick(&Context::new()).unwrap_err(),
        NoBackend::AllDraining
    );
    for id in ["b0", "b1"] {
        pool.set_state(
            &BackendId::new(id),
            AdminState::Down,
            Reason::Admin("test".into()),
        );
    }
    assert_eq!(pool.pick(&Context::new()).unwrap_err(), NoBackend::AllDown);
}

#[test]
fn round_robin_sharded_keeps_each_thread_in_turn_and_skips_the_ineligible() {
    use pickwise::strategy::RoundRobinSharded;
    let pool = std::sync::Arc::new(Pool::new(RoundRobinSharded::new(), common::equal(5)).unwrap());
    pool.set_state(
        &BackendId::new("b2"),
        AdminState::Down,
        Reason::Admin("test".into()),
    );
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                let mut counts = [0u32; 5];
                for step in 0..400 {
                    counts[*pool.pick(&Context::new()).unwrap().backend()] += 1;
                    let up = [counts[0], counts[1], counts[3], counts[4]];
                    let (lo, hi) = (up.iter().min().unwrap(), up.iter().max().unwrap());
                    assert!(hi - lo <= 1, "after {} picks: {counts:?}", step + 1);
                }
                counts
            })
        })
        .collect();
    for thread in threads {
        assert_eq!(thread.join().unwrap(), [100, 100, 0, 100, 100]);
    }
}
