mod common;

use std::time::Duration;

use pickwise::agent::{AgentError, AgentReport, Capacity};
use pickwise::strategy::WeightedRoundRobin;
use pickwise::strategy::WEIGHT_UNIT;
use pickwise::{AdminState, BackendId, BackendSpec, BackendState, Reason};

fn parse(text: &str) -> AgentReport {
    text.parse()
        .unwrap_or_else(|e| panic!("`{text}` must parse: {e}"))
}

fn admin(report: &AgentReport) -> Option<AdminState> {
    report.state.as_ref().map(|s| s.admin)
}

#[test]
fn haproxy_vectors_parse() {
    let r = parse("75%");
    assert_eq!(r.capacity, Some(Capacity::Percent(75)));
    assert_eq!((r.maxconn, admin(&r)), (None, None));

    let r = parse("up 75%");
    assert_eq!(r.capacity, Some(Capacity::Percent(75)));
    assert_eq!(admin(&r), Some(AdminState::Up));

    let r = parse("drain");
    assert_eq!((r.capacity, admin(&r)), (None, Some(AdminState::Draining)));

    let r = parse("maint");
    assert_eq!(admin(&r), Some(AdminState::Down));
    assert_eq!(r.state.unwrap().word, "maint");

    let r = parse("down#disk full");
    let state = r.state.unwrap();
    assert_eq!(state.admin, AdminState::Down);
    assert_eq!(state.description.as_deref(), Some("disk full"));
    assert_eq!(state.reason_text(), "down#disk full");

    assert_eq!(admin(&parse("ready")), Some(AdminState::Up));

    let r = parse("maxconn:30");
    assert_eq!((r.maxconn, r.capacity, admin(&r)), (Some(30), None, None));

    assert_eq!(parse("weight:50%").capacity, Some(Capacity::Percent(50)));
    assert_eq!(parse("weight:7").capacity, Some(Capacity::Weight(7)));

    let r = parse("75%,maxconn:30,maint");
    assert_eq!(r.capacity, Some(Capacity::Percent(75)));
    assert_eq!(r.maxconn, Some(30));
    assert_eq!(admin(&r), Some(AdminState::Down));
}

#[test]
fn separators_case_line_endings_and_combined_states() {
    let r = parse("UP\t 80% , maxconn:5\r\n");
    assert_eq!(r.capacity, Some(Capacity::Percent(80)));
    assert_eq!((r.maxconn, admin(&r)), (Some(5), Some(AdminState::Up)));
    // The most restrictive state word of a line wins, whatever the order.
    assert_eq!(admin(&parse("drain up")), Some(AdminState::Draining));
    assert_eq!(admin(&parse("up fail")), Some(AdminState::Down));
    assert_eq!(admin(&parse("stopped ready")), Some(AdminState::Down));
    assert_eq!(
        AgentReport::parse(b"0%\n").unwrap().capacity,
        Some(Capacity::Percent(0))
    );
}

#[test]
fn garbage_is_a_clear_error() {
    assert_eq!("".parse::<AgentReport>(), Err(AgentError::Empty));
    assert_eq!(" \t,\r\n".parse::<AgentReport>(), Err(AgentError::Empty));
    assert_eq!(AgentReport::parse(b"\xff75%"), Err(AgentError::NotUtf8));
    for bad in [
        "-5%",
        "1e400%",
        "NaN%",
        "75.5%",
        "1001%",
        "99999999999%",
        "%",
    ] {
        let err = bad.parse::<AgentReport>().unwrap_err();
        assert!(
            matches!(err, AgentError::BadPercent { .. }),
            "{bad}: {err:?}"
        );
        assert!(err.to_string().contains(bad), "{err}");
    }
    for bad in ["NaN", "inf", "upp", "weight", "75"] {
        assert_eq!(
            bad.parse::<AgentReport>(),
            Err(AgentError::UnknownWord(bad.into()))
        );
    }
    for bad in [
        "weight:-1",
        "weight:1000001",
        "maxconn:x",
        "maxconn:4294967296",
    ] {
        let err = bad.parse::<AgentReport>().unwrap_err();
        assert!(
            matches!(err, AgentError::BadNumber { .. }),
            "{bad}: {err:?}"
        );
    }
}

fn status(pool: &pickwise::Pool<WeightedRoundRobin, usize>, id: &str) -> pickwise::BackendStatus {
    pool.status(&BackendId::new(id)).unwrap()
}

#[test]
fn capacity_scales_the_configured_weight_and_expires() {
    let (pool, clock) =
        common::pool_with_clock(WeightedRoundRobin::new(), common::weighted(&[4, 2]));
    let b0 = BackendId::new("b0");
    pool.apply_agent_reply(&b0, b"75%\n").unwrap();
    assert_eq!(status(&pool, "b0").effective_weight, 3 * WEIGHT_UNIT);
    assert_eq!(status(&pool, "b1").effective_weight, 2 * WEIGHT_UNIT);

    // A configured-weight update keeps the agent's percentage on top.
    pool.update(vec![
        BackendSpec::new("b0", 0).weight(8),
        BackendSpec::new("b1", 1).weight(2),
    ])
    .unwrap();
    assert_eq!(status(&pool, "b0").effective_weight, 6 * WEIGHT_UNIT);

    // Renewed just before expiry: still in force.
    clock.advance(Duration::from_secs(9));
    pool.apply_agent_reply(&b0, b"50%").unwrap();
    clock.advance(Duration::from_secs(9));
    assert_eq!(status(&pool, "b0").effective_weight, 4 * WEIGHT_UNIT);
    // Stale: back to the configured weight.
    clock.advance(Duration::from_secs(2));
    assert_eq!(status(&pool, "b0").effective_weight, 8 * WEIGHT_UNIT);

    // weight:N is absolute and expires the same way.
    pool.apply_agent_reply(&b0, b"weight:3").unwrap();
    assert_eq!(status(&pool, "b0").effective_weight, 3 * WEIGHT_UNIT);
    clock.advance(Duration::from_secs(11));
    assert_eq!(status(&pool, "b0").effective_weight, 8 * WEIGHT_UNIT);
}

#[test]
fn state_words_persist_with_the_agents_reason() {
    let (pool, clock) = common::pool_with_clock(WeightedRoundRobin::new(), common::equal(2));
    let b1 = BackendId::new("b1");
    pool.apply_agent_reply(&b1, b"down#disk full").unwrap();
    let s = status(&pool, "b1");
    assert_eq!(s.state, BackendState::Down);
    assert_eq!(s.reason, Reason::Agent("down#disk full".into()));
    clock.advance(Duration::from_secs(3600));
    assert_eq!(status(&pool, "b1").state, BackendState::Down);
    // Words not sent leave the state alone.
    pool.apply_agent_reply(&b1, b"maxconn:10").unwrap();
    assert_eq!(status(&pool, "b1").state, BackendState::Down);
    pool.apply_agent_reply(&b1, b"ready").unwrap();
    assert_eq!(status(&pool, "b1").state, BackendState::Up);
}

#[test]
fn bad_replies_and_unknown_backends_change_nothing() {
    let (pool, _clock) = common::pool_with_clock(WeightedRoundRobin::new(), common::equal(2));
    let b0 = BackendId::new("b0");
    assert!(pool.apply_agent_reply(&b0, b"drain -5%").is_err());
    assert_eq!(status(&pool, "b0").state, BackendState::Up);
    assert_eq!(
        pool.apply_agent_reply(&BackendId::new("nope"), b"drain"),
        Err(AgentError::UnknownBackend(BackendId::new("nope")))
    );
    let zero = pickwise::Pool::builder(WeightedRoundRobin::new())
        .agent_expiry(Duration::ZERO)
        .build(common::equal(1));
    assert!(zero.is_err());
}

#[test]
fn each_backend_expires_on_its_own_schedule() {
    let (pool, clock) =
        common::pool_with_clock(WeightedRoundRobin::new(), common::weighted(&[2, 2, 2]));
    let (b0, b1) = (BackendId::new("b0"), BackendId::new("b1"));
    pool.apply_agent_reply(&b0, b"50%").unwrap();
    clock.advance(Duration::from_secs(5));
    pool.apply_agent_reply(&b1, b"weight:5").unwrap();
    pool.apply_agent_reply(&b1, b"150%").unwrap();
    let weights = |pool: &pickwise::Pool<WeightedRoundRobin, usize>| {
        pool.backends()
            .iter()
            .map(|s| s.effective_weight / WEIGHT_UNIT)
            .collect::<Vec<_>>()
    };
    assert_eq!(weights(&pool), vec![1, 3, 2]);
    clock.advance(Duration::from_secs(6)); // t = 11: b0's report is stale
    assert_eq!(weights(&pool), vec![2, 3, 2]);
    pool.apply_agent_reply(&b0, b"0%").unwrap();
    assert_eq!(weights(&pool), vec![0, 3, 2]);
    clock.advance(Duration::from_secs(5)); // t = 16: b1's is stale
    assert_eq!(weights(&pool), vec![0, 2, 2]);
    clock.advance(Duration::from_secs(6)); // t = 22: b0's 0% too
    assert_eq!(weights(&pool), vec![2, 2, 2]);
}

#[test]
fn an_agents_control_characters_never_reach_a_log_line_raw() {
    let report: AgentReport = "drain # going\r away\0 now".parse().unwrap();
    let description = report.state.unwrap().description.unwrap();
    assert_eq!(description, "going\\r away\\u{0} now");
    let error = "up\rINFO".parse::<AgentReport>().unwrap_err();
    assert!(matches!(error, AgentError::UnknownWord(_)));
    assert_eq!(error.to_string(), "unknown agent word `up\\rINFO`");
}
