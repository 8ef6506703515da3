//! What a call tells the strategy: a [`Context`] made from the request.

use std::fmt;

use crate::types::Context;

/// Makes the pick's [`Context`] from a request: a key for the hash
/// strategies (a header, a path), the client's address, backends to avoid.
/// It may borrow from the request.
///
/// Closures set with [`Balance::context`](super::Balance::context)
/// implement it through [`ContextFn`]; [`NoContext`] (the default) gives
/// every call an empty context.
pub trait MakeContext<Req> {
    /// The context of one request.
    fn context<'r>(&self, request: &'r Req) -> Context<'r>;
}

/// Every call gets an empty context: no key, no client, nothing excluded.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoContext;

impl<Req> MakeContext<Req> for NoContext {
    fn context<'r>(&self, _request: &'r Req) -> Context<'r> {
        Context::new()
    }
}

/// A [`MakeContext`] from a function of the request: see
/// [`Balance::context`](super::Balance::context).
#[derive(Clone, Copy)]
pub struct ContextFn<F> {
    pub(crate) f: F,
}

impl<Req, F> MakeContext<Req> for ContextFn<F>
where
    F: for<'r> Fn(&'r Req) -> Context<'r>,
{
    fn context<'r>(&self, request: &'r Req) -> Context<'r> {
        (self.f)(request)
    }
}

impl<F> fmt::Debug for ContextFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ContextFn")
    }
}
