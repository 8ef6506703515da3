use crate::hash::HashKey;
use crate::types::ConfigError;

/// A ketama-style consistent-hash ring: every backend owns points on a
/// 64-bit circle, in proportion to its weight, and a key belongs to the
/// owner of the first point at or after the key's hash.
///
/// Points are keyed hashes of (backend id, replica number) and are sorted
/// by hash, then by id on the (2^-64-rare) equal hash: the ring depends on
/// the ids, weights and key only, never on the order backends were given.
///
/// Size: `points_per_unit` points per unit of weight. When that comes to
/// more than [`Ring::MAX_POINTS`], every backend's count is scaled down to
/// fit (at least one point each), as Envoy caps its rings. Weights are not
/// reduced by a common divisor, and stay unscaled below the cap, because
/// a backend's points must not depend on the others: that is what lets a
/// removal move only the removed backend's keys (a capped ring rescales,
/// and then moves a few more).
#[derive(Debug, Clone)]
pub struct Ring {
    /// Sorted by hash; each point's owner beside its hash, so a lookup
    /// reads one line of them, not two.
    points: Vec<Point>,
    /// `buckets[b]`: the first point at or after the start of the b-th of
    /// 2^k equal slices of the circle (one to two points each on average),
    /// plus the end. A lookup searches one slice instead of the whole ring.
    buckets: Vec<u32>,
    /// 64 - k: a hash's slice is `hash >> shift`.
    shift: u32,
}

/// One point of the ring: 16 bytes.
#[derive(Debug, Clone, Copy)]
struct Point {
    hash: u64,
    owner: u32,
}

impl Ring {
    /// Most points a ring holds: 262,144 (16 bytes each, plus up to 4 for
    /// the slice index: 5 MiB), enough for 1,600 backends at 160 points, or
    /// 4 points each for the most backends a set may hold.
    pub const MAX_POINTS: u64 = 1 << 18;
    /// Most points per unit of weight accepted.
    pub const MAX_POINTS_PER_UNIT: u32 = 100_000;

    /// The ring of `backends` (id, weight >= 1), indexed in the order given.
    ///
    /// Errors: `points_per_unit` outside `1..=MAX_POINTS_PER_UNIT`, a zero
    /// weight, no backends, or more backends than fit in `u32`.
    pub fn new<'a>(
        key: &HashKey,
        points_per_unit: u32,
        backends: impl IntoIterator<Item = (&'a str, u32)>,
    ) -> Result<Ring, ConfigError> {
        let invalid = |why: String| ConfigError::Invalid {
            setting: "ring points per weight unit",
            why,
        };
        if !(1..=Ring::MAX_POINTS_PER_UNIT).contains(&points_per_unit) {
            return Err(invalid(format!(
                "{points_per_unit} is outside 1..={}",
                Ring::MAX_POINTS_PER_UNIT
            )));
        }
        let backends: Vec<(&str, u32)> = backends.into_iter().collect();
        if backends.is_empty() {
            return Err(ConfigError::EmptySet);
        }
        if u32::try_from(backends.len()).is_err() {
            return Err(ConfigError::TooManyBackends(backends.len()));
        }
        if let Some((id, _)) = backends.iter().find(|(_, w)| *w == 0) {
            return Err(ConfigError::Weight {
                id: (*id).into(),
                weight: 0,
            });
        }
        let units: u64 = backends.iter().map(|&(_, w)| u64::from(w)).sum();
        let wanted = units * u64::from(points_per_unit);
        let target = wanted.min(Ring::MAX_POINTS);
        let mut points: Vec<(u64, u32)> = Vec::new();
        for (index, &(id, weight)) in backends.iter().enumerate() {
            let unit = u64::from(weight);
            // unit * target / units, rounded, at least one point: exactly
            // unit * points_per_unit when the ring is not capped.
            let count = ((u128::from(unit) * u128::from(target) + u128::from(units) / 2)
                / u128::from(units))
            .max(1) as u64;
            for replica in 0..count {
                points.push((key.hash_with(id.as_bytes(), replica), index as u32));
            }
        }
        // Sorting plain numbers is fast; ids, not input positions, must
        // break ties of equal hashes (2^-64-rare), so those runs are
        // re-sorted by id.
        points.sort_unstable();
        let id_of = |point: &(u64, u32)| backends[point.1 as usize].0;
        for run in points.chunk_by_mut(|a, b| a.0 == b.0) {
            if run.len() > 1 {
                run.sort_unstable_by(|a, b| id_of(a).cmp(id_of(b)));
            }
        }
        let points: Vec<Point> = points
            .into_iter()
            .map(|(hash, owner)| Point { hash, owner })
            .collect();
        let (buckets, shift) = slices(&points);
        Ok(Ring {
            points,
            buckets,
            shift,
        })
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether the ring has no point (never true for a built ring).
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The backend owning `key_hash`: the owner of the first point at or
    /// after it, wrapping around. A search within one slice of the circle:
    /// O(1) expected, O(log points) at worst.
    #[inline]
    pub fn owner(&self, key_hash: u64) -> usize {
        let first = self.first_at_or_after(key_hash);
        let point = if first == self.points.len() { 0 } else { first };
        self.points.get(point).map_or(0, |p| p.owner as usize)
    }

    /// The owners of every point, starting at `key_hash`'s and going round
    /// the ring once: a backend appears once per point it owns.
    #[inline]
    pub fn walk(&self, key_hash: u64) -> impl Iterator<Item = usize> + '_ {
        let start = self.first_at_or_after(key_hash);
        self.points[start..]
            .iter()
            .chain(&self.points[..start])
            .map(|p| p.owner as usize)
    }

    /// The index of the first point at or after `key_hash` (the number of
    /// points when there is none): a search within the hash's slice.
    #[inline]
    fn first_at_or_after(&self, key_hash: u64) -> usize {
        let slice = (key_hash >> self.shift) as usize;
        let (mut first, to) = (
            self.buckets[slice] as usize,
            self.buckets[slice + 1] as usize,
        );
        // One or two points a slice on average: a plain walk beats a search.
        while first < to && self.points[first].hash < key_hash {
            first += 1;
        }
        first
    }

    /// The number of points each backend owns, by index.
    pub fn points_per_backend(&self) -> Vec<usize> {
        let backends = self.points.iter().map(|p| p.owner).max();
        let backends = backends.map_or(0, |m| m as usize + 1);
        let mut counts = vec![0; backends];
        for &Point { owner, .. } in &self.points {
            counts[owner as usize] += 1;
        }
        counts
    }
}

/// The slice index of sorted `points`: 2^k slices for one to two points
/// each on average, and for each slice the first point at or after its start, then
/// the number of points. Returns it with the shift that maps a hash to its
/// slice.
fn slices(points: &[Point]) -> (Vec<u32>, u32) {
    let bits = (points.len().next_power_of_two() / 2)
        .max(2)
        .trailing_zeros();
    let shift = 64 - bits;
    let count = 1usize << bits;
    let mut buckets = Vec::with_capacity(count + 1);
    let mut point = 0;
    for slice in 0..count as u64 {
        // bits >= 1 and a ring holds far fewer than 2^63 points: the shift
        // is within 1..=63.
        let start = slice << shift;
        while point < points.len() && points[point].hash < start {
            point += 1;
        }
        buckets.push(point as u32);
    }
    buckets.push(points.len() as u32);
    (buckets, shift)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_slice_search_finds_what_a_whole_ring_search_finds(
            weights in prop::collection::vec(1u32..4, 1..40),
            points_per_unit in 1u32..50,
            probes in prop::collection::vec(any::<u64>(), 50),
        ) {
            let ids: Vec<String> = (0..weights.len()).map(|i| format!("b{i}")).collect();
            let ring = Ring::new(
                &HashKey::from_bytes([3; 16]),
                points_per_unit,
                ids.iter().map(String::as_str).zip(weights.iter().copied()),
            ).unwrap();
            let edges = ring.points.iter().flat_map(|p| [p.hash, p.hash.wrapping_add(1), p.hash.wrapping_sub(1)]);
            let slice_starts = (0..ring.buckets.len() as u64 - 1)
                .map(|s| s << ring.shift)
                .flat_map(|start| [start, start.wrapping_sub(1)]);
            let probes = probes.into_iter().chain(edges).chain(slice_starts);
            for probe in probes.chain([0, u64::MAX]) {
                let whole = ring.points.partition_point(|p| p.hash < probe);
                prop_assert_eq!(ring.first_at_or_after(probe), whole);
            }
        }
    }
}
