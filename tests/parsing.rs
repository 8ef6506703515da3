use std::net::SocketAddr;

use pickwise::strategy::{AnyStrategy, StrategyKind};
use pickwise::{BackendSpec, ConfigError};

fn parse(text: &str) -> Result<BackendSpec<SocketAddr>, ConfigError> {
    text.parse()
}

#[test]
fn backend_specs_parse_with_options_and_ipv6() {
    let spec = parse("127.0.0.1:8002,weight=2,agent=127.0.0.1:9002").unwrap();
    assert_eq!(spec.value, "127.0.0.1:8002".parse::<SocketAddr>().unwrap());
    assert_eq!(
        (spec.weight, spec.agent),
        (2, Some("127.0.0.1:9002".parse().unwrap()))
    );

    let spec = parse("[::1]:80, weight = 3 ,id=local").unwrap();
    assert_eq!(spec.value, "[::1]:80".parse::<SocketAddr>().unwrap());
    assert_eq!(
        (spec.id.as_str(), spec.weight, spec.agent),
        ("local", 3, None)
    );
}

#[test]
fn backup_priority_and_max_conns_parse() {
    let spec = parse("127.0.0.1:8003,backup,max_conns=2").unwrap();
    assert_eq!((spec.priority, spec.max_conns), (1, Some(2)));
    let spec = parse("127.0.0.1:8003,priority=3").unwrap();
    assert_eq!((spec.priority, spec.max_conns), (3, None));
    let plain = parse("127.0.0.1:8003").unwrap();
    assert_eq!((plain.priority, plain.max_conns), (0, None));
}

#[test]
fn specs_built_in_code_are_checked_when_the_set_is_built() {
    use pickwise::strategy::RoundRobin;
    use pickwise::Pool;
    let too_deep = BackendSpec::new("a", ()).priority(16);
    let err = Pool::new(RoundRobin::new(), vec![too_deep]).err().unwrap();
    assert_eq!(
        err.to_string(),
        "bad priority: backend `a` has priority 16, above the largest, 15"
    );
    let no_room = BackendSpec::new("a", ()).max_conns(0);
    let err = Pool::new(RoundRobin::new(), vec![no_room]).err().unwrap();
    assert!(
        err.to_string().contains("max_conns 0, outside 1..="),
        "{err}"
    );
}

#[test]
fn bad_backend_specs_say_what_is_wrong() {
    let cases = [
        ("", "address is missing"),
        ("localhost:80", "not IP:PORT"),
        ("::1:80", "brackets"),
        ("127.0.0.1", "not IP:PORT"),
        ("127.0.0.1:80,weight=0", "outside 1..="),
        ("127.0.0.1:80,weight=99999999999", "outside 1..="),
        ("127.0.0.1:80,weight=-1", "not a whole number"),
        ("127.0.0.1:80,weight", "`weight` needs a value"),
        (
            "127.0.0.1:80,colour=red",
            "unknown option `colour` (known: weight, agent, id, priority, backup, max_conns)",
        ),
        ("127.0.0.1:80,weight=2,weight=3", "`weight` appears twice"),
        ("127.0.0.1:80,id=a,id=b", "`id` appears twice"),
        ("127.0.0.1:80,backup,backup", "`backup` appears twice"),
        ("127.0.0.1:80,backup,priority=2", "exclude each other"),
        ("127.0.0.1:80,priority=0,backup", "exclude each other"),
        ("127.0.0.1:80,backup=yes", "`backup` takes no value"),
        ("127.0.0.1:80,priority=16", "priority 16 is outside 0..=15"),
        ("127.0.0.1:80,max_conns=0", "max_conns 0 is outside 1..="),
        (
            "127.0.0.1:80,max_conns=many",
            "max_conns `many` is not a whole number",
        ),
        ("127.0.0.1:80,agent=nowhere", "not IP:PORT"),
        ("127.0.0.1:80,id=", "id is empty"),
    ];
    for (text, expected) in cases {
        let err = parse(text).unwrap_err().to_string();
        assert!(
            err.contains(expected),
            "`{text}` gave `{err}`, wanted `{expected}`"
        );
    }
}

#[test]
fn strategy_names_round_trip_and_unknown_ones_list_the_known() {
    for kind in StrategyKind::ALL {
        assert_eq!(kind.name().parse::<StrategyKind>().unwrap(), *kind);
        assert_eq!(kind.name().parse::<AnyStrategy>().unwrap().kind(), *kind);
    }
    assert_eq!(
        "Least_Connections".parse::<StrategyKind>().unwrap(),
        StrategyKind::LeastConnections
    );
    let err = "fastest".parse::<StrategyKind>().unwrap_err().to_string();
    assert!(
        err.contains("unknown strategy `fastest`") && err.contains("round-robin"),
        "{err}"
    );
}

#[test]
fn strategy_options_reach_the_hash_strategies() {
    use pickwise::strategy::StrategyOptions;
    use pickwise::{BackendSpec, Pool};
    let options = StrategyOptions {
        v6_prefix: Some(200),
        ..StrategyOptions::default()
    };
    for kind in [
        "maglev",
        "ring-hash",
        "rendezvous",
        "bounded-load",
        "source-ip-hash",
    ] {
        let strategy = AnyStrategy::with_options(kind.parse().unwrap(), &options);
        let built = Pool::new(strategy, vec![BackendSpec::new("a", ())]);
        let err = built.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("more than 128 bits"), "{kind}: `{err}`");
    }
}

#[test]
fn an_id_with_a_control_character_is_refused_and_one_built_in_code_is_shown_escaped() {
    let refused = parse("127.0.0.1:80,id=w1\nINFO forged line").unwrap_err();
    assert!(
        refused.to_string().contains("control character") && !refused.to_string().contains('\n'),
        "{refused}"
    );
    assert!(parse("127.0.0.1:80,id=w\r1").is_err());
    let built = pickwise::BackendId::new("w1\nWARN forged\0");
    assert_eq!(built.to_string(), "w1\\nWARN forged\\u{0}");
    assert_eq!(pickwise::BackendId::new("plain é").to_string(), "plain é");
}
