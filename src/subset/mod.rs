//! Deterministic subsetting: which few backends of a large fleet each of
//! many clients (proxies, RPC clients) connects to.
//!
//! With C clients each connected to all N backends there are C × N
//! connections; each client keeping a subset of k backends cuts that to
//! C × k. A random subset per client spreads unevenly (some backends serve
//! twice the clients of others); the known deterministic schemes are Google's
//! *deterministic subsetting* (the [SRE book, chapter
//! 20](https://sre.google/sre-book/load-balancing-datacenter/): clients in
//! rounds, each round a shuffle of the backends cut into subsets) and
//! Finagle's *deterministic aperture* ([Finagle's
//! documentation](https://twitter.github.io/finagle/guide/ApertureLoadBalancers.html):
//! clients and backends on two rings, each client covering a fixed arc).
//!
//! [`Subsetting`] gives the same two promises with less movement when the
//! fleet changes:
//!
//! - **Spread**: client `i` of `C` gets `k` distinct backends of `N`, and
//!   every backend serves `C·k/N` clients rounded down or up (give or take
//!   one), exactly, for every `C`, `k` and `N`.
//! - **Little movement**: when a backend joins or leaves, or a client is
//!   added or removed, few client–backend links change: close to the least
//!   possible (about `C·k/N` links for a backend joining), where a seeded
//!   random subset, or the SRE book's rounds reshuffled for the new `N`,
//!   change most of them.
//! - **Agreement without talking**: the result depends only on the backend
//!   ids (not their order), `k`, `C`, `i` and the [`HashKey`](crate::hash::HashKey); every client
//!   computes the whole assignment the same way and keeps its own row.
//!
//! How: clients are assigned in index order. Each client ranks the
//! backends by a keyed hash of (client index, backend id), rendezvous
//! hashing's preference, and takes the first `k` that the quotas allow:
//! a backend ends with exactly `⌊C·k/N⌋` or `⌈C·k/N⌉` clients, and a client
//! must take a backend that would otherwise miss its quota. The rendezvous
//! preference is what keeps movement low: a client's preferred backends do
//! not depend on the others in the fleet.
//!
//! ```
//! use pickwise::subset::{ClientIndex, Subsetting};
//!
//! let backends: Vec<String> = (0..16).map(|i| format!("10.0.0.{i}:8080")).collect();
//! let client: ClientIndex = "3/8".parse()?; // client 3 of 8
//! let mine = Subsetting::new(4).subset(&backends, client)?;
//! assert_eq!(mine.len(), 4); // indices into `backends`
//!
//! // Over all 8 clients every backend serves 8 × 4 / 16 = 2 of them.
//! let all = Subsetting::new(4).assignment(&backends, 8)?;
//! assert_eq!(all[3], mine);
//! for b in 0..16 {
//!     assert_eq!(all.iter().filter(|row| row.contains(&b)).count(), 2);
//! }
//! # Ok::<(), pickwise::ConfigError>(())
//! ```

mod assign;
mod client;

pub use assign::Subsetting;
pub use client::ClientIndex;

/// The key [`Subsetting`] hashes with unless given another: fixed, so that
/// clients agree without configuration (a subset needs no secret).
pub const DEFAULT_SUBSET_KEY: crate::hash::HashKey =
    crate::hash::HashKey::from_bytes(*b"pickwise-subset!");
