//! Pool-level checks of the strategies' randomness: unseeded strategies
//! share no random sequence between threads.

use super::{Balancer, Pool};
use crate::strategy::kernel::rng::SHARED_DRAWS;
use crate::strategy::{AnyStrategy, StrategyKind, StrategyOptions};
use crate::types::{BackendSpec, Context, Outcome};

/// Draws from a shared sequence made by this thread during `picks`
/// keyless, clientless picks (the ones hash strategies spread at random)
/// with outcomes recorded, from a pool of `strategy` over 8 backends.
fn shared_draws(strategy: AnyStrategy, picks: usize) -> u64 {
    let specs = (0..8).map(|i| BackendSpec::new(format!("b{i}"), i));
    let pool = Pool::new(strategy, specs).unwrap();
    let before = SHARED_DRAWS.with(|d| d.get());
    for _ in 0..picks {
        let mut pick = pool.pick(&Context::new()).unwrap();
        pick.record(Outcome::success(std::time::Duration::from_millis(1)));
    }
    SHARED_DRAWS.with(|d| d.get()) - before
}

#[test]
fn no_unseeded_strategy_draws_from_a_shared_sequence() {
    for &kind in StrategyKind::ALL {
        let draws = shared_draws(AnyStrategy::new(kind), 200);
        assert_eq!(
            draws, 0,
            "{kind} built unseeded drew {draws} times from a shared sequence"
        );
    }
}

#[test]
fn seeded_randomised_strategies_do_draw_from_their_sequence() {
    // The check above can fail: a seeded strategy is seen drawing.
    let options = StrategyOptions {
        seed: Some(7),
        ..StrategyOptions::default()
    };
    for kind in [
        StrategyKind::P2c,
        StrategyKind::PeakEwma,
        StrategyKind::SdnAdaptive,
        StrategyKind::Random,
        StrategyKind::Maglev,
    ] {
        let draws = shared_draws(AnyStrategy::with_options(kind, &options), 50);
        assert!(draws >= 50, "{kind} seeded drew only {draws} times");
    }
}
