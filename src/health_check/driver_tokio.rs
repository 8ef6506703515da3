//! The tokio driver: the checker as a task that runs rounds, probes each
//! round's backends as tasks (a bounded number at once) and sleeps out the
//! jittered interval with `tokio::time`. Stopping aborts it.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::health_check::checker::HealthChecker;
use crate::health_check::probe_tokio;
use crate::health_check::round::{Core, Reply};
use crate::pool::Pool;
use crate::strategy::Strategy;
use crate::types::BackendSpec;

impl HealthChecker {
    /// Starts the checker as a task on the current tokio runtime (probes run
    /// as up to [`concurrency`](super::CheckConfig::concurrency) tasks at
    /// once), checking `pool`'s backends until the returned handle is
    /// stopped or dropped. Rounds, membership and `target` are as for
    /// [`spawn`](Self::spawn).
    ///
    /// Fails if called outside a tokio runtime. The runtime needs its time
    /// and I/O drivers (`enable_all`). A panic in the event callback ends
    /// the checker.
    ///
    /// ```
    /// use pickwise::health_check::{CheckConfig, HealthChecker, Probe};
    /// use pickwise::strategy::RoundRobin;
    /// use pickwise::{BackendSpec, BackendState, Pool};
    /// use pickwise::health::CheckResult;
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let live = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let pool = Arc::new(Pool::new(RoundRobin::new(), vec![
    ///     BackendSpec::new("live", live.local_addr()?),
    /// ])?);
    /// let config = CheckConfig { interval: Duration::from_millis(50), ..CheckConfig::default() };
    /// let checker = HealthChecker::new(config, Probe::Tcp)?
    ///     .spawn_tokio(Arc::clone(&pool), |spec| Some(spec.value))?;
    ///
    /// let checked = || pool.status(&"live".into()).and_then(|s| s.last_check).is_some();
    /// for _ in 0..500 {
    ///     if checked() {
    ///         break;
    ///     }
    ///     tokio::time::sleep(Duration::from_millis(10)).await;
    /// }
    /// let live_status = pool.status(&"live".into()).unwrap();
    /// assert_eq!(live_status.last_check.map(|(result, _)| result), Some(CheckResult::Passed));
    /// assert_eq!(live_status.state, BackendState::Up);
    /// checker.stop().await;
    /// # Ok(())
    /// # }
    /// ```
    pub fn spawn_tokio<S, B, T>(
        self,
        pool: Arc<Pool<S, B>>,
        target: T,
    ) -> io::Result<TokioCheckerHandle>
    where
        S: Strategy,
        B: Clone + Send + Sync + 'static,
        T: Fn(&BackendSpec<B>) -> Option<SocketAddr> + Send + 'static,
    {
        let runtime = Handle::try_current().map_err(|e| {
            io::Error::other(format!("the tokio health checker needs a runtime: {e}"))
        })?;
        let core = Core::new(pool, self.config, self.probe, target, self.on_event);
        Ok(TokioCheckerHandle {
            task: runtime.spawn(run(core)),
        })
    }
}

/// A running tokio health checker. [`stop`](Self::stop) aborts it and waits
/// until it has ended; dropping the handle aborts it without waiting.
#[derive(Debug)]
pub struct TokioCheckerHandle {
    task: JoinHandle<()>,
}

impl TokioCheckerHandle {
    /// Aborts the checker and waits until its task has ended (probes in
    /// progress are aborted with it). No result is applied after this
    /// returns.
    pub async fn stop(mut self) {
        self.task.abort();
        // Cancelled, or ended by a panic in the event callback: either way
        // it is over.
        let _ = (&mut self.task).await;
    }

    /// Whether the task has ended (only when stopped, or if the event
    /// callback panicked).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl Drop for TokioCheckerHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The checker's task: rounds until aborted.
async fn run<S, B, T>(mut core: Core<S, B, T>)
where
    S: Strategy,
    B: Clone + Send + Sync + 'static,
    T: Fn(&BackendSpec<B>) -> Option<SocketAddr>,
{
    loop {
        let start = Instant::now();
        let targets = core.targets();
        let mut answers: Vec<Option<Reply>> = vec![None; targets.len()];
        let mut probes = JoinSet::new();
        for (i, target) in targets.iter().enumerate() {
            if probes.len() >= core.config.concurrency {
                collect(probes.join_next().await, &mut answers);
            }
            let probe = core.probe.clone();
            let (addr, timeout) = (target.addr, core.config.timeout);
            probes.spawn(async move { (i, probe_tokio::run(&probe, addr, timeout).await) });
        }
        while let Some(joined) = probes.join_next().await {
            collect(Some(joined), &mut answers);
        }
        for (target, answer) in targets.iter().zip(answers) {
            if let Some(answer) = answer {
                core.settle(target, answer);
            }
        }
        let next = start
            .checked_add(core.config.next_wait())
            .unwrap_or_else(|| Instant::now() + core.config.interval);
        tokio::time::sleep_until(next).await;
    }
}

/// Files one finished probe's answer by its target's index. A probe task
/// that panicked (it should not) leaves its target unanswered this round.
fn collect(
    joined: Option<Result<(usize, Reply), tokio::task::JoinError>>,
    answers: &mut [Option<Reply>],
) {
    if let Some(Ok((i, answer))) = joined {
        if let Some(slot) = answers.get_mut(i) {
            *slot = Some(answer);
        }
    }
}
