//! Feature `prometheus`: a pool rendered in the Prometheus text format after
//! real picks (connections to 127.0.0.1), outcomes, an ejection and a failed
//! health check; the text parsed by a strict parser of the format and
//! compared line by line; the prometheus-client collector's scrape agrees.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pickwise::clock::ManualClock;
use pickwise::health::HealthConfig;
use pickwise::health::{CheckFailure, CheckResult};
use pickwise::metrics::{self, PoolMetrics};
use pickwise::strategy::{LeastConnections, RoundRobin};
use pickwise::{BackendSpec, Balancer, Context, FailureKind, Outcome, Pool};
use prometheus_client::registry::Registry;

/// Labels as name and value.
type LabelPairs = Vec<(String, String)>;

/// A series: its name and its labels, sorted.
type Series = (String, LabelPairs);

/// What a strict reading of the text format finds: every sample's value
/// and every family's type.
#[derive(Debug, Default)]
struct Exposition {
    samples: BTreeMap<Series, f64>,
    types: HashMap<String, String>,
}

fn is_name(text: &str, colons: bool) -> bool {
    let mut chars = text.chars();
    let first_ok = |c: char| c.is_ascii_alphabetic() || c == '_' || (colons && c == ':');
    chars.next().is_some_and(first_ok)
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':'))
}

/// `{a="x",b="y\"z"}` into pairs; refuses bad names, bad escapes, repeats.
fn parse_labels(text: &str) -> Result<(LabelPairs, &str), String> {
    let mut labels = Vec::new();
    let Some(mut rest) = text.strip_prefix('{') else {
        return Ok((labels, text));
    };
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let (name, after) = rest.split_once("=\"").ok_or("a label without =\"")?;
        if !is_name(name, false) {
            return Err(format!("bad label name `{name}`"));
        }
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("bad escape {other:?}")),
                },
                Some((i, '"')) => break i,
                Some((_, '\n')) | None => return Err("an unterminated label value".into()),
                Some((_, c)) => value.push(c),
            }
        };
        if labels.iter().any(|(n, _)| n == name) {
            return Err(format!("label `{name}` twice"));
        }
        labels.push((name.to_owned(), value));
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => text.parse().map_err(|_| format!("bad value `{text}`")),
    }
}

/// Parses the Prometheus text format (0.0.4) strictly: every sample's
/// family has one TYPE line before its samples, its samples are together,
/// counters end in `_total`, no series appears twice. With `openmetrics`,
/// also takes `# UNIT` lines and requires the closing `# EOF`.
fn parse(text: &str, openmetrics: bool) -> Result<Exposition, String> {
    let mut found = Exposition::default();
    let mut helped = HashSet::new();
    let mut finished = HashSet::new();
    let mut current: Option<String> = None;
    if !text.ends_with('\n') {
        return Err("the text does not end with a newline".into());
    }
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let at = |why: String| format!("{why} in line `{line}`");
        if openmetrics && line == "# EOF" {
            if lines.peek().is_some() {
                return Err(at("lines after # EOF".into()));
            }
            return Ok(found);
        }
        if let Some(comment) = line.strip_prefix('#') {
            let words: Vec<&str> = comment.trim_start().splitn(3, ' ').collect();
            match words.as_slice() {
                ["HELP", name, ..] => {
                    let first = helped.insert(name.to_string());
                    first
                        .then_some(())
                        .ok_or_else(|| at(format!("a second HELP for {name}")))?;
                }
                ["TYPE", name, kind] => {
                    if !is_name(name, true) {
                        return Err(at("a bad metric name".into()));
                    }
                    let known = [
                        "counter",
                        "gauge",
                        "histogram",
                        "summary",
                        "untyped",
                        "unknown",
                    ];
                    if !known.contains(kind) {
                        return Err(at(format!("an unknown type {kind}")));
                    }
                    if found
                        .types
                        .insert(name.to_string(), kind.to_string())
                        .is_some()
                    {
                        return Err(at(format!("a second TYPE for {name}")));
                    }
                    if let Some(done) = current.replace(name.to_string()) {
                        finished.insert(done);
                    }
                }
                ["UNIT", ..] if openmetrics => {}
                _ if openmetrics => return Err(at("an unknown comment".into())),
                _ => {}
            }
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| at("no value".into()))?;
        let name = &line[..name_end];
        if !is_name(name, true) {
            return Err(at("a bad metric name".into()));
        }
        let (mut labels, rest) = parse_labels(&line[name_end..]).map_err(at)?;
        let mut parts = rest.trim_start().split(' ');
        let value = parse_value(parts.next().unwrap_or("")).map_err(at)?;
        if let Some(stamp) = parts.next() {
            stamp
                .parse::<i64>()
                .map_err(|_| at("a bad timestamp".into()))?;
        }
        // The family: the sample's name, or for OpenMetrics counters the
        // name before `_total`.
        let family = if found.types.contains_key(name) {
            name.to_owned()
        } else if let Some(base) = name.strip_suffix("_total") {
            base.to_owned()
        } else {
            return Err(at(format!("no TYPE for {name}")));
        };
        if current.as_deref() != Some(family.as_str()) || finished.contains(&family) {
            return Err(at(format!("a sample of {family} away from its family")));
        }
        if found.types[&family] == "counter" && !name.ends_with("_total") {
            return Err(at("a counter sample without _total".into()));
        }
        labels.sort();
        if found
            .samples
            .insert((name.to_owned(), labels), value)
            .is_some()
        {
            return Err(at("a series twice".into()));
        }
    }
    if openmetrics {
        return Err("no # EOF".into());
    }
    Ok(found)
}

fn key(name: &str, labels: &[(&str, &str)]) -> Series {
    let mut labels: Vec<(String, String)> = labels
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    labels.sort();
    (name.to_owned(), labels)
}

/// A listener that accepts (the kernel does, from its backlog) and a port
/// where nothing listens, both on 127.0.0.1 and chosen now.
fn live_and_dead() -> (TcpListener, SocketAddr, SocketAddr) {
    let live = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let live_addr = live.local_addr().expect("its address");
    let dead_addr = {
        let probe = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        probe.local_addr().expect("its address")
    };
    (live, live_addr, dead_addr)
}

/// Picks once, connects to the backend for real and records what happened
/// (latency fixed at 20 ms so the estimate is exact).
fn serve_one(pool: &Pool<impl pickwise::Strategy, SocketAddr>) {
    let mut pick = pool.pick(&Context::new()).expect("a backend");
    match TcpStream::connect_timeout(pick.backend(), Duration::from_secs(5)) {
        Ok(_) => pick.record(Outcome::success(Duration::from_millis(20))),
        Err(e) => pick.record(Outcome::failure(FailureKind::from_io(&e), Duration::ZERO)),
    }
}

/// The lab: `live` and `dead` primaries, `checked` (a primary whose health
/// check fails, capped at 5), `spare` (a backup); round robin counting in
/// flight; 2 failures in a row eject; a tier with two thirds of its
/// backends available keeps all the traffic (overprovisioning 2).
fn lab() -> (Pool<RoundRobin, SocketAddr>, TcpListener) {
    let (listener, live, dead) = live_and_dead();
    let pool = Pool::builder(RoundRobin::new())
        .clock(Arc::new(ManualClock::new()))
        .counts_in_flight(true)
        .overprovisioning(2.0)
        .health(HealthConfig {
            consecutive_failures: 2,
            max_ejected_percent: 50,
            ..HealthConfig::default()
        })
        .build(vec![
            BackendSpec::new("live", live).weight(3),
            BackendSpec::new("dead", dead),
            BackendSpec::new("checked", live).max_conns(5),
            BackendSpec::new("spare", live).backup(),
        ])
        .expect("a valid pool");
    (pool, listener)
}

#[test]
fn a_rendered_pool_shows_picks_outcomes_an_ejection_and_a_failed_check_line_by_line() {
    let (pool, _listener) = lab();
    // Round robin over live, dead, checked, twice: dead fails twice and is
    // ejected; live and checked succeed twice each. Then a pick of live is
    // held, and checked fails its health check.
    for _ in 0..6 {
        serve_one(&pool);
    }
    let held = pool.pick(&Context::new()).expect("a backend");
    assert_eq!(held.id().as_str(), "live", "round robin skips the ejected");
    assert!(pool.set_health(
        &"checked".into(),
        CheckResult::Failed(CheckFailure::BadStatus(503))
    ));

    let text = metrics::render(&pool);
    let lines: Vec<&str> = text.lines().collect();
    for expected in [
        "# HELP pickwise_backend_picks_total Picks of the backend since it joined (only when the pool counts requests in flight).",
        "# TYPE pickwise_backend_picks_total counter",
        "pickwise_backend_picks_total{backend=\"live\"} 3",
        "pickwise_backend_picks_total{backend=\"dead\"} 2",
        "pickwise_backend_successes_total{backend=\"live\"} 2",
        "pickwise_backend_successes_total{backend=\"dead\"} 0",
        "pickwise_backend_failures_total{backend=\"dead\"} 2",
        "pickwise_backend_ejections_total{backend=\"dead\"} 1",
        "pickwise_backend_ejections_total{backend=\"live\"} 0",
        "# TYPE pickwise_backend_in_flight gauge",
        "pickwise_backend_in_flight{backend=\"live\"} 1",
        "pickwise_backend_in_flight{backend=\"checked\"} 0",
        "pickwise_backend_max_conns{backend=\"checked\"} 5",
        "pickwise_backend_error_rate{backend=\"dead\"} 1.0",
        "pickwise_backend_latency_seconds{backend=\"live\"} 0.02",
        "pickwise_backend_error_rate{backend=\"live\"} 0.0",
        "pickwise_backend_weight{backend=\"live\"} 3",
        "pickwise_backend_effective_weight{backend=\"live\"} 3.0",
        "pickwise_backend_priority{backend=\"spare\"} 1",
        "# TYPE pickwise_backend_state gauge",
        "pickwise_backend_state{backend=\"live\",state=\"up\"} 1",
        "pickwise_backend_state{backend=\"live\",state=\"ejected\"} 0",
        "pickwise_backend_state{backend=\"dead\",state=\"up\"} 0",
        "pickwise_backend_state{backend=\"dead\",state=\"ejected\"} 1",
        "pickwise_backend_state{backend=\"checked\",state=\"unhealthy\"} 1",
        "pickwise_backend_state{backend=\"checked\",state=\"up\"} 0",
        "# TYPE pickwise_tier_members gauge",
        "pickwise_tier_members{priority=\"0\"} 3",
        "pickwise_tier_available{priority=\"0\"} 1",
        "pickwise_tier_members{priority=\"1\"} 1",
        "pickwise_tier_available{priority=\"1\"} 1",
        "pickwise_tier_panic{priority=\"0\"} 0",
    ] {
        assert!(lines.contains(&expected), "no line `{expected}` in:\n{text}");
    }
    // Only capped backends have a cap; the dead one has no latency yet.
    assert!(!text.contains("pickwise_backend_max_conns{backend=\"live\"}"));
    assert!(!text.contains("pickwise_backend_latency_seconds{backend=\"dead\"}"));

    let parsed = parse(&text, false).unwrap_or_else(|e| panic!("{e}:\n{text}"));
    assert_eq!(parsed.types["pickwise_backend_failures_total"], "counter");
    assert_eq!(parsed.types["pickwise_tier_share"], "gauge");
    assert!(parsed
        .types
        .keys()
        .all(|name| name.starts_with("pickwise_")));
    // The dead backend's failures moved its error rate up; the live one's not.
    let error_rate = |id| parsed.samples[&key("pickwise_backend_error_rate", &[("backend", id)])];
    assert!(error_rate("dead") > 0.0 && error_rate("dead") <= 1.0);
    // One primary of three available: Envoy's spillover, 1/3 x 2 to the
    // primaries and the rest to the backup.
    let share = |p| parsed.samples[&key("pickwise_tier_share", &[("priority", p)])];
    assert!((share("0") - 2.0 / 3.0).abs() < 0.01, "{}", share("0"));
    assert!((share("0") + share("1") - 1.0).abs() < 1e-9);
    // Every backend has exactly one state at 1.
    for id in ["live", "dead", "checked", "spare"] {
        let hot: f64 = parsed
            .samples
            .iter()
            .filter(|((name, labels), _)| {
                name == "pickwise_backend_state" && labels.contains(&("backend".into(), id.into()))
            })
            .map(|(_, v)| v)
            .sum();
        assert_eq!(hot, 1.0, "{id}");
    }
    drop(held);
}

#[test]
fn the_collector_in_a_registry_reads_the_pool_at_every_scrape_and_agrees_with_render() {
    let (pool, _listener) = lab();
    let pool = Arc::new(pool);
    let mut registry = Registry::default();
    registry.register_collector(Box::new(PoolMetrics::new(pool.clone())));
    let scrape = |registry: &Registry| {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry).expect("encodes");
        parse(&text, true).unwrap_or_else(|e| panic!("{e}:\n{text}"))
    };
    let live_picks = key("pickwise_backend_picks_total", &[("backend", "live")]);
    assert_eq!(scrape(&registry).samples[&live_picks], 0.0);
    for _ in 0..3 {
        serve_one(&pool);
    }
    let second = scrape(&registry);
    assert_eq!(second.samples[&live_picks], 1.0);
    // The OpenMetrics scrape and the rendered text carry the same series
    // and values (the pool is still now: nothing happened between them).
    let rendered = parse(&metrics::render(&*pool), false).expect("valid text");
    assert_eq!(second.samples.len(), rendered.samples.len());
    for (series, value) in &rendered.samples {
        let scraped = second.samples.get(series);
        assert_eq!(scraped, Some(value), "{series:?}");
    }
}

#[test]
fn several_pools_are_told_apart_by_their_pool_label_and_each_family_is_written_once() {
    let (api, _a) = lab();
    let db = Pool::new(
        LeastConnections::new(),
        vec![BackendSpec::new(
            "live",
            "127.0.0.1:5432".parse::<SocketAddr>().expect("an address"),
        )],
    )
    .expect("a valid pool");
    let metrics = PoolMetrics::default()
        .with("api", Arc::new(api))
        .with("db", Arc::new(db));
    let text = metrics.render();
    let parsed = parse(&text, false).unwrap_or_else(|e| panic!("{e}:\n{text}"));
    assert_eq!(
        text.matches("# TYPE pickwise_backend_weight gauge\n")
            .count(),
        1
    );
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.contains(&"pickwise_backend_weight{pool=\"api\",backend=\"live\"} 3"));
    assert!(lines.contains(&"pickwise_backend_weight{pool=\"db\",backend=\"live\"} 1"));
    assert!(lines.contains(&"pickwise_tier_members{pool=\"db\",priority=\"0\"} 1"));
    assert!(parsed
        .samples
        .keys()
        .all(|(_, labels)| labels.iter().any(|(n, _)| n == "pool")));
    let one = metrics::render_labelled(
        &*Arc::new(
            Pool::new(RoundRobin::new(), vec![BackendSpec::new("x\"y\\z", ())]).expect("a pool"),
        ),
        "odd",
    );
    let parsed = parse(&one, false).unwrap_or_else(|e| panic!("{e}:\n{one}"));
    let weight = key(
        "pickwise_backend_weight",
        &[("pool", "odd"), ("backend", "x\"y\\z")],
    );
    assert_eq!(parsed.samples[&weight], 1.0, "ids are escaped:\n{one}");
}

#[test]
fn a_pool_that_does_not_count_in_flight_has_no_picks_or_in_flight_series() {
    let (listener, live, _) = live_and_dead();
    let pool = Pool::new(RoundRobin::new(), vec![BackendSpec::new("a", live)]).expect("a pool");
    let deadline = Instant::now() + Duration::from_secs(5);
    for _ in 0..3 {
        assert!(Instant::now() < deadline);
        serve_one(&pool);
    }
    let text = metrics::render(&pool);
    assert!(!text.contains("pickwise_backend_picks_total"), "{text}");
    assert!(!text.contains("pickwise_backend_in_flight"), "{text}");
    assert!(text.contains("pickwise_backend_successes_total{backend=\"a\"} 3\n"));
    assert_eq!(
        metrics::CONTENT_TYPE,
        "text/plain; version=0.0.4; charset=utf-8"
    );
    drop(listener);
}

#[test]
fn the_strict_parser_refuses_what_the_format_forbids() {
    for bad in [
        "x 1\n",                                        // no TYPE
        "# TYPE x gauge\nx{a=\"1\"} 1\nx{a=\"1\"} 2\n", // a series twice
        "# TYPE x gauge\n# TYPE y gauge\ny 1\nx 1\n",   // x away from its family
        "# TYPE x counter\nx 1\n",                      // counter without _total
        "# TYPE x gauge\nx{a=\"1} 1\n",                 // unterminated value
        "# TYPE x gauge\nx one\n",                      // bad value
        "# TYPE x gauge\nx 1",                          // no final newline
    ] {
        assert!(parse(bad, false).is_err(), "accepted {bad:?}");
    }
    assert!(parse("# TYPE x_total counter\nx_total 1\n", false).is_ok());
}
