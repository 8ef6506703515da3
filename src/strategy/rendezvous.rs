use crate::hash::RendezvousTable;
use crate::runtime::set::BackendSet;
use crate::strategy::kernel::hashing::{hash_settings, RequestHasher};
use crate::strategy::Strategy;
use crate::types::{ConfigError, Context};

/// Weighted rendezvous hashing (highest random weight; Thaler and
/// Ravishankar, [ToN 1998](https://doi.org/10.1109/90.663936)): every backend scores
/// the request's hash, `-weight / ln(u)` with `u` drawn from the keyed hash
/// of (request, backend); the highest eligible score wins.
///
/// The request's hash is that of [`Context::key`] if given, else of the
/// client address (IPv4 whole, IPv6 cut to a prefix, /64 by default), else
/// random, so keyless requests spread. Scores use the configured weights,
/// so the mapping depends only on the set, the key and the request: agents
/// scaling capacity do not move keys, and proxies that share a
/// [`HashKey`](crate::hash::HashKey) agree. An ineligible or excluded
/// backend's requests go to their next-best backend, and a retry excluding
/// the first pick lands there too.
///
/// Removing a backend moves exactly the keys it won; adding one takes keys
/// only for itself; shares follow the weights.
///
/// **Choose it** for affinity (caches, sessions, shards) over sets of up to
/// a few hundred backends: the best stability of the hash strategies, no
/// table to build, but an O(N) pick. For large sets prefer
/// [`Maglev`](super::Maglev) or [`RingHash`](super::RingHash).
///
/// **Synchronisation**: no lock. The table is the backends' keyed id
/// hashes, built with the set; a pick hashes the request once and scans the
/// set (a multiply-mix, a logarithm and two atomic loads per backend).
///
/// O(N) by nature: the highest score of N backends needs all N scores
/// (the price of its exact minimal disruption; Maglev and the ring trade a
/// table built on updates for an O(1) or O(log N) pick).
#[derive(Debug, Default)]
pub struct Rendezvous {
    hasher: RequestHasher,
}

impl Rendezvous {
    /// Rendezvous hashing under a random key.
    pub fn new() -> Self {
        Rendezvous::default()
    }
}

hash_settings!(Rendezvous);

impl Strategy for Rendezvous {
    type Table = RendezvousTable;

    fn counts_in_flight(&self) -> bool {
        false
    }

    fn build(&self, set: &BackendSet) -> Result<RendezvousTable, ConfigError> {
        self.hasher.validate()?;
        Ok(RendezvousTable::new(
            &self.hasher.key,
            (0..set.len()).map(|i| set.id(i).as_str()),
        ))
    }

    fn select(
        &self,
        table: &RendezvousTable,
        set: &BackendSet,
        ctx: &Context<'_>,
    ) -> Option<usize> {
        let hash = self.hasher.hash(ctx);
        table.best(
            hash,
            |i| set.is_eligible(i, ctx),
            |i| f64::from(set.weight(i)),
        )
    }
}
