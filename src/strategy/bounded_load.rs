use crate::hash::Ring;
use crate::runtime::set::BackendSet;
use crate::strategy::kernel::hashing::{hash_settings, ring_of, RequestHasher};
use crate::strategy::kernel::PerWeight;
use crate::strategy::{RingHash, Strategy};
use crate::types::{ConfigError, Context};

/// Consistent hashing with bounded loads (Mirrokni, Thorup and Zadimoghaddam,
/// [arXiv:1608.01350](https://arxiv.org/abs/1608.01350), 2016; HAProxy's `hash-balance-factor`, Vimeo's use): ring hash, except
/// that a backend already at its bound is passed over, and the walk goes on
/// round the ring to the first eligible backend under its bound.
///
/// Backend `i`'s bound, with `T` picks in flight over the backends that are
/// up and `W` their total effective weight:
///
/// ```text
/// in_flight_i < ceil((1 + eps) × (T + 1) × w_i / W)
/// ```
///
/// so no backend carries more than `1 + eps` times its share of the load,
/// counting the pick being made (eps is 0.25 by default: HAProxy's 125).
/// Some backend is always under its bound (the bounds add up to more than
/// `T + 1`), so without exclusions every pick satisfies it. A retry whose
/// exclusions leave only backends at their bound gets the least loaded
/// eligible one per weight: serving it beats refusing it.
///
/// The request's hash is that of [`Context::key`] if given, else of the
/// client address (IPv6 cut to a /64 by default), else random. While
/// backends are under their bounds a key goes where [`RingHash`] with the
/// same key and points would send it.
///
/// **Choose it** for affinity (caches) when some keys are much hotter than
/// others: plain consistent hashing would overload their backend, this
/// spills the excess to the next backends on the ring and keeps most keys
/// in place.
///
/// **Synchronisation**: no lock. The ring is built with the set, off the
/// pick path. A pick sums in-flight counts and effective weights over the
/// set (O(N) atomic loads) and walks the ring; the counts are as fresh as
/// the loads, so picks racing on many threads can overshoot a bound by
/// about the number of racing picks.
///
/// O(N) by nature: the bound needs the total load and weight of the set,
/// read on every pick (a running total kept on the pick path would be one
/// more shared write per pick, and wrong as soon as weights move).
#[derive(Debug)]
pub struct BoundedLoad {
    hasher: RequestHasher,
    points_per_unit: u32,
    epsilon: f64,
    /// `(1 + epsilon) × 1000`, rounded: the bound in integers.
    factor_milli: u64,
}

impl Default for BoundedLoad {
    fn default() -> Self {
        BoundedLoad {
            hasher: RequestHasher::default(),
            points_per_unit: RingHash::DEFAULT_POINTS_PER_UNIT,
            epsilon: BoundedLoad::DEFAULT_EPSILON,
            factor_milli: 1_250,
        }
    }
}

impl BoundedLoad {
    /// The default eps: 0.25.
    pub const DEFAULT_EPSILON: f64 = 0.25;
    /// The largest eps accepted: at 100 the bound hardly binds.
    pub const MAX_EPSILON: f64 = 100.0;

    /// Bounded-load consistent hashing under a random key.
    pub fn new() -> Self {
        BoundedLoad::default()
    }

    /// How far above its share a backend's load may go: the bound is
    /// `(1 + eps)` times the share. From 0.001 to [`MAX_EPSILON`](Self::MAX_EPSILON),
    /// to three decimals; checked when the pool builds.
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.epsilon = epsilon;
        if epsilon.is_finite() && (0.0..=BoundedLoad::MAX_EPSILON).contains(&epsilon) {
            self.factor_milli = ((1.0 + epsilon) * 1000.0).round() as u64;
        }
        self
    }

    /// Ring points per unit of weight (default 160), as [`RingHash::points_per_unit`].
    pub fn points_per_unit(mut self, points: u32) -> Self {
        self.points_per_unit = points;
        self
    }
}

hash_settings!(BoundedLoad);

impl Strategy for BoundedLoad {
    type Table = Ring;

    fn build(&self, set: &BackendSet) -> Result<Ring, ConfigError> {
        if !(self.epsilon.is_finite() && (0.001..=BoundedLoad::MAX_EPSILON).contains(&self.epsilon))
        {
            return Err(ConfigError::Invalid {
                setting: "bounded-load epsilon",
                why: format!(
                    "{} is outside 0.001..={}",
                    self.epsilon,
                    BoundedLoad::MAX_EPSILON
                ),
            });
        }
        ring_of(&self.hasher, self.points_per_unit, set)
    }

    fn select(&self, ring: &Ring, set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
        let hash = self.hasher.hash(ctx);
        let (mut total, mut weight) = (0u64, 0u64);
        for i in 0..set.len() {
            if set.is_up(i) {
                total += set.in_flight(i);
                weight += set.effective_weight(i);
            }
        }
        // in_flight < ceil(f × (T + 1) × w / W) holds exactly when
        // in_flight × 1000 × W < factor_milli × (T + 1) × w, in integers.
        let allowed = u128::from(self.factor_milli) * u128::from(total + 1);
        let under = |i: usize| {
            u128::from(set.in_flight(i)) * 1000 * u128::from(weight)
                < allowed * u128::from(set.effective_weight(i))
        };
        if let Some(i) = ring
            .walk(hash)
            .find(|&i| set.is_eligible(i, ctx) && under(i))
        {
            return Some(i);
        }
        // Only exclusions (or racing picks) get here: the least loaded
        // eligible backend per weight, the first in ring order on a tie so
        // that the choice does not depend on the set's order.
        let cost = |i| PerWeight::of(set.in_flight(i) + 1, set.effective_weight(i));
        ring.walk(hash)
            .filter(|&i| set.is_eligible(i, ctx))
            .fold(None, |best: Option<usize>, i| match best {
                Some(b) if cost(i).cmp(cost(b)).is_lt() => Some(i),
                Some(b) => Some(b),
                None => Some(i),
            })
    }
}
