//! Tail latency: what hedged requests, adaptive try timeouts and retry
//! budgets need, cheap enough for the request path.
//!
//! - [`LatencyWindow`] (in `latency`): a lock-free histogram of recent
//!   latencies (the last one to two periods), giving quantiles within
//!   12.5%.
//! - [`TryTimeout`] (in `latency`): a delay derived from a quantile of the
//!   window, with a floor and a ceiling: a per-try timeout that follows
//!   the backends instead of a number the user must guess, or the delay of
//!   a hedged request (The Tail at Scale: a second copy after the observed
//!   p95, [Dean and Barroso, CACM 2013](https://research.google/pubs/the-tail-at-scale/)).
//! - [`RetryBudget`] (in `budget`): retries and hedges as a share of recent
//!   requests plus a floor per second, as
//!   [Finagle's](https://twitter.github.io/finagle/guide/Clients.html#retries)
//!   and [Linkerd's](https://linkerd.io/2.15/features/retries-and-timeouts/)
//!   budgets bound them, so that when every backend fails a struggling
//!   fleet gets `1 + share` times its load, not twice it (a retry storm).
//!   Its `deposit` and `withdraw` are those of tower's
//!   `retry::budget::Budget` trait, for a newtype to implement it where
//!   tower's `retry` layer should spend the same budget.
//! - `BudgetedHedge` (in `hedge`, feature `tower-hedge`): tower's `hedge`
//!   middleware sending its copies within a [`RetryBudget`], the same one
//!   retries spend.
//!
//! Two pieces outside this module serve a hedger: [`Pick::answered_since`]
//! tells whether a try's backend has answered anyone since a time (a
//! backend silent while others answer is where a hedge wins; one that goes
//! on answering is slow on the request's account), and
//! [`FailureKind::Outpaced`] records a first try beaten by its hedge, which
//! counts only in the failures in a row, so that a silent backend whose
//! tries are all hedged away is still ejected.
//!
//! [`Pick::answered_since`]: crate::Pick::answered_since
//! [`FailureKind::Outpaced`]: crate::FailureKind::Outpaced
//!
//! All three take the time from a [`Clock`](crate::clock::Clock) (a
//! [`ManualClock`](crate::clock::ManualClock) in tests) and are shared by
//! reference between threads; none takes a lock.
//!
//! ```
//! use pickwise::tail::{LatencyWindow, RetryBudget, TryTimeout};
//! use std::time::Duration;
//!
//! let latencies = LatencyWindow::new(Duration::from_secs(10));
//! for ms in 1..=100 {
//!     latencies.record(Duration::from_millis(ms));
//! }
//! let p99 = latencies.quantile(0.99).unwrap();
//! assert!(p99 >= Duration::from_millis(88) && p99 <= Duration::from_millis(113));
//!
//! // A try gets 4 x p99, at least 50 ms and at most 2 s.
//! let timeout = TryTimeout::new(0.99, 4.0, Duration::from_millis(50), Duration::from_secs(2));
//! assert!(timeout.of(&latencies) > Duration::from_millis(350));
//!
//! // 20% of recent requests, and 10 a second whatever the traffic.
//! let budget = RetryBudget::new(0.2, 10, Duration::from_secs(10));
//! budget.deposit();
//! assert!(budget.withdraw());
//! ```

mod budget;
#[cfg(feature = "tower-hedge")]
mod hedge;
mod latency;

pub use budget::RetryBudget;
#[cfg(feature = "tower-hedge")]
pub use hedge::BudgetedHedge;
pub use latency::{LatencyWindow, TryTimeout};
