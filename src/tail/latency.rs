//! [`LatencyWindow`]: recent latencies, lock-free; [`TryTimeout`]: a delay
//! from one of their quantiles.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::types::clock::{saturating_nanos, Clock, SystemClock};

/// Sub-buckets per power of two: values are kept within 1/8 (12.5%).
const SUB_BITS: u32 = 3;
const SUB: usize = 1 << SUB_BITS;
/// Powers of two of microseconds covered: up to 2^40 µs (12 days).
const POWERS: usize = 40;
const BUCKETS: usize = SUB + POWERS * SUB;

/// A histogram of recent latencies, recorded and read from any thread
/// without a lock: log-linear buckets of microseconds (eight per power of
/// two, so a quantile is within 12.5% of the true value), over two
/// rotating halves of `period` each, so what is read covers between one
/// and two periods of the most recent samples.
///
/// Recording is one clock read and two atomic adds; when a period has
/// passed, the first recorder to notice clears the older half (O(buckets),
/// once a period). A quantile scans the buckets (a few hundred loads).
pub struct LatencyWindow {
    clock: Arc<dyn Clock>,
    period: u64,
    /// The period number each half holds (period index = now / period).
    epochs: [AtomicU64; 2],
    halves: [Half; 2],
}

struct Half {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
}

impl Half {
    fn new() -> Self {
        Half {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
        }
    }

    fn clear(&self) {
        for bucket in self.buckets.iter() {
            bucket.store(0, Ordering::Relaxed);
        }
        self.count.store(0, Ordering::Relaxed);
    }
}

/// The bucket of `micros`: exact below [`SUB`], then eight per power of two.
fn bucket_of(micros: u64) -> usize {
    if micros < SUB as u64 {
        return micros as usize;
    }
    let power = 63 - micros.leading_zeros(); // >= SUB_BITS
    let sub = (micros >> (power - SUB_BITS)) as usize & (SUB - 1);
    let index = SUB + (power - SUB_BITS) as usize * SUB + sub;
    index.min(BUCKETS - 1)
}

/// The upper edge of bucket `index`, in microseconds (a quantile answers
/// with it: never below the true value by more than the bucket's width).
fn upper_edge(index: usize) -> u64 {
    if index < SUB {
        return index as u64;
    }
    let power = (index - SUB) / SUB + SUB_BITS as usize;
    let sub = ((index - SUB) % SUB) as u64;
    let base = 1u64 << power;
    let width = base >> SUB_BITS;
    base + (sub + 1) * width - 1
}

impl LatencyWindow {
    /// A window of `period` (at least 1 ms) on the system clock.
    pub fn new(period: Duration) -> Self {
        LatencyWindow::with_clock(period, Arc::new(SystemClock::new()))
    }

    /// A window of `period` on `clock` (a manual one in tests).
    pub fn with_clock(period: Duration, clock: Arc<dyn Clock>) -> Self {
        let period = saturating_nanos(period).max(1_000_000);
        let now = saturating_nanos(clock.now()) / period;
        LatencyWindow {
            clock,
            period,
            epochs: [AtomicU64::new(now), AtomicU64::new(now.saturating_sub(1))],
            halves: [Half::new(), Half::new()],
        }
    }

    /// The half for period number `epoch`, cleared first if it held an
    /// older one.
    fn half(&self, epoch: u64) -> &Half {
        let slot = (epoch % 2) as usize;
        let held = self.epochs[slot].load(Ordering::Acquire);
        if held != epoch
            && held < epoch
            && self.epochs[slot]
                .compare_exchange(held, epoch, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            self.halves[slot].clear();
        }
        &self.halves[slot]
    }

    /// Records one latency.
    pub fn record(&self, latency: Duration) {
        let epoch = saturating_nanos(self.clock.now()) / self.period;
        let half = self.half(epoch);
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        half.buckets[bucket_of(micros)].fetch_add(1, Ordering::Relaxed);
        half.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The halves still recent at `epoch`: this period's and the last's.
    fn recent(&self) -> impl Iterator<Item = &Half> {
        let epoch = saturating_nanos(self.clock.now()) / self.period;
        (0..2).filter_map(move |slot| {
            let held = self.epochs[slot].load(Ordering::Acquire);
            (held + 1 >= epoch && held <= epoch).then_some(&self.halves[slot])
        })
    }

    /// Samples in the window.
    pub fn count(&self) -> u64 {
        self.recent().map(|h| h.count.load(Ordering::Relaxed)).sum()
    }

    /// The `q` quantile (0..=1) of the window's latencies, as the upper edge
    /// of its bucket (at most 12.5% above the true value); `None` with no
    /// sample.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        // At most two halves: on the stack, no allocation.
        let mut recent = self.recent();
        let halves: [Option<&Half>; 2] = [recent.next(), recent.next()];
        let halves = halves.iter().flatten();
        let total: u64 = halves
            .clone()
            .map(|h| h.count.load(Ordering::Relaxed))
            .sum();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for index in 0..BUCKETS {
            seen += halves
                .clone()
                .map(|h| h.buckets[index].load(Ordering::Relaxed))
                .sum::<u64>();
            if seen >= rank {
                return Some(Duration::from_micros(upper_edge(index)));
            }
        }
        Some(Duration::from_micros(upper_edge(BUCKETS - 1)))
    }
}

impl std::fmt::Debug for LatencyWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LatencyWindow")
            .field("period", &Duration::from_nanos(self.period))
            .field("count", &self.count())
            .field("p50", &self.quantile(0.5))
            .field("p99", &self.quantile(0.99))
            .finish()
    }
}

/// A delay from a quantile of a [`LatencyWindow`]: `factor` times the
/// `quantile`, held between `floor` and `ceiling`; the ceiling until the
/// window has [`TryTimeout::MIN_SAMPLES`] samples (too few to say).
///
/// As a per-try timeout (4 x p99, say) it gives up on a try once it is
/// clearly slower than the backends have been, instead of after a fixed
/// time the user had to guess; as a hedge delay (1 x p95) it sends a
/// second copy when a request is slower than almost all recent ones.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TryTimeout {
    quantile: f64,
    factor: f64,
    floor: Duration,
    ceiling: Duration,
}

impl TryTimeout {
    /// Samples a window needs before its quantile is trusted.
    pub const MIN_SAMPLES: u64 = 20;

    /// `factor` x the `quantile` (0..=1), held within `floor..=ceiling`.
    pub fn new(quantile: f64, factor: f64, floor: Duration, ceiling: Duration) -> Self {
        TryTimeout {
            quantile: quantile.clamp(0.0, 1.0),
            factor: if factor.is_finite() {
                factor.max(0.0)
            } else {
                1.0
            },
            floor,
            ceiling: ceiling.max(floor),
        }
    }

    /// The delay the window gives now.
    pub fn of(&self, window: &LatencyWindow) -> Duration {
        if window.count() < Self::MIN_SAMPLES {
            return self.ceiling;
        }
        match window.quantile(self.quantile) {
            Some(q) => q.mul_f64(self.factor).clamp(self.floor, self.ceiling),
            None => self.ceiling,
        }
    }

    /// The floor.
    pub fn floor(&self) -> Duration {
        self.floor
    }

    /// The ceiling.
    pub fn ceiling(&self) -> Duration {
        self.ceiling
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::clock::ManualClock;

    #[test]
    fn every_value_falls_in_a_bucket_whose_upper_edge_is_within_an_eighth() {
        for micros in (0..5_000u64)
            .chain((0..40).map(|p| 1u64 << p))
            .chain([u64::MAX / 3])
        {
            let index = bucket_of(micros);
            let edge = upper_edge(index);
            if index < BUCKETS - 1 {
                assert!(edge >= micros, "{micros} -> {index} -> {edge}");
                assert!(edge - micros <= micros / 8 + 1, "{micros} -> {edge}");
            }
            if index > 0 {
                assert!(
                    upper_edge(index - 1) < micros.max(1) || micros == 0,
                    "{micros}"
                );
            }
        }
    }

    #[test]
    fn old_samples_leave_the_window_after_two_periods() {
        let clock = Arc::new(ManualClock::new());
        let window = LatencyWindow::with_clock(Duration::from_secs(1), clock.clone());
        for _ in 0..100 {
            window.record(Duration::from_millis(500));
        }
        clock.advance(Duration::from_millis(1_100));
        for _ in 0..100 {
            window.record(Duration::from_millis(5));
        }
        assert_eq!(window.count(), 200);
        assert!(window.quantile(0.99).unwrap() >= Duration::from_millis(500));
        clock.advance(Duration::from_secs(1));
        // The 500 ms half is gone; the 5 ms one stays a period more.
        assert_eq!(window.count(), 100);
        assert!(window.quantile(0.99).unwrap() < Duration::from_millis(6));
        clock.advance(Duration::from_secs(1));
        assert_eq!(window.count(), 0);
        assert_eq!(window.quantile(0.5), None);
    }

    #[test]
    fn a_try_timeout_is_the_ceiling_until_there_are_samples_then_follows_them() {
        let window = LatencyWindow::new(Duration::from_secs(10));
        let timeout = TryTimeout::new(0.99, 4.0, Duration::from_millis(50), Duration::from_secs(2));
        assert_eq!(timeout.of(&window), Duration::from_secs(2));
        for _ in 0..100 {
            window.record(Duration::from_millis(3));
        }
        assert_eq!(
            timeout.of(&window),
            Duration::from_millis(50),
            "held at the floor"
        );
        for _ in 0..100 {
            window.record(Duration::from_millis(900));
        }
        assert_eq!(
            timeout.of(&window),
            Duration::from_secs(2),
            "held at the ceiling"
        );
    }
}
