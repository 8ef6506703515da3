//! Sequences of everything a program does to a pool, over every strategy,
//! after Envoy's load-balancer fuzzer: set updates (tiers, caps, empty and
//! invalid sets), admin states, health-check results, agent replies, probe
//! replies, picks held and dropped (owned, and through a `Picker`), outcomes
//! (late failures too) and clock jumps, under passive health, outlier
//! detection, slow start and panic thresholds the input chooses.
//!
//! Checked after every step: no panic; bad input is an `Err` and nothing
//! else; a pick never goes to a backend held out (down, draining, or
//! unhealthy or ejected outside panic), nor to one at its cap, nor to a tier
//! the plan gives no traffic while a better tier could take it, and a pick
//! fails only when no backend could take it; in-flight counts equal the
//! picks alive; an ejection never takes the ejected backends past the cap
//! of `max_ejected_percent` nor ejects the last backend; states agree with
//! the ejections seen. (tests/random_operations.rs is the proptest model of
//! the same sequences, smaller.)

#![no_main]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pickwise::clock::{Clock, ManualClock};
use pickwise::hash::HashKey;
use pickwise::health::{CheckFailure, CheckResult};
use pickwise::health::{HealthConfig, OutlierConfig, SlowStart};
use pickwise::spec::{MAX_CONNS, MAX_PRIORITY, MAX_WEIGHT};
use pickwise::strategy::ProbeReply;
use pickwise::strategy::{
    AnyStrategy, BoundedLoad, Maglev, RingHash, StrategyKind, StrategyOptions,
};
use pickwise::{
    AdminState, BackendId, BackendSpec, BackendState, BackendStatus, Balancer, Context,
    FailureKind, Observer, Outcome, Pick, Pool, Reason, StateChange, TierStatus,
};

/// The rules every pick keeps, shared with tests/random_operations.rs.
#[path = "../../tests/rules/pick_rules.rs"]
mod pick_rules;

/// Distinct backend ids the operations name.
const IDS: u8 = 8;
/// Picks held at once, at most.
const MAX_HELD: usize = 64;

/// Words an agent sends, valid and not, joined into replies.
const AGENT_WORDS: &[&str] = &[
    "75%",
    "0%",
    "100%",
    "1000%",
    "1001%",
    "50%",
    "weight:3",
    "weight:0",
    "weight:1000000",
    "weight:75%",
    "drain",
    "up",
    "ready",
    "down",
    "maint",
    "fail",
    "stopped",
    "maxconn:5",
    "#disk full",
    "bogus",
    "-5%",
];

#[derive(Debug, Arbitrary)]
struct Settings {
    kind: u8,
    /// Failures in a row that eject (0: passive health off).
    consecutive_failures: u8,
    base_ejection_secs: u8,
    max_ejection_factor: u8,
    max_ejected_percent: u8,
    /// Interval (s), request volume, minimum hosts, stdev factor (tenths).
    outliers: Option<(u8, u8, u8, u8)>,
    /// Window (s) and floor percent.
    slow_start: Option<(u8, u8)>,
    panic_threshold: Option<u8>,
    /// Tenths above 1.
    overprovisioning: Option<u8>,
    agent_expiry_secs: u8,
}

#[derive(Debug, Arbitrary)]
struct Member {
    id: u8,
    /// 0 and 255 are invalid weights, 254 the largest; else 1..=4.
    weight: u8,
    /// Tiers 0..=2, or one past the largest.
    priority: u8,
    /// 0 for no cap, 255 for one past the largest, else 1..=3.
    cap: u8,
}

#[derive(Debug, Arbitrary)]
enum Op {
    Update(Vec<Member>),
    SetState(u8, u8),
    SetHealth(u8, bool),
    /// Agent words by index, joined by a space.
    Agent(u8, Vec<u8>),
    AgentRaw(u8, Vec<u8>),
    Probe(u8, u8, u16),
    /// Excluded ids as a bit mask, and a key for the hash strategies.
    Pick(u8, Option<u8>),
    /// A pick through the `Picker`, kept (made owned) or dropped at once.
    PickLocal(u8, bool),
    Record(u8, u8, u16),
    RecordLate(u8, u16),
    Drop(u8),
    /// Milliseconds times ten (up to about 11 minutes).
    Advance(u16),
}

#[derive(Debug, Arbitrary)]
struct Input {
    settings: Settings,
    ops: Vec<Op>,
}

fn id(n: u8) -> BackendId {
    BackendId::new(format!("b{}", n % IDS))
}

fn spec(member: &Member) -> BackendSpec<u8> {
    let weight = match member.weight {
        0 => 0,
        255 => MAX_WEIGHT + 1,
        254 => MAX_WEIGHT,
        w => u32::from(w % 4) + 1,
    };
    let priority = match member.priority % 4 {
        3 => MAX_PRIORITY + 1,
        p => p,
    };
    let spec = BackendSpec::new(id(member.id), member.id % IDS)
        .weight(weight)
        .priority(priority);
    match member.cap {
        0 => spec,
        255 => spec.max_conns(MAX_CONNS + 1),
        cap => spec.max_conns(u32::from(cap % 3) + 1),
    }
}

/// Whether the pool must accept this set.
fn valid(specs: &[BackendSpec<u8>]) -> bool {
    let mut ids: Vec<&BackendId> = specs.iter().map(|s| &s.id).collect();
    ids.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
    ids.dedup();
    ids.len() == specs.len()
        && specs.iter().all(|s| {
            (1..=MAX_WEIGHT).contains(&s.weight)
                && s.priority <= MAX_PRIORITY
                && s.max_conns.is_none_or(|cap| (1..=MAX_CONNS).contains(&cap))
        })
}

fn health(settings: &Settings) -> HealthConfig {
    let base = Duration::from_secs(u64::from(settings.base_ejection_secs % 30) + 1);
    HealthConfig {
        consecutive_failures: u32::from(settings.consecutive_failures % 6),
        base_ejection: base,
        max_ejection: base * (u32::from(settings.max_ejection_factor % 10) + 1),
        max_ejected_percent: settings.max_ejected_percent % 101,
    }
}

/// The cap on ejected backends, worked out here rather than asked of the
/// library: `max_ejected_percent` of the set, at least one, never all.
fn ejection_cap(members: usize, percent: u8) -> usize {
    let share = members * usize::from(percent) / 100;
    share.max(1).min(members.saturating_sub(1))
}

/// Checks one pick against the pool as it stood just before it.
fn check_pick(
    kind: StrategyKind,
    picked: &BackendId,
    before: &[BackendStatus],
    tiers: &[TierStatus],
    exclude: &[BackendId],
) {
    if let Some(broken) = pick_rules::broken_by_pick(picked, before, tiers, exclude) {
        panic!("{kind}: {broken}");
    }
}

/// Checks a failed pick: no backend could have taken it.
fn check_no_pick(
    kind: StrategyKind,
    before: &[BackendStatus],
    tiers: &[TierStatus],
    exclude: &[BackendId],
) {
    if let Some(broken) = pick_rules::broken_by_no_pick(before, tiers, exclude) {
        panic!("{kind}: {broken}");
    }
}

/// What the observer heard: the ejections' exact lengths.
#[derive(Default)]
struct Heard(Mutex<Vec<StateChange>>);

struct Listener(Arc<Heard>);

impl Observer for Listener {
    fn state_changed(&self, change: &StateChange) {
        self.0 .0.lock().expect("not poisoned").push(change.clone());
    }
}

/// An ejection as seen from outside: from when, and between which ends
/// (exact when an observer heard it; a state change an operator's down
/// hides is not announced, so then only the ejection-time bounds are known).
#[derive(Debug, Clone, Copy)]
struct Ejection {
    earliest_end: Duration,
    latest_end: Duration,
}

/// The strategy of `kind`, its tables small (a Maglev table of 251
/// entries, rings of 8 points per unit) so that each update is quick.
fn strategy(kind: StrategyKind, seed: u64) -> AnyStrategy {
    let key = HashKey::from_bytes([7; 16]);
    match kind {
        StrategyKind::Maglev => Maglev::new().with_key(key).size(251).into(),
        StrategyKind::RingHash => RingHash::new().with_key(key).points_per_unit(8).into(),
        StrategyKind::BoundedLoad => BoundedLoad::new().with_key(key).points_per_unit(8).into(),
        _ => AnyStrategy::with_options(
            kind,
            &StrategyOptions {
                hash_key: Some(key),
                seed: Some(seed),
                v6_prefix: None,
                load_report_blackout: None,
            },
        ),
    }
}

fn exclusion(mask: u8) -> Vec<BackendId> {
    (0..IDS).filter(|b| mask & (1 << b) != 0).map(id).collect()
}

fn outcome(kind: u8, latency: Duration) -> Outcome {
    match kind % 6 {
        0 | 1 => Outcome::success(latency),
        2 => Outcome::server_error(latency),
        3 => Outcome::failure(FailureKind::ConnectRefused, latency),
        4 => Outcome::failure(FailureKind::Timeout, latency),
        _ => Outcome::client_fault(latency),
    }
}

fuzz_target!(|input: Input| {
    let settings = &input.settings;
    let kind = StrategyKind::ALL[usize::from(settings.kind) % StrategyKind::ALL.len()];
    let clock = Arc::new(ManualClock::new());
    let heard = Arc::new(Heard::default());
    let health = health(settings);
    let mut builder = Pool::builder(strategy(kind, u64::from(settings.kind)))
        .clock(clock.clone())
        .counts_in_flight(true)
        .health(health.clone())
        .agent_expiry(Duration::from_secs(
            u64::from(settings.agent_expiry_secs % 60) + 1,
        ))
        .observer(Listener(heard.clone()));
    if let Some((interval, volume, hosts, factor)) = settings.outliers {
        builder = builder.outlier_detection(OutlierConfig {
            interval: Duration::from_secs(u64::from(interval % 10) + 1),
            request_volume: u64::from(volume % 5) + 1,
            minimum_hosts: usize::from(hosts % 3) + 2,
            stdev_factor: f64::from(factor % 40) / 10.0,
        });
    }
    if let Some((window, floor)) = settings.slow_start {
        builder = builder.slow_start(SlowStart {
            window: Duration::from_secs(u64::from(window % 60)),
            floor_percent: floor % 100 + 1,
        });
    }
    if let Some(percent) = settings.panic_threshold {
        builder = builder.panic_threshold(percent % 101);
    }
    if let Some(tenths) = settings.overprovisioning {
        builder = builder.overprovisioning(1.0 + f64::from(tenths % 30) / 10.0);
    }
    let pool = builder
        .build((0..3).map(|n| BackendSpec::new(id(n), n)))
        .expect("valid settings and set");
    heard.0.lock().expect("not poisoned").clear();

    let mut held: Vec<Pick<u8>> = Vec::new();
    let mut picker = pool.picker();
    let mut ejected: HashMap<BackendId, Ejection> = HashMap::new();
    let mut times_ejected: HashMap<BackendId, u64> = pool
        .backends()
        .into_iter()
        .map(|s| (s.id, s.ejections))
        .collect();

    for op in input.ops.iter().take(256) {
        match op {
            Op::Update(members) => {
                let specs: Vec<BackendSpec<u8>> = members.iter().take(10).map(spec).collect();
                let expected = valid(&specs);
                let ids: Vec<BackendId> = specs.iter().map(|s| s.id.clone()).collect();
                let result = pool.update(specs);
                assert_eq!(
                    result.is_ok(),
                    expected,
                    "{kind}: update of {ids:?}: {result:?}"
                );
                if result.is_ok() {
                    assert_eq!(pool.is_empty(), ids.is_empty());
                    // A removed backend leaves its ejection behind; added
                    // again, it starts up.
                    ejected.retain(|id, _| ids.contains(id));
                }
            }
            Op::SetState(n, s) => {
                let state =
                    [AdminState::Up, AdminState::Draining, AdminState::Down][usize::from(*s % 3)];
                pool.set_state(&id(*n), state, Reason::Admin("fuzz".into()));
            }
            Op::SetHealth(n, pass) => {
                let result = if *pass {
                    CheckResult::Passed
                } else {
                    CheckResult::Failed(CheckFailure::TimedOut)
                };
                if pool.set_health(&id(*n), result) && *pass {
                    // A passing check ends a passive ejection.
                    ejected.remove(&id(*n));
                }
            }
            Op::Agent(n, words) => {
                let reply: Vec<&str> = words
                    .iter()
                    .take(6)
                    .map(|w| AGENT_WORDS[usize::from(*w) % AGENT_WORDS.len()])
                    .collect();
                let reply = reply.join(" ");
                let parsed = reply.parse::<pickwise::agent::AgentReport>();
                let applied = pool.apply_agent_reply(&id(*n), reply.as_bytes());
                if pool.status(&id(*n)).is_some() {
                    assert_eq!(applied, parsed, "{reply:?}");
                } else {
                    assert!(applied.is_err());
                }
            }
            Op::AgentRaw(n, bytes) => {
                let _ = pool.apply_agent_reply(&id(*n), bytes);
            }
            Op::Probe(n, in_flight, latency) => {
                let reply = ProbeReply::new(
                    u32::from(*in_flight),
                    Duration::from_micros(u64::from(*latency) * 100),
                );
                let applied = pool.apply_probe(&id(*n), reply);
                assert_eq!(applied.is_ok(), pool.status(&id(*n)).is_some());
            }
            Op::Pick(mask, key) => {
                let exclude = exclusion(*mask);
                let key_bytes = key.map(|k| [k, k.wrapping_mul(31)]);
                let mut ctx = Context::new().exclude(&exclude);
                if let Some(bytes) = &key_bytes {
                    ctx = ctx.key(bytes);
                }
                let tiers = pool.tiers();
                let before = pool.backends();
                match pool.pick(&ctx) {
                    Ok(pick) => {
                        check_pick(kind, pick.id(), &before, &tiers, &exclude);
                        if held.len() < MAX_HELD {
                            held.push(pick);
                        }
                    }
                    Err(_) => check_no_pick(kind, &before, &tiers, &exclude),
                }
            }
            Op::PickLocal(mask, keep) => {
                let exclude = exclusion(*mask);
                let tiers = pool.tiers();
                let before = pool.backends();
                match picker.pick(&Context::new().exclude(&exclude)) {
                    Ok(pick) => {
                        check_pick(kind, pick.id(), &before, &tiers, &exclude);
                        assert!(
                            pool.status(pick.id()).is_some(),
                            "{kind}: picked from a stale set"
                        );
                        if *keep && held.len() < MAX_HELD {
                            held.push(pick.into_owned());
                        }
                    }
                    Err(_) => check_no_pick(kind, &before, &tiers, &exclude),
                }
            }
            Op::Record(i, o, latency) if !held.is_empty() => {
                let latency = Duration::from_millis(u64::from(*latency) % 2000);
                let n = held.len();
                held[usize::from(*i) % n].record(outcome(*o, latency));
            }
            Op::RecordLate(i, latency) if !held.is_empty() => {
                let latency = Duration::from_millis(u64::from(*latency) % 2000);
                let n = held.len();
                held[usize::from(*i) % n].record_late_failure(FailureKind::Reset, latency);
            }
            Op::Drop(i) if !held.is_empty() => {
                let n = held.len();
                drop(held.swap_remove(usize::from(*i) % n));
            }
            Op::Advance(tens) => clock.advance(Duration::from_millis(u64::from(*tens) * 10)),
            Op::Record(..) | Op::RecordLate(..) | Op::Drop(_) => {}
        }

        let now = clock.now();
        let statuses = pool.backends();

        // In flight: exactly the picks alive.
        let mut expected: HashMap<&BackendId, u64> = HashMap::new();
        for pick in &held {
            *expected.entry(pick.id()).or_default() += 1;
        }
        for status in &statuses {
            let want = expected.get(&status.id).copied().unwrap_or(0);
            assert_eq!(
                status.in_flight,
                Some(want),
                "{kind}: in flight of {}",
                status.id
            );
        }

        // Ejections: each new one within the cap, never the last backend.
        let mut exact: HashMap<BackendId, Duration> = HashMap::new();
        let changes: Vec<StateChange> = heard.0.lock().expect("not poisoned").drain(..).collect();
        for change in changes {
            match change.reason {
                Reason::Failures { ejected_for, .. }
                | Reason::SuccessRateOutlier { ejected_for, .. } => {
                    assert_eq!(change.at, now, "{kind}: an ejection stamped off the clock");
                    exact.insert(change.id, ejected_for);
                }
                _ => {}
            }
        }
        let mut new = Vec::new();
        for status in &statuses {
            let before = times_ejected
                .insert(status.id.clone(), status.ejections)
                .unwrap_or(0);
            // Only one ejection per backend per step: it is ejected until
            // at least the base ejection time from now.
            assert!(
                status.ejections <= before + 1,
                "{kind}: {} ejected {} times in one step",
                status.id,
                status.ejections - before
            );
            if status.ejections > before {
                let ejection = match exact.remove(&status.id) {
                    Some(time) => Ejection {
                        earliest_end: now + time,
                        latest_end: now + time,
                    },
                    None => Ejection {
                        earliest_end: now + health.base_ejection,
                        latest_end: now + health.max_ejection,
                    },
                };
                ejected.insert(status.id.clone(), ejection);
                new.push(status.id.clone());
            }
        }
        assert!(
            exact.is_empty(),
            "{kind}: ejections heard but not counted: {exact:?}"
        );
        if !new.is_empty() {
            let members = statuses.len();
            let surely_ejected = statuses
                .iter()
                .filter(|s| ejected.get(&s.id).is_some_and(|e| e.earliest_end > now))
                .count();
            assert!(
                surely_ejected < members,
                "{kind}: ejected {new:?}, the last of {members} backends"
            );
            let cap = ejection_cap(members, health.max_ejected_percent);
            assert!(
                surely_ejected <= cap,
                "{kind}: ejected {new:?}: {surely_ejected} of {members} ejected, past the cap of {cap} ({}%)",
                health.max_ejected_percent
            );
        }
        // States agree with the ejections seen.
        for status in &statuses {
            let ejection = ejected.get(&status.id);
            match status.state {
                BackendState::Ejected => assert!(
                    ejection.is_some_and(|e| e.latest_end > now),
                    "{kind}: {} shows ejected with no ejection in force ({ejection:?})",
                    status.id
                ),
                BackendState::Up | BackendState::Draining => assert!(
                    ejection.is_none_or(|e| e.earliest_end <= now),
                    "{kind}: {} shows {} while ejected until {ejection:?}",
                    status.id,
                    status.state
                ),
                _ => {}
            }
        }
        ejected.retain(|_, e| e.latest_end > now);
    }
    drop(picker);
    held.clear();
    assert!(
        pool.backends().iter().all(|s| s.in_flight == Some(0)),
        "{kind}: picks still counted after all were dropped"
    );
});
