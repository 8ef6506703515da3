//! Agent replies (HAProxy's agent-check words: `75%`, `drain`,
//! `up 50%`, `weight:3`, `maxconn:10`, `down#disk full`): any bytes parse or
//! are refused, never a panic; what parses is in range, and applying it to a
//! pool leaves every backend pickable as its state says.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pickwise::agent::{AgentReport, Capacity, MAX_PERCENT};
use pickwise::spec::MAX_WEIGHT;
use pickwise::strategy::WeightedRoundRobin;
use pickwise::{AdminState, BackendId, BackendSpec, Balancer, Context, Pool};

fuzz_target!(|data: &[u8]| {
    let parsed = AgentReport::parse(data);
    if let Ok(report) = &parsed {
        match report.capacity {
            Some(Capacity::Percent(p)) => assert!(p <= MAX_PERCENT, "{data:?}: {report:?}"),
            Some(Capacity::Weight(w)) => assert!(w <= MAX_WEIGHT, "{data:?}: {report:?}"),
            None => {}
        }
        if let Some(state) = &report.state {
            assert_eq!(state.word, state.word.to_ascii_lowercase());
        }
    }
    // The same reply applied through the pool: the same verdict, and picks
    // that follow it.
    let pool = Pool::new(
        WeightedRoundRobin::new(),
        vec![
            BackendSpec::new("a", 0u8).weight(MAX_WEIGHT),
            BackendSpec::new("b", 1u8),
        ],
    )
    .expect("a valid set");
    let a = BackendId::new("a");
    let applied = pool.apply_agent_reply(&a, data);
    assert_eq!(applied, parsed, "{data:?}");
    let status = pool.status(&a).expect("a is in the set");
    if let Ok(report) = &parsed {
        if let Some(state) = &report.state {
            assert_eq!(status.admin, state.admin, "{data:?}");
        }
    }
    for _ in 0..4 {
        let pick = pool.pick(&Context::new()).expect("b is always up");
        if pick.id() == &a {
            assert_eq!(
                status.admin,
                AdminState::Up,
                "{data:?}: picked while not up"
            );
            assert!(status.effective_weight > 0, "{data:?}: picked at weight 0");
        }
    }
    assert!(pool
        .apply_agent_reply(&BackendId::new("nobody"), data)
        .is_err());
});
