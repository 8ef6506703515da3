//! The printed comparison table.

use std::time::Duration;

use super::model::Scenario;
use super::stats::Summary;

/// One scenario's results: a line per router, the oracle last.
pub struct ScenarioResult {
    pub scenario: Scenario,
    /// `None` where the strategy could not be built for the scenario.
    pub lines: Vec<(String, Option<Summary>)>,
}

/// The table's header for `scenario`.
pub fn header(scenario: &Scenario, requests: usize) -> String {
    format!(
        "\n{} — {}\n{requests} requests, Poisson arrivals at {:.0}% of capacity ({:.0} req/s), {}\n\
         {:<28} {:>9} {:>9} {:>9} {:>9} {:>6} {:>7} {:>7}",
        scenario.name,
        scenario.about,
        scenario.utilisation * 100.0,
        scenario.arrival_rate(),
        match scenario.agent_interval {
            Some(every) => format!("agents polled every {} ms", every.as_millis()),
            None => "no agents".to_owned(),
        },
        "strategy",
        "p50 ms",
        "p99 ms",
        "p999 ms",
        "max/mean",
        "peak",
        "retried",
        "failed",
    )
}

/// One line of the table.
pub fn line(name: &str, s: &Summary) -> String {
    format!(
        "{name:<28} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>6} {:>7} {:>7}",
        ms(s.p50),
        ms(s.p99),
        ms(s.p999),
        s.load,
        s.peak,
        match s.hedged {
            0 => s.retried.to_string(),
            hedged => format!("{}/{hedged}", s.retried),
        },
        s.failed,
    )
}

/// What the columns mean, printed once at the end.
pub const LEGEND: &str =
    "\nlatency: arrival to completion, a refused attempt and its retry included; \
max/mean: the busiest node's utilisation over the mean node's (1.00 = even); \
peak: most requests at one node at once (serving + queued); retried: refused connections \
or timed-out requests retried on another node; failed: requests with no answer. \
oracle (JSQ): not the library — every request joins the node with the least \
(queued + busy + 1) / cores x current service time, knowing which node is down \
or a blackhole, over every node whatever the number of proxies.";

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
