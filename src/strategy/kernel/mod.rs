//! The pieces several strategies share, in one place: turns (a cursor
//! reduced modulo N without a division: round robin's order, and where the
//! least-cost scans start) and the exact per-weight comparison (here), the
//! least-cost scan ([`scan`]), the two random candidates
//! ([`two_choices`]), the smooth weighted round robin
//! step ([`smooth`]), gRPC's static stride scheduler ([`stride`]), the latency-times-load choice of the feedback
//! strategies ([`latency`]), request hashing ([`hashing`]), the pick-path
//! random source ([`rng`]) and the alias table of weighted random draws
//! ([`alias`]).

pub(crate) mod alias;
pub(crate) mod hashing;
pub(crate) mod latency;
pub(crate) mod rng;
pub(crate) mod scan;
pub(crate) mod smooth;
pub(crate) mod stride;
pub(crate) mod two_choices;

pub(crate) use scan::scan_min;

#[cfg(test)]
mod tests {
    use super::Modulus;

    #[test]
    fn the_modulus_without_division_equals_the_remainder() {
        let dividends = [
            0,
            1,
            2,
            63,
            64,
            65,
            1 << 32,
            u64::MAX / 2,
            u64::MAX - 1,
            u64::MAX,
        ];
        for n in [
            1usize,
            2,
            3,
            4,
            7,
            64,
            1000,
            1024,
            65_535,
            65_536,
            1 << 20,
            1_999_999,
        ] {
            let modulus = Modulus::new(n);
            for x in dividends
                .iter()
                .copied()
                .chain((0..5_000).map(|k| k * 7_919 + 13))
            {
                assert_eq!(modulus.of(x) as u64, x % n as u64, "{x} mod {n}");
            }
        }
    }
}

/// A cursor whose values are taken modulo a fixed `n`: round robin's turns,
/// and the rotating start of the least-connections scans (their ties go
/// round robin). On a cache line of its own: it is the one word every pick
/// of such a strategy writes.
///
/// The reduction is two multiplications and a conditional subtraction
/// instead of a division, which would be the slowest instruction of a
/// round-robin pick (tens of cycles on some x86 cores), right after the
/// `fetch_add` it depends on.
#[repr(align(128))]
#[derive(Debug)]
pub struct Turns {
    cursor: std::sync::atomic::AtomicU64,
    modulus: Modulus,
}

impl Turns {
    /// Turns over `n` (at least 1) starting at 0.
    pub(crate) fn new(n: usize) -> Self {
        Turns {
            cursor: std::sync::atomic::AtomicU64::new(0),
            modulus: Modulus::new(n),
        }
    }

    /// The next cursor value modulo `n`.
    #[inline]
    pub(crate) fn next(&self) -> usize {
        let at = self
            .cursor
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.modulus.of(at)
    }
}

/// Reduction modulo a fixed `n`, exact for every `u64`, without a division.
///
/// With `magic = floor((2^64 - 1) / n)`, `q = (x * magic) >> 64` is
/// `floor(x / n)` or one less (writing `2^64 - 1 = n * magic + s`, the
/// product falls short of `x / n` by `x * (1 + s) / (n * 2^64) < 1`), so
/// `x - q * n` lies in `0..2n` and one subtraction finishes it.
///
/// A power of two is reduced with a mask instead: one `and` where the
/// general reduction is two dependent multiplications, a subtraction and
/// a compare (about 8 cycles), right after the round robin's `fetch_add`
/// and before the loads of the chosen backend's entry, which wait for it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Modulus {
    n: u64,
    magic: u64,
    /// `n - 1` when `n` is a power of two (1 included), else 0 with
    /// `pow2` false.
    mask: u64,
    pow2: bool,
}

impl Modulus {
    /// Modulo `n` (0 counts as 1).
    pub(crate) fn new(n: usize) -> Self {
        let n = (n as u64).max(1);
        let pow2 = n.is_power_of_two();
        Modulus {
            n,
            magic: u64::MAX / n,
            mask: if pow2 { n - 1 } else { 0 },
            pow2,
        }
    }

    /// `x mod n`.
    #[inline]
    pub(crate) fn of(self, x: u64) -> usize {
        if self.pow2 {
            return (x & self.mask) as usize;
        }
        let q = ((u128::from(x) * u128::from(self.magic)) >> 64) as u64;
        let r = x - q * self.n;
        (if r >= self.n { r - self.n } else { r }) as usize
    }
}

/// Requests per unit of weight as an exact fraction, compared by
/// cross-multiplying in `u128`: no floats, no division, and a weight of 0
/// reads as infinitely loaded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PerWeight {
    load: u64,
    weight: u64,
}

impl PerWeight {
    #[inline]
    pub(crate) fn of(load: u64, weight: u64) -> Self {
        PerWeight { load, weight }
    }

    /// `self.load / self.weight` against `other.load / other.weight`.
    #[inline]
    pub(crate) fn cmp(self, other: PerWeight) -> std::cmp::Ordering {
        let mine = u128::from(self.load) * u128::from(other.weight);
        let theirs = u128::from(other.load) * u128::from(self.weight);
        mine.cmp(&theirs)
    }
}
