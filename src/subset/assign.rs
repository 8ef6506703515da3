use std::cmp::Reverse;
use std::collections::HashSet;

use super::{ClientIndex, DEFAULT_SUBSET_KEY};
use crate::hash::HashKey;
use crate::types::{BackendId, ConfigError};

/// Deterministic subsetting: `k` backends per client, every backend serving
/// as many clients as any other, give or take one (see the [module
/// docs](crate::subset)).
///
/// Computing a client's subset assigns the clients before it too: about
/// `C × N log N` work for `C` clients of `N` backends, done when the set or
/// the client count changes, never per request.
#[derive(Debug, Clone, Copy)]
pub struct Subsetting {
    size: usize,
    key: HashKey,
}

impl Subsetting {
    /// Subsets of `size` backends (a size of at least the set's is the whole
    /// set; 0 is refused when used), hashed with [`DEFAULT_SUBSET_KEY`].
    pub fn new(size: usize) -> Self {
        Subsetting {
            size,
            key: DEFAULT_SUBSET_KEY,
        }
    }

    /// Hashes with `key` instead: every client must use the same one.
    pub fn key(mut self, key: HashKey) -> Self {
        self.key = key;
        self
    }

    /// The subset size asked for.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The backends `client` keeps: indices into `backends` (whose items are
    /// the backends' ids, e.g. their addresses), ascending.
    ///
    /// Refused: no backend, two equal ids, a size of 0.
    pub fn subset<T: AsRef<str>>(
        &self,
        backends: &[T],
        client: ClientIndex,
    ) -> Result<Vec<usize>, ConfigError> {
        let mut rows = self.assign(backends, client.clients(), client.index() + 1)?;
        Ok(rows.pop().unwrap_or_default())
    }

    /// Every client's subset, for `clients` clients: row `i` is what
    /// [`subset`](Self::subset) gives client `i`.
    pub fn assignment<T: AsRef<str>>(
        &self,
        backends: &[T],
        clients: usize,
    ) -> Result<Vec<Vec<usize>>, ConfigError> {
        if clients == 0 {
            return Ok(Vec::new());
        }
        self.assign(backends, clients, clients)
    }

    /// The subsets of clients `0..upto` out of `clients`.
    fn assign<T: AsRef<str>>(
        &self,
        backends: &[T],
        clients: usize,
        upto: usize,
    ) -> Result<Vec<Vec<usize>>, ConfigError> {
        if self.size == 0 {
            return Err(ConfigError::Invalid {
                setting: "subset size",
                why: "a subset needs at least one backend".into(),
            });
        }
        if backends.is_empty() {
            return Err(ConfigError::EmptySet);
        }
        let mut seen = HashSet::with_capacity(backends.len());
        for id in backends {
            if !seen.insert(id.as_ref()) {
                return Err(ConfigError::DuplicateId(BackendId::new(id.as_ref())));
            }
        }
        let n = backends.len();
        let k = self.size.min(n);
        let Some(slots) = clients.checked_mul(k) else {
            return Err(ConfigError::Invalid {
                setting: "client index",
                why: format!("{clients} clients of {k} backends each is too many to count"),
            });
        };
        let mut quotas = Quotas {
            low: slots / n,
            extra: slots % n,
            counts: vec![0; n],
        };
        let mut rows = Vec::with_capacity(upto);
        let mut preference: Vec<(Reverse<u64>, usize)> = Vec::with_capacity(n);
        for client in 0..upto {
            preference.clear();
            preference.extend(backends.iter().enumerate().map(|(i, id)| {
                let id = id.as_ref().as_bytes();
                (Reverse(self.key.hash_with(id, client as u64)), i)
            }));
            // Ties (hash collisions) by id, not by position: the result
            // must not depend on the order the backends came in.
            preference.sort_unstable_by(|a, b| {
                a.0.cmp(&b.0)
                    .then_with(|| backends[a.1].as_ref().cmp(backends[b.1].as_ref()))
            });
            let order: Vec<usize> = preference.iter().map(|&(_, i)| i).collect();
            let mut row = quotas.choose(&order, k, clients - client);
            for &b in &row {
                quotas.counts[b] += 1;
            }
            row.sort_unstable();
            rows.push(row);
        }
        Ok(rows)
    }
}

/// Where the assignment stands: each backend must end with `low` clients,
/// or `low + 1` for exactly `extra` of them.
struct Quotas {
    low: usize,
    extra: usize,
    counts: Vec<usize>,
}

impl Quotas {
    /// `k` distinct backends for the next client, `left` clients to go
    /// (this one included), in `order` of preference as far as the quotas
    /// allow: after it, every backend can still reach `low`, none passes
    /// `low + 1`, at most `extra` reach `low + 1` and enough still can.
    fn choose(&self, order: &[usize], k: usize, left: usize) -> Vec<usize> {
        let (low, counts) = (self.low, &self.counts);
        let mut taken = vec![false; counts.len()];
        let mut row = Vec::with_capacity(k);
        let take = |b: usize, taken: &mut [bool], row: &mut Vec<usize>| {
            if !taken[b] && row.len() < k {
                taken[b] = true;
                row.push(b);
            }
        };
        // Backends that miss `low` unless every remaining client takes them.
        for &b in order {
            if counts[b] + left == low {
                take(b, &mut taken, &mut row);
            }
        }
        // Enough backends must still be able to reach `low + 1`: those
        // one short of every remaining client are taken now if needed.
        let can_reach = counts.iter().filter(|&&c| c + left >= low + 2).count();
        let mut short = self.extra.saturating_sub(can_reach);
        for &b in order {
            if short > 0 && counts[b] + left == low + 1 {
                take(b, &mut taken, &mut row);
                short -= 1;
            }
        }
        // Then by preference, within the quotas.
        let mut full = counts.iter().filter(|&&c| c > low).count()
            + row.iter().filter(|&&b| counts[b] == low).count();
        for &b in order {
            if row.len() == k {
                break;
            }
            if taken[b] || counts[b] > low {
                continue;
            }
            if counts[b] == low {
                if full >= self.extra {
                    continue;
                }
                full += 1;
            }
            take(b, &mut taken, &mut row);
        }
        // The quotas always leave room (the spread tests hold it); should
        // they not, the least served complete the row rather than a short one.
        if row.len() < k {
            let mut rest: Vec<usize> = (0..counts.len()).filter(|&b| !taken[b]).collect();
            rest.sort_by_key(|&b| counts[b]);
            for b in rest {
                take(b, &mut taken, &mut row);
            }
        }
        row
    }
}
