//! tower's `hedge` middleware within a [`RetryBudget`]: [`BudgetedHedge`]
//! (feature `tower-hedge`).

use std::sync::Arc;

use super::RetryBudget;

/// A `tower::hedge::Policy` whose hedges spend a [`RetryBudget`]: the
/// policy it wraps says which requests may be copied and hedged, and the
/// budget how many, shared with whatever else spends it (the retries of a
/// `tower::retry` policy, with the `tower-retry` feature). tower's
/// [`Hedge`](tower::hedge::Hedge) keeps its own latency histogram and
/// delay (a percentile of recent latencies); its hedges are otherwise
/// unbounded, one per slow request, which on a struggling fleet adds load
/// where it hurts. Every request received deposits in the budget; a hedge
/// goes only if it can withdraw.
///
/// Over [`pickwise::tower::Balance`](crate::tower::Balance), a hedge is a
/// second request through the balancer: a second pick, most often of
/// another backend (round robin moves on; a load-aware strategy counts the
/// first try in flight).
///
/// ```
/// # #[cfg(feature = "tower-hedge")] {
/// use pickwise::tail::{BudgetedHedge, RetryBudget};
/// use std::sync::Arc;
/// use std::time::Duration;
/// use tower::hedge::Policy;
///
/// /// Every request may be copied.
/// #[derive(Clone)]
/// struct Any;
/// impl Policy<u32> for Any {
///     fn clone_request(&self, req: &u32) -> Option<u32> {
///         Some(*req)
///     }
///     fn can_retry(&self, _: &u32) -> bool {
///         true
///     }
/// }
///
/// let budget = Arc::new(RetryBudget::new(0.1, 0, Duration::from_secs(10)));
/// let policy = BudgetedHedge::new(Any, budget);
/// for req in 0..20 {
///     policy.clone_request(&req);
/// }
/// let hedges = (0..20).filter(|req| policy.can_retry(req)).count();
/// assert_eq!(hedges, 2, "10% of 20 requests");
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct BudgetedHedge<P> {
    policy: P,
    budget: Arc<RetryBudget>,
}

impl<P> BudgetedHedge<P> {
    /// `policy`'s hedges, within `budget`.
    pub fn new(policy: P, budget: Arc<RetryBudget>) -> Self {
        BudgetedHedge { policy, budget }
    }

    /// The budget its hedges spend.
    pub fn budget(&self) -> &Arc<RetryBudget> {
        &self.budget
    }
}

impl<P: tower::hedge::Policy<R>, R> tower::hedge::Policy<R> for BudgetedHedge<P> {
    /// Called once for every request received: a deposit, then the wrapped
    /// policy's copy.
    fn clone_request(&self, req: &R) -> Option<R> {
        self.budget.deposit();
        self.policy.clone_request(req)
    }

    /// Called when the hedge is due: the wrapped policy's yes, and one
    /// withdrawn from the budget.
    fn can_retry(&self, req: &R) -> bool {
        self.policy.can_retry(req) && self.budget.withdraw()
    }
}
