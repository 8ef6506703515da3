//! What one run measured, boiled down to the table's columns.

use std::time::Duration;

/// Raw measurements of one run.
#[derive(Debug, Default)]
pub struct Measured {
    /// End-to-end latency of every served request (nanoseconds), retries included.
    pub latencies: Vec<u64>,
    /// Requests that got no answer: no backend, or the retry failed too.
    pub failed: u64,
    /// Requests retried on another backend after a refused connection.
    pub retried: u64,
    /// Hedges sent (with `--hedge`).
    pub hedged: u64,
    /// Per node: core-nanoseconds spent serving.
    pub busy: Vec<u64>,
    /// Per node: its cores.
    pub cores: Vec<u32>,
    /// Per node: most requests at the node at once (serving plus queued).
    pub peak: Vec<u32>,
    /// Simulated time at the last event (nanoseconds).
    pub end: u64,
}

/// The table's line for one strategy in one scenario.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub p50: Duration,
    pub p99: Duration,
    pub p999: Duration,
    /// Busiest node's utilisation over the mean node's (1.0 is perfectly even).
    pub load: f64,
    /// Most requests at one node at once.
    pub peak: u32,
    pub failed: u64,
    pub retried: u64,
    /// Hedges sent (with `--hedge`).
    pub hedged: u64,
}

impl Measured {
    /// Sorts the latencies and computes the summary.
    pub fn summarise(mut self) -> Summary {
        self.latencies.sort_unstable();
        let at = |q: f64| Duration::from_nanos(percentile(&self.latencies, q));
        let end = self.end.max(1) as f64;
        let utilisation: Vec<f64> = self
            .busy
            .iter()
            .zip(&self.cores)
            .map(|(&busy, &cores)| busy as f64 / (f64::from(cores) * end))
            .collect();
        let mean = utilisation.iter().sum::<f64>() / utilisation.len().max(1) as f64;
        let max = utilisation.iter().copied().fold(0.0, f64::max);
        Summary {
            p50: at(0.50),
            p99: at(0.99),
            p999: at(0.999),
            load: if mean > 0.0 { max / mean } else { 0.0 },
            peak: self.peak.iter().copied().max().unwrap_or(0),
            failed: self.failed,
            retried: self.retried,
            hedged: self.hedged,
        }
    }
}

/// The `q` quantile of sorted `values` (nearest rank); 0 when empty.
pub fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}
