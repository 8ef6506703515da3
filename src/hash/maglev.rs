use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::hash::{HashKey, RendezvousTable};
use crate::types::ConfigError;

/// A Maglev lookup table (Eisenbud et al., NSDI 2016): `size` entries, a
/// prime number of them, each naming the backend that owns the keys
/// hashing to it, so a lookup is `owners[hash % size]`.
///
/// **Building.** Each backend walks its own permutation of the entries
/// (offset and skip from keyed hashes of its id; a prime size makes every
/// skip a full cycle) and, on each of its turns, claims the next entry of its
/// permutation still free. Backends take turns in rounds, in the order of
/// their keyed id hashes, never the order given, so the table depends only
/// on the ids, weights and key. Weights use Envoy's rule: a backend of
/// weight `w` takes a turn in round `k` when `k × w >= turns_taken × w_max`,
/// i.e. turns in proportion to weight.
///
/// **Balance.** With equal weights every backend owns `floor(M/N)` or
/// `ceil(M/N)` entries. With weights, backend `i` owns within
/// `2 + N × w_i / W` entries of its exact share `M × w_i / W` (W the total
/// weight): its turns after `L` rounds are within one of `L × w_i / w_max`,
/// and the table filling up part way through a round shifts every share by
/// at most `N` turns in total. Both are tested.
///
/// **Disruption.** Removing one of N backends remaps its keys and, because
/// the others' permutations then collide differently, a few more: at
/// M = 65,537, measured at most 0.63% of all keys beyond the ideal 1/N.
#[derive(Debug, Clone)]
pub struct MaglevTable {
    owners: Vec<u32>,
    rendezvous: RendezvousTable,
}

/// An entry not yet claimed while building.
const FREE: u32 = u32::MAX;

impl MaglevTable {
    /// The default size: 65,537, the paper's (a prime).
    pub const DEFAULT_SIZE: u32 = 65_537;
    /// The largest size accepted (2^24: 64 MiB of table).
    pub const MAX_SIZE: u32 = 1 << 24;

    /// The table of `backends` (id, weight >= 1), indexed in the order
    /// given. About O(M log M): M turns through a heap of the N backends,
    /// plus the permutation steps past taken entries.
    ///
    /// Errors: `size` not prime, above [`MAX_SIZE`](Self::MAX_SIZE) or below
    /// the number of backends; no backends; a zero weight.
    pub fn new<'a>(
        key: &HashKey,
        size: u32,
        backends: impl IntoIterator<Item = (&'a str, u32)>,
    ) -> Result<MaglevTable, ConfigError> {
        let backends: Vec<(&str, u32)> = backends.into_iter().collect();
        let invalid = |why: String| ConfigError::Invalid {
            setting: "maglev table size",
            why,
        };
        if backends.is_empty() {
            return Err(ConfigError::EmptySet);
        }
        if size > MaglevTable::MAX_SIZE {
            return Err(invalid(format!(
                "{size} is above {}",
                MaglevTable::MAX_SIZE
            )));
        }
        if !is_prime(size) {
            return Err(invalid(format!("{size} is not a prime")));
        }
        if (size as usize) < backends.len() {
            return Err(invalid(format!(
                "{size} entries cannot hold {} backends",
                backends.len()
            )));
        }
        if let Some((id, _)) = backends.iter().find(|(_, w)| *w == 0) {
            return Err(ConfigError::Weight {
                id: (*id).into(),
                weight: 0,
            });
        }
        let m = u64::from(size);
        // Turn order: by keyed id hash, then id; never the order given.
        let mut order: Vec<usize> = (0..backends.len()).collect();
        order.sort_by_cached_key(|&i| (key.hash(backends[i].0.as_bytes()), backends[i].0));
        struct Walker {
            index: u32,
            weight: u64,
            position: u64,
            skip: u64,
            turns: u64,
        }
        let mut walkers: Vec<Walker> = order
            .iter()
            .map(|&i| {
                let id = backends[i].0.as_bytes();
                Walker {
                    index: i as u32,
                    weight: u64::from(backends[i].1),
                    position: key.hash_with(id, 0x6d61_676c_6576_0001) % m,
                    // 1..m: with m prime, every skip visits every entry.
                    skip: key.hash_with(id, 0x6d61_676c_6576_0002) % (m - 1).max(1) + 1,
                    turns: 0,
                }
            })
            .collect();
        let max_weight = walkers.iter().map(|w| w.weight).max().unwrap_or(1);
        let mut owners = vec![FREE; size as usize];
        // Turns in order of (round, turn order). A walker with `t` turns
        // taken takes its next in the first round `k` with
        // `k × w >= t × w_max`, i.e. `ceil(t × w_max / w)`. A heap keyed so
        // visits only the walkers whose turn it is: O(M log N) rather than
        // O(rounds × N), which very unequal weights would make huge.
        let mut queue: BinaryHeap<Reverse<(u64, usize)>> =
            (0..walkers.len()).map(|at| Reverse((0, at))).collect();
        let mut filled = 0u64;
        // The heaviest backend takes a turn every round, so this ends
        // within `size` rounds.
        while let Some(Reverse((_, at))) = queue.pop() {
            let walker = &mut walkers[at];
            walker.turns += 1;
            // A free entry exists (filled < m) and the permutation visits
            // them all.
            while owners[walker.position as usize] != FREE {
                walker.position = (walker.position + walker.skip) % m;
            }
            owners[walker.position as usize] = walker.index;
            walker.position = (walker.position + walker.skip) % m;
            filled += 1;
            if filled == m {
                break;
            }
            let next = (walker.turns * max_weight).div_ceil(walker.weight);
            queue.push(Reverse((next, at)));
        }
        Ok(MaglevTable {
            owners,
            rendezvous: RendezvousTable::new(key, backends.iter().map(|&(id, _)| id)),
        })
    }

    /// Number of entries, M.
    pub fn size(&self) -> usize {
        self.owners.len()
    }

    /// Every entry's owner, as an index into the backends given to
    /// [`new`](Self::new): for inspecting the table's balance.
    pub fn owners(&self) -> &[u32] {
        &self.owners
    }

    /// The backend owning `key_hash`: one division, one load.
    #[inline]
    pub fn owner(&self, key_hash: u64) -> usize {
        self.owners[(key_hash % self.owners.len() as u64) as usize] as usize
    }

    /// RendezvousTable hashing over the same backends: where a key goes when its
    /// owner cannot take it.
    pub fn rendezvous(&self) -> &RendezvousTable {
        &self.rendezvous
    }
}

/// Trial division: sizes are at most 2^24, so at most 4,096 divisions, once
/// per build.
fn is_prime(n: u32) -> bool {
    if n < 2 {
        return false;
    }
    let n = u64::from(n);
    let mut d = 2u64;
    while d * d <= n {
        if n % d == 0 {
            return false;
        }
        d += 1;
    }
    true
}
