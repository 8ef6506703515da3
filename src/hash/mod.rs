//! Keyed hashing shared by the hash strategies.
//!
//! Everything is SipHash-1-3 under a [`HashKey`]: without the key a client
//! cannot choose addresses or keys that pile onto one backend, and with the
//! same key every balancer maps every key the same way, so several proxy
//! instances agree without talking to each other.

mod key;
mod rendezvous;

pub use key::HashKey;
pub use rendezvous::{rendezvous_score, Rendezvous};
