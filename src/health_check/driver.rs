//! The checker's driver: rounds of checks run as tasks (a bounded number at
//! once), each bounded by the timeout, the jittered interval slept out with
//! `tokio::time`. It runs on a thread of its own with a single-threaded
//! runtime ([`HealthChecker::spawn`]: any program, async or not) or as a
//! task of the caller's runtime ([`HealthChecker::spawn_tokio`]).

use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::thread;

use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::health_check::check::GRACE;
use crate::health_check::checker::HealthChecker;
use crate::health_check::round::{Core, Reply};
use crate::pool::Pool;
use crate::strategy::Strategy;
use crate::types::{BackendSpec, CheckFailure};

impl HealthChecker {
    /// Starts the checker on a thread of its own (with a single-threaded
    /// tokio runtime: a program needs none of its own), checking `pool`'s
    /// backends until the returned handle is stopped or dropped. Checks run
    /// as up to [`concurrency`](super::CheckConfig::concurrency) tasks at
    /// once.
    ///
    /// Each round re-reads the pool's set ([`Pool::specs`]): backends that
    /// left are forgotten, new ones are checked from then on. `target` gives
    /// the address to check for a backend (e.g. `|spec| Some(spec.value)`
    /// for a pool of `SocketAddr`s); a backend it answers `None` for is not
    /// checked. A check of the agent ([`Check::checks_agent`](super::Check::checks_agent))
    /// goes to the spec's `agent` address instead. Rounds start `interval`
    /// apart, each wait moved by up to `jitter` of it.
    ///
    /// Fails only if the thread or its runtime cannot be started. A panic
    /// in the event callback or the check ends the checker.
    pub fn spawn<S, B, T>(self, pool: Arc<Pool<S, B>>, target: T) -> io::Result<CheckerHandle>
    where
        S: Strategy,
        B: Clone + Send + Sync + 'static,
        T: Fn(&BackendSpec<B>) -> Option<SocketAddr> + Send + 'static,
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let core = Core::new(pool, self.config, self.check, target, self.on_event);
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = thread::Builder::new()
            .name("pickwise-health-check".to_owned())
            .spawn(move || {
                let mut rounds = runtime.spawn(run(core));
                let mut stopped = stopped;
                // Until stopped (or the handle dropped), or the rounds end
                // (a panic in the callback); dropping the runtime then
                // cancels what runs.
                runtime.block_on(poll_fn(|cx| {
                    let ended = Pin::new(&mut rounds).poll(cx).is_ready();
                    match ended || Pin::new(&mut stopped).poll(cx).is_ready() {
                        true => Poll::Ready(()),
                        false => Poll::Pending,
                    }
                }));
            })?;
        Ok(CheckerHandle {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Starts the checker as a task on the current tokio runtime, checking
    /// `pool`'s backends until the returned handle is stopped or dropped.
    /// Rounds, membership and `target` are as for [`spawn`](Self::spawn).
    ///
    /// Fails if called outside a tokio runtime. The runtime needs its time
    /// and I/O drivers (`enable_all`). A panic in the event callback ends
    /// the checker.
    ///
    /// ```
    /// use pickwise::health_check::{CheckConfig, CheckKind, HealthChecker};
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
    /// let checker = HealthChecker::new(config, CheckKind::Tcp)?
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
        let core = Core::new(pool, self.config, self.check, target, self.on_event);
        Ok(TokioCheckerHandle {
            task: runtime.spawn(run(core)),
        })
    }
}

/// A checker running on a thread of its own. [`stop`](Self::stop) ends it
/// and waits for its thread; dropping the handle ends it without waiting.
#[derive(Debug)]
pub struct CheckerHandle {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl CheckerHandle {
    /// Stops the checker and waits for its thread: checks in progress are
    /// cancelled. No result is applied after this returns.
    pub fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // A panic on the checker's thread has ended it already.
            let _ = thread.join();
        }
    }

    /// Whether the checker has ended (only when stopped, or if the event
    /// callback panicked).
    pub fn is_finished(&self) -> bool {
        self.thread
            .as_ref()
            .is_none_or(|thread| thread.is_finished())
    }
}

impl Drop for CheckerHandle {
    fn drop(&mut self) {
        // Dropping the sender wakes the thread as a stop does.
        self.stop.take();
    }
}

/// A checker running as a task of the caller's tokio runtime.
/// [`stop`](Self::stop) aborts it and waits until it has ended; dropping
/// the handle aborts it without waiting.
#[derive(Debug)]
pub struct TokioCheckerHandle {
    task: JoinHandle<()>,
}

impl TokioCheckerHandle {
    /// Aborts the checker and waits until its task has ended (checks in
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

/// The checker's rounds, until cancelled.
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
        let mut checks = JoinSet::new();
        for (i, target) in targets.iter().enumerate() {
            if checks.len() >= core.config.concurrency {
                collect(checks.join_next().await, &mut answers);
            }
            let check = Arc::clone(&core.check);
            let (addr, timeout) = (target.addr, core.config.timeout);
            checks.spawn(async move {
                let answer =
                    match tokio::time::timeout(timeout + GRACE, check.check(addr, timeout)).await {
                        Ok(answer) => answer,
                        Err(_) => Err(CheckFailure::TimedOut),
                    };
                (i, answer)
            });
        }
        while let Some(joined) = checks.join_next().await {
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

/// Files one finished check's answer by its target's index. A check task
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
