//! Keyed hashing shared by the hash strategies.
//!
//! Everything is SipHash-1-3 under a [`HashKey`]: without the key a client
//! cannot choose addresses or keys that pile onto one backend, and with the
//! same key every balancer maps every key the same way, so several proxy
//! instances agree without talking to each other.

mod key;
mod maglev;
mod rendezvous;
mod ring;

pub use key::HashKey;
pub use maglev::MaglevTable;
pub use rendezvous::{rendezvous_score, Rendezvous};
pub use ring::Ring;

use crate::context::Context;
use crate::error::ConfigError;
use crate::rng::AtomicRng;

/// The IPv6 prefix length client addresses are hashed on by default: a /64
/// is usually one site, and privacy addresses rotate the rest.
pub const DEFAULT_V6_PREFIX: u8 = 64;

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
                self.hasher.rng = $crate::rng::AtomicRng::seeded(seed);
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
