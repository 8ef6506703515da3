//! The std driver: a checker thread that runs rounds, probes each round's
//! backends on a bounded number of scoped threads, and waits out the
//! jittered interval on a condition variable a stop wakes at once.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::health_check::checker::HealthChecker;
use crate::health_check::probe::Probe;
use crate::health_check::probe_std;
use crate::health_check::round::{Core, Reply, Target};
use crate::pool::Pool;
use crate::strategy::Strategy;
use crate::types::BackendSpec;

impl HealthChecker {
    /// Starts the checker on a thread of its own (probes run on up to
    /// [`concurrency`](super::CheckConfig::concurrency) threads at once),
    /// checking `pool`'s backends until the returned handle is stopped or
    /// dropped.
    ///
    /// Each round re-reads the pool's set ([`Pool::specs`]): backends that
    /// left are forgotten, new ones are probed from then on. `target` gives
    /// the address to probe for a backend (e.g. `|spec| Some(spec.value)`
    /// for a pool of `SocketAddr`s); a backend it answers `None` for is not
    /// probed. An agent probe ([`Probe::Agent`]) probes the spec's `agent`
    /// address instead. Rounds start `interval` apart, each wait moved by
    /// up to `jitter` of it.
    ///
    /// Fails only if the thread cannot be started. A panic in the event
    /// callback ends the checker.
    pub fn spawn<S, B, T>(self, pool: Arc<Pool<S, B>>, target: T) -> io::Result<CheckerHandle>
    where
        S: Strategy,
        B: Clone + Send + Sync + 'static,
        T: Fn(&BackendSpec<B>) -> Option<SocketAddr> + Send + 'static,
    {
        let stop = Arc::new(Stop::default());
        let core = Core::new(pool, self.config, self.probe, target, self.on_event);
        let signal = Arc::clone(&stop);
        let thread = thread::Builder::new()
            .name("pickwise-health-check".to_owned())
            .spawn(move || run(core, &signal))?;
        Ok(CheckerHandle {
            stop,
            thread: Some(thread),
        })
    }
}

/// A running std health checker. [`stop`](Self::stop) ends it and waits
/// for its thread; dropping the handle ends it without waiting (a probe in
/// progress finishes within its timeout, and its result is not applied).
#[derive(Debug)]
pub struct CheckerHandle {
    stop: Arc<Stop>,
    thread: Option<JoinHandle<()>>,
}

impl CheckerHandle {
    /// Stops the checker and waits for its thread: at most one probe's
    /// timeout, at once if it was waiting between rounds. No result is
    /// applied after this returns.
    pub fn stop(mut self) {
        self.stop.stop();
        if let Some(thread) = self.thread.take() {
            // A panic on the checker's thread (from the event callback)
            // has ended it already; nothing is left to stop.
            let _ = thread.join();
        }
    }

    /// Whether the checker's thread has ended (it ends only when stopped,
    /// or if the event callback panicked).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

impl Drop for CheckerHandle {
    fn drop(&mut self) {
        self.stop.stop();
    }
}

/// The stop signal: a flag and a condition variable to wake the wait.
#[derive(Debug, Default)]
struct Stop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Stop {
    fn stop(&self) {
        *self.stopped.lock() = true;
        self.wake.notify_all();
    }

    fn is_stopped(&self) -> bool {
        *self.stopped.lock()
    }

    /// Waits until `deadline` or a stop; returns whether stopped.
    fn wait_until(&self, deadline: Instant) -> bool {
        let mut stopped = self.stopped.lock();
        while !*stopped && !self.wake.wait_until(&mut stopped, deadline).timed_out() {}
        *stopped
    }
}

/// The checker's thread: rounds until stopped.
fn run<S, B, T>(mut core: Core<S, B, T>, stop: &Stop)
where
    S: Strategy,
    B: Clone + Send + Sync + 'static,
    T: Fn(&BackendSpec<B>) -> Option<SocketAddr>,
{
    while !stop.is_stopped() {
        let start = Instant::now();
        let targets = core.targets();
        let answers = probe_all(
            &core.probe,
            &targets,
            core.config.timeout,
            core.config.concurrency,
            stop,
        );
        for (target, answer) in targets.iter().zip(answers) {
            if stop.is_stopped() {
                return;
            }
            if let Some(answer) = answer {
                core.settle(target, answer);
            }
        }
        let next = start
            .checked_add(core.config.next_wait())
            .unwrap_or_else(|| Instant::now() + core.config.interval);
        if stop.wait_until(next) {
            return;
        }
    }
}

/// Probes every target, on up to `concurrency` threads (this one among
/// them); a target not probed because of a stop has no answer.
fn probe_all(
    probe: &Probe,
    targets: &[Target],
    timeout: Duration,
    concurrency: usize,
    stop: &Stop,
) -> Vec<Option<Reply>> {
    let answers: Vec<Mutex<Option<Reply>>> = targets.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let work = || {
        while !stop.is_stopped() {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let (Some(target), Some(answer)) = (targets.get(i), answers.get(i)) else {
                break;
            };
            *answer.lock() = Some(probe_std::run(probe, target.addr, timeout));
        }
    };
    let work = &work;
    thread::scope(|scope| {
        for _ in 1..concurrency.min(targets.len()) {
            let spawned = thread::Builder::new()
                .name("pickwise-probe".to_owned())
                .spawn_scoped(scope, work);
            if spawned.is_err() {
                break; // fewer threads: the others take more turns
            }
        }
        work();
    });
    answers.into_iter().map(Mutex::into_inner).collect()
}
