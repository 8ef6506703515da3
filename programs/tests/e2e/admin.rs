//! The proxies' admin listener (`--admin`): `/status.json` says which
//! backend is out and why, `/metrics` is Prometheus text, and the status
//! page, as headless Chromium draws it from `/status.json`, shows every
//! backend and the reason of the one that is down.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{exchange, get, proxy, worker, Program};

/// The flags every proxy here gets: its admin listener, and one refused
/// connection ejecting a backend for a minute (longer than any test).
const FLAGS: [&str; 6] = [
    "--admin",
    "127.0.0.1:0",
    "--failures",
    "1",
    "--eject-ms",
    "60000",
];

/// An admin reply: status, headers (lower-case names) and body.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `METHOD path` on the admin listener, on a fresh connection.
fn request(admin: SocketAddr, method: &str, path: &str) -> Reply {
    let text = exchange(
        admin,
        format!("{method} {path} HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .unwrap_or_else(|e| panic!("{method} {path} on the admin listener {admin}: {e}"));
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head in `{text}`"));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in `{head}`"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

fn admin_of(front: &Program) -> SocketAddr {
    front
        .admin
        .expect("the proxy printed `admin on ADDR` after `listening on ADDR`")
}

fn status_json(admin: SocketAddr) -> Value {
    let reply = request(admin, "GET", "/status.json");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    serde_json::from_str(&reply.body)
        .unwrap_or_else(|e| panic!("/status.json is not JSON ({e}): {}", reply.body))
}

fn backend<'a>(status: &'a Value, address: &str) -> &'a Value {
    status["backends"]
        .as_array()
        .expect("`backends` is an array")
        .iter()
        .find(|b| b["address"] == address)
        .unwrap_or_else(|| panic!("no backend at {address} in {status:#}"))
}

/// Workers w1..wN and their addresses.
fn workers(n: usize) -> (Vec<Program>, Vec<String>) {
    let workers: Vec<Program> = (1..=n).map(|i| worker(&format!("w{i}"), &[])).collect();
    let addrs = workers.iter().map(|w| w.addr.to_string()).collect();
    (workers, addrs)
}

/// Sends GETs through `front` until the admin listener shows the backend
/// at `dead` ejected (at most 40 requests and 20 s); returns the status.
fn until_ejected(front: &Program, dead: &str) -> Value {
    let admin = admin_of(front);
    let deadline = Instant::now() + Duration::from_secs(20);
    for _ in 0..40 {
        // The proxy retries elsewhere, so the client still gets an answer.
        let reply = get(front.addr, "/").expect("GET through the proxy");
        assert_eq!(reply.status, 200, "{reply:?}");
        let status = status_json(admin);
        if backend(&status, dead)["state"] == "ejected" || Instant::now() > deadline {
            return status;
        }
    }
    status_json(admin)
}

#[test]
fn status_json_of_both_proxies_shows_every_backend_up_then_the_killed_one_ejected_for_refused_connections(
) {
    for program in ["hyper_proxy", "tcp_forwarder"] {
        let (mut workers, addrs) = workers(3);
        let front = proxy(program, "round-robin", &addrs, &FLAGS);
        let status = status_json(admin_of(&front));
        assert_eq!(status["strategy"], "round-robin", "{program}: {status:#}");
        assert_eq!(status["tiers"][0]["in_panic"], false, "{program}");
        assert_eq!(status["backends"].as_array().map(Vec::len), Some(3));
        for addr in &addrs {
            let b = backend(&status, addr);
            assert_eq!(b["state"], "up", "{program}: {b:#}");
            assert_eq!(b["id"], addr.as_str(), "{program}: {b:#}");
            assert_eq!(b["reason"], "added to the set", "{program}: {b:#}");
            assert_eq!(b["priority"], 0, "{program}: {b:#}");
        }

        workers[0].kill();
        let status = until_ejected(&front, &addrs[0]);
        let dead = backend(&status, &addrs[0]);
        assert_eq!(dead["state"], "ejected", "{program}: {status:#}");
        let reason = dead["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("connection refused"),
            "{program}: the reason names the cause: {reason}"
        );
        assert_eq!(dead["ejections"], 1, "{program}: {dead:#}");
        assert!(dead["failures"].as_u64() >= Some(1), "{program}: {dead:#}");
        // Times are on the pool's clock, as uptime_ms is.
        let since = dead["since_ms"].as_u64().expect("since_ms");
        assert!(
            since > 0 && Some(since) <= status["uptime_ms"].as_u64(),
            "{program}: {status:#}"
        );
        for addr in &addrs[1..] {
            assert_eq!(backend(&status, addr)["state"], "up", "{program}");
        }
    }
}

#[test]
fn metrics_on_the_admin_listener_parse_as_prometheus_text_with_the_pool_families() {
    let (_workers, addrs) = workers(2);
    let front = proxy("hyper_proxy", "least-connections", &addrs, &FLAGS);
    for _ in 0..4 {
        assert_eq!(get(front.addr, "/").expect("GET").status, 200);
    }
    let reply = request(admin_of(&front), "GET", "/metrics");
    assert_eq!(reply.status, 200, "{}", reply.body);
    let content_type = reply.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "content type: {content_type}"
    );
    let families = prometheus_families(&reply.body).unwrap_or_else(|e| panic!("{e}"));
    for family in [
        "pickwise_backend_picks_total",
        "pickwise_backend_successes_total",
        "pickwise_backend_failures_total",
        "pickwise_backend_in_flight",
        "pickwise_backend_state",
        "pickwise_tier_share",
        "pickwise_tier_members",
    ] {
        assert!(families.contains(family), "{family} missing: {families:?}");
    }
    for addr in &addrs {
        let line = format!("pickwise_backend_state{{backend=\"{addr}\",state=\"up\"}} 1");
        assert!(reply.body.lines().any(|l| l == line), "{line} missing");
    }
    let picks: f64 = reply
        .body
        .lines()
        .filter(|l| l.starts_with("pickwise_backend_picks_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    assert_eq!(picks, 4.0, "{}", reply.body);
}

/// The families of a Prometheus text exposition (format 0.0.4), checking
/// every line: `# HELP`/`# TYPE` comments, samples `name{labels} value`
/// whose family was typed before them and whose value is a number.
fn prometheus_families(text: &str) -> Result<BTreeSet<String>, String> {
    let is_name = |s: &str| {
        !s.is_empty()
            && !s.starts_with(|c: char| c.is_ascii_digit())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    };
    let mut typed: Vec<(String, String)> = Vec::new();
    let mut samples = BTreeSet::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(comment) = line.strip_prefix("# ") {
            let mut words = comment.splitn(3, ' ');
            match (words.next(), words.next(), words.next()) {
                (Some("HELP"), Some(name), _) if is_name(name) => {}
                (Some("TYPE"), Some(name), Some(kind))
                    if is_name(name)
                        && ["counter", "gauge", "histogram", "summary", "untyped"]
                            .contains(&kind) =>
                {
                    typed.push((name.to_owned(), kind.to_owned()));
                }
                (Some("EOF"), None, None) => {}
                _ => return Err(format!("bad comment line `{line}`")),
            }
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .ok_or_else(|| format!("no value in `{line}`"))?;
        value
            .parse::<f64>()
            .map_err(|_| format!("value `{value}` is not a number in `{line}`"))?;
        let name = match series.split_once('{') {
            Some((name, labels)) => {
                let labels = labels
                    .strip_suffix('}')
                    .ok_or_else(|| format!("unclosed labels in `{line}`"))?;
                for pair in labels.split("\",").filter(|p| !p.is_empty()) {
                    let (label, quoted) = pair
                        .split_once("=\"")
                        .ok_or_else(|| format!("bad label `{pair}` in `{line}`"))?;
                    if !is_name(label) || quoted.trim_end_matches('"').contains('"') {
                        return Err(format!("bad label `{pair}` in `{line}`"));
                    }
                }
                name
            }
            None => series,
        };
        if !is_name(name) {
            return Err(format!("bad metric name in `{line}`"));
        }
        let family = typed
            .iter()
            .rev()
            .find(|(family, kind)| {
                let suffix = name.strip_prefix(family.as_str());
                matches!(
                    (kind.as_str(), suffix),
                    (_, Some(""))
                        | ("counter", Some("_total"))
                        | ("histogram", Some("_bucket" | "_sum" | "_count"))
                        | ("summary", Some("_sum" | "_count"))
                )
            })
            .ok_or_else(|| format!("sample `{line}` before its # TYPE"))?;
        samples.insert(match family.1.as_str() {
            "counter" if !family.0.ends_with("_total") => format!("{}_total", family.0),
            _ => family.0.clone(),
        });
    }
    if samples.is_empty() {
        return Err(format!("no samples in:\n{text}"));
    }
    Ok(samples)
}

#[test]
fn the_admin_listener_answers_404_elsewhere_and_405_to_other_methods_than_get() {
    let (_workers, addrs) = workers(1);
    let front = proxy("tcp_forwarder", "round-robin", &addrs, &FLAGS);
    let admin = admin_of(&front);
    assert_eq!(request(admin, "GET", "/nothing-here").status, 404);
    let post = request(admin, "POST", "/status.json");
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    assert_eq!(request(admin, "DELETE", "/").status, 405);
    let head = request(admin, "HEAD", "/metrics");
    assert_eq!((head.status, head.body.as_str()), (200, ""));
}

#[test]
#[ignore = "needs chromium: Debian's chromium package (.ci/run installs it and runs the ignored tests as root)"]
fn the_status_page_in_headless_chromium_shows_every_backend_and_the_reason_drawn_from_status_json()
{
    let chromium = chromium();
    let (mut workers, mut specs) = workers(3);
    let addrs: Vec<String> = specs.clone();
    // A name with markup in it: shown as text, never taken for markup.
    specs[2].push_str(",id=<i>w&3</i>");
    let front = proxy("hyper_proxy", "round-robin", &specs, &FLAGS);
    let admin = admin_of(&front);
    workers[0].kill();
    let status = until_ejected(&front, &addrs[0]);
    assert_eq!(
        backend(&status, &addrs[0])["state"],
        "ejected",
        "{status:#}"
    );

    // The page as the server sends it: self-contained, escaped, drawn once.
    let page = request(admin, "GET", "/");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(!page.body.contains("<i>w&3"), "unescaped id in the page");
    assert!(page.body.contains("&lt;i&gt;w&amp;3&lt;/i&gt;"));
    assert!(page
        .body
        .contains(r#"<tbody id="backends" data-source="server">"#));
    for external in ["src=\"http", "href=\"http", "@import", "url("] {
        assert!(!page.body.contains(external), "external asset: {external}");
    }

    // The page as a browser shows it once its script has run.
    let dom = dump_dom(&chromium, &format!("http://{admin}/"));
    let marker = r#"<tbody id="backends" data-source="status.json">"#;
    let table = dom
        .split_once(marker)
        .and_then(|(_, rest)| rest.split_once("</tbody>"))
        .map(|(rows, _)| rows)
        .unwrap_or_else(|| panic!("the script did not draw the table from /status.json:\n{dom}"));
    for addr in &addrs {
        assert!(table.contains(addr.as_str()), "{addr} not shown:\n{table}");
    }
    assert!(
        table.contains("connection refused") && table.contains("s-ejected"),
        "the down backend's state and reason not shown:\n{table}"
    );
    assert!(table.contains("&lt;i&gt;w&amp;3&lt;/i&gt;"), "{table}");
    assert!(
        !table.contains("<i>"),
        "an id was taken for markup:\n{table}"
    );
    assert!(dom.contains("live · updated"), "no update stamp:\n{dom}");
    // hyper_proxy's own line: retries, budget, try timeout, head latencies.
    for stat in [
        "retries",
        "retry budget left",
        "try timeout ms",
        "head latency p99 ms",
    ] {
        assert!(
            page.body.contains(&format!("{stat} <b>")),
            "the server's page lacks {stat}"
        );
    }
    let line = dom
        .split_once(r#"<div id="proxy" data-source="status.json">"#)
        .and_then(|(_, rest)| rest.split_once("</div>"))
        .map(|(line, _)| line)
        .unwrap_or_else(|| panic!("the script did not draw the proxy line:\n{dom}"));
    assert!(
        line.contains("hedges <b>0</b>") && line.contains("retry budget left"),
        "{line}"
    );
}

/// Debian's chromium, or a failure saying how to get it.
fn chromium() -> PathBuf {
    let found = ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|path| path.is_file())
        })
    });
    found.unwrap_or_else(|| {
        panic!(
            "headless Chromium is needed to test the admin status page and was not found \
             on PATH: install Debian's `chromium` package (apt-get install -y chromium)"
        )
    })
}

/// The DOM of `url` after its scripts ran for 3 s of virtual time, from
/// headless Chromium with a profile of its own (killed after 60 s).
fn dump_dom(chromium: &PathBuf, url: &str) -> String {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "pickwise-admin-chromium-{}-{}",
        std::process::id(),
        RUNS.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let _cleanup = RemoveDir(dir.clone());
    let out = std::fs::File::create(dir.join("dom.html")).expect("a file for the DOM");
    let err = std::fs::File::create(dir.join("stderr")).expect("a file for the log");
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=3000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromium.display()));
    let deadline = Instant::now() + Duration::from_secs(60);
    let exit = loop {
        match child.try_wait() {
            Ok(Some(exit)) => break exit,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromium did not finish within 60 s");
            }
        }
    };
    let dom = std::fs::read_to_string(dir.join("dom.html")).unwrap_or_default();
    if !exit.success() || dom.is_empty() {
        let log = std::fs::read_to_string(dir.join("stderr")).unwrap_or_default();
        panic!("chromium failed ({exit}) on {url}:\n{log}");
    }
    dom
}

/// Removes a directory when dropped, also when the test fails.
struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn admin_requests_from_another_site_or_under_a_name_are_refused() {
    // Issue 26, finding 5: a `POST /admin/drain` with a foreign Origin and
    // `text/plain` (no browser preflight) drained a worker; the proxies'
    // admin answered any Host (DNS rebinding could read /status.json).
    let w = crate::harness::worker("w1", &["--admin", "127.0.0.1:0"]);
    let admin = w.admin.expect("the worker's admin listener");
    let drain = |extra: &str| {
        crate::harness::raw(
            admin,
            format!(
                "POST /admin/drain HTTP/1.1\r\n{extra}Content-Type: text/plain\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .expect("an answer")
    };
    let foreign = drain(&format!("Host: {admin}\r\nOrigin: http://evil.example\r\n"));
    assert_eq!(foreign.status, 403, "{foreign:?}");
    assert!(foreign.body.contains("cross-site"), "{foreign:?}");
    let rebound = drain("Host: evil.example\r\n");
    assert_eq!(rebound.status, 403, "{rebound:?}");
    let status = crate::harness::get(admin, "/admin/status").expect("GET /admin/status");
    assert_eq!(status.body, "ready\n", "the worker was drained");
    let own = drain(&format!("Host: {admin}\r\nOrigin: http://{admin}\r\n"));
    assert_eq!(own.status, 200, "{own:?}");
    w.wait_for_log("refused POST /admin/drain", Duration::from_secs(2));

    let front = crate::harness::proxy(
        "hyper_proxy",
        "round-robin",
        &[w.addr.to_string()],
        &["--admin", "127.0.0.1:0"],
    );
    let proxy_admin = front.admin.expect("the proxy's admin listener");
    let rebound = crate::harness::raw(
        proxy_admin,
        b"GET /status.json HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    )
    .expect("an answer");
    assert_eq!(rebound.status, 403, "{rebound:?}");
    let local = crate::harness::raw(
        proxy_admin,
        b"GET /status.json HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .expect("an answer");
    assert_eq!(local.status, 200, "{local:?}");
}
