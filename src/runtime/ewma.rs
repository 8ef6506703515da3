//! A time-decayed moving average, lock-free: what each backend learns from
//! its outcomes (latency, error rate) under [`FeedbackConfig`](crate::health::FeedbackConfig)'s decays.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A time-decayed moving average, lock-free: the value is an `f64` in an
/// `AtomicU64` updated by compare-and-swap, with the time of its last update.
#[derive(Debug)]
pub(crate) struct Ewma {
    value: AtomicU64,
    stamp: AtomicU64,
}

/// No sample yet.
const EMPTY: u64 = u64::MAX;

impl Default for Ewma {
    fn default() -> Self {
        Ewma {
            value: AtomicU64::new(EMPTY),
            stamp: AtomicU64::new(0),
        }
    }
}

impl Ewma {
    /// Adds a sample taken at `now` (clock nanoseconds). With `peak`, a
    /// sample above the decayed estimate replaces it outright.
    pub(crate) fn observe(&self, sample: f64, now: u64, decay: Duration, peak: bool) {
        if !sample.is_finite() || sample < 0.0 {
            return;
        }
        let mut old = self.value.load(Ordering::Relaxed);
        loop {
            let next = if old == EMPTY {
                sample
            } else {
                let w = self.weight(now, decay);
                let current = f64::from_bits(old);
                if peak && sample > current * w {
                    sample
                } else {
                    current * w + sample * (1.0 - w)
                }
            };
            if next.to_bits() == old {
                // Nothing moves (an error rate at 0 taking another success):
                // no compare-and-swap, no write to the shared line.
                break;
            }
            match self.value.compare_exchange_weak(
                old,
                next.to_bits(),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => old = actual,
            }
        }
        self.stamp.fetch_max(now, Ordering::Relaxed);
    }

    /// The estimate decayed to `now`, or `None` before the first sample.
    #[inline]
    pub(crate) fn get(&self, now: u64, decay: Duration) -> Option<f64> {
        let bits = self.value.load(Ordering::Acquire);
        (bits != EMPTY).then(|| f64::from_bits(bits) * self.weight(now, decay))
    }

    /// `exp(-elapsed / decay)`: how much of the old value survives.
    #[inline]
    fn weight(&self, now: u64, decay: Duration) -> f64 {
        let elapsed = now.saturating_sub(self.stamp.load(Ordering::Relaxed));
        survival(elapsed, decay)
    }
}

/// `exp(-elapsed / decay)`, `elapsed` in nanoseconds. Samples that come
/// much faster than the decay (a busy backend: microseconds apart against
/// seconds) take the Taylor series instead of the libm call: below
/// `x = 2^-10` its error, under `x^4 / 24`, is below 4e-14. The decay's
/// nanoseconds are made an `f64` from its two halves: `as_nanos() as f64`
/// converts a `u128`, a call into compiler-rt on x86-64.
#[inline]
fn survival(elapsed: u64, decay: Duration) -> f64 {
    let decay_ns = decay.as_secs() as f64 * 1e9 + f64::from(decay.subsec_nanos());
    let x = elapsed as f64 / decay_ns;
    if x < 1.0 / 1024.0 {
        1.0 - x * (1.0 - x * (0.5 - x * (1.0 / 6.0)))
    } else {
        (-x).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAU: Duration = Duration::from_secs(10);
    const SEC: u64 = 1_000_000_000;

    #[test]
    fn a_peak_replaces_the_estimate_and_a_lower_sample_blends_in() {
        let ewma = Ewma::default();
        assert_eq!(ewma.get(0, TAU), None);
        ewma.observe(10.0, 0, TAU, true);
        ewma.observe(100.0, 0, TAU, true);
        assert_eq!(ewma.get(0, TAU), Some(100.0));
        ewma.observe(0.0, 10 * SEC, TAU, true);
        let blended = ewma.get(10 * SEC, TAU).unwrap();
        // The old 100 keeps weight e^-1 against a zero sample.
        assert!((blended - 100.0 * (-1f64).exp()).abs() < 1e-6, "{blended}");
    }

    #[test]
    fn reads_decay_towards_zero_without_changing_the_value() {
        let ewma = Ewma::default();
        ewma.observe(100.0, 0, TAU, false);
        let later = ewma.get(10 * SEC, TAU).unwrap();
        assert!((later - 100.0 * (-1f64).exp()).abs() < 1e-9);
        assert_eq!(ewma.get(0, TAU), Some(100.0), "reading did not change it");
    }

    #[test]
    fn the_short_series_agrees_with_exp() {
        for elapsed in [
            0,
            1,
            1_000,
            999_999,
            9_765_624,
            9_765_626,
            10 * SEC,
            50 * SEC,
        ] {
            let x = elapsed as f64 / TAU.as_nanos() as f64;
            let exact = (-x).exp();
            let ours = survival(elapsed, TAU);
            assert!(
                (ours - exact).abs() <= 1e-13 * exact,
                "{elapsed}: {ours} vs {exact}"
            );
        }
        assert_eq!(survival(0, TAU), 1.0);
    }

    #[test]
    fn nonsense_samples_are_ignored() {
        let ewma = Ewma::default();
        for bad in [f64::NAN, f64::INFINITY, -1.0] {
            ewma.observe(bad, 0, TAU, true);
        }
        assert_eq!(ewma.get(0, TAU), None);
    }
}
