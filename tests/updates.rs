mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use pickwise::strategy::{AnyStrategy, LeastConnections, StrategyKind};
use pickwise::{
    AdminState, BackendId, BackendSpec, BackendState, Balancer, ConfigError, Context, NoBackend,
    Pool, Reason,
};

fn in_flight<S: pickwise::Strategy>(pool: &Pool<S, usize>, id: &str) -> u64 {
    pool.status(&BackendId::new(id))
        .unwrap()
        .in_flight
        .unwrap_or(0)
}

#[test]
fn counts_survive_updates_and_least_connections_still_sees_them() {
    let pool = Pool::new(LeastConnections::new(), common::weighted(&[1, 1])).unwrap();
    let b0 = [BackendId::new("b1")];
    let held: Vec<_> = (0..5)
        .map(|_| pool.pick(&Context::new().exclude(&b0)).unwrap())
        .collect();
    assert!(held.iter().all(|p| p.id().as_str() == "b0"));
    assert_eq!(in_flight(&pool, "b0"), 5);

    // b0 stays with a new weight, b1 goes, b2 joins.
    pool.update(vec![
        BackendSpec::new("b0", 0).weight(7),
        BackendSpec::new("b2", 2),
    ])
    .unwrap();
    assert_eq!(in_flight(&pool, "b0"), 5);
    assert_eq!(pool.status(&BackendId::new("b0")).unwrap().weight, 7);
    for _ in 0..5 {
        let pick = pool.pick(&Context::new()).unwrap();
        assert_eq!(
            pick.id().as_str(),
            "b2",
            "least connections must avoid the busy b0"
        );
    }
    drop(held);
    assert_eq!(in_flight(&pool, "b0"), 0);
    assert_eq!(in_flight(&pool, "b2"), 0);
}

#[test]
fn a_pick_dropped_after_its_backend_left_releases_that_backend_only() {
    let pool = Pool::new(LeastConnections::new(), common::equal(2)).unwrap();
    let pick = pool.pick(&Context::new()).unwrap();
    let gone = pick.id().clone();
    let stays = if gone.as_str() == "b0" { "b1" } else { "b0" };
    pool.update(vec![BackendSpec::new(stays, 9)]).unwrap();
    assert!(pool.status(&gone).is_none());
    drop(pick);
    assert_eq!(in_flight(&pool, stays), 0);
}

#[test]
fn a_pool_may_start_empty_and_be_filled_and_emptied_by_updates() {
    let none: Vec<BackendSpec<usize>> = Vec::new();
    let pool = Pool::new(LeastConnections::new(), none.clone()).unwrap();
    assert!(pool.is_empty());
    assert_eq!(pool.pick(&Context::new()).err(), Some(NoBackend::Empty));
    assert_eq!(
        pool.picker().pick(&Context::new()).err(),
        Some(NoBackend::Empty)
    );
    pool.update(common::equal(2)).unwrap();
    assert!(!pool.is_empty());
    let pick = pool.pick(&Context::new()).unwrap();
    let id = pick.id().clone();
    pool.update(none).unwrap();
    assert_eq!(pool.pick(&Context::new()).err(), Some(NoBackend::Empty));
    assert!(pool.backends().is_empty());
    // The pick made before still releases; the backend rejoins with its count.
    pool.update(common::equal(2)).unwrap();
    assert_eq!(in_flight(&pool, id.as_str()), 1);
    drop(pick);
    assert_eq!(in_flight(&pool, id.as_str()), 0);
}

#[test]
fn the_current_set_lists_with_payloads_and_round_trips_through_update() {
    let pool = Pool::new(
        LeastConnections::new(),
        vec![
            BackendSpec::new("a", 1).weight(3).max_conns(5),
            BackendSpec::new("b", 2).backup(),
        ],
    )
    .unwrap();
    let specs = pool.specs();
    assert_eq!(specs.len(), 2);
    assert_eq!(
        (
            specs[0].id.as_str(),
            specs[0].value,
            specs[0].weight,
            specs[0].max_conns
        ),
        ("a", 1, 3, Some(5))
    );
    assert_eq!((specs[1].id.as_str(), specs[1].priority), ("b", 1));
    let held = pool.pick(&Context::new()).unwrap();
    pool.update(specs.clone()).unwrap();
    assert_eq!(pool.specs(), specs);
    assert_eq!(in_flight(&pool, held.id().as_str()), 1, "counters kept");
}

#[test]
fn statuses_with_payloads_follow_an_update_and_need_no_clone() {
    /// A payload that cannot be cloned, as a proxy's backend with its
    /// connections would be.
    struct Backend {
        port: u16,
    }
    let pool = Pool::new(
        LeastConnections::new(),
        vec![
            BackendSpec::new("a", Backend { port: 1 }),
            BackendSpec::new("b", Backend { port: 2 }),
        ],
    )
    .unwrap();
    let held = pool.pick(&Context::new()).unwrap();
    let rows = pool.backends_with(|b| b.port);
    let seen: Vec<_> = rows
        .iter()
        .map(|(s, port)| (s.id.as_str(), *port))
        .collect();
    assert_eq!(seen, [("a", 1), ("b", 2)]);
    let total: u64 = rows.iter().map(|(s, _)| s.in_flight.unwrap_or(0)).sum();
    assert_eq!(total, 1, "the pictures are the live ones");

    // b leaves, c joins with a new payload; a keeps its picture.
    pool.update(vec![
        BackendSpec::new("a", Backend { port: 10 }),
        BackendSpec::new("c", Backend { port: 3 }),
    ])
    .unwrap();
    let rows = pool.backends_with(|b| b.port);
    let seen: Vec<_> = rows
        .iter()
        .map(|(s, port)| (s.id.as_str(), *port))
        .collect();
    assert_eq!(seen, [("a", 10), ("c", 3)]);
    assert_eq!(rows[0].0, pool.status(&BackendId::new("a")).unwrap());
    drop(held);
}

#[test]
fn bad_updates_are_errors_and_change_nothing() {
    let pool = Pool::new(LeastConnections::new(), common::equal(3)).unwrap();
    let dup = vec![BackendSpec::new("x", 0), BackendSpec::new("x", 1)];
    assert_eq!(
        pool.update(dup),
        Err(ConfigError::DuplicateId(BackendId::new("x")))
    );
    for weight in [0, pickwise::spec::MAX_WEIGHT + 1, u32::MAX] {
        let bad = vec![BackendSpec::new("y", 0).weight(weight)];
        assert!(matches!(pool.update(bad), Err(ConfigError::Weight { .. })));
    }
    assert_eq!(pool.backends().len(), 3);
}

#[test]
fn observers_hear_additions_removals_and_admin_changes_with_reasons() {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let sink = heard.clone();
    let pool = Pool::builder(LeastConnections::new())
        .observer(move |c: &pickwise::StateChange| sink.lock().unwrap().push(c.clone()))
        .build(common::equal(2))
        .unwrap();
    pool.set_state(
        &BackendId::new("b0"),
        pickwise::AdminState::Draining,
        Reason::Agent("drain".into()),
    );
    pool.update(common::equal(1)).unwrap();
    let heard = heard.lock().unwrap();
    let summary: Vec<(String, BackendState, Reason)> = heard
        .iter()
        .map(|c| (c.id.to_string(), c.to, c.reason.clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("b0".into(), BackendState::Up, Reason::Added),
            ("b1".into(), BackendState::Up, Reason::Added),
            (
                "b0".into(),
                BackendState::Draining,
                Reason::Agent("drain".into())
            ),
            ("b1".into(), BackendState::Removed, Reason::Removed),
        ]
    );
    let status = pool.status(&BackendId::new("b0")).unwrap();
    assert_eq!(status.state, BackendState::Draining);
    assert_eq!(status.reason, Reason::Agent("drain".into()));
}

/// Two threads pick and drop while a third keeps replacing the set; bounded
/// loops, no sleeps. Afterwards no count is left behind or gone below zero.
#[test]
fn concurrent_picks_and_swaps_leave_every_count_at_zero() {
    for kind in StrategyKind::ALL {
        let pool = Pool::builder(AnyStrategy::new(*kind))
            .counts_in_flight(true)
            .build(common::equal(4))
            .unwrap();
        let pool = Arc::new(pool);
        let done = Arc::new(AtomicBool::new(false));
        let pickers: Vec<_> = (0..2)
            .map(|_| {
                let pool = pool.clone();
                std::thread::spawn(move || {
                    let mut held = Vec::new();
                    for i in 0..20_000 {
                        if let Ok(pick) = pool.pick(&Context::new()) {
                            held.push(pick);
                        }
                        if i % 3 == 0 {
                            held.truncate(held.len() / 2);
                        }
                    }
                })
            })
            .collect();
        let updater = {
            let (pool, done) = (pool.clone(), done.clone());
            std::thread::spawn(move || {
                for round in 0..2_000usize {
                    if done.load(Ordering::Relaxed) {
                        break;
                    }
                    // b0 always stays; the others come and go with varying weights.
                    let mut specs = vec![BackendSpec::new("b0", 0).weight(1 + (round % 5) as u32)];
                    specs.extend((1..4).filter(|i| (round + i) % 3 != 0).map(|i| {
                        BackendSpec::new(format!("b{i}"), i).weight(1 + (round % 3) as u32)
                    }));
                    pool.update(specs).unwrap();
                }
            })
        };
        for picker in pickers {
            picker.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
        updater.join().unwrap();
        pool.update(common::equal(4)).unwrap();
        for status in pool.backends() {
            assert_eq!(status.in_flight.unwrap_or(0), 0, "{kind}: {status:?}");
        }
    }
}

#[test]
fn a_backend_that_joins_after_another_left_starts_fresh() {
    // The removed backend's pick-path entry is recycled for the next new
    // one: none of its state (down, counts) may carry over.
    let pool = Pool::new(LeastConnections::new(), common::equal(2)).unwrap();
    let gone = BackendId::new("b1");
    let pick = pool
        .pick(&Context::new().exclude(std::slice::from_ref(&BackendId::new("b0"))))
        .unwrap();
    assert_eq!(pick.id(), &gone);
    pool.set_state(&gone, AdminState::Down, Reason::Admin("test".into()));
    drop(pick);
    pool.update(common::equal(1)).unwrap();
    pool.update(vec![BackendSpec::new("b0", 0), BackendSpec::new("new", 7)])
        .unwrap();
    let fresh = pool.status(&BackendId::new("new")).unwrap();
    assert_eq!(
        (
            fresh.state,
            fresh.in_flight.unwrap_or(0),
            fresh.effective_weight
        ),
        (BackendState::Up, 0, 100)
    );
    let picks: Vec<_> = (0..2)
        .map(|_| pool.pick(&Context::new()).unwrap())
        .collect();
    assert!(
        picks.iter().any(|p| *p.backend() == 7),
        "the new backend takes picks"
    );
}

#[test]
fn update_with_edits_the_current_set_keeps_counts_and_changes_nothing_on_error() {
    let pool = Pool::new(LeastConnections::new(), common::weighted(&[1, 1])).unwrap();
    let held = pool.pick(&Context::new()).unwrap();
    let kept = held.id().clone();

    // The edit sees the set as it is, payloads included, and adds to it.
    let added = pool
        .update_with(|mut specs| {
            assert_eq!(specs.len(), 2);
            specs.push(BackendSpec::new("extra", 7));
            Some(specs)
        })
        .unwrap();
    assert!(added);
    assert_eq!(pool.backends().len(), 3);
    assert_eq!(
        in_flight(&pool, kept.as_str()),
        1,
        "the held pick still counts"
    );

    // `None` leaves the set alone.
    assert!(!pool
        .update_with(|_| None::<Vec<BackendSpec<usize>>>)
        .unwrap());

    // A set the pool refuses (one id twice) is an error, and nothing changes.
    let refused = pool.update_with(|mut specs| {
        specs.push(BackendSpec::new("extra", 8));
        Some(specs)
    });
    assert!(
        matches!(refused, Err(ConfigError::DuplicateId(_))),
        "{refused:?}"
    );
    let ids: Vec<String> = pool.backends().iter().map(|b| b.id.to_string()).collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert_eq!(pool.specs()[2].value, 7);
    drop(held);
    assert_eq!(in_flight(&pool, kept.as_str()), 0);
}
