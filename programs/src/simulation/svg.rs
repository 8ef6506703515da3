//! A hand-written SVG: p99 latency per strategy per scenario, grouped bars on
//! a log scale, with a legend.

use std::fmt::Write;

use super::report::ScenarioResult;

const PALETTE: [&str; 18] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac", "#1f77b4", "#8c564b", "#17becf", "#bcbd22", "#7f7f7f", "#d62728",
    "#2ca02c", "#9467bd",
];
const BAR: f64 = 11.0;
const LEFT: f64 = 70.0;
const TOP: f64 = 50.0;
const PLOT_H: f64 = 340.0;
const LEGEND_W: f64 = 230.0;

/// The plot of `results`, p99 in milliseconds on a log axis.
pub fn plot<'a>(results: &'a [ScenarioResult], requests: usize, seed: u64) -> String {
    // The routers every scenario has (a scenario's extra rows, such as the
    // subset rows of many-balancers, stay in the table).
    let names: Vec<&str> = results
        .first()
        .map(|r| r.lines.iter().map(|(name, _)| name.as_str()).collect())
        .unwrap_or_default();
    let names: Vec<&str> = names
        .into_iter()
        .filter(|name| {
            results
                .iter()
                .all(|r| r.lines.iter().any(|(n, _)| n == name))
        })
        .collect();
    let summary = |r: &'a ScenarioResult, name: &str| {
        r.lines
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, s)| s.as_ref())
    };
    let p99s = results
        .iter()
        .flat_map(|r| names.iter().filter_map(move |name| summary(r, name)))
        .map(|s| s.p99.as_secs_f64() * 1e3);
    let (lo, hi) = p99s.fold((f64::MAX, 0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let lo = decade_below(lo);
    let hi = decade_above(hi).max(lo * 10.0);
    let y = |v: f64| TOP + PLOT_H * (1.0 - (v.max(lo).log10() - lo.log10()) / (hi / lo).log10());
    let group = (BAR * (names.len() as f64 + 1.5)).max(110.0);
    let plot_w = group * results.len() as f64;
    let width = (LEFT + plot_w + 20.0 + LEGEND_W).max(640.0);
    let height = TOP + PLOT_H + 35.0;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="24" font-size="15" font-weight="bold">p99 latency per strategy and scenario (ms, log scale)</text>"#
    );
    let _ = writeln!(
        svg,
        r##"<text x="{LEFT}" y="40" fill="#555">cargo run --release --bin simulate -- --requests {requests} --seed {seed}</text>"##
    );
    // Grid: 1, 2, 5 of every decade.
    let mut decade = lo;
    while decade <= hi * 1.001 {
        for (mult, strong) in [(1.0, true), (2.0, false), (5.0, false)] {
            let v = decade * mult;
            if v > hi * 1.001 {
                break;
            }
            let yy = y(v);
            let stroke = if strong { "#bbb" } else { "#e5e5e5" };
            let _ = writeln!(
                svg,
                r#"<line x1="{LEFT}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" stroke="{stroke}"/>"#,
                LEFT + plot_w
            );
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="{}">{}</text>"#,
                LEFT - 6.0,
                yy + 4.0,
                if strong { "#333" } else { "#888" },
                label(v)
            );
        }
        decade *= 10.0;
    }
    for (g, result) in results.iter().enumerate() {
        let x0 = LEFT + g as f64 * group + (group - BAR * names.len() as f64) / 2.0;
        for (i, name) in names.iter().enumerate() {
            let Some(summary) = summary(result, name) else {
                continue;
            };
            let v = summary.p99.as_secs_f64() * 1e3;
            let (x, top) = (x0 + i as f64 * BAR, y(v));
            let _ = writeln!(
                svg,
                r#"<rect x="{x:.1}" y="{top:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{} / {}: p99 {v:.2} ms</title></rect>"#,
                BAR - 1.0,
                TOP + PLOT_H - top,
                colour(i, names.len()),
                result.scenario.name,
                name,
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-weight="bold">{}</text>"#,
            x0 + BAR * names.len() as f64 / 2.0,
            TOP + PLOT_H + 20.0,
            result.scenario.name
        );
    }
    let _ = writeln!(
        svg,
        r##"<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{:.1}" stroke="#333"/>"##,
        TOP + PLOT_H
    );
    let lx = LEFT + plot_w + 20.0;
    for (i, name) in names.iter().enumerate() {
        let ly = TOP + i as f64 * 18.0;
        let _ = writeln!(
            svg,
            r#"<rect x="{lx:.1}" y="{ly:.1}" width="12" height="12" fill="{}"/><text x="{:.1}" y="{:.1}">{name}</text>"#,
            colour(i, names.len()),
            lx + 18.0,
            ly + 10.5
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// Strategies take the palette; the last line (the oracle) is black.
fn colour(i: usize, lines: usize) -> &'static str {
    if i + 1 == lines {
        "#111"
    } else {
        PALETTE[i % PALETTE.len()]
    }
}

fn decade_below(v: f64) -> f64 {
    10f64.powf(v.max(1e-3).log10().floor())
}

fn decade_above(v: f64) -> f64 {
    10f64.powf(v.max(1e-3).log10().ceil())
}

fn label(ms: f64) -> String {
    if ms >= 1.0 {
        format!("{ms:.0}")
    } else {
        format!("{ms}")
    }
}
