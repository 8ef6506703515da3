//! Model checks of the pick/update protocol under every interleaving loom
//! explores: a pick holds the slot it counted on, an update carries slots
//! over by id, and a pick dropped after a swap releases the right counter.
//!
//! ```text
//! RUSTFLAGS="--cfg pickwise_loom" cargo test --target-dir target/loom --test loom
//! ```
#![cfg(pickwise_loom)]

use loom::thread;
use std::sync::Arc;

use pickwise::health::HealthConfig;
use pickwise::strategy::LeastConnections;
use pickwise::{BackendId, BackendSpec, Balancer, Context, Pool};

fn pool(ids: &[&str]) -> Pool<LeastConnections, ()> {
    Pool::builder(LeastConnections::new())
        .health(HealthConfig::disabled())
        .build(ids.iter().map(|id| BackendSpec::new(*id, ())))
        .unwrap()
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
