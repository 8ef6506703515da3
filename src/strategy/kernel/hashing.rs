//! What the hash strategies share: turning a request into a keyed hash, their
//! common builder methods, and the ring of a set.

use super::rng::AtomicRng;
use crate::hash::{HashKey, Ring, DEFAULT_V6_PREFIX};
use crate::runtime::set::BackendSet;
use crate::types::{ConfigError, Context};

/// What every hash strategy needs to turn a request into a 64-bit hash.
#[derive(Debug)]
pub(crate) struct RequestHasher {
    pub(crate) key: HashKey,
    pub(crate) v6_prefix: u8,
    /// For requests with neither key nor client: they spread at random.
    pub(crate) rng: AtomicRng,
}

impl Default for RequestHasher {
    fn default() -> Self {
        RequestHasher {
            key: HashKey::random(),
            v6_prefix: DEFAULT_V6_PREFIX,
            rng: AtomicRng::random(),
        }
    }
}

impl RequestHasher {
    /// The request's hash: of `ctx.key` if given, else of the client address
    /// (IPv6 cut to the prefix), else a random number.
    #[inline]
    pub(crate) fn hash(&self, ctx: &Context<'_>) -> u64 {
        match (ctx.key, ctx.client) {
            (Some(key), _) => self.key.hash(key),
            (None, Some(ip)) => self.key.hash_ip(ip, self.v6_prefix),
            (None, None) => self.rng.next_u64(),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.v6_prefix > 128 {
            return Err(ConfigError::Invalid {
                setting: "IPv6 prefix",
                why: format!("{} is more than 128 bits", self.v6_prefix),
            });
        }
        Ok(())
    }
}

/// The settings every hash strategy shares, as builder methods.
macro_rules! hash_settings {
    ($strategy:ident) => {
        impl $strategy {
            /// Hashes under `key` (by default a random key per process): give
            /// every balancer that must agree the same key.
            pub fn with_key(mut self, key: $crate::hash::HashKey) -> Self {
                self.hasher.key = key;
                self
            }

            /// Hashes IPv6 clients on their first `bits` bits (default
            /// [`DEFAULT_V6_PREFIX`](crate::hash::DEFAULT_V6_PREFIX), at most
            /// 128; checked when the pool builds). IPv4 clients are hashed whole.
            pub fn v6_prefix(mut self, bits: u8) -> Self {
                self.hasher.v6_prefix = bits;
                self
            }

            /// Seeds the random choice for requests with neither key nor
            /// client, for reproducible runs.
            pub fn seeded(mut self, seed: u64) -> Self {
                self.hasher.rng = $crate::strategy::kernel::rng::AtomicRng::seeded(seed);
                self
            }
        }

        impl $crate::strategy::FromOptions for $strategy {
            fn from_options(options: &$crate::strategy::StrategyOptions) -> Self {
                let mut strategy = $strategy::default();
                if let Some(key) = options.hash_key {
                    strategy = strategy.with_key(key);
                }
                if let Some(seed) = options.seed {
                    strategy = strategy.seeded(seed);
                }
                if let Some(bits) = options.v6_prefix {
                    strategy = strategy.v6_prefix(bits);
                }
                strategy
            }
        }
    };
}
pub(crate) use hash_settings;

/// The ring of a set: configured weights, ids, in set order.
pub(crate) fn ring_of(
    hasher: &RequestHasher,
    points_per_unit: u32,
    set: &BackendSet,
) -> Result<Ring, ConfigError> {
    hasher.validate()?;
    Ring::new(
        &hasher.key,
        points_per_unit,
        (0..set.len()).map(|i| (set.id(i).as_str(), set.weight(i))),
    )
}
