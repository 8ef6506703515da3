//! Tiers (priority levels) and the panic threshold: Envoy's spillover rule
//! with an overprovisioning factor of 1.4, nginx's backups, and panic
//! spreading picks over a whole tier when too few of it are available.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pickwise::health::HealthConfig;
use pickwise::health::{CheckFailure, CheckResult, PanicChange};
use pickwise::strategy::{AnyStrategy, RoundRobin, StrategyKind, StrategyOptions};
use pickwise::{
    AdminState, BackendId, BackendSpec, Balancer, Context, FailureKind, NoBackend, Outcome, Pool,
    Reason, Strategy,
};

/// `primaries` backends `p0..` in tier 0 and `backups` backends `s0..` in tier 1.
fn tiered(primaries: usize, backups: usize) -> Vec<BackendSpec<String>> {
    let p = (0..primaries).map(|i| BackendSpec::new(format!("p{i}"), format!("p{i}")));
    let s = (0..backups).map(|i| BackendSpec::new(format!("s{i}"), format!("s{i}")).backup());
    p.chain(s).collect()
}

fn fail_check<S: Strategy>(pool: &Pool<S, String>, ids: impl IntoIterator<Item = String>) {
    for id in ids {
        let failed = CheckResult::Failed(CheckFailure::Refused);
        assert!(pool.set_health(&BackendId::new(id), failed));
    }
}

/// How many of `picks` picks (each dropped at once) went to each backend.
fn spread<S: Strategy>(pool: &Pool<S, String>, picks: usize) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for _ in 0..picks {
        let pick = pool.pick(&Context::new()).expect("a backend");
        *counts.entry(pick.backend().clone()).or_default() += 1;
    }
    counts
}

fn share_of(counts: &HashMap<String, usize>, prefix: &str) -> f64 {
    let total: usize = counts.values().sum();
    let part: usize = counts
        .iter()
        .filter(|(id, _)| id.starts_with(prefix))
        .map(|(_, n)| n)
        .sum();
    part as f64 / total as f64
}

#[test]
fn a_tier_with_72_percent_of_its_backends_available_takes_all_traffic() {
    let pool = Pool::new(RoundRobin::new(), tiered(25, 2)).unwrap();
    fail_check(&pool, (18..25).map(|i| format!("p{i}")));
    let counts = spread(&pool, 2_000);
    assert_eq!(share_of(&counts, "s"), 0.0, "{counts:?}");
    assert_eq!(pool.tiers()[0].share, 1.0);
    // One more down (17 of 25, 68%): 95.2% stays, 4.8% spills.
    fail_check(&pool, ["p17".to_string()]);
    assert_eq!(pool.tiers()[1].share, 0.048);
}

#[test]
fn a_tier_with_half_its_backends_takes_70_percent_and_the_backups_30() {
    let pool = Pool::new(RoundRobin::new(), tiered(6, 2)).unwrap();
    fail_check(&pool, (0..3).map(|i| format!("p{i}")));
    let counts = spread(&pool, 20_000);
    let backups = share_of(&counts, "s");
    assert!((backups - 0.30).abs() < 0.02, "backups took {backups}");
    let tiers = pool.tiers();
    assert_eq!((tiers[0].share, tiers[1].share), (0.7, 0.3));
    assert_eq!((tiers[0].available, tiers[0].members), (3, 6));
    // Only the available primaries were picked.
    for i in 0..3 {
        assert!(!counts.contains_key(&format!("p{i}")), "{counts:?}");
    }
}

#[test]
fn with_every_primary_down_the_backups_take_all_traffic() {
    let pool = Pool::new(RoundRobin::new(), tiered(3, 2)).unwrap();
    for i in 0..3 {
        let id = BackendId::new(format!("p{i}"));
        pool.set_state(&id, AdminState::Down, Reason::Admin("maintenance".into()));
    }
    let counts = spread(&pool, 100);
    assert_eq!(share_of(&counts, "s"), 1.0, "{counts:?}");
    assert_eq!((counts["s0"], counts["s1"]), (50, 50));
}

#[test]
fn a_backup_is_never_picked_while_its_primaries_are_all_available_whatever_the_strategy() {
    for &kind in StrategyKind::ALL {
        let pool = Pool::new(AnyStrategy::new(kind), tiered(4, 2)).unwrap();
        for n in 0..500u32 {
            let key = n.to_be_bytes();
            let client = std::net::IpAddr::from([10, 0, (n >> 8) as u8, n as u8]);
            let ctx = Context::new().key(&key).client(client);
            let mut pick = pool.pick(&ctx).unwrap();
            assert!(
                pick.backend().starts_with('p'),
                "{kind} picked {}",
                pick.id()
            );
            pick.record(Outcome::success(Duration::from_millis(1)));
        }
    }
}

#[test]
fn hash_strategies_keep_each_key_on_one_backend_of_one_tier_while_traffic_spills() {
    for kind in [
        StrategyKind::Maglev,
        StrategyKind::RingHash,
        StrategyKind::Rendezvous,
        StrategyKind::SourceIpHash,
    ] {
        // One key: both pools hash alike.
        let seeded = || {
            let options = StrategyOptions {
                hash_key: Some(pickwise::hash::HashKey::from_bytes([7; 16])),
                ..StrategyOptions::default()
            };
            AnyStrategy::with_options(kind, &options)
        };
        let pool = Pool::new(seeded(), tiered(6, 3)).unwrap();
        let alone = Pool::new(seeded(), tiered(6, 0)).unwrap();
        let mut tiers_seen = [0; 2];
        for n in 0..300u32 {
            let key = n.to_be_bytes();
            let client = std::net::IpAddr::from([10, 1, (n >> 8) as u8, n as u8]);
            let ctx = Context::new().key(&key).client(client);
            // All primaries up: backups change nothing for any key.
            let with_backups = pool.pick(&ctx).unwrap().id().clone();
            assert_eq!(&with_backups, alone.pick(&ctx).unwrap().id(), "{kind}");
        }
        fail_check(&pool, (0..3).map(|i| format!("p{i}")));
        for n in 0..300u32 {
            let key = n.to_be_bytes();
            let client = std::net::IpAddr::from([10, 1, (n >> 8) as u8, n as u8]);
            let ctx = Context::new().key(&key).client(client);
            let first = pool.pick(&ctx).unwrap().id().clone();
            tiers_seen[usize::from(first.as_str().starts_with('s'))] += 1;
            for _ in 0..4 {
                assert_eq!(pool.pick(&ctx).unwrap().id(), &first, "{kind}, key {n}");
            }
        }
        // The keys split between the tiers about as the shares say (70/30).
        assert!(
            (60..=120).contains(&tiers_seen[1]),
            "{kind}: {tiers_seen:?}"
        );
    }
}

#[test]
fn two_of_six_available_panics_and_spreads_over_all_six() {
    let pool = Pool::new(RoundRobin::new(), tiered(6, 0)).unwrap();
    fail_check(&pool, (2..6).map(|i| format!("p{i}")));
    let counts = spread(&pool, 600);
    assert_eq!(counts.len(), 6, "{counts:?}");
    assert!(counts.values().all(|&n| n == 100), "{counts:?}");
    assert!(pool.tiers()[0].in_panic);
}

#[test]
fn four_of_six_available_is_no_panic_and_only_the_four_are_picked() {
    let pool = Pool::new(RoundRobin::new(), tiered(6, 0)).unwrap();
    fail_check(&pool, (4..6).map(|i| format!("p{i}")));
    let counts = spread(&pool, 600);
    assert_eq!(counts.len(), 4, "{counts:?}");
    assert!(!pool.tiers()[0].in_panic);
}

#[test]
fn panic_ignores_passive_ejections_too_but_never_an_operators_down_or_drain() {
    let health = HealthConfig {
        consecutive_failures: 1,
        max_ejected_percent: 100,
        ..HealthConfig::default()
    };
    let (pool, _clock) = {
        let clock = Arc::new(pickwise::clock::ManualClock::new());
        let pool = Pool::builder(RoundRobin::new())
            .clock(clock.clone())
            .health(health)
            .build(tiered(6, 0))
            .unwrap();
        (pool, clock)
    };
    // Eject p0..p2 by failures; p3 down, p4 draining: 1 of 6 available.
    for target in ["p0", "p1", "p2"] {
        loop {
            let mut pick = pool.pick(&Context::new()).unwrap();
            if pick.backend() == target {
                pick.record(Outcome::failure(FailureKind::Reset, Duration::ZERO));
                break;
            }
        }
    }
    pool.set_state(&"p3".into(), AdminState::Down, Reason::Admin("x".into()));
    pool.set_state(
        &"p4".into(),
        AdminState::Draining,
        Reason::Admin("x".into()),
    );
    let counts = spread(&pool, 400);
    let mut picked: Vec<&String> = counts.keys().collect();
    picked.sort();
    assert_eq!(picked, ["p0", "p1", "p2", "p5"], "{counts:?}");
}

#[test]
fn with_the_panic_threshold_off_the_survivors_take_everything() {
    let pool = Pool::builder(RoundRobin::new())
        .panic_threshold(0)
        .build(tiered(6, 0))
        .unwrap();
    fail_check(&pool, (2..6).map(|i| format!("p{i}")));
    let counts = spread(&pool, 600);
    assert_eq!(counts.len(), 2, "{counts:?}");
    assert!(!pool.tiers()[0].in_panic);
}

#[test]
fn a_tier_with_nothing_available_and_no_backup_panics_rather_than_failing() {
    let pool = Pool::new(RoundRobin::new(), tiered(3, 0)).unwrap();
    fail_check(&pool, (0..3).map(|i| format!("p{i}")));
    assert_eq!(spread(&pool, 30).len(), 3);
    let strict = Pool::builder(RoundRobin::new())
        .panic_threshold(0)
        .build(tiered(3, 0))
        .unwrap();
    fail_check(&strict, (0..3).map(|i| format!("p{i}")));
    assert_eq!(strict.pick(&Context::new()).err(), Some(NoBackend::AllDown));
}

#[test]
fn observers_hear_a_tier_enter_and_leave_panic_once_each() {
    #[derive(Default, Clone)]
    struct Heard(Arc<Mutex<Vec<PanicChange>>>);
    impl pickwise::Observer for Heard {
        fn state_changed(&self, _: &pickwise::StateChange) {}
        fn panic_changed(&self, change: &PanicChange) {
            self.0.lock().unwrap().push(change.clone());
        }
    }
    let heard = Heard::default();
    let pool = Pool::builder(RoundRobin::new())
        .observer(heard.clone())
        .build(tiered(6, 0))
        .unwrap();
    fail_check(&pool, (2..6).map(|i| format!("p{i}")));
    for _ in 0..10 {
        drop(pool.pick(&Context::new()).unwrap());
    }
    // An update that keeps the tier in panic is no news.
    pool.update(tiered(6, 0)).unwrap();
    drop(pool.pick(&Context::new()).unwrap());
    for i in 2..6 {
        pool.set_health(&BackendId::new(format!("p{i}")), CheckResult::Passed);
    }
    drop(pool.pick(&Context::new()).unwrap());
    let heard = heard.0.lock().unwrap();
    let said: Vec<String> = heard.iter().map(ToString::to_string).collect();
    assert_eq!(
        said,
        [
            "tier 0 in panic: 2 of 6 available, picks spread over all 6",
            "tier 0 out of panic: 6 of 6 available"
        ]
    );
}

#[test]
fn overprovisioning_and_panic_threshold_are_checked() {
    for factor in [0.5, f64::NAN, 1000.0] {
        let err = Pool::builder(RoundRobin::new())
            .overprovisioning(factor)
            .build(tiered(1, 0))
            .err()
            .unwrap();
        assert!(err.to_string().starts_with("bad overprovisioning"), "{err}");
    }
    let err = Pool::builder(RoundRobin::new())
        .panic_threshold(101)
        .build(tiered(1, 0))
        .err()
        .unwrap();
    assert_eq!(err.to_string(), "bad panic_threshold: 101% is above 100%");
    // Factor 1: a tier takes exactly its available share.
    let pool = Pool::builder(RoundRobin::new())
        .overprovisioning(1.0)
        .build(tiered(4, 1))
        .unwrap();
    fail_check(&pool, ["p0".to_string()]);
    assert_eq!(pool.tiers()[0].share, 0.75);
}
