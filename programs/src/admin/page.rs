//! The admin listener's `/`: the pool on one HTML page, no external assets.
//!
//! The server renders the page as it is now ([`render`]), so it reads well
//! without JavaScript (a `<noscript>` meta refresh reloads it every two
//! seconds); its inline script then fetches `/status.json` every second and
//! re-renders the same markup from it, marking what it drew with
//! `data-source="status.json"`. Every string from the pool is escaped, on
//! both sides.

use std::fmt::Write as _;

use pickwise::health::CheckResult;

use super::status::{millis, tier_name, Backend, Status, Tier};

/// The whole page for `status`.
pub fn render(status: &Status) -> String {
    let mut tiers = String::new();
    for tier in &status.tiers {
        tiers += &tier_chip(tier);
    }
    let mut rows = String::new();
    for backend in &status.backends {
        rows += &row(backend, status.uptime_ms);
    }
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pickwise · {strategy}</title>
<noscript><meta http-equiv="refresh" content="2"></noscript>
<style>{STYLE}</style></head>
<body>
<header><h1>pickwise</h1><span id="pool">{pool}</span><span id="updated" data-source="server">rendered by the server; reloads every 2 s</span></header>
<div id="tiers">{tiers}</div>
<div id="proxy" data-source="server">{proxy}</div>
<table><thead><tr><th>Backend</th><th>Tier</th><th>State</th><th>Reason</th><th>Since</th><th>In flight / cap</th><th>Picks</th><th>Failures / ejections</th><th>Latency</th><th>Errors</th><th>Last check</th></tr></thead>
<tbody id="backends" data-source="server">{rows}</tbody></table>
<footer>Raw: <a href="/status.json">/status.json</a> · <a href="/metrics">/metrics</a> (Prometheus)</footer>
<script>{SCRIPT}</script>
</body></html>
"#,
        strategy = escape(status.strategy),
        pool = pool_line(status),
        proxy = proxy_line(status.proxy.as_ref()),
    )
}

/// What the program adds to the pool's picture (hyper_proxy: hedges,
/// retries, the retry budget, the try timeout, recent head latencies), as
/// `name value` pairs; nothing when the program adds nothing.
fn proxy_line(proxy: Option<&serde_json::Value>) -> String {
    let Some(serde_json::Value::Object(fields)) = proxy else {
        return String::new();
    };
    fields
        .iter()
        .map(|(name, value)| {
            let value = match value {
                serde_json::Value::Number(n) => match n.as_f64() {
                    Some(x) if x.fract() != 0.0 => format!("{x:.1}"),
                    _ => n.to_string(),
                },
                serde_json::Value::Null => "–".to_owned(),
                other => other.to_string(),
            };
            format!(
                "<span class=\"stat\">{} <b>{}</b></span>",
                escape(&name.replace('_', " ")),
                escape(&value)
            )
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

fn pool_line(status: &Status) -> String {
    format!(
        "strategy <b>{}</b> · {} backends · running {}",
        escape(status.strategy),
        status.backends.len(),
        duration(status.uptime_ms)
    )
}

fn tier_chip(tier: &Tier) -> String {
    let (name, tier) = (&tier.name, &tier.status);
    let panic = if tier.in_panic {
        r#"<span class="panic">PANIC: health ignored</span>"#
    } else {
        "no panic"
    };
    format!(
        r#"<span class="tier{}"><b>{}</b> {}/{} available · {:.0}% of traffic · {}</span>"#,
        if tier.in_panic { " in-panic" } else { "" },
        escape(name),
        tier.available,
        tier.members,
        tier.share * 100.0,
        panic
    )
}

fn row(backend: &Backend, now_ms: u64) -> String {
    let b = &backend.status;
    let (id, state, admin) = (b.id.as_str(), b.state.to_string(), b.admin.to_string());
    let mut name = format!("<b>{}</b>", escape(id));
    if backend.address != id {
        let _ = write!(name, "<br><small>{}</small>", escape(&backend.address));
    }
    let mut cell = format!(r#"<span class="state s-{0}">{0}</span>"#, escape(&state));
    if admin != "up" && admin != state {
        let _ = write!(cell, " <small>admin: {}</small>", escape(&admin));
    }
    let in_flight = match (b.in_flight, b.max_conns) {
        (Some(n), Some(cap)) => format!("{n} / {cap}"),
        (Some(n), None) => format!("{n} / –"),
        (None, Some(cap)) => format!("– / {cap}"),
        (None, None) => "–".into(),
    };
    let latency = b
        .latency
        .map_or("–".into(), |l| format!("{:.1} ms", l.as_secs_f64() * 1e3));
    let check = b.last_check.as_ref().map_or("–".into(), |(result, at)| {
        let words = result.to_string();
        let words = words.strip_prefix("health check ").unwrap_or(&words);
        format!(
            r#"<span class="{}">{}</span>, {} ago"#,
            if *result == CheckResult::Passed {
                "ok"
            } else {
                "bad"
            },
            escape(words),
            duration(now_ms.saturating_sub(millis(*at)))
        )
    });
    format!(
        "<tr class=\"r-{state_class}\"><td>{name}</td><td>{tier}</td><td>{cell}</td><td class=\"reason\">{reason}</td><td>{since} ago</td><td>{in_flight}</td><td>{picks}</td><td>{failures} / {ejections}</td><td>{latency}</td><td>{errors:.1}%</td><td>{check}</td></tr>",
        state_class = escape(&state),
        tier = escape(&tier_name(b.priority)),
        reason = escape(&b.reason.to_string()),
        since = duration(now_ms.saturating_sub(millis(b.since))),
        picks = b.picks.map_or("–".into(), |p| p.to_string()),
        failures = b.failures,
        ejections = b.ejections,
        errors = b.error_rate * 100.0,
    )
}

/// A duration for people: `0.4 s`, `12 s`, `4 min 3 s`, `2 h 5 min`, `3 d 4 h`.
fn duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0 => format!("{:.1} s", ms as f64 / 1000.0),
        1..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        3600..=86_399 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// Text made safe for HTML content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = r#"
body{font:14px/1.4 system-ui,sans-serif;margin:1.2em;color:#1d2330;background:#f7f8fa}
header{display:flex;gap:1.2em;align-items:baseline;flex-wrap:wrap}
h1{font-size:1.3em;margin:0}
#updated{color:#667;font-size:.9em;margin-left:auto}
#updated.bad{color:#b3261e;font-weight:600}
#tiers{margin:.7em 0;display:flex;gap:.6em;flex-wrap:wrap}
#proxy{margin:.4em 0;color:#555}
.tier{background:#fff;border:1px solid #d8dce3;border-radius:4px;padding:.2em .6em}
.tier.in-panic{border-color:#b3261e}
.panic{color:#b3261e;font-weight:600}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #d8dce3}
th,td{text-align:left;padding:.35em .6em;border-bottom:1px solid #e6e9ee;vertical-align:top;white-space:nowrap}
th{background:#eef0f4;font-weight:600;white-space:normal}
small{color:#667}
.state{display:inline-block;min-width:5.5em;text-align:center;border-radius:3px;padding:0 .4em;color:#fff;font-weight:600}
.s-up{background:#1e7b34}.s-draining{background:#c77700}
.s-down,.s-ejected,.s-unhealthy{background:#b3261e}.s-removed{background:#777}
tr.r-down,tr.r-ejected,tr.r-unhealthy{background:#fdf1f0}tr.r-draining{background:#fff7e6}
.reason{white-space:normal;min-width:14em;max-width:28em}
.ok{color:#1e7b34}.bad{color:#b3261e}
footer{margin-top:.8em;color:#667;font-size:.9em}
"#;

/// Fetches `/status.json` every second and draws the same markup as the
/// server from it.
const SCRIPT: &str = r#"
"use strict";
const esc = s => String(s).replace(/[&<>"']/g,
  c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})[c]);
const tierName = p => p === 0 ? "primary" : p === 1 ? "backup" : "priority " + p;
function duration(ms) {
  const s = Math.floor(ms / 1000);
  if (s < 1) return (ms / 1000).toFixed(1) + " s";
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + s % 60 + " s";
  if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor(s % 3600 / 60) + " min";
  return Math.floor(s / 86400) + " d " + Math.floor(s % 86400 / 3600) + " h";
}
const orDash = v => v === null || v === undefined ? "–" : v;
function tierChip(t) {
  const panic = t.in_panic ? '<span class="panic">PANIC: health ignored</span>' : "no panic";
  return '<span class="tier' + (t.in_panic ? " in-panic" : "") + '"><b>' + esc(t.name) + "</b> " +
    t.available + "/" + t.members + " available · " + Math.round(t.share * 100) +
    "% of traffic · " + panic + "</span>";
}
function row(b, now) {
  let name = "<b>" + esc(b.id) + "</b>";
  if (b.address !== b.id) name += "<br><small>" + esc(b.address) + "</small>";
  let state = '<span class="state s-' + esc(b.state) + '">' + esc(b.state) + "</span>";
  if (b.admin !== "up" && b.admin !== b.state) state += " <small>admin: " + esc(b.admin) + "</small>";
  const inFlight = b.in_flight === null && b.max_conns === null ? "–"
    : orDash(b.in_flight) + " / " + orDash(b.max_conns);
  const latency = b.latency_ms === null ? "–" : b.latency_ms.toFixed(1) + " ms";
  const c = b.last_check;
  const check = c === null ? "–" : '<span class="' + (c.passed ? "ok" : "bad") + '">' +
    esc(c.result.replace(/^health check /, "")) + "</span>, " + duration(now - c.at_ms) + " ago";
  return '<tr class="r-' + esc(b.state) + '"><td>' + name + "</td><td>" + esc(tierName(b.priority)) +
    "</td><td>" + state + '</td><td class="reason">' + esc(b.reason) + "</td><td>" +
    duration(now - b.since_ms) + " ago</td><td>" + inFlight + "</td><td>" + orDash(b.picks) +
    "</td><td>" + b.failures + " / " + b.ejections + "</td><td>" + latency + "</td><td>" +
    (b.error_rate * 100).toFixed(1) + "%</td><td>" + check + "</td></tr>";
}
function proxyLine(p) {
  if (!p || typeof p !== "object") return "";
  return Object.entries(p).map(([name, v]) => {
    const value = v === null ? "–" : typeof v === "number" && !Number.isInteger(v) ? v.toFixed(1) : String(v);
    return '<span class="stat">' + esc(name.replace(/_/g, " ")) + " <b>" + esc(value) + "</b></span>";
  }).join(" · ");
}
function render(s) {
  document.title = "pickwise · " + s.strategy;
  document.getElementById("pool").innerHTML = "strategy <b>" + esc(s.strategy) + "</b> · " +
    s.backends.length + " backends · running " + duration(s.uptime_ms);
  document.getElementById("tiers").innerHTML = s.tiers.map(tierChip).join("");
  const proxy = document.getElementById("proxy");
  proxy.innerHTML = proxyLine(s.proxy);
  proxy.dataset.source = "status.json";
  const body = document.getElementById("backends");
  body.innerHTML = s.backends.map(b => row(b, s.uptime_ms)).join("");
  body.dataset.source = "status.json";
}
function stamp(text, bad) {
  const el = document.getElementById("updated");
  el.textContent = text;
  el.className = bad ? "bad" : "";
  el.dataset.source = bad ? "error" : "status.json";
}
async function refresh() {
  try {
    const reply = await fetch("/status.json", {cache: "no-store"});
    if (!reply.ok) throw new Error("HTTP " + reply.status);
    render(await reply.json());
    stamp("live · updated " + new Date().toLocaleTimeString(), false);
  } catch (e) {
    stamp("cannot read /status.json: " + e.message, true);
  } finally {
    setTimeout(refresh, 1000);
  }
}
refresh();
"#;
