//! A lock-free, seedable random source for the pick path.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// SplitMix64. Seeded, it runs over one atomic counter: each draw is a
/// `fetch_add` and a mix, so many threads draw at once without a lock, and
/// the sequence is reproducible (exactly so when one thread draws). With a
/// random seed nothing needs reproducing, so each thread draws from its own
/// stream instead and picking threads share no write (the shared counter
/// made two threads picking at random 4x slower per pick than one).
#[derive(Debug)]
pub struct AtomicRng {
    state: AtomicU64,
    /// Draws come from the thread's own stream, not from `state`.
    per_thread: bool,
}

thread_local! {
    /// This thread's stream for unseeded generators, seeded at random.
    static THREAD_STATE: Cell<u64> = Cell::new(rand::random());
}

#[cfg(test)]
thread_local! {
    /// Draws this thread made from a shared (seeded) sequence: the check
    /// that unseeded strategies never do (`strategy::by_name`'s tests).
    pub(crate) static SHARED_DRAWS: Cell<u64> = const { Cell::new(0) };
}

const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

impl AtomicRng {
    /// A generator seeded with `seed`.
    pub fn seeded(seed: u64) -> Self {
        AtomicRng {
            state: AtomicU64::new(seed),
            per_thread: false,
        }
    }

    /// A generator with a random seed: each thread draws from a stream of
    /// its own.
    pub fn random() -> Self {
        AtomicRng {
            state: AtomicU64::new(0),
            per_thread: true,
        }
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&self) -> u64 {
        let z = if self.per_thread {
            THREAD_STATE.with(|state| {
                let next = state.get().wrapping_add(GAMMA);
                state.set(next);
                next
            })
        } else {
            #[cfg(test)]
            SHARED_DRAWS.with(|draws| draws.set(draws.get() + 1));
            self.state
                .fetch_add(GAMMA, Ordering::Relaxed)
                .wrapping_add(GAMMA)
        };
        let mut z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0), by multiply-shift: no division, and a bias
    /// below n / 2^64.
    #[inline]
    pub fn below(&self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

impl Default for AtomicRng {
    fn default() -> Self {
        AtomicRng::random()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_generators_repeat_and_random_ones_differ_by_thread() {
        let draws = |rng: &AtomicRng| -> Vec<u64> { (0..8).map(|_| rng.next_u64()).collect() };
        assert_eq!(draws(&AtomicRng::seeded(7)), draws(&AtomicRng::seeded(7)));
        assert_ne!(draws(&AtomicRng::seeded(7)), draws(&AtomicRng::seeded(8)));
        let rng = AtomicRng::random();
        let here = draws(&rng);
        let there = std::thread::scope(|s| s.spawn(|| draws(&rng)).join().unwrap());
        assert_ne!(here, there);
        assert_ne!(here[0], here[1]);
    }
}
