//! A lock-free, seedable random source for the pick path.

use std::sync::atomic::{AtomicU64, Ordering};

/// SplitMix64 over an atomic counter: each draw is one `fetch_add` and a mix,
/// so many threads draw at once without a lock, and a seeded sequence is
/// reproducible (exactly so when one thread draws).
#[derive(Debug)]
pub struct AtomicRng {
    state: AtomicU64,
}

const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

impl AtomicRng {
    /// A generator seeded with `seed`.
    pub fn seeded(seed: u64) -> Self {
        AtomicRng {
            state: AtomicU64::new(seed),
        }
    }

    /// A generator with a random seed.
    pub fn random() -> Self {
        AtomicRng::seeded(rand::random())
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&self) -> u64 {
        let mut z = self
            .state
            .fetch_add(GAMMA, Ordering::Relaxed)
            .wrapping_add(GAMMA);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0), by multiply-shift: no division, and a bias
    /// below n / 2^64.
    #[inline]
    pub fn below(&self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// A float in [0, 1).
    #[inline]
    pub fn unit(&self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Default for AtomicRng {
    fn default() -> Self {
        AtomicRng::random()
    }
}
