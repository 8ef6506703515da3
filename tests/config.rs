//! Feature `serde`: a pool's whole configuration as serde reads it (TOML
//! here; the programs' tests read YAML and JSON too); every section
//! reaches the built pool; refusals name the field.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use pickwise::clock::ManualClock;
use pickwise::config::PoolConfig;
use pickwise::hash::HashKey;
use pickwise::health::{CheckFailure, CheckResult};
use pickwise::health::{FeedbackConfig, HealthConfig, OutlierConfig, SlowStart};
use pickwise::strategy::{AnyStrategy, StrategyKind, StrategyOptions};
use pickwise::{
    BackendId, BackendSpec, BackendState, Balancer, Context, FailureKind, Outcome, Pool,
};

/// Reads a TOML configuration; a refusal is its message.
fn from_toml(text: &str) -> Result<PoolConfig, String> {
    toml::from_str(text).map_err(|e: toml::de::Error| e.message().trim_end().to_owned())
}

/// Reads one of the example configs (`examples/pool.toml`).
fn example(name: &str) -> PoolConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    from_toml(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("an address")
}

#[test]
fn the_example_config_loads_and_builds_the_pool_it_describes() {
    let config = example("pool.toml");
    assert_eq!(
        config.health,
        HealthConfig {
            consecutive_failures: 3,
            base_ejection: Duration::from_secs(5),
            max_ejection: Duration::from_secs(60),
            max_ejected_percent: 50,
        }
    );
    assert_eq!(
        config.outlier_detection,
        Some(OutlierConfig {
            interval: Duration::from_secs(10),
            request_volume: 50,
            minimum_hosts: 3,
            stdev_factor: 1.9,
        })
    );
    assert_eq!(
        config.feedback,
        FeedbackConfig {
            latency_decay: Duration::from_secs(5),
            error_decay: Duration::from_secs(10),
        }
    );
    let pool = config.build().expect("the example builds");
    assert_eq!(pool.strategy().kind(), StrategyKind::PeakEwma);
    let specs = pool.specs();
    let expected = vec![
        BackendSpec::new("w1", addr("127.0.0.1:8001"))
            .weight(2)
            .agent(addr("127.0.0.1:9001")),
        BackendSpec::new("w2", addr("127.0.0.1:8002")).max_conns(64),
        BackendSpec::new("w3", addr("127.0.0.1:8003")),
        BackendSpec::new("w4", addr("127.0.0.1:8004")),
        BackendSpec::new("spare", addr("127.0.0.1:8009")).backup(),
    ];
    assert_eq!(specs, expected);
    let tiers = pool.tiers();
    assert_eq!(tiers.len(), 2);
    assert_eq!((tiers[0].members, tiers[0].share), (4, 1.0));
    assert_eq!((tiers[1].members, tiers[1].priority), (1, 1));
    assert!(pool.backends().iter().all(|b| b.in_flight == Some(0)));
}

#[test]
fn every_section_reaches_the_built_pool() {
    let text = r#"
        strategy = "weighted-round-robin"
        counts_in_flight = true
        agent_expiry = "3s"
        backends = [
            "127.0.0.1:8001,id=a,weight=4",
            "127.0.0.1:8002,id=b,weight=4",
            "127.0.0.1:8003,id=c,backup",
        ]
        [health]
        consecutive_failures = 2
        base_ejection = "7s"
        max_ejection = "20s"
        max_ejected_percent = 50
        [slow_start]
        window = "10s"
        floor_percent = 25
        [feedback]
        latency_decay = "2s"
        error_decay = "4s"
        [tiers]
        overprovisioning = 1.0
        panic_threshold = 80
    "#;
    let config = from_toml(text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.slow_start,
        SlowStart {
            window: Duration::from_secs(10),
            floor_percent: 25
        }
    );
    assert_eq!(config.feedback.error_decay, Duration::from_secs(4));
    let clock = Arc::new(ManualClock::new());
    let pool = config
        .builder()
        .clock(clock.clone())
        .build(config.backends.clone())
        .expect("builds");
    let (a, b) = (&BackendId::new("a"), &BackendId::new("b"));

    // Strategy and counts_in_flight: weighted round robin does not read
    // in-flight counts, yet they are counted.
    assert_eq!(pool.strategy().kind(), StrategyKind::WeightedRoundRobin);
    assert_eq!(pool.status(a).expect("a").in_flight, Some(0));

    // Health: two failures in a row eject for 7 s.
    for _ in 0..2 {
        let mut pick = pool
            .pick(&Context::new().exclude(std::slice::from_ref(b)))
            .expect("a");
        pick.record(Outcome::failure(
            FailureKind::ConnectRefused,
            Duration::ZERO,
        ));
    }
    assert_eq!(pool.status(a).expect("a").state, BackendState::Ejected);
    clock.advance(Duration::from_millis(6_900));
    assert_eq!(pool.status(a).expect("a").state, BackendState::Ejected);
    clock.advance(Duration::from_millis(200));
    assert_eq!(pool.status(a).expect("a").state, BackendState::Up);

    // Slow start: a backend coming back ramps from 25% of its weight (4).
    assert_eq!(pool.status(a).expect("a").effective_weight, 100);
    clock.advance(Duration::from_secs(10));
    assert_eq!(pool.status(a).expect("a").effective_weight, 400);

    // Agent expiry: an agent's 50% holds 3 s, then the weight is back.
    pool.apply_agent_reply(b, b"50%\n").expect("a reply");
    assert_eq!(pool.status(b).expect("b").effective_weight, 200);
    clock.advance(Duration::from_millis(3_100));
    assert_eq!(pool.status(b).expect("b").effective_weight, 400);

    // Tiers: with overprovisioning 1.0, the primaries with one of two
    // available take half the traffic (1.4 would give them 70%), the
    // backup the rest.
    let c = &BackendId::new("c");
    pool.set_health(b, CheckResult::Failed(CheckFailure::Refused));
    let tiers = pool.tiers();
    assert_eq!((tiers[0].available, tiers[0].share), (1, 0.5), "{tiers:?}");
    assert_eq!(tiers[1].share, 0.5, "{tiers:?}");
    assert!(!tiers[0].in_panic);
    // Panic threshold 80%: with the backup gone too, the tiers cannot take
    // all the traffic, and the primaries, at 50% available, panic (at
    // the default 50% they would not).
    pool.set_health(c, CheckResult::Failed(CheckFailure::Refused));
    let tiers = pool.tiers();
    assert!(tiers[0].in_panic, "{tiers:?}");
}

#[test]
fn strategy_options_reach_the_strategy() {
    let key = "000102030405060708090a0b0c0d0e0f";
    let text = format!(
        "backends = ['127.0.0.1:8001', '127.0.0.1:8002', '127.0.0.1:8003']\n\
         [strategy]\nname = 'maglev'\nhash_key = '{key}'\nv6_prefix = 48\n"
    );
    let config = from_toml(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.strategy_options.v6_prefix, Some(48));
    let backends = config.backends.clone();
    let from_file = config.build().expect("builds");
    assert_eq!(from_file.strategy().kind(), StrategyKind::Maglev);
    let options = StrategyOptions {
        hash_key: Some(key.parse::<HashKey>().expect("a key")),
        ..StrategyOptions::default()
    };
    let by_hand = Pool::new(
        AnyStrategy::with_options(StrategyKind::Maglev, &options),
        backends,
    )
    .expect("builds");
    for n in 0..200u32 {
        let key = n.to_le_bytes();
        let ctx = Context::new().key(&key);
        let first = from_file.pick(&ctx).expect("a pick");
        let second = by_hand.pick(&ctx).expect("a pick");
        assert_eq!(
            first.id(),
            second.id(),
            "key {n}: the same hash key, the same backend"
        );
    }
    // A seed makes a randomised strategy's picks reproducible.
    let seeded = "backends = ['127.0.0.1:8001', '127.0.0.1:8002', '127.0.0.1:8003']\n\
                  strategy = { name = 'random', seed = 7 }";
    let run = || {
        let pool = from_toml(seeded).expect("TOML").build().expect("builds");
        (0..50)
            .map(|_| pool.pick(&Context::new()).expect("a pick").id().clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

/// Loads TOML `text` and returns the refusal's message.
fn refusal(text: &str) -> String {
    match from_toml(text) {
        Ok(config) => panic!("accepted {text:?}: {config:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn refusals_name_the_field_with_what_is_wrong() {
    let head = "strategy = \"p2c\"\n";
    let exact = [
        (format!("{head}backends = ['127.0.0.1:1', '127.0.0.1:2', {{ address = '127.0.0.1:3', weight = 0 }}]"),
            "backends[2].weight: 0 is outside 1..=1000000"),
        (format!("{head}backends = ['127.0.0.1:80,weight=0']"),
            "backends[0]: bad backend `127.0.0.1:80,weight=0`: weight 0 is outside 1..=1000000"),
        (format!("{head}backends = ['127.0.0.1:1,id=w1', {{ address = '127.0.0.1:2', id = 'w1' }}]"),
            "backends[1].id: `w1` is also the id of backends[0]"),
        (format!("{head}backends = [{{ address = '127.0.0.1:1', backup = true, priority = 2 }}]"),
            "backends[0].backup: `backup` and `priority` exclude each other (`backup` is priority 1)"),
        (format!("{head}backends = [{{ address = 'localhost:1' }}]"),
            "backends[0].address: `localhost:1` is not IP:PORT (IPv6 goes in brackets, `[::1]:80`; host names are not resolved)"),
        (format!("{head}backends = [{{ address = '127.0.0.1:1', max_conns = 0 }}]"),
            "backends[0].max_conns: 0 is outside 1..=1073741824"),
        (format!("{head}[health]\nbase_ejection = '5s'\nmax_ejection = '1s'"),
            "health.max_ejection: 1s is less than base_ejection (5s)"),
        (format!("{head}[health]\nmax_ejected_percent = 150"),
            "health.max_ejected_percent: 150 is outside 0..=100"),
        ("strategy = 'fastest'".to_owned(),
            "strategy: unknown strategy `fastest` (known: round-robin, round-robin-sharded, weighted-round-robin, least-connections, weighted-least-connections, resource-based, sdn-adaptive, source-ip-hash, p2c, peak-ewma, maglev, ring-hash, rendezvous, bounded-load, random, prequal, orca-wrr)"),
        ("[strategy]\nname = 'maglev'\nhash_key = 'abc'".to_owned(),
            "strategy.hash_key: expected 32 hex digits (16 bytes)"),
        ("[strategy]\nname = 'maglev'\nv6_prefix = 129".to_owned(),
            "strategy.v6_prefix: 129 is outside 0..=128"),
        ("[strategy]\nname = 'orca-wrr'\nload_report_blackout = 'soon'".to_owned(),
            "strategy.load_report_blackout: `soon` is not a duration: expected a number at `soon`"),
        (format!("{head}[tiers]\noverprovisioning = 0.5"),
            "tiers.overprovisioning: 0.5 is outside 1..=100"),
        (format!("{head}[slow_start]\nwindow = '10s'\nfloor_percent = 0"),
            "slow_start.floor_percent: 0 is outside 1..=100"),
        (format!("{head}[outlier_detection]\nminimum_hosts = 1"),
            "outlier_detection.minimum_hosts: 1 is outside 2..=65536"),
        (format!("{head}agent_expiry = '0s'"), "agent_expiry: must be more than zero"),
    ];
    for (text, expected) in &exact {
        assert_eq!(refusal(text), *expected, "{text}");
    }
}

#[test]
fn the_load_report_blackout_reaches_orca_wrr() {
    let text = "backends = ['127.0.0.1:8001']\n\
                [strategy]\nname = 'orca-wrr'\nload_report_blackout = '2s'\n";
    let config = from_toml(text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.strategy_options.load_report_blackout,
        Some(std::time::Duration::from_secs(2))
    );
    let pool = config.build().expect("builds");
    match pool.strategy() {
        AnyStrategy::OrcaWrr(strategy) => assert_eq!(
            *strategy,
            pickwise::strategy::OrcaWrr::new().blackout_period(std::time::Duration::from_secs(2))
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_pool_config_is_a_table_of_a_programs_own_config() {
    #[derive(serde::Deserialize)]
    struct Program {
        listen: String,
        pool: PoolConfig,
    }
    let program: Program = toml::from_str(
        "listen = '127.0.0.1:0'\n[pool]\nstrategy = 'least-connections'\nbackends = ['127.0.0.1:8001']\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(program.listen, "127.0.0.1:0");
    assert_eq!(program.pool.build().expect("builds").backends().len(), 1);
    let refused = toml::from_str::<Program>(
        "listen = '127.0.0.1:0'\n[pool]\nstrategy = 'p2c'\n[pool.health]\nmax_ejected_percent = 101\n",
    );
    let message = refused.err().expect("refused").to_string();
    assert!(
        message.contains("health.max_ejected_percent: 101 is outside 0..=100"),
        "{message}"
    );
}

#[test]
fn a_config_changed_by_hand_is_checked_when_built() {
    let mut config = PoolConfig::new(StrategyKind::RoundRobin);
    config.backends = vec![BackendSpec::new("a", addr("127.0.0.1:1")).weight(0)];
    let error = config.build().err().expect("weight 0 refused");
    assert_eq!(
        error.to_string(),
        "backend `a` has weight 0, outside 1..=1000000"
    );
}

/// `[health_check]` (features `serde` and `health-check`).
#[cfg(feature = "health-check")]
mod health_check_section {
    use super::*;
    use pickwise::config::HealthCheckSection;
    use pickwise::health_check::{CheckConfig, CheckKind, HttpCheck};
    use std::net::TcpListener;
    use std::time::Instant;

    #[test]
    fn a_health_check_section_in_toml_reaches_the_checker_it_starts() {
        let config = from_toml(
            r#"
            strategy = "round-robin"
            backends = ["127.0.0.1:8001"]
            [health_check]
            probe = "http"
            path = "/health?full=1"
            host = "web.internal"
            expect_body = "ok"
            interval = "5s"
            timeout = "500ms"
            jitter = 0.2
            rise = 3
            fall = 4
            concurrency = 8
            "#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let expected = HealthCheckSection::new(
            CheckConfig {
                interval: Duration::from_secs(5),
                jitter: 0.2,
                timeout: Duration::from_millis(500),
                rise: 3,
                fall: 4,
                concurrency: 8,
            },
            HttpCheck::new("/health?full=1")
                .host("web.internal")
                .expect_body("ok")
                .into(),
        );
        assert_eq!(config.health_check.as_ref(), Some(&expected));
        let checker = config
            .health_checker()
            .expect("the section is there")
            .expect("valid");
        assert_eq!(checker.config(), &expected.config);
        assert_eq!(checker.check().to_string(), expected.check.to_string());
    }

    #[test]
    fn a_health_check_section_left_out_gives_no_checker_and_defaults_fill_a_short_one() {
        let none = from_toml("strategy = 'p2c'").expect("loads");
        assert!(none.health_check.is_none() && none.health_checker().is_none());
        let short =
            from_toml("strategy = 'p2c'\n[health_check]\n").unwrap_or_else(|e| panic!("{e}"));
        let section = short.health_check.expect("the section is there");
        assert_eq!(section.config, CheckConfig::default());
        assert_eq!(section.check, CheckKind::Tcp);
        let http = from_toml("strategy = 'p2c'\n[health_check]\nprobe = 'http'\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            http.health_check.expect("there").check,
            CheckKind::http("/")
        );
    }

    #[test]
    fn a_health_check_section_loads_the_agent_check() {
        let config = from_toml(
            "strategy = 'p2c'\nbackends = ['127.0.0.1:8001,agent=127.0.0.1:9001']\n\
             [health_check]\nprobe = 'agent'\ninterval = '1m'\nfall = 2\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let section = config.health_check.expect("the section is there");
        assert_eq!(section.check, CheckKind::Agent);
        assert_eq!(section.config.interval, Duration::from_secs(60));
        assert_eq!(section.config.fall, 2);
    }

    #[test]
    fn the_checker_of_a_config_file_takes_a_dead_backend_out() {
        let live = TcpListener::bind("127.0.0.1:0").expect("bind");
        let gone = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("an address");
        let text = format!(
            "strategy = 'round-robin'\nbackends = ['{},id=live', '{gone},id=gone']\n\
             [health_check]\nprobe = 'tcp'\ninterval = '50ms'\nfall = 2\n",
            live.local_addr().expect("an address"),
        );
        let config = from_toml(&text).unwrap_or_else(|e| panic!("{e}"));
        let checker = config
            .health_checker()
            .expect("the section is there")
            .expect("valid");
        let pool = Arc::new(config.build().expect("builds"));
        let handle = checker
            .spawn(Arc::clone(&pool), |spec| Some(spec.value))
            .expect("spawned");
        let state = |id: &str| pool.status(&id.into()).map(|status| status.state);
        let deadline = Instant::now() + Duration::from_secs(5);
        while state("gone") != Some(BackendState::Unhealthy) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(state("gone"), Some(BackendState::Unhealthy));
        assert_eq!(state("live"), Some(BackendState::Up));
        handle.stop();
    }

    #[test]
    fn bad_health_check_settings_are_refused_naming_the_field() {
        let head = "strategy = 'p2c'\n[health_check]\n";
        let cases = [
            (
                "rise = 0",
                "health_check.rise: must be at least 1 (passes in a row that bring a backend back)",
            ),
            (
                "jitter = 1.5",
                "health_check.jitter: 1.5 is not a fraction of the interval in 0.0..1.0",
            ),
            (
                "timeout = '0'",
                "health_check.timeout: must be more than zero",
            ),
            (
                "expect_body = 'ok'",
                "health_check.expect_body: applies only to probe = \"http\", not \"tcp\"",
            ),
            (
                "probe = 'agent'\npath = '/health'",
                "health_check.path: applies only to probe = \"http\", not \"agent\"",
            ),
            (
                "probe = 'http'\npath = 'health'",
                "health_check.path: `health` does not start with `/`",
            ),
            (
                "probe = 'udp'",
                "health_check.probe: unknown probe `udp` (known: tcp, http, agent)",
            ),
            (
                "concurrency = 0",
                "health_check.concurrency: 0 is outside 1..=1024",
            ),
        ];
        for (body, message) in cases {
            assert_eq!(refusal(&format!("{head}{body}")), message, "{body}");
        }
        let unknown = refusal(&format!("{head}inter = '2s'"));
        assert!(unknown.starts_with("unknown field `inter`"), "{unknown}");
        let interval = refusal(&format!("{head}interval = '2'"));
        assert!(interval.contains("`2` has no unit"), "{interval}");
    }
}

/// Without feature `health-check` (e.g. `--features serde` alone), the
/// section is refused with the feature it needs, not ignored.
#[cfg(not(feature = "health-check"))]
#[test]
fn a_health_check_section_without_its_feature_is_refused_naming_the_feature() {
    let message = refusal("strategy = 'p2c'\n[health_check]\nprobe = 'tcp'\n");
    assert!(
        message.starts_with(
            "health_check: this section needs pickwise's `health-check` cargo feature"
        ),
        "{message}"
    );
}

/// Without feature `dns`, `[discovery]` is refused with the feature it needs.
#[cfg(not(feature = "dns"))]
#[test]
fn a_discovery_section_without_its_feature_is_refused_naming_the_feature() {
    let message = refusal("strategy = 'p2c'\n[discovery]\nnames = ['web.example.com:80']\n");
    assert!(
        message.starts_with("discovery: this section needs pickwise's `dns` cargo feature"),
        "{message}"
    );
}

/// `[discovery]` (features `serde` and `dns`).
#[cfg(feature = "dns")]
mod discovery_section {
    use super::*;
    use pickwise::dns::{DnsName, DnsTarget, DEFAULT_ATTEMPTS, DEFAULT_TIMEOUT};

    #[test]
    fn a_discovery_section_in_toml_reaches_the_dns_config() {
        let config = from_toml(
            r#"
            strategy = "least-connections"
            [discovery]
            names = ["web.example.com:8080,weight=2", "_api._tcp.example.com,max_conns=64"]
            resolver = "127.0.0.1:5353"
            min_ttl = "5s"
            max_ttl = "1m"
            timeout = "500ms"
            attempts = 3
            "#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(config.backends.is_empty());
        let dns = config.discovery.as_ref().expect("the section is there");
        assert_eq!(
            dns.targets(),
            [
                DnsTarget::host("web.example.com", 8080).weight(2),
                DnsTarget::srv("_api._tcp.example.com").max_conns(64),
            ]
        );
        assert_eq!(dns.resolver_address(), Some(addr("127.0.0.1:5353")));
        assert_eq!(dns.interval_for(Duration::ZERO), Duration::from_secs(5));
        assert_eq!(
            dns.interval_for(Duration::from_secs(86_400)),
            Duration::from_secs(60)
        );
        assert_eq!(dns.query_timeout(), Duration::from_millis(500));
        assert_eq!(dns.query_attempts(), 3);
        assert!(matches!(dns.targets()[1].value, DnsName::Srv(_)));
    }

    #[test]
    fn a_discovery_section_of_ip_literals_fills_an_empty_pool() {
        let config = from_toml(
            "strategy = 'p2c'\n[discovery]\nnames = ['127.0.0.1:8080,max_conns=10', '127.0.0.2:8080']\n\
             resolver = '127.0.0.1:53'\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let dns = config.discovery.as_ref().expect("the section is there");
        assert_eq!(dns.query_timeout(), DEFAULT_TIMEOUT);
        assert_eq!(dns.query_attempts(), DEFAULT_ATTEMPTS);
        let discovery = config
            .dns_discovery()
            .expect("the section is there")
            .expect("a resolver");
        let pool = Arc::new(config.build().expect("an empty pool builds"));
        assert!(pool.backends().is_empty());
        let runtime = tokio::runtime::Runtime::new().expect("a runtime");
        runtime.block_on(async {
            // IP literals resolve to themselves: no server is asked.
            let first = tokio::time::timeout(Duration::from_secs(5), discovery.resolve_once())
                .await
                .expect("within 5 s")
                .expect("resolved");
            pool.update(first).expect("updated");
        });
        let specs = pool.specs();
        assert_eq!(specs.len(), 2);
        assert_eq!(specs[0].value, addr("127.0.0.1:8080"));
        assert_eq!(specs[0].max_conns, Some(10));
    }

    #[test]
    fn bad_discovery_settings_are_refused_naming_the_field() {
        let head = "strategy = 'p2c'\n[discovery]\n";
        let names = "names = ['web.example.com:80']\n";
        let cases = [
            ("names = []".to_owned(), "discovery.names: no name to follow".to_owned()),
            (
                "names = ['web.example.com:80', '_api._tcp.example.com,weight=3']".to_owned(),
                "discovery.names[1]: bad backend `_api._tcp.example.com,weight=3`: `weight` does not apply to an SRV name: its records give each backend's priority and weight".to_owned(),
            ),
            (
                format!("{names}resolver = 'dns.example.com'"),
                "discovery.resolver: `dns.example.com` is not IP:PORT (IPv6 goes in brackets, `[::1]:80`; host names are not resolved)".to_owned(),
            ),
            (
                format!("{names}min_ttl = '1m'\nmax_ttl = '10s'"),
                "discovery.max_ttl: the minimum (60s) must be above zero and at most the maximum (10s)".to_owned(),
            ),
            (
                format!("{names}min_ttl = '0'"),
                "discovery.min_ttl: the minimum (0ns) must be above zero and at most the maximum (300s)".to_owned(),
            ),
            (format!("{names}timeout = '0'"), "discovery.timeout: must be more than zero".to_owned()),
            (format!("{names}attempts = 0"), "discovery.attempts: 0 is outside 1..=16".to_owned()),
        ];
        for (body, message) in cases {
            assert_eq!(refusal(&format!("{head}{body}")), message, "{body}");
        }
        let missing = refusal(&format!("{head}resolver = '127.0.0.1:53'"));
        assert!(missing.contains("names"), "{missing}");
        let unknown = refusal(&format!("{head}{names}ttl = '5s'"));
        assert!(unknown.starts_with("unknown field `ttl`"), "{unknown}");
    }
}
