//! The pieces several strategies share, in one place: the cursor and the
//! exact per-weight comparison (here), the least-cost scan ([`scan`]), the
//! two random candidates ([`two_choices`]), the smooth weighted round robin
//! step ([`smooth`]), the latency-times-load choice of the feedback
//! strategies ([`latency`]), request hashing ([`hashing`]), the pick-path
//! random source ([`rng`]) and the alias table of weighted random draws
//! ([`alias`]).

pub(crate) mod alias;
pub(crate) mod hashing;
pub(crate) mod latency;
pub(crate) mod rng;
pub(crate) mod scan;
pub(crate) mod smooth;
pub(crate) mod two_choices;

pub(crate) use scan::scan_min;

/// The table of the cursor-based strategies: one counter on its own cache
/// line, the one word every pick of such a strategy writes.
#[repr(align(128))]
#[derive(Debug, Default)]
pub struct Cursor(std::sync::atomic::AtomicUsize);

impl Cursor {
    /// The next value, wrapping.
    #[inline]
    pub(crate) fn next(&self) -> usize {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
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
