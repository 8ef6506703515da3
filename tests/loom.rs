//! Model checks of the pick/update protocol under every interleaving loom
//! explores: a pick holds the slot it counted on, an update carries slots
//! over by id, a pick dropped after a swap releases the right counter, and
//! a `max_conns` cap is never over-admitted (not by racing pickers, not
//! across an update that keeps or changes it).
//!
//! ```text
//! RUSTFLAGS="--cfg pickwise_loom" cargo test --target-dir target/loom --test loom
//! ```
#![cfg(pickwise_loom)]

use loom::thread;
use std::sync::Arc;

use pickwise::health::HealthConfig;
use pickwise::strategy::LeastConnections;
use pickwise::{BackendId, BackendSpec, Balancer, Context, NoBackend, Pick, Pool};

fn pool(ids: &[&str]) -> Pool<LeastConnections, ()> {
    Pool::builder(LeastConnections::new())
        .health(HealthConfig::disabled())
        .build(ids.iter().map(|id| BackendSpec::new(*id, ())))
        .unwrap()
}

/// A pool of capped backends: `(id, max_conns)`.
fn capped(caps: &[(&str, u32)]) -> Pool<LeastConnections, ()> {
    Pool::builder(LeastConnections::new())
        .health(HealthConfig::disabled())
        .build(specs(caps))
        .unwrap()
}

fn specs(caps: &[(&str, u32)]) -> Vec<BackendSpec<()>> {
    caps.iter()
        .map(|&(id, cap)| BackendSpec::new(id, ()).max_conns(cap))
        .collect()
}

fn in_flight(pool: &Pool<LeastConnections, ()>, id: &str) -> u64 {
    pool.status(&BackendId::new(id))
        .unwrap()
        .in_flight
        .unwrap_or(0)
}

#[test]
fn a_pick_racing_an_update_is_counted_once_and_released_on_its_slot() {
    loom::model(|| {
        let pool = Arc::new(pool(&["a"]));
        let held = pool.pick(&Context::new()).unwrap();

        let picker = {
            let pool = pool.clone();
            thread::spawn(move || {
                let pick = pool.pick(&Context::new()).unwrap();
                let id = pick.id().clone();
                drop(pick);
                id
            })
        };
        let updater = {
            let pool = pool.clone();
            thread::spawn(move || {
                pool.update(vec![BackendSpec::new("a", ()), BackendSpec::new("b", ())])
                    .unwrap();
            })
        };
        // The held pick crosses the swap: still counted on "a".
        picker.join().unwrap();
        updater.join().unwrap();
        assert_eq!(in_flight(&pool, "a"), 1);
        drop(held);
        assert_eq!(in_flight(&pool, "a"), 0);
        assert_eq!(in_flight(&pool, "b"), 0);
    });
}

#[test]
fn a_backend_removed_while_picked_and_re_added_gets_its_count_back() {
    loom::model(|| {
        let pool = Arc::new(pool(&["a", "b"]));
        let exclude_b = [BackendId::new("b")];
        let held = pool.pick(&Context::new().exclude(&exclude_b)).unwrap();
        assert_eq!(held.id().as_str(), "a");

        let updater = {
            let pool = pool.clone();
            thread::spawn(move || {
                pool.update(vec![BackendSpec::new("b", ())]).unwrap();
                pool.update(vec![BackendSpec::new("a", ()), BackendSpec::new("b", ())])
                    .unwrap();
            })
        };
        let dropper = thread::spawn(move || drop(held));
        updater.join().unwrap();
        dropper.join().unwrap();
        assert_eq!(in_flight(&pool, "a"), 0);
        assert_eq!(in_flight(&pool, "b"), 0);
    });
}

/// Picks once and, if admitted, checks at once (while holding the pick)
/// that no backend's count is above its bound in `caps`, then keeps the
/// pick.
fn pick_and_check(
    pool: &Pool<LeastConnections, ()>,
    caps: &[(&str, u32)],
) -> Result<Pick<()>, NoBackend> {
    let pick = pool.pick(&Context::new());
    if pick.is_ok() {
        for &(id, cap) in caps {
            let now = in_flight(pool, id);
            assert!(now <= u64::from(cap), "{id}: {now} in flight, cap {cap}");
        }
    }
    pick
}

fn admitted(results: &[&Result<Pick<()>, NoBackend>]) -> usize {
    for result in results {
        if let Err(why) = result {
            assert_eq!(*why, NoBackend::AtCapacity);
        }
    }
    results.iter().filter(|r| r.is_ok()).count()
}

#[test]
fn two_pickers_racing_for_the_last_place_admit_exactly_one() {
    loom::model(|| {
        let pool = Arc::new(capped(&[("a", 1)]));
        let pickers: Vec<_> = (0..2)
            .map(|_| {
                let pool = pool.clone();
                thread::spawn(move || pick_and_check(&pool, &[("a", 1)]))
            })
            .collect();
        let results: Vec<_> = pickers.into_iter().map(|p| p.join().unwrap()).collect();
        assert_eq!(admitted(&[&results[0], &results[1]]), 1);
        assert_eq!(in_flight(&pool, "a"), 1);
        drop(results);
        assert_eq!(in_flight(&pool, "a"), 0);
    });
}

#[test]
fn two_pickers_choosing_the_same_last_place_are_admitted_one_there_one_elsewhere() {
    loom::model(|| {
        // "b" has one of its two places taken, so least connections sends
        // both pickers to "a" (cap 1): the loser of its place chooses again
        // and takes "b"'s last one. The spawned picker checks the counts
        // while it holds its pick (checking in both threads multiplies the
        // interleavings for little: the end counts catch an extra place).
        let caps = [("a", 1), ("b", 2)];
        let pool = Arc::new(capped(&caps));
        let exclude_a = [BackendId::new("a")];
        let held = pool.pick(&Context::new().exclude(&exclude_a)).unwrap();
        let picker = {
            let pool = pool.clone();
            thread::spawn(move || pick_and_check(&pool, &caps))
        };
        let mine = pool.pick(&Context::new());
        let theirs = picker.join().unwrap();
        assert_eq!(admitted(&[&mine, &theirs]), 2);
        assert_ne!(mine.as_ref().unwrap().id(), theirs.as_ref().unwrap().id());
        assert_eq!(in_flight(&pool, "a"), 1);
        assert_eq!(in_flight(&pool, "b"), 2);
        assert_eq!(
            pool.pick(&Context::new()).err(),
            Some(NoBackend::AtCapacity)
        );
        drop((mine, theirs, held));
        assert_eq!(in_flight(&pool, "a"), 0);
        assert_eq!(in_flight(&pool, "b"), 0);
    });
}

#[test]
fn an_update_resending_a_capped_set_between_two_racing_picks_admits_exactly_one() {
    loom::model(|| {
        let pool = Arc::new(capped(&[("a", 1)]));
        let picker = {
            let pool = pool.clone();
            thread::spawn(move || pick_and_check(&pool, &[("a", 1)]))
        };
        // The second picker updates first: the other pick runs on the old
        // set or the new one, or crosses the swap.
        pool.update(specs(&[("a", 1)])).unwrap();
        let mine = pick_and_check(&pool, &[("a", 1)]);
        let theirs = picker.join().unwrap();
        assert_eq!(admitted(&[&mine, &theirs]), 1);
        // The count crossed the swap with the slot.
        assert_eq!(in_flight(&pool, "a"), 1);
        drop((mine, theirs));
        assert_eq!(in_flight(&pool, "a"), 0);
    });
}

#[test]
fn a_cap_lowered_between_two_racing_picks_admits_none_over_the_cap_of_the_set_picked_from() {
    loom::model(|| {
        // Cap 2 with one place taken: one free place under the old cap,
        // none under the new cap of 1.
        let pool = Arc::new(capped(&[("a", 2)]));
        let held = pool.pick(&Context::new()).unwrap();
        let picker = {
            let pool = pool.clone();
            thread::spawn(move || pick_and_check(&pool, &[("a", 2)]))
        };
        pool.update(specs(&[("a", 1)])).unwrap();
        // After the update, the new cap is in force: already full.
        let mine = pool.pick(&Context::new());
        assert_eq!(mine.as_ref().err(), Some(&NoBackend::AtCapacity));
        let theirs = picker.join().unwrap();
        // The other pick took the old set's free place, or found none.
        let won = admitted(&[&theirs]);
        assert_eq!(in_flight(&pool, "a"), 1 + won as u64);
        drop(held);
        drop(theirs);
        assert_eq!(in_flight(&pool, "a"), 0);
        let again = pool.pick(&Context::new()).unwrap();
        assert_eq!(
            pool.pick(&Context::new()).err(),
            Some(NoBackend::AtCapacity)
        );
        drop(again);
        assert_eq!(in_flight(&pool, "a"), 0);
    });
}
