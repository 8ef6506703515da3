use crate::hash::HashKey;

/// Weighted rendezvous (highest random weight) score of one backend for one
/// key: `-weight / ln(u)` with `u` uniform in (0, 1) drawn from the keyed hash
/// of (key, backend). The backend with the highest score wins.
///
/// Each backend's score depends only on the key and that backend, so removing
/// a backend moves exactly the keys it won, and weights give each backend a
/// share proportional to its weight.
#[inline]
pub fn rendezvous_score(key_hash: u64, backend_hash: u64, weight: f64) -> f64 {
    let mixed = mix(key_hash ^ backend_hash.rotate_left(17));
    // 53 random bits into (0, 1): never 0, so ln(u) < 0.
    let u = ((mixed >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    -weight / u.ln()
}

/// A strong 64-bit finaliser (the SplitMix64 mixer): the backend's and the
/// key's hashes are already keyed, so this only needs to decorrelate them.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A rendezvous table: each backend's keyed id hash, computed once per set.
#[derive(Debug, Clone)]
pub struct RendezvousTable {
    backend_hashes: Vec<u64>,
}

impl RendezvousTable {
    /// Hashes every backend id under `key`.
    pub fn new<'a>(key: &HashKey, ids: impl IntoIterator<Item = &'a str>) -> Self {
        RendezvousTable {
            backend_hashes: ids.into_iter().map(|id| key.hash(id.as_bytes())).collect(),
        }
    }

    /// The index with the highest score for `key_hash` among those `eligible`
    /// says yes to, weighting each by `weight(i)`. O(N).
    #[inline]
    pub fn best(
        &self,
        key_hash: u64,
        eligible: impl Fn(usize) -> bool,
        weight: impl Fn(usize) -> f64,
    ) -> Option<usize> {
        let mut best: Option<(usize, f64, u64)> = None;
        for (i, &backend_hash) in self.backend_hashes.iter().enumerate() {
            if !eligible(i) {
                continue;
            }
            let score = rendezvous_score(key_hash, backend_hash, weight(i));
            // Equal scores go to the higher backend hash, not to the earlier
            // position, so the winner does not depend on the set's order.
            if best.is_none_or(|(_, top, top_hash)| {
                score > top || (score == top && backend_hash > top_hash)
            }) {
                best = Some((i, score, backend_hash));
            }
        }
        best.map(|(i, _, _)| i)
    }
}
