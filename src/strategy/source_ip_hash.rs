use std::collections::HashMap;
use std::time::Duration;

use crate::hash::sticky::{Lookup, StickyTable, Verdict};
use crate::hash::RendezvousTable;
use crate::runtime::set::BackendSet;
use crate::strategy::kernel::hashing::{hash_settings, RequestHasher};
use crate::strategy::Strategy;
use crate::types::{ConfigError, Context};

/// Default time a client stays on its backend after its last request.
pub const DEFAULT_STICKY_TTL: Duration = Duration::from_secs(30 * 60);
/// Default cap on remembered clients (at most 11 MB, see [`StickyTable`]).
pub const DEFAULT_STICKY_CAPACITY: usize = 100_000;
/// Source-IP hash: the client's address picks its backend, so a client
/// keeps landing on the same one (its cache, its session) with no shared
/// state between balancers.
///
/// The whole IPv4 address (or the first `v6_prefix` bits of an IPv6 one,
/// default /64; IPv4-mapped IPv6 counts as IPv4) is hashed with keyed
/// SipHash, and weighted rendezvous hashing over the configured weights
/// picks the backend: each backend's score depends only on the client and
/// that backend, so removing a backend moves exactly its clients, adding one
/// takes only the clients it now wins, and two balancers with the same key
/// and backends (in any order) agree on every client. Draining, down and
/// ejected backends are skipped. Requests without a client address hash
/// `ctx.key` the same way, and without either go to a random backend.
///
/// On top, a [`StickyTable`] keeps a client on the backend it last used for
/// a TTL counted from its last request (default 30 min, at most 100 000
/// clients, least recently used evicted first), even when set changes would
/// hash it elsewhere, as long as that backend is up or draining. A down or
/// ejected backend loses its sticky clients; a backend a retry excludes is
/// skipped for that retry only. A TTL or capacity of zero turns the table
/// off: pure hashing. The table lives in the strategy, not in the per-set
/// table, so it survives set updates.
///
/// **Choose it** when clients must come back to the same node (local
/// sessions, per-client caches) and there is no cookie or key to hash; the
/// lab's "same client, same machine" requirement. Clients behind one NAT
/// all land together, so balance is only as even as the client population.
///
/// **Synchronisation**: hashing and rendezvous (O(N) over a per-set table of
/// backend hashes) take no lock; the sticky table is sharded into short
/// `parking_lot` mutexes held for one map operation, never across the
/// caller's code.
#[derive(Debug)]
pub struct SourceIpHash {
    hasher: RequestHasher,
    sticky: StickyTable,
}

/// The per-set table of [`SourceIpHash`]: rendezvous hashes of the backend
/// ids, and the index of each backend by its id hash, so sticky entries (which
/// hold id hashes) find their backend in any later set.
#[derive(Debug)]
pub struct SourceIpTable {
    rendezvous: RendezvousTable,
    hashes: Vec<u64>,
    index: HashMap<u64, usize>,
}

impl Default for SourceIpHash {
    fn default() -> Self {
        SourceIpHash::new()
    }
}

impl SourceIpHash {
    /// Source-IP hash with a random key and the default sticky table; set
    /// the key with `with_key` so that balancers sharing it map clients alike.
    pub fn new() -> Self {
        SourceIpHash {
            hasher: RequestHasher::default(),
            sticky: StickyTable::new(DEFAULT_STICKY_TTL, DEFAULT_STICKY_CAPACITY),
        }
    }

    /// Sets the sticky table: clients kept `ttl` after their last request,
    /// at most `capacity` of them. Zero for either turns it off.
    pub fn sticky(mut self, ttl: Duration, capacity: usize) -> Self {
        self.sticky = StickyTable::new(ttl, capacity);
        self
    }

    /// Turns the sticky table off: pure consistent hashing.
    pub fn without_sticky(self) -> Self {
        self.sticky(Duration::ZERO, 0)
    }

    /// The sticky table, e.g. to watch its size.
    pub fn sticky_table(&self) -> &StickyTable {
        &self.sticky
    }

    fn hashed(
        &self,
        table: &SourceIpTable,
        set: &BackendSet,
        ctx: &Context<'_>,
        h: u64,
    ) -> Option<usize> {
        table
            .rendezvous
            .best(h, |i| set.is_eligible(i, ctx), |i| f64::from(set.weight(i)))
    }

    /// The first eligible backend from a random start: uniform when all are
    /// eligible, and a request with neither client nor key has no affinity
    /// to keep, so the slight lean towards a backend after an ineligible
    /// one is not worth a second pass.
    fn random(&self, set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
        let n = set.len();
        let start = self.hasher.rng.below(n.max(1));
        (start..n)
            .chain(0..start)
            .find(|&i| set.is_eligible(i, ctx))
    }
}

hash_settings!(SourceIpHash);

impl Strategy for SourceIpHash {
    type Table = SourceIpTable;

    fn counts_in_flight(&self) -> bool {
        false
    }

    fn build(&self, set: &BackendSet) -> Result<SourceIpTable, ConfigError> {
        self.hasher.validate()?;
        let ids = (0..set.len()).map(|i| set.id(i).as_str());
        let hashes: Vec<u64> = ids
            .clone()
            .map(|id| self.hasher.key.hash(id.as_bytes()))
            .collect();
        let index = hashes.iter().enumerate().map(|(i, &h)| (h, i)).collect();
        Ok(SourceIpTable {
            rendezvous: RendezvousTable::new(&self.hasher.key, ids),
            hashes,
            index,
        })
    }

    fn select(&self, table: &SourceIpTable, set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
        let Some(ip) = ctx.client else {
            return match ctx.key {
                Some(key) => self.hashed(table, set, ctx, self.hasher.key.hash(key)),
                None => self.random(set, ctx),
            };
        };
        let h = self.hasher.key.hash_ip(ip, self.hasher.v6_prefix);
        if !self.sticky.is_enabled() {
            return self.hashed(table, set, ctx, h);
        }
        let now = set.now();
        let found = self.sticky.lookup(h, now, |backend| {
            match table.index.get(&backend) {
                Some(&i) if set.keeps_sticky(i) => {
                    // Excluded by a retry, or at its cap: this request goes
                    // elsewhere, the client's entry stays.
                    if ctx.excludes(set.id(i)) || !set.has_room(i) {
                        Verdict::Skip
                    } else {
                        Verdict::Keep
                    }
                }
                // Down, ejected, or no longer in the set.
                _ => Verdict::Drop,
            }
        });
        match found {
            Lookup::Hit(backend) => table.index.get(&backend).copied(),
            // The retry goes elsewhere; the client's entry stays as it was.
            Lookup::Skipped => self.hashed(table, set, ctx, h),
            Lookup::Miss => {
                let i = self.hashed(table, set, ctx, h)?;
                self.sticky.insert(h, table.hashes[i], now);
                Some(i)
            }
        }
    }
}
