//! Request keys on the hash strategies: any bytes as a key pick an eligible
//! backend, and the same key the same backend while the set stays as it is.
//! The input chooses the strategy, the table's secret, the set (weights,
//! backends drained or down) and the keys.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pickwise::hash::HashKey;
use pickwise::strategy::{
    AnyStrategy, BoundedLoad, Maglev, Rendezvous, RingHash, SourceIpHash, StrategyKind,
};
use pickwise::{AdminState, BackendId, BackendSpec, Balancer, Context, Pool, Reason};

/// Maglev table sizes, all primes: small ones keep runs fast.
const MAGLEV_SIZES: &[u32] = &[29, 251, 1021, 4093, Maglev::DEFAULT_SIZE];

#[derive(Debug, Arbitrary)]
struct Input {
    kind: u8,
    secret: [u8; 16],
    /// The table's size: Maglev's entries, the rings' points per unit.
    size: u8,
    /// Bounded load's epsilon, in tenths.
    epsilon: u8,
    /// Each backend's weight (1..=8) and admin state.
    backends: Vec<(u8, u8)>,
    keys: Vec<Vec<u8>>,
}

/// The hash strategy the input names, keyed by `secret`.
fn strategy(input: &Input, secret: HashKey) -> AnyStrategy {
    let points = u32::from(input.size % 40) + 1;
    match input.kind % 5 {
        0 => Maglev::new()
            .with_key(secret)
            .size(MAGLEV_SIZES[usize::from(input.size) % MAGLEV_SIZES.len()])
            .into(),
        1 => RingHash::new()
            .with_key(secret)
            .points_per_unit(points)
            .into(),
        2 => Rendezvous::new().with_key(secret).into(),
        3 => BoundedLoad::new()
            .with_key(secret)
            .points_per_unit(points)
            .epsilon(f64::from(input.epsilon % 30) / 10.0 + 0.1)
            .into(),
        _ => SourceIpHash::new().with_key(secret).into(),
    }
}

fuzz_target!(|input: Input| {
    let secret = HashKey::from_bytes(input.secret);
    let strategy = strategy(&input, secret);
    let kind: StrategyKind = strategy.kind();
    for key in &input.keys {
        assert_eq!(secret.hash(key), secret.hash(key));
    }
    let backends = &input.backends[..input.backends.len().min(24)];
    let specs = backends.iter().enumerate().map(|(n, &(weight, _))| {
        BackendSpec::new(format!("b{n}"), n).weight(u32::from(weight % 8) + 1)
    });
    let pool = Pool::new(strategy, specs).expect("a valid set");
    for (n, &(_, state)) in backends.iter().enumerate() {
        let state = match state % 4 {
            0 => AdminState::Draining,
            1 => AdminState::Down,
            _ => AdminState::Up,
        };
        pool.set_state(
            &BackendId::new(format!("b{n}")),
            state,
            Reason::Program("fuzz".into()),
        );
    }
    let eligible: Vec<BackendId> = pool
        .backends()
        .into_iter()
        .filter(|s| s.admin == AdminState::Up)
        .map(|s| s.id)
        .collect();
    for key in input.keys.iter().take(32) {
        let first = pool.pick(&Context::new().key(key));
        match &first {
            Ok(pick) => assert!(
                eligible.contains(pick.id()),
                "{kind}: key {key:?} went to {}, not up",
                pick.id()
            ),
            Err(error) => assert!(
                eligible.is_empty(),
                "{kind}: key {key:?} found no backend ({error}) while {eligible:?} are up"
            ),
        }
        let first = first.map(|pick| pick.id().clone());
        let again = pool
            .pick(&Context::new().key(key))
            .map(|pick| pick.id().clone());
        assert_eq!(
            first, again,
            "{kind}: key {key:?} moved on an unchanged set"
        );
    }
});
