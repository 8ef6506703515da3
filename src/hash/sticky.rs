//! A bounded table for session affinity: which backend a client was sent to,
//! kept for a time to live counted from the client's last request.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::mem::size_of;
use std::time::Duration;

use parking_lot::Mutex;

use crate::types::clock::saturating_nanos;

/// Tables of at least this many entries are split into [`SHARDS`] shards.
const SHARD_FROM: usize = 1024;
/// Shards of a large table: picks of different clients rarely wait on the
/// same lock.
const SHARDS: usize = 16;
/// The largest capacity accepted: slab indices are `u32`.
pub const MAX_STICKY_ENTRIES: usize = 1 << 30;
const NIL: u32 = u32::MAX;

/// Client → backend memory with a hard cap, least-recently-used eviction,
/// and expiry by a time to live counted from each client's last request.
///
/// Keys and backends are 64-bit keyed hashes (of the client address and of
/// the backend id), so an entry is small and fixed-size and the table never
/// holds an address. Memory is bounded: at most `capacity` entries of
/// at most [`StickyTable::bytes_per_entry`] bytes each: 110 on 64-bit
/// targets. That is 32 for the entry (its slab never grows past the cap) and
/// up to 78 for its share of the hash map: 17 bytes a bucket, and under
/// churn the map keeps between 16/7 and 32/7 buckets an entry (it doubles
/// rather than clean out deleted buckets when over 7/16 of them are live).
/// Measured: 87 bytes an entry for a full table of 10 000 clients after a
/// flood of a million. The default 100 000 clients take at most 11 MB; the
/// memory grows with the clients seen, up to that.
///
/// **Policy**: a lookup of an entry older than the TTL drops it. When a new
/// client arrives at a full table, expired entries are dropped from the
/// least-recent end first; if none is expired the least recently used
/// entry is evicted. Tables of 1024 entries or more are split into 16 shards
/// by key, each with an equal share of the cap and its own LRU order, so the
/// eviction order is least-recently-used within a shard.
///
/// **Synchronisation**: each shard is a `parking_lot` mutex held for one
/// hash-map operation and a few pointer updates (never across the
/// caller's code); lookups must refresh recency, so even reads write.
#[derive(Debug)]
pub struct StickyTable {
    ttl: u64,
    capacity: usize,
    shards: Vec<Mutex<Shard>>,
}

impl StickyTable {
    /// A table keeping clients for `ttl` after their last request, with at
    /// most `capacity` entries. A zero TTL or capacity disables it.
    /// Capacities above [`MAX_STICKY_ENTRIES`] are reduced to it.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        let capacity = capacity.min(MAX_STICKY_ENTRIES);
        let ttl = saturating_nanos(ttl);
        let shards = match capacity {
            _ if ttl == 0 || capacity == 0 => 0,
            c if c >= SHARD_FROM => SHARDS,
            _ => 1,
        };
        // Each shard takes an equal share, rounded down: the cap is hard.
        let per_shard = capacity.checked_div(shards).unwrap_or(0);
        StickyTable {
            ttl,
            capacity: per_shard * shards,
            shards: (0..shards)
                .map(|_| Mutex::new(Shard::new(per_shard)))
                .collect(),
        }
    }

    /// Whether the table keeps anything.
    pub fn is_enabled(&self) -> bool {
        !self.shards.is_empty()
    }

    /// The time to live.
    pub fn ttl(&self) -> Duration {
        Duration::from_nanos(self.ttl)
    }

    /// The hard cap on entries (the requested one, rounded down to a
    /// multiple of the shard count).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Entries held now, expired ones not yet dropped included.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().entries.len()).sum()
    }

    /// Whether it holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every client.
    pub fn clear(&self) {
        for shard in &self.shards {
            let mut shard = shard.lock();
            let cap = shard.cap;
            *shard = Shard::new(cap);
        }
    }

    /// Bytes one entry of a full table takes at most: the entry itself plus
    /// its share of the hash map's buckets (key, index and control byte
    /// each) at the map's lowest load under churn (7/32: it doubles when
    /// deleted buckets run it out of room with over 7/16 of them live).
    pub const fn bytes_per_entry() -> usize {
        size_of::<Entry>() + ((size_of::<(u64, u32)>() + 1) * 32).div_ceil(7)
    }

    fn shard(&self, key: u64) -> Option<&Mutex<Shard>> {
        let n = self.shards.len();
        // The top bits pick the shard; the map hashes with the low ones.
        (n > 0).then(|| &self.shards[((key >> 32) as usize) % n])
    }

    /// Looks up `key` at `now`. For a live entry, `keep(backend)` decides:
    /// keep it (the entry is refreshed), skip it this time, or drop it.
    pub(crate) fn lookup(&self, key: u64, now: u64, keep: impl FnOnce(u64) -> Verdict) -> Lookup {
        let Some(shard) = self.shard(key) else {
            return Lookup::Miss;
        };
        let mut shard = shard.lock();
        let Some(&i) = shard.map.get(&key) else {
            return Lookup::Miss;
        };
        let entry = shard.entries[i as usize];
        if now.saturating_sub(entry.seen) >= self.ttl {
            shard.remove(i);
            return Lookup::Miss;
        }
        match keep(entry.backend) {
            Verdict::Keep => {
                shard.touch(i, now);
                Lookup::Hit(entry.backend)
            }
            Verdict::Skip => Lookup::Skipped,
            Verdict::Drop => {
                shard.remove(i);
                Lookup::Miss
            }
        }
    }

    /// Remembers that `key` goes to `backend` as of `now`.
    pub(crate) fn insert(&self, key: u64, backend: u64, now: u64) {
        if let Some(shard) = self.shard(key) {
            shard.lock().insert(key, backend, now, self.ttl);
        }
    }
}

/// What the caller of [`StickyTable::lookup`] decides about a remembered backend.
pub(crate) enum Verdict {
    /// It serves the client: refresh the entry.
    Keep,
    /// Not this time (a retry excludes it): leave the entry as it is.
    Skip,
    /// It may no longer keep the client (down, ejected, removed).
    Drop,
}

/// What a lookup found.
pub(crate) enum Lookup {
    /// A live entry for this backend, refreshed.
    Hit(u64),
    /// A live entry the caller skipped this time.
    Skipped,
    /// No live entry.
    Miss,
}

/// One client: 32 bytes.
#[derive(Debug, Clone, Copy)]
struct Entry {
    key: u64,
    backend: u64,
    /// Clock nanoseconds of its last request.
    seen: u64,
    /// Neighbours in recency order (towards the head is more recent).
    prev: u32,
    next: u32,
}

/// The keys are already keyed SipHash outputs, so the map need not hash
/// them again: a client cannot choose keys that collide without the key.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// One shard: a dense slab of entries threaded on a recency list, and a map
/// from key to slab index.
#[derive(Debug)]
struct Shard {
    cap: usize,
    map: HashMap<u64, u32, BuildHasherDefault<KeyHasher>>,
    entries: Vec<Entry>,
    /// Most recently used.
    head: u32,
    /// Least recently used.
    tail: u32,
}

impl std::fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHasher")
    }
}

impl Shard {
    fn new(cap: usize) -> Self {
        Shard {
            cap,
            map: HashMap::default(),
            entries: Vec::new(),
            head: NIL,
            tail: NIL,
        }
    }

    fn unlink(&mut self, i: u32) {
        let Entry { prev, next, .. } = self.entries[i as usize];
        match prev {
            NIL => self.head = next,
            p => self.entries[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.entries[n as usize].prev = prev,
        }
    }

    fn push_front(&mut self, i: u32) {
        let old = self.head;
        {
            let entry = &mut self.entries[i as usize];
            entry.prev = NIL;
            entry.next = old;
        }
        match old {
            NIL => self.tail = i,
            h => self.entries[h as usize].prev = i,
        }
        self.head = i;
    }

    fn touch(&mut self, i: u32, now: u64) {
        self.entries[i as usize].seen = now;
        if self.head != i {
            self.unlink(i);
            self.push_front(i);
        }
    }

    /// Removes entry `i`, moving the slab's last entry into its place so
    /// the slab stays dense.
    fn remove(&mut self, i: u32) {
        self.unlink(i);
        let key = self.entries[i as usize].key;
        self.map.remove(&key);
        let last = (self.entries.len() - 1) as u32;
        self.entries.swap_remove(i as usize);
        if i == last {
            return;
        }
        // The entry that was last now lives at `i`: repoint its neighbours.
        let Entry {
            key, prev, next, ..
        } = self.entries[i as usize];
        match prev {
            NIL => self.head = i,
            p => self.entries[p as usize].next = i,
        }
        match next {
            NIL => self.tail = i,
            n => self.entries[n as usize].prev = i,
        }
        self.map.insert(key, i);
    }

    fn insert(&mut self, key: u64, backend: u64, now: u64, ttl: u64) {
        if let Some(&i) = self.map.get(&key) {
            self.entries[i as usize].backend = backend;
            self.touch(i, now);
            return;
        }
        if self.cap == 0 {
            return;
        }
        // The tail is the oldest: drop what has expired there first.
        while self.tail != NIL && now.saturating_sub(self.entries[self.tail as usize].seen) >= ttl {
            self.remove(self.tail);
        }
        while self.entries.len() >= self.cap && self.tail != NIL {
            self.remove(self.tail);
        }
        if self.entries.len() == self.entries.capacity() {
            // Grow by doubling, but never past the cap: memory stays bounded
            // by the cap, not by twice it.
            let room = self.cap - self.entries.len();
            self.entries
                .reserve_exact(self.entries.len().max(4).min(room));
        }
        let i = self.entries.len() as u32;
        self.entries.push(Entry {
            key,
            backend,
            seen: now,
            prev: NIL,
            next: NIL,
        });
        self.push_front(i);
        self.map.insert(key, i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keep(_: u64) -> Verdict {
        Verdict::Keep
    }

    fn hit(table: &StickyTable, key: u64, now: u64) -> Option<u64> {
        match table.lookup(key, now, keep) {
            Lookup::Hit(b) => Some(b),
            _ => None,
        }
    }

    #[test]
    fn evicts_the_least_recently_used_and_expires_by_ttl() {
        let table = StickyTable::new(Duration::from_nanos(100), 3);
        for key in 1..=3 {
            table.insert(key, key * 10, key);
        }
        // Touch 1: 2 is now the least recently used.
        assert_eq!(hit(&table, 1, 10), Some(10));
        table.insert(4, 40, 11);
        assert_eq!(table.len(), 3);
        assert_eq!(hit(&table, 2, 12), None);
        assert_eq!(hit(&table, 3, 12), Some(30));
        // 1 was last seen at 10: alive at 109, gone at 110.
        assert_eq!(hit(&table, 1, 109), Some(10));
        assert_eq!(hit(&table, 4, 111), None);
        assert_eq!(hit(&table, 1, 209), None);
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn slab_stays_consistent_under_churn() {
        let table = StickyTable::new(Duration::from_nanos(50), 8);
        let mut x: u64 = 1;
        for now in 0..10_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let key = x >> 60;
            if hit(&table, key, now).is_none() {
                table.insert(key, key + 100, now);
            }
            assert_eq!(hit(&table, key, now), Some(key + 100));
            assert!(table.len() <= 8);
            let shard = table.shards[0].lock();
            assert_eq!(shard.map.len(), shard.entries.len());
            for (k, &i) in &shard.map {
                assert_eq!(shard.entries[i as usize].key, *k);
            }
        }
    }

    #[test]
    fn zero_ttl_or_capacity_disables_it() {
        for table in [
            StickyTable::new(Duration::ZERO, 10),
            StickyTable::new(Duration::from_secs(1), 0),
        ] {
            assert!(!table.is_enabled());
            table.insert(1, 2, 0);
            assert_eq!(hit(&table, 1, 0), None);
            assert!(table.is_empty());
        }
        #[cfg(target_pointer_width = "64")]
        assert_eq!(StickyTable::bytes_per_entry(), 110);
    }
}
