//! Discovery's one path into the pool: a source's batches of changes and
//! whole sets (`pickwise::discovery::Source`) against the pool they land
//! in, sources sharing a pool, refusals that change nothing, and a model
//! of the set under random batches.

use pickwise::discovery::{Change, Source};
use pickwise::strategy::{LeastConnections, RoundRobin};
use pickwise::{BackendId, BackendSpec, Balancer, Context, Pool};
use proptest::prelude::*;

fn ids<B>(pool: &Pool<RoundRobin, B>) -> Vec<String> {
    pool.backends().iter().map(|b| b.id.to_string()).collect()
}

#[test]
fn a_shared_source_changes_and_removes_only_the_backends_it_added() {
    let pool = Pool::new(RoundRobin::new(), vec![BackendSpec::new("fixed", 0)]).unwrap();
    let (mut one, mut two) = (Source::shared(), Source::shared());
    one.apply(&pool, [Change::Insert(BackendSpec::new("a", 1))])
        .unwrap();
    two.apply(&pool, [Change::Insert(BackendSpec::new("b", 2))])
        .unwrap();
    // `two` may not touch `a` or `fixed`; its own `b` it may.
    let applied = two
        .apply(
            &pool,
            [
                Change::Remove(BackendId::new("a")),
                Change::Value(BackendId::new("fixed"), 9),
                Change::Value(BackendId::new("b"), 3),
            ],
        )
        .unwrap();
    assert_eq!(applied.changed, [BackendId::new("b")]);
    assert!(applied.removed.is_empty());
    assert_eq!(ids(&pool), ["fixed", "a", "b"]);
    let values: Vec<i32> = pool.specs().iter().map(|s| s.value).collect();
    assert_eq!(values, [0, 1, 3]);
    // A whole set from `one` leaves `two`'s backend and the fixed one.
    let applied = one
        .sync(&pool, vec![BackendSpec::new("c", 4)], |v| v)
        .unwrap();
    assert_eq!(
        (applied.added, applied.removed),
        (vec![BackendId::new("c")], vec![BackendId::new("a")])
    );
    assert_eq!(ids(&pool), ["fixed", "b", "c"]);
    assert!(one.owns(&BackendId::new("c")) && !one.owns(&BackendId::new("b")));
}

#[test]
fn a_refused_batch_changes_nothing_in_the_pool_or_in_what_the_source_owns() {
    let pool = Pool::new(RoundRobin::new(), vec![BackendSpec::new("a", 1)]).unwrap();
    let mut source = Source::shared();
    let error = source
        .apply(
            &pool,
            [
                Change::Insert(BackendSpec::new("b", 2)),
                Change::Insert(BackendSpec::new("c", 3).weight(0)),
            ],
        )
        .unwrap_err();
    assert!(error.to_string().contains("weight 0"), "{error}");
    assert_eq!(ids(&pool), ["a"]);
    assert!(!source.owns(&BackendId::new("b")));
}

#[test]
fn a_backend_that_stays_through_a_sync_keeps_its_slot_and_its_value() {
    let pool = Pool::new(LeastConnections::new(), Vec::<BackendSpec<String>>::new()).unwrap();
    let mut source = Source::exclusive();
    let made = std::cell::RefCell::new(Vec::new());
    let make = |addr: &'static str| {
        made.borrow_mut().push(addr);
        format!("client of {addr}")
    };
    let answer = |weight| vec![BackendSpec::new("a", "10.0.0.1:80").weight(weight)];
    source.sync(&pool, answer(1), make).unwrap();
    let held = pool.pick(&Context::new()).unwrap();
    let applied = source.sync(&pool, answer(4), make).unwrap();
    assert_eq!(applied.changed, [BackendId::new("a")]);
    let status = pool.status(&BackendId::new("a")).unwrap();
    assert_eq!((status.weight, status.in_flight), (4, Some(1)));
    assert_eq!(*made.borrow(), ["10.0.0.1:80"], "the value is made once");
    assert_eq!(held.backend(), "client of 10.0.0.1:80");
    // The same set again is no change at all.
    assert!(source.sync(&pool, answer(4), make).unwrap().is_empty());
}

#[test]
fn an_exclusive_sync_leaves_the_pool_with_the_set_given_in_its_order() {
    let pool = Pool::new(
        RoundRobin::new(),
        vec![BackendSpec::new("x", 0), BackendSpec::new("b", 0)],
    )
    .unwrap();
    let mut source = Source::exclusive();
    let wanted = vec![
        BackendSpec::new("a", 1),
        BackendSpec::new("b", 2),
        BackendSpec::new("c", 3),
    ];
    let applied = source.sync(&pool, wanted, |v| v).unwrap();
    assert_eq!(applied.removed, [BackendId::new("x")]);
    assert_eq!(ids(&pool), ["a", "b", "c"]);
    // `b` stayed: its value is the one it had.
    assert_eq!(pool.specs()[1].value, 0);
}

/// One change of a random batch, over ids `b0`..`b5`.
fn change() -> impl Strategy<Value = Change<u8>> {
    let id = (0u8..6).prop_map(|i| BackendId::new(format!("b{i}")));
    prop_oneof![
        (id.clone(), 1u32..4, any::<u8>()).prop_map(|(id, weight, value)| {
            Change::Insert(BackendSpec::new(id, value).weight(weight))
        }),
        (id.clone(), any::<u8>()).prop_map(|(id, value)| Change::Value(id, value)),
        id.prop_map(Change::Remove),
    ]
}

proptest! {
    /// Batch after batch, the pool holds what applying each change in turn
    /// to a plain list gives: joins at the end, stays in place.
    #[test]
    fn the_pool_holds_what_the_changes_make_of_the_set(
        batches in prop::collection::vec(prop::collection::vec(change(), 0..6), 1..8)
    ) {
        let pool = Pool::new(RoundRobin::new(), Vec::<BackendSpec<u8>>::new()).unwrap();
        let mut source = Source::exclusive();
        let mut model: Vec<BackendSpec<u8>> = Vec::new();
        for batch in batches {
            for change in batch.clone() {
                let at = model.iter().position(|s| &s.id == change.id());
                match (change, at) {
                    (Change::Insert(spec), Some(at)) => model[at] = spec,
                    (Change::Insert(spec), None) => model.push(spec),
                    (Change::Value(_, value), Some(at)) => model[at].value = value,
                    (Change::Value(id, value), None) => model.push(BackendSpec::new(id, value)),
                    (Change::Remove(_), Some(at)) => { model.remove(at); }
                    (Change::Remove(_), None) => {}
                }
            }
            let applied = source.apply(&pool, batch).unwrap();
            prop_assert_eq!(applied.backends, model.len());
            prop_assert_eq!(pool.specs(), model.clone());
        }
    }
}
