//! Vose's alias method: a draw by weight in O(1) at any set size.

/// One column of the table: the draw lands on the column itself when its
/// fraction is below `threshold` (out of 2^64), else on `alias`.
#[derive(Debug, Clone, Copy)]
struct Column {
    threshold: u64,
    alias: u32,
}

/// The configured weights of a set as an alias table: one 64-bit random
/// number picks a column and, from its low bits, the column's own backend
/// or its alias. Built in O(N) with integers only, so each backend's share
/// is its weight's to within N / 2^64 (the rounding of the draw).
#[derive(Debug)]
pub struct AliasTable {
    columns: Vec<Column>,
}

impl AliasTable {
    /// The table for `weights` (each at least 1, as a set's are).
    pub(crate) fn new(weights: &[u32]) -> Self {
        let (masses, aliases, full) = Self::integer_columns(weights);
        let columns = masses
            .iter()
            .zip(aliases)
            .map(|(&mass, alias)| Column {
                threshold: if mass >= full {
                    u64::MAX
                } else {
                    ((u128::from(mass) << 64) / u128::from(full)) as u64
                },
                alias,
            })
            .collect();
        AliasTable { columns }
    }

    /// Vose's construction over integers: each column holds `full` units of
    /// mass, `masses[c]` of them its own backend's and the rest
    /// `aliases[c]`'s. Backend i's units over all columns add up to
    /// `weight_i * N`, exactly.
    fn integer_columns(weights: &[u32]) -> (Vec<u64>, Vec<u32>, u64) {
        let n = weights.len() as u64;
        // Weights at most 10^6 and sets at most 2^16 backends: no overflow.
        let full: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut mass: Vec<u64> = weights.iter().map(|&w| u64::from(w) * n).collect();
        let mut aliases: Vec<u32> = (0..weights.len() as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..weights.len()).partition(|&i| mass[i] < full);
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            aliases[s] = l as u32;
            // The large backend fills the rest of the small one's column.
            mass[l] -= full - mass[s];
            if mass[l] < full {
                large.pop();
                small.push(l);
            }
        }
        // With integer masses what is left is exactly one column's worth
        // each: the small list empties first, never the large one.
        debug_assert!(small.is_empty());
        debug_assert!(large.iter().all(|&i| mass[i] == full));
        (mass, aliases, full)
    }

    /// The backend a 64-bit uniform random number lands on.
    #[inline]
    pub(crate) fn draw(&self, random: u64) -> usize {
        debug_assert!(!self.columns.is_empty(), "a set has a backend");
        let wide = u128::from(random) * self.columns.len() as u128;
        let column = (wide >> 64) as usize;
        // The product's low half is the fraction of the way through the
        // column: uniform, and free.
        let fraction = wide as u64;
        let Column { threshold, alias } = self.columns[column];
        if fraction < threshold {
            column
        } else {
            alias as usize
        }
    }

    /// Number of backends.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Whether the table is empty (a pool never holds such a set).
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_backend_gets_exactly_its_weight_in_mass(
            weights in prop::collection::vec(1u32..=1_000_000, 1..300)
        ) {
            let (masses, aliases, full) = AliasTable::integer_columns(&weights);
            let mut got = vec![0u64; weights.len()];
            for (column, (&mass, &alias)) in masses.iter().zip(&aliases).enumerate() {
                prop_assert!(mass <= full);
                got[column] += mass;
                got[alias as usize] += full - mass;
            }
            let n = weights.len() as u64;
            let want: Vec<u64> = weights.iter().map(|&w| u64::from(w) * n).collect();
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn draws_spread_by_weight() {
        let table = AliasTable::new(&[1, 3, 6]);
        let mut counts = [0u32; 3];
        // An even sweep of the random range stands in for uniform draws.
        let steps = 60_000u64;
        for k in 0..steps {
            counts[table.draw(k * (u64::MAX / steps))] += 1;
        }
        for (count, want) in counts.iter().zip([6_000u32, 18_000, 36_000]) {
            assert!(count.abs_diff(want) <= 3, "{counts:?}");
        }
    }
}
