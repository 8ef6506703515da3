//! The trait a proxy holds: pick a backend for a request.

use std::sync::Arc;

use crate::pool::pick::Pick;
use crate::types::{Context, NoBackend};

/// Chooses a backend for each request. Object safe, so a program can hold an
/// `Arc<dyn Balancer<B>>` chosen at run time; `pick` takes `&self` so any
/// number of threads pick at once.
///
/// ```
/// use pickwise::{BackendSpec, Balancer, Context, Pool};
/// use pickwise::strategy::RoundRobin;
/// use std::sync::Arc;
///
/// let pool = Pool::new(RoundRobin::new(), vec![BackendSpec::new("a", "10.0.0.1:80")])?;
/// let balancer: Arc<dyn Balancer<&str>> = Arc::new(pool);
/// let pick = balancer.pick(&Context::new())?;
/// assert_eq!(*pick.backend(), "10.0.0.1:80");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Balancer<B>: Send + Sync + 'static {
    /// Chooses a backend for one request; never blocks and does no I/O.
    fn pick(&self, ctx: &Context<'_>) -> Result<Pick<B>, NoBackend>;
}

impl<B, T: Balancer<B> + ?Sized> Balancer<B> for Arc<T> {
    fn pick(&self, ctx: &Context<'_>) -> Result<Pick<B>, NoBackend> {
        (**self).pick(ctx)
    }
}
