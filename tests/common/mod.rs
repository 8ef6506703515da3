//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::sync::Arc;

use pickwise::clock::ManualClock;
use pickwise::{BackendSpec, Pool, Strategy};

/// Backends named `b0`, `b1`, ... with the given weights; the payload is the index.
pub fn weighted(weights: &[u32]) -> Vec<BackendSpec<usize>> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| BackendSpec::new(format!("b{i}"), i).weight(w))
        .collect()
}

/// `n` backends of weight 1.
pub fn equal(n: usize) -> Vec<BackendSpec<usize>> {
    weighted(&vec![1; n])
}

/// A pool on a manual clock, returned with the clock.
pub fn pool_with_clock<S: Strategy>(
    strategy: S,
    specs: Vec<BackendSpec<usize>>,
) -> (Pool<S, usize>, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new());
    let pool = Pool::builder(strategy)
        .clock(clock.clone())
        .build(specs)
        .expect("valid pool");
    (pool, clock)
}

/// One step of a random sequence of picks and drops.
#[derive(Debug, Clone)]
pub enum Op {
    Pick,
    /// Drop the outstanding pick at this position (modulo their number).
    Drop(usize),
}

/// Sequences of picks and drops, picks a little more likely.
pub fn ops() -> impl proptest::strategy::Strategy<Value = Vec<Op>> {
    use proptest::prelude::*;
    prop::collection::vec(
        prop_oneof![3 => Just(Op::Pick), 2 => any::<usize>().prop_map(Op::Drop)],
        1..300,
    )
}
