//! Success-rate outlier detection: who is ejected, who is spared, the cap,
//! the return, and the settings, on a manual clock.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pickwise::clock::ManualClock;
use pickwise::health::{HealthConfig, OutlierConfig};
use pickwise::strategy::{Random, RoundRobin};
use pickwise::{
    BackendId, BackendState, Balancer, ConfigError, Context, FailureKind, Outcome, Pool, Reason,
    StateChange, Strategy,
};
use proptest::prelude::*;

const INTERVAL: Duration = Duration::from_secs(10);

/// A pool whose backend `i` answers with success `rates[i]`% of the time,
/// exactly over any 100 of its outcomes; the others are server errors (or
/// connect failures, where `refuse` says so), and an observer keeps every
/// state change.
struct Cluster<S: Strategy> {
    pool: Pool<S, usize>,
    clock: Arc<ManualClock>,
    rates: Vec<u32>,
    sent: Vec<u64>,
    refuse: Vec<bool>,
    changes: Arc<Mutex<Vec<StateChange>>>,
}

impl<S: Strategy> Cluster<S> {
    fn new(strategy: S, rates: &[u32], health: HealthConfig, outliers: OutlierConfig) -> Self {
        let clock = Arc::new(ManualClock::new());
        let changes = Arc::new(Mutex::new(Vec::new()));
        let heard = Arc::clone(&changes);
        let pool = Pool::builder(strategy)
            .clock(clock.clone())
            .health(health)
            .outlier_detection(outliers)
            .observer(move |change: &StateChange| heard.lock().unwrap().push(change.clone()))
            .build(common::equal(rates.len()))
            .unwrap();
        Cluster {
            pool,
            clock,
            rates: rates.to_vec(),
            sent: vec![0; rates.len()],
            refuse: vec![false; rates.len()],
            changes,
        }
    }

    fn serve(&mut self, picks: usize) {
        for _ in 0..picks {
            let mut pick = self.pool.pick(&Context::new()).expect("never all ejected");
            let i = *pick.backend();
            let ok = self.sent[i] % 100 < u64::from(self.rates[i]);
            self.sent[i] += 1;
            pick.record(if ok {
                Outcome::success(Duration::from_millis(1))
            } else if self.refuse[i] {
                Outcome::failure(FailureKind::ConnectRefused, Duration::ZERO)
            } else {
                Outcome::server_error(Duration::from_millis(1))
            });
        }
    }

    /// Ends the interval: the first outcome after it runs the evaluation.
    fn next_interval(&mut self) {
        self.clock.advance(INTERVAL);
        self.serve(1);
    }

    fn ejected(&self) -> Vec<usize> {
        let backends = self.pool.backends();
        let ejected = backends.iter().enumerate();
        ejected
            .filter(|(_, s)| s.state == BackendState::Ejected)
            .map(|(i, _)| i)
            .collect()
    }

    fn status(&self, i: usize) -> pickwise::BackendStatus {
        self.pool.status(&BackendId::new(format!("b{i}"))).unwrap()
    }
}

/// Health with room to eject half the set, so the cap hides no mistake.
fn roomy() -> HealthConfig {
    HealthConfig {
        max_ejected_percent: 50,
        ..HealthConfig::default()
    }
}

/// Nine backends at 99-100% and b3 at 50%.
fn one_bad_of_ten() -> Vec<u32> {
    let mut rates: Vec<u32> = (0..10).map(|i| 99 + i % 2).collect();
    rates[3] = 50;
    rates
}

#[test]
fn one_backend_at_half_success_among_nine_healthy_is_ejected_and_only_it() {
    let mut cluster = Cluster::new(
        RoundRobin::new(),
        &one_bad_of_ten(),
        roomy(),
        OutlierConfig::default(),
    );
    cluster.serve(10 * 100);
    assert!(
        cluster.ejected().is_empty(),
        "nothing before the interval ends"
    );
    cluster.clock.advance(INTERVAL - Duration::from_nanos(1));
    cluster.serve(1);
    assert!(cluster.ejected().is_empty(), "nor just before");

    cluster.next_interval();
    assert_eq!(cluster.ejected(), vec![3]);
    let status = cluster.status(3);
    match status.reason {
        Reason::SuccessRateOutlier {
            rate,
            threshold,
            ejected_for,
        } => {
            assert_eq!(rate, 5000);
            assert!((5000..9900).contains(&threshold), "threshold {threshold}");
            assert_eq!(ejected_for, Duration::from_secs(30));
        }
        other => panic!("ejected for {other:?}"),
    }
    let changes = cluster.changes.lock().unwrap();
    let last = changes.last().unwrap().to_string();
    assert!(
        last.starts_with(
            "backend b3 up -> ejected: success rate 50.00% below the outlier threshold"
        ),
        "{last}"
    );
    assert!(last.ends_with("of its peers; ejected for 30s"), "{last}");
}

#[test]
fn works_under_a_strategy_that_picks_at_random() {
    let mut cluster = Cluster::new(
        Random::new().seeded(7),
        &one_bad_of_ten(),
        roomy(),
        OutlierConfig::default(),
    );
    cluster.serve(10 * 250);
    cluster.next_interval();
    assert_eq!(cluster.ejected(), vec![3]);
}

#[test]
fn fewer_qualifying_backends_than_minimum_hosts_eject_nothing() {
    // One of four at 50%: a factor of 1 would catch it (threshold ~66%).
    let rates = [100, 50, 100, 100];
    let outliers = |minimum_hosts| OutlierConfig {
        minimum_hosts,
        stdev_factor: 1.0,
        ..OutlierConfig::default()
    };
    let mut judged = Cluster::new(RoundRobin::new(), &rates, roomy(), outliers(4));
    judged.serve(4 * 100);
    judged.next_interval();
    assert_eq!(judged.ejected(), vec![1], "the control: four may judge");

    let mut spared = Cluster::new(RoundRobin::new(), &rates, roomy(), outliers(5));
    spared.serve(4 * 100);
    spared.next_interval();
    assert!(spared.ejected().is_empty());
}

#[test]
fn backends_below_the_request_volume_are_not_judged_and_counts_restart_each_interval() {
    let mut enough = Cluster::new(
        RoundRobin::new(),
        &one_bad_of_ten(),
        roomy(),
        OutlierConfig::default(),
    );
    enough.serve(10 * 100);
    enough.next_interval();
    assert_eq!(enough.ejected(), vec![3], "the control: 100 outcomes each");

    let mut short = Cluster::new(
        RoundRobin::new(),
        &one_bad_of_ten(),
        roomy(),
        OutlierConfig::default(),
    );
    short.serve(10 * 99);
    short.next_interval();
    assert!(short.ejected().is_empty(), "99 outcomes are too few");
    // 60 + 60 is enough in sum but not in one interval.
    short.serve(10 * 60 - 1);
    short.next_interval();
    short.serve(10 * 60 - 1);
    short.next_interval();
    assert!(short.ejected().is_empty(), "counts are per interval");
}

#[test]
fn the_cap_holds_and_is_shared_with_consecutive_failures() {
    // Three of ten at 0%: a factor of 0.5 puts all three below (70% - 23%).
    let mut rates = vec![100; 10];
    rates[2] = 0;
    rates[5] = 0;
    rates[7] = 0;
    let health = HealthConfig {
        consecutive_failures: 3,
        max_ejected_percent: 20,
        ..HealthConfig::default()
    };
    let outliers = OutlierConfig {
        stdev_factor: 0.5,
        ..OutlierConfig::default()
    };
    let mut cluster = Cluster::new(RoundRobin::new(), &rates, health.clone(), outliers);
    cluster.serve(10 * 100);
    cluster.next_interval();
    let ejected = cluster.ejected();
    assert_eq!(ejected.len(), 2, "20% of ten: {ejected:?}");
    assert!(ejected.iter().all(|i| rates[*i] == 0), "{ejected:?}");

    // b9 refuses connections and is ejected for that first: it takes one
    // of the two places.
    let mut cluster = Cluster::new(RoundRobin::new(), &rates, health, outliers);
    cluster.rates[9] = 0;
    cluster.refuse[9] = true;
    cluster.serve(10 * 3);
    assert_eq!(cluster.ejected(), vec![9]);
    cluster.serve(9 * 100);
    cluster.next_interval();
    let ejected = cluster.ejected();
    assert_eq!(ejected.len(), 2, "{ejected:?}");
    assert!(ejected.contains(&9));
}

#[test]
fn the_last_backend_always_stays() {
    // Four of five at 0% and a factor of 0: all four are below the mean,
    // and even at 100% the cap leaves one.
    let health = HealthConfig {
        max_ejected_percent: 100,
        ..HealthConfig::disabled()
    };
    let outliers = OutlierConfig {
        stdev_factor: 0.0,
        ..OutlierConfig::default()
    };
    let mut cluster = Cluster::new(RoundRobin::new(), &[0, 0, 100, 0, 0], health, outliers);
    cluster.serve(5 * 100);
    cluster.next_interval();
    assert_eq!(cluster.ejected(), vec![0, 1, 3, 4]);
    // Everything at 0%: no rate is below the mean, nobody else goes.
    cluster.rates[2] = 0;
    cluster.serve(100);
    cluster.next_interval();
    assert_eq!(cluster.ejected(), vec![0, 1, 3, 4]);
    assert_eq!(*cluster.pool.pick(&Context::new()).unwrap().backend(), 2);
}

#[test]
fn an_outlier_returns_after_its_ejection_time_and_stays_out_longer_next_time() {
    let mut cluster = Cluster::new(
        RoundRobin::new(),
        &one_bad_of_ten(),
        roomy(),
        OutlierConfig::default(),
    );
    cluster.serve(10 * 100);
    cluster.next_interval();
    assert_eq!(cluster.ejected(), vec![3]);

    cluster
        .clock
        .advance(Duration::from_secs(30) - Duration::from_nanos(1));
    assert_eq!(cluster.ejected(), vec![3]);
    cluster.clock.advance(Duration::from_nanos(1));
    assert!(cluster.ejected().is_empty(), "back after 30 s");
    // A pick notices the end and announces it.
    cluster.serve(10);
    assert_eq!(cluster.status(3).reason, Reason::EjectionEnded);

    // Still bad: the second ejection in a row lasts twice as long.
    cluster.next_interval();
    cluster.serve(10 * 100);
    cluster.next_interval();
    assert_eq!(cluster.ejected(), vec![3]);
    let Reason::SuccessRateOutlier { ejected_for, .. } = cluster.status(3).reason else {
        panic!("{:?}", cluster.status(3).reason);
    };
    assert_eq!(ejected_for, Duration::from_secs(60));
    cluster.clock.advance(Duration::from_secs(59));
    assert_eq!(cluster.ejected(), vec![3]);
    cluster.clock.advance(Duration::from_secs(1));
    assert!(cluster.ejected().is_empty());

    // Healed: it passes an evaluation, so a later relapse starts at 30 s.
    cluster.rates[3] = 100;
    cluster.next_interval();
    cluster.serve(10 * 100);
    cluster.next_interval();
    assert!(cluster.ejected().is_empty());
    cluster.rates[3] = 50;
    cluster.serve(10 * 100);
    cluster.next_interval();
    assert_eq!(cluster.ejected(), vec![3]);
    let Reason::SuccessRateOutlier { ejected_for, .. } = cluster.status(3).reason else {
        panic!("{:?}", cluster.status(3).reason);
    };
    assert_eq!(ejected_for, Duration::from_secs(30));
}

#[test]
fn bad_outlier_settings_are_config_errors() {
    for bad in [
        OutlierConfig {
            interval: Duration::ZERO,
            ..OutlierConfig::default()
        },
        OutlierConfig {
            request_volume: 0,
            ..OutlierConfig::default()
        },
        OutlierConfig {
            minimum_hosts: 1,
            ..OutlierConfig::default()
        },
        OutlierConfig {
            stdev_factor: f64::NAN,
            ..OutlierConfig::default()
        },
        OutlierConfig {
            stdev_factor: -1.0,
            ..OutlierConfig::default()
        },
    ] {
        let built = Pool::builder(RoundRobin::new())
            .outlier_detection(bad)
            .build(common::equal(3));
        assert!(
            matches!(built, Err(ConfigError::Invalid { .. })),
            "{bad:?} was accepted"
        );
    }
}

#[test]
fn the_reason_reads_well_in_a_log() {
    let reason = Reason::SuccessRateOutlier {
        rate: 5000,
        threshold: 6650,
        ejected_for: Duration::from_secs(30),
    };
    assert_eq!(
        reason.to_string(),
        "success rate 50.00% below the outlier threshold 66.50% of its peers; ejected for 30s"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn never_more_than_the_cap_and_never_the_last(
        rates in proptest::collection::vec(0u32..=100, 2..=16),
        refusing in proptest::collection::vec(any::<bool>(), 16),
        percent in 0u8..=100,
        factor in 0.0f64..3.0,
        minimum_hosts in 2usize..=8,
        intervals in 1usize..=4,
    ) {
        let n = rates.len();
        let health = HealthConfig {
            max_ejected_percent: percent,
            ..HealthConfig::default()
        };
        let cap = health.ejection_cap(n);
        let outliers = OutlierConfig {
            minimum_hosts,
            stdev_factor: factor,
            ..OutlierConfig::default()
        };
        let mut cluster = Cluster::new(RoundRobin::new(), &rates, health, outliers);
        cluster.refuse.copy_from_slice(&refusing[..n]);
        for _ in 0..intervals {
            cluster.serve(n * 100);
            cluster.next_interval();
            let ejected = cluster.ejected();
            prop_assert!(ejected.len() <= cap, "{ejected:?} over the cap {cap}");
            prop_assert!(ejected.len() < n, "all ejected");
            prop_assert!(cluster.pool.pick(&Context::new()).is_ok());
        }
    }
}
