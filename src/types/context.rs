//! What the caller knows about the request being balanced.

use std::net::IpAddr;

use crate::types::BackendId;

/// The request's facts a strategy may use: who sent it, a key to hash, and
/// backends a retry must avoid. Cheap to build on every request.
///
/// ```
/// use pickwise::{BackendId, Context};
///
/// let failed = [BackendId::new("w2")];
/// let ctx = Context::new()
///     .client("10.0.0.7".parse().unwrap())
///     .key(b"/cart/42")
///     .exclude(&failed);
/// assert!(ctx.excludes(&BackendId::new("w2")));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Context<'a> {
    /// The client's address, for source-IP hashing.
    pub client: Option<IpAddr>,
    /// A key for hash strategies: a header value, a path, a user id.
    pub key: Option<&'a [u8]>,
    /// Backends this pick must not return, e.g. the ones a retry already tried.
    pub exclude: &'a [BackendId],
}

impl<'a> Context<'a> {
    /// An empty context: no client, no key, nothing excluded.
    pub fn new() -> Self {
        Context::default()
    }

    /// Sets the client address.
    pub fn client(mut self, client: IpAddr) -> Self {
        self.client = Some(client);
        self
    }

    /// Sets the hash key.
    pub fn key(mut self, key: &'a [u8]) -> Self {
        self.key = Some(key);
        self
    }

    /// Sets the exclusion list.
    pub fn exclude(mut self, exclude: &'a [BackendId]) -> Self {
        self.exclude = exclude;
        self
    }

    /// Whether `id` is excluded.
    #[inline(always)]
    pub fn excludes(&self, id: &BackendId) -> bool {
        // Most requests exclude nothing: that test stays in the pick loop,
        // the search (a retry's) out of it.
        !self.exclude.is_empty() && self.listed(id)
    }

    #[inline(never)]
    fn listed(&self, id: &BackendId) -> bool {
        self.exclude.contains(id)
    }
}
