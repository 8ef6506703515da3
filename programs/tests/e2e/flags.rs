//! The proxies' flags (issue 13, item 6): backend words (`max_conns`,
//! `backup`, `priority`), host names followed through a DNS server the test
//! runs on 127.0.0.1 (`--resolver`), active health checks
//! (`--health-check`), a pool from a file (`--config`), and clear usage
//! errors for bad values.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use pickwise_programs::dns_zone::{name, Data, ZoneServer, A};

use super::harness::{self, get, names, proxy, tally, worker, Program};

/// How long anything the tests wait for may take: generous, for a busy
/// two-core machine.
const WITHIN: Duration = Duration::from_secs(15);

/// `addr,id=NAME` for a worker, so logs and tallies speak of its name.
fn named(w: &Program) -> String {
    format!("{},id={}", w.addr, w.name)
}

/// Polls until `done` holds, within `WITHIN`.
fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WITHIN;
    while !done() {
        assert!(Instant::now() < deadline, "not within {WITHIN:?}: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------
// Backend words.
// ---------------------------------------------------------------------

#[test]
fn a_backup_gets_no_traffic_while_the_primary_is_up_and_takes_it_when_the_primary_dies() {
    for program in ["hyper_proxy", "tcp_forwarder"] {
        let mut primary = worker("primary", &[]);
        let spare = worker("spare", &[]);
        let backends = [named(&primary), format!("{},backup", named(&spare))];
        let front = proxy(program, "round-robin", &backends, &[]);
        let seen = names(front.addr, 10);
        assert_eq!(tally(&seen, &["primary"]), [10], "{program}: {seen:?}");

        primary.kill();
        // Every request still succeeds, on the backup: a refused connect
        // goes elsewhere, and the dead primary is soon ejected.
        let seen = names(front.addr, 10);
        assert_eq!(tally(&seen, &["spare"]), [10], "{program}: {seen:?}");
    }
}

#[test]
fn a_priority_word_orders_the_tiers() {
    let first = worker("first", &[]);
    let second = worker("second", &[]);
    let backends = [
        format!("{},priority=2", named(&second)),
        format!("{},priority=1", named(&first)),
    ];
    let front = proxy("hyper_proxy", "round-robin", &backends, &[]);
    let seen = names(front.addr, 6);
    assert_eq!(tally(&seen, &["first"]), [6], "{seen:?}");
}

/// Waits until `slow`'s agent says one of its two places is taken.
fn wait_until_one_in_flight(slow: &Program) {
    let agent = slow.agent.expect("the slow worker's agent");
    until("the slow worker has a request in flight", || {
        harness::agent_reply(agent) == "up ready 50%\n"
    });
}

#[test]
fn max_conns_sends_the_request_past_the_cap_to_the_backup_or_answers_502() {
    // Capacity 2 only makes its agent report one request in flight as 50%.
    let slow = worker(
        "slow",
        &[
            "--delay-ms",
            "2000",
            "--agent",
            "127.0.0.1:0",
            "--capacity",
            "2",
        ],
    );
    let spare = worker("spare", &[]);
    let capped = format!("{},max_conns=1", named(&slow));

    // The slow answer must not be given up as a timed-out try (2 s by default).
    let patient = ["--try-timeout-ms", "10000"];
    let front = proxy(
        "hyper_proxy",
        "round-robin",
        &[capped.clone(), format!("{},backup", named(&spare))],
        &patient,
    );
    let addr = front.addr;
    let held = std::thread::spawn(move || get(addr, "/").map(|r| (r.status, r.name().to_owned())));
    wait_until_one_in_flight(&slow);
    let next = get(front.addr, "/").unwrap();
    assert_eq!((next.status, next.name()), (200, "spare"), "{next:?}");
    let held = held.join().unwrap().unwrap();
    assert_eq!(held, (200, "slow".to_owned()));

    // Alone behind its cap, the second request has nowhere to go.
    let alone = proxy("hyper_proxy", "round-robin", &[capped], &patient);
    let addr = alone.addr;
    let held = std::thread::spawn(move || get(addr, "/").map(|r| (r.status, r.name().to_owned())));
    wait_until_one_in_flight(&slow);
    let refused = get(alone.addr, "/").unwrap();
    assert_eq!(refused.status, 502, "{refused:?}");
    assert!(refused.body.contains("max_conns cap"), "{refused:?}");
    assert_eq!(held.join().unwrap().unwrap(), (200, "slow".to_owned()));
}

// ---------------------------------------------------------------------
// Active health checks.
// ---------------------------------------------------------------------

/// Kills `w2` behind `front` (which checks every 200 ms) and sends nothing
/// until the check has taken it out; then every request goes to `w1` and
/// nothing else is logged about `w2`. Restarted, it comes back.
fn a_killed_worker_is_found_by_its_check_and_brought_back(
    front: &Program,
    mut workers: Vec<Program>,
) {
    let seen = names(front.addr, 4);
    assert_eq!(tally(&seen, &["w1", "w2"]), [2, 2], "{seen:?}");
    let dead = workers[1].addr;
    workers[1].kill();
    front.wait_for_log(
        "backend w2 up -> unhealthy: health check failed: connection refused",
        WITHIN,
    );
    let seen = names(front.addr, 10);
    assert_eq!(tally(&seen, &["w1"]), [10], "{seen:?}");
    // No request reached w2: no passive failure, no ejection, only checks.
    std::thread::sleep(Duration::from_millis(300));
    let about_w2: Vec<String> = front
        .log
        .try_iter()
        .filter(|l| l.contains("w2") && !l.contains("health check"))
        .collect();
    assert!(about_w2.is_empty(), "{about_w2:?}");

    let _revived = Program::start("worker", &["--listen", &dead.to_string(), "--name", "w2"]);
    front.wait_for_log("backend w2 unhealthy -> up", WITHIN);
    let seen = names(front.addr, 4);
    assert_eq!(tally(&seen, &["w1", "w2"]), [2, 2], "{seen:?}");
}

#[test]
fn an_http_health_check_takes_a_killed_worker_out_before_any_request_and_brings_it_back() {
    for program in ["hyper_proxy", "tcp_forwarder"] {
        let workers = vec![worker("w1", &[]), worker("w2", &[])];
        let backends: Vec<String> = workers.iter().map(named).collect();
        let flags = [
            "--health-check",
            "http:/",
            "--health-interval-ms",
            "200",
            // One passive failure would eject and say so: none may happen.
            "--failures",
            "1",
        ];
        let front = proxy(program, "round-robin", &backends, &flags);
        front.wait_for_log("health checks: GET / every 200ms, rise 2, fall 3", WITHIN);
        a_killed_worker_is_found_by_its_check_and_brought_back(&front, workers);
    }
}

// ---------------------------------------------------------------------
// --config FILE.
// ---------------------------------------------------------------------

/// A file in the test's temporary directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, text: &str) -> TempFile {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let path = dir.join(format!("{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temporary path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn a_toml_config_file_gives_the_strategy_the_backends_and_the_health_checks() {
    for program in ["hyper_proxy", "tcp_forwarder"] {
        let workers = vec![worker("w1", &[]), worker("w2", &[])];
        let spare = worker("spare", &[]);
        let file = TempFile::new(
            &format!("{program}.toml"),
            &format!(
                r#"
strategy = "round-robin"
backends = ["{}", "{}", {{ address = "{}", id = "spare", backup = true }}]

[health]
consecutive_failures = 1

[health_check]
probe = "http"
path = "/"
interval = "200ms"
"#,
                named(&workers[0]),
                named(&workers[1]),
                spare.addr
            ),
        );
        let front = Program::start(
            program,
            &["--listen", "127.0.0.1:0", "--config", file.path()],
        );
        front.wait_for_log("health checks: GET / every 200ms, rise 2, fall 3", WITHIN);
        a_killed_worker_is_found_by_its_check_and_brought_back(&front, workers);
    }
}

// ---------------------------------------------------------------------
// Host names through DNS.
// ---------------------------------------------------------------------

const ZONE: &str = "example.test.";

/// A DNS server on 127.0.0.1 (port chosen at run time) for `example.test.`,
/// whose records the test replaces; it runs on its own runtime, stopped
/// when dropped.
struct TestDns {
    addr: SocketAddr,
    /// Stops answering when dropped, before the runtime.
    zone: ZoneServer,
    _runtime: tokio::runtime::Runtime,
}

impl TestDns {
    /// Serves `web.example.test.` as `ips` (TTL 1 s), or as nothing at all.
    fn start(ips: &[Ipv4Addr]) -> TestDns {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let zone = runtime
            .block_on(ZoneServer::start(ZONE))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut dns = TestDns {
            addr: zone.addr,
            zone,
            _runtime: runtime,
        };
        dns.set(ips);
        dns
    }

    /// Replaces `web.example.test.`'s A records.
    fn set(&mut self, ips: &[Ipv4Addr]) {
        let web = name("web.example.test.").unwrap();
        let records: Vec<_> = ips
            .iter()
            .map(|ip| (web.clone(), 1, Data::A(A(*ip))))
            .collect();
        self.zone.set(&records).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// A worker on `ip` at `port` (0: any free port).
fn worker_on(name: &str, ip: [u8; 4], port: u16) -> Program {
    let listen = SocketAddr::from((ip, port)).to_string();
    Program::start("worker", &["--listen", &listen, "--name", name])
}

#[test]
fn a_host_name_backend_is_resolved_at_start_beside_an_address_and_followed_when_its_record_changes()
{
    // `web` at 127.0.0.2 first, then at 127.0.0.3 on the same port; a
    // fixed backend by address beside it all along.
    let old = worker_on("old", [127, 0, 0, 2], 0);
    let port = old.addr.port();
    let _new = worker_on("new", [127, 0, 0, 3], port);
    let fixed = worker("fixed", &[]);
    let mut dns = TestDns::start(&[Ipv4Addr::new(127, 0, 0, 2)]);
    let resolver = dns.addr.to_string();
    for program in ["hyper_proxy", "tcp_forwarder"] {
        dns.set(&[Ipv4Addr::new(127, 0, 0, 2)]);
        let backends = [format!("web.example.test:{port}"), named(&fixed)];
        let front = proxy(
            program,
            "round-robin",
            &backends,
            &["--resolver", &resolver],
        );
        // Resolved before the proxy listened: the first requests find it.
        let seen = names(front.addr, 4);
        assert_eq!(
            tally(&seen, &["old", "fixed"]),
            [2, 2],
            "{program}: {seen:?}"
        );

        dns.set(&[Ipv4Addr::new(127, 0, 0, 3)]);
        front.wait_for_log(&format!("backend 127.0.0.3:{port} added"), WITHIN);
        let seen = names(front.addr, 4);
        assert_eq!(
            tally(&seen, &["new", "fixed"]),
            [2, 2],
            "{program}: {seen:?}"
        );
    }
}

#[test]
fn a_host_name_that_does_not_resolve_at_start_is_logged_and_taken_once_it_does() {
    let w = worker_on("late", [127, 0, 0, 2], 0);
    let fixed = worker("fixed", &[]);
    let mut dns = TestDns::start(&[]);
    let backends = [format!("web.example.test:{}", w.addr.port()), named(&fixed)];
    let front = proxy(
        "hyper_proxy",
        "round-robin",
        &backends,
        &["--resolver", &dns.addr.to_string()],
    );
    front.wait_for_log("DNS: A/AAAA lookup of `web.example.test` failed", WITHIN);
    // The proxy serves with what it has.
    let seen = names(front.addr, 3);
    assert_eq!(tally(&seen, &["fixed"]), [3], "{seen:?}");

    dns.set(&[Ipv4Addr::new(127, 0, 0, 2)]);
    front.wait_for_log("answers again", WITHIN);
    front.wait_for_log(&format!("backend {} added", w.addr), WITHIN);
    let seen = names(front.addr, 4);
    assert_eq!(tally(&seen, &["late", "fixed"]), [2, 2], "{seen:?}");
}

#[test]
fn a_config_files_discovery_section_follows_its_names_beside_its_backends() {
    let named_worker = worker_on("by-name", [127, 0, 0, 2], 0);
    let fixed = worker("fixed", &[]);
    let dns = TestDns::start(&[Ipv4Addr::new(127, 0, 0, 2)]);
    let file = TempFile::new(
        "discovery.yaml",
        &format!(
            "strategy: round-robin\nbackends: ['{}']\ndiscovery:\n  names: ['web.example.test:{}']\n  resolver: '{}'\n",
            named(&fixed),
            named_worker.addr.port(),
            dns.addr
        ),
    );
    for program in ["hyper_proxy", "tcp_forwarder"] {
        let front = Program::start(
            program,
            &["--listen", "127.0.0.1:0", "--config", file.path()],
        );
        let seen = names(front.addr, 4);
        assert_eq!(
            tally(&seen, &["by-name", "fixed"]),
            [2, 2],
            "{program}: {seen:?}"
        );
    }
}

#[test]
fn the_proxies_help_lists_the_new_flags_and_backend_words() {
    for program in ["hyper_proxy", "tcp_forwarder"] {
        let output = std::process::Command::new(harness::program(program))
            .arg("--help")
            .output()
            .unwrap();
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{program} --help: {output:?}");
        for needle in [
            "--config <FILE>",
            "--resolver <HOST:PORT>",
            "--health-check <tcp|http:PATH|grpc[:SERVICE]>",
            "--health-interval-ms <MS>",
            "--health-rise <N>",
            "--health-fall <N>",
            "max_conns=N",
            "backup|,priority=N",
            "host:PORT",
        ] {
            assert!(
                help.contains(needle),
                "{program} --help lacks {needle}: {help}"
            );
        }
    }
}

// ---------------------------------------------------------------------
// Usage errors.
// ---------------------------------------------------------------------

#[test]
fn bad_flag_values_exit_2_with_a_message_naming_the_value() {
    let bad_file = TempFile::new(
        "bad.toml",
        "strategy = \"round-robin\"\nbackends = [\"127.0.0.1:1,weight=0\"]\n",
    );
    let good_file = TempFile::new(
        "good.toml",
        "strategy = \"round-robin\"\nbackends = [\"127.0.0.1:1\"]\n",
    );
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["--backend", "127.0.0.1:1,max_conn=4"],
            vec![
                "invalid value '127.0.0.1:1,max_conn=4' for '--backend <SPEC>'",
                "unknown option `max_conn`",
            ],
        ),
        (
            vec!["--backend", "127.0.0.1:1,priority=16"],
            vec![
                "invalid value '127.0.0.1:1,priority=16' for '--backend <SPEC>'",
                "priority 16 is outside 0..=15",
            ],
        ),
        (
            vec!["--backend", "127.0.0.1:1,max_conns=0"],
            vec!["max_conns 0 is outside"],
        ),
        (
            vec!["--backend", "web.example.test:80,agent=127.0.0.1:9"],
            vec!["`agent` does not apply to a name"],
        ),
        (
            vec!["--backend", "web.example.test"],
            vec!["`web.example.test` has no port"],
        ),
        (
            vec!["--backend", "127.0.0.1:1", "--health-check", "foo"],
            vec![
                "invalid value 'foo' for '--health-check <tcp|http:PATH|grpc[:SERVICE]>'",
                "write `tcp`, `http:PATH` such as `http:/health`, `grpc` or `grpc:SERVICE`",
            ],
        ),
        (
            vec!["--backend", "127.0.0.1:1", "--health-check", "http:health"],
            vec!["invalid value 'http:health' for '--health-check <tcp|http:PATH|grpc[:SERVICE]>'"],
        ),
        (
            vec!["--backend", "127.0.0.1:1", "--health-interval-ms", "0"],
            vec!["invalid value '0' for '--health-interval-ms <MS>': must be at least 1"],
        ),
        (
            vec!["--backend", "127.0.0.1:1", "--health-fall", "0"],
            vec!["invalid value '0' for '--health-fall <N>'"],
        ),
        (
            vec!["--backend", "127.0.0.1:1", "--resolver", "dns.example"],
            vec!["invalid value 'dns.example' for '--resolver <HOST:PORT>'"],
        ),
        // Issue 26: settings that make no sense are refused, not taken.
        (
            vec!["--backend", "127.0.0.1:1", "--agent-interval-ms", "0"],
            vec!["invalid value '0' for '--agent-interval-ms <MS>': must be at least 1"],
        ),
    ];
    let missing = "/nonexistent/pickwise-pool.toml";
    let file_cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["--config", missing],
            vec!["invalid value '/nonexistent/pickwise-pool.toml' for '--config <FILE>': cannot read"],
        ),
        (
            vec!["--config", bad_file.path()],
            vec!["for '--config <FILE>'", "backends[0]: bad backend `127.0.0.1:1,weight=0`: weight 0 is outside"],
        ),
        (
            vec!["--config", good_file.path(), "--strategy", "p2c"],
            vec!["the argument '--config <FILE>' cannot be used with '--strategy <NAME>'"],
        ),
        (
            vec!["--config", good_file.path(), "--backend", "127.0.0.1:2"],
            vec!["cannot be used with '--backend <SPEC>'"],
        ),
        (
            vec!["--config", good_file.path(), "--health-check", "tcp"],
            vec!["cannot be used with '--health-check <tcp|http:PATH|grpc[:SERVICE]>'"],
        ),
    ];
    refused(
        "hyper_proxy",
        &[
            "--listen",
            "127.0.0.1:0",
            "--strategy",
            "round-robin",
            "--backend",
            "127.0.0.1:1",
            "--timeout-ms",
            "0",
        ],
        &["invalid value '0' for '--timeout-ms <MS>': must be at least 1"],
    );
    for program in ["hyper_proxy", "tcp_forwarder"] {
        for (extra, expected) in &cases {
            let mut args = vec!["--listen", "127.0.0.1:0", "--strategy", "round-robin"];
            args.extend(extra);
            refused(program, &args, expected);
        }
        for (extra, expected) in &file_cases {
            let mut args = vec!["--listen", "127.0.0.1:0"];
            args.extend(extra);
            refused(program, &args, expected);
        }
    }
}

/// Runs `program` with `args`, which must be refused as bad usage (exit
/// status 2, as clap does) with every one of `expected` on stderr.
fn refused(program: &str, args: &[&str], expected: &[&str]) {
    let output = std::process::Command::new(harness::program(program))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{program} {args:?}: {stderr}"
    );
    for needle in expected {
        assert!(stderr.contains(needle), "{program} {args:?}: {stderr}");
    }
}
