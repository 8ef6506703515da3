//! Keyed hashing and the tables the hash strategies look requests up in.
//!
//! Everything is SipHash-1-3 under a [`HashKey`]: without the key a client
//! cannot choose addresses or keys that pile onto one backend, and with the
//! same key every balancer maps every key the same way, so several proxy
//! instances agree without talking to each other.
//!
//! The tables are built off the pick path, when the set changes, and are
//! opaque outside the crate:
//! - the Maglev lookup table (Eisenbud et al., [Maglev: A Fast and Reliable
//!   Software Network Load Balancer](https://research.google/pubs/maglev-a-fast-and-reliable-software-network-load-balancer/),
//!   NSDI 2016);
//! - the consistent-hash ring (Karger et al., [Consistent Hashing and Random
//!   Trees](https://www.cs.princeton.edu/courses/archive/fall09/cos518/papers/chash.pdf),
//!   STOC 1997), as ketama lays it out;
//! - rendezvous (highest random weight) scores (Thaler and Ravishankar,
//!   [Using Name-Based Mappings to Increase Hit
//!   Rates](https://doi.org/10.1109/90.663936), IEEE/ACM ToN 1998), weighted
//!   by the logarithm method;
//! - the sticky table of source-IP affinity.

mod key;
pub(crate) mod maglev;
pub(crate) mod rendezvous;
pub(crate) mod ring;
pub(crate) mod sticky;
#[cfg(test)]
mod tests;

pub use key::HashKey;
pub(crate) use maglev::MaglevTable;
pub(crate) use rendezvous::RendezvousTable;
pub(crate) use ring::Ring;

/// The IPv6 prefix length client addresses are hashed on by default: a /64
/// is usually one site, and privacy addresses rotate the rest.
pub const DEFAULT_V6_PREFIX: u8 = 64;
