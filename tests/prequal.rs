//! Prequal: probe replies applied through the pool, the hot-cold rule, a
//! reply's reuse limit and age, the in-flight correction, the fallback.

mod common;

use std::time::Duration;

use pickwise::agent::AgentError;
use pickwise::strategy::ProbeReply;
use pickwise::strategy::{Prequal, StrategyKind};
use pickwise::{AdminState, BackendId, Balancer, ConfigError, Context, Pick, Pool, Reason};

fn id(i: usize) -> BackendId {
    BackendId::new(format!("b{i}"))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Applies one reply per backend: (requests in flight, latency).
fn probe(pool: &Pool<Prequal, usize>, replies: &[(u32, Duration)]) {
    for (i, &(in_flight, latency)) in replies.iter().enumerate() {
        pool.apply_probe(&id(i), ProbeReply::new(in_flight, latency))
            .unwrap();
    }
}

fn pick(pool: &Pool<Prequal, usize>) -> Pick<usize> {
    pool.pick(&Context::new()).expect("a backend")
}

#[test]
fn the_cold_backend_with_the_lowest_latency_wins_over_a_faster_hot_one() {
    // Half the pool is cold (in flight at most the median, 1): b0 and b1.
    // b2 and b3 answer faster but are hot; b0 has fewer in flight but is
    // slower than b1.
    let (pool, _clock) = common::pool_with_clock(
        Prequal::new().seeded(1).hot_quantile(0.5).max_uses(100),
        common::equal(4),
    );
    probe(&pool, &[(0, ms(50)), (1, ms(5)), (5, ms(1)), (9, ms(1))]);
    for _ in 0..10 {
        assert_eq!(*pick(&pool).backend(), 1);
    }
}

#[test]
fn with_the_default_quantile_the_least_loaded_reply_is_the_cold_one() {
    let (pool, _clock) = common::pool_with_clock(Prequal::new().seeded(2), common::equal(4));
    probe(&pool, &[(3, ms(1)), (0, ms(20)), (5, ms(1)), (9, ms(1))]);
    assert_eq!(*pick(&pool).backend(), 1);
}

#[test]
fn a_reply_serves_at_most_max_uses_picks() {
    let (pool, _clock) =
        common::pool_with_clock(Prequal::new().seeded(3).max_uses(2), common::equal(3));
    probe(&pool, &[(0, ms(1)), (4, ms(1)), (4, ms(1))]);
    // Picks released at once: only the reuse limit moves them off b0.
    let picks: Vec<usize> = (0..3).map(|_| *pick(&pool).backend()).collect();
    assert_eq!(&picks[..2], &[0, 0], "{picks:?}");
    assert_ne!(picks[2], 0, "b0's reply is used up: {picks:?}");
    // A new reply from b0 puts it back.
    pool.apply_probe(&id(0), ProbeReply::new(0, ms(1))).unwrap();
    assert_eq!(*pick(&pool).backend(), 0);
}

#[test]
fn picks_sent_and_finished_since_a_reply_move_its_in_flight_count() {
    let (pool, _clock) =
        common::pool_with_clock(Prequal::new().seeded(4).max_uses(1000), common::equal(2));
    probe(&pool, &[(0, ms(1)), (3, ms(1))]);
    // b0 said 0 in flight, b1 3: b0 takes picks until it has 3 of its own.
    let mut held: Vec<Pick<usize>> = (0..3).map(|_| pick(&pool)).collect();
    let to: Vec<usize> = held.iter().map(|p| *p.backend()).collect();
    assert_eq!(to, vec![0, 0, 0]);
    // Now both count 3 (b0: 0 + 3 sent); a few more picks reach b1 too.
    for _ in 0..6 {
        held.push(pick(&pool));
    }
    let on_b1 = held.iter().filter(|p| *p.backend() == 1).count();
    assert!(on_b1 >= 2, "b1 got {on_b1} of 9 held picks");
    held.clear();
    // A reply that counted the pool's own picks: b0 says 3 while this pool
    // holds 3 there, b1 says 2. When they finish, b0 counts 0.
    let held: Vec<Pick<usize>> = (0..3).map(|_| pick(&pool)).collect();
    let on_b0 = held.iter().filter(|p| *p.backend() == 0).count();
    pool.apply_probe(&id(0), ProbeReply::new(on_b0 as u32, ms(1)))
        .unwrap();
    pool.apply_probe(&id(1), ProbeReply::new(2 + 3 - on_b0 as u32, ms(1)))
        .unwrap();
    drop(held);
    assert_eq!(
        *pick(&pool).backend(),
        0,
        "b0's {on_b0} picks finished since its reply"
    );
}

#[test]
fn replies_older_than_max_age_are_not_used() {
    let (pool, clock) = common::pool_with_clock(
        Prequal::new()
            .seeded(5)
            .max_uses(1000)
            .max_age(Duration::from_secs(1)),
        common::equal(2),
    );
    probe(&pool, &[(0, ms(1)), (50, ms(1))]);
    let held: Vec<Pick<usize>> = (0..6).map(|_| pick(&pool)).collect();
    assert!(
        held.iter().all(|p| *p.backend() == 0),
        "fresh replies send all to b0"
    );
    drop(held);
    clock.advance(Duration::from_millis(1001));
    // Aged out: the power of two choices on the pool's own counts.
    let held: Vec<Pick<usize>> = (0..6).map(|_| pick(&pool)).collect();
    let on_b1 = held.iter().filter(|p| *p.backend() == 1).count();
    assert_eq!(on_b1, 3, "two backends, six held picks by least in flight");
}

#[test]
fn without_replies_it_falls_back_to_the_least_loaded_of_two() {
    let (pool, _clock) = common::pool_with_clock(Prequal::new().seeded(6), common::equal(3));
    let held: Vec<Pick<usize>> = (0..9).map(|_| pick(&pool)).collect();
    let mut counts = [0; 3];
    for p in &held {
        counts[*p.backend()] += 1;
    }
    assert!(
        counts.iter().all(|&c| (2..=4).contains(&c)),
        "nine held picks over three backends: {counts:?}"
    );
}

#[test]
fn a_drained_backend_is_not_picked_whatever_its_reply() {
    let (pool, _clock) = common::pool_with_clock(Prequal::new().seeded(7), common::equal(3));
    probe(&pool, &[(0, ms(1)), (5, ms(9)), (6, ms(9))]);
    assert!(pool.set_state(&id(0), AdminState::Draining, Reason::Program("test".into())));
    for _ in 0..10 {
        assert_ne!(*pick(&pool).backend(), 0);
    }
}

#[test]
fn a_reply_about_an_unknown_backend_is_refused() {
    let (pool, _clock) = common::pool_with_clock(Prequal::new(), common::equal(2));
    let err = pool
        .apply_probe(&BackendId::new("nope"), ProbeReply::new(1, ms(1)))
        .unwrap_err();
    assert!(matches!(err, AgentError::UnknownBackend(ref id) if id.as_str() == "nope"));
}

#[test]
fn prequal_is_known_by_name_and_refuses_bad_settings() {
    assert_eq!(
        "prequal".parse::<StrategyKind>().unwrap(),
        StrategyKind::Prequal
    );
    let bad = [
        Prequal::new().max_uses(0),
        Prequal::new().hot_quantile(1.5),
        Prequal::new().hot_quantile(f64::NAN),
        Prequal::new().pool_size(0),
        Prequal::new().pool_size(65),
        Prequal::new().max_age(Duration::ZERO),
    ];
    for strategy in bad {
        let err = Pool::new(strategy, common::equal(2)).err();
        assert!(
            matches!(
                err,
                Some(ConfigError::Invalid {
                    setting: "prequal",
                    ..
                })
            ),
            "{err:?}"
        );
    }
}
