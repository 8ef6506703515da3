//! When a slow try gets its hedge (a copy on another backend), and what a
//! try beaten by its hedge tells about its backend: the rules hyper_proxy's
//! `--hedge` and the simulation's `--hedge` share.
//!
//! - [`Hedging::Slow`] hedges every try still unanswered after the hedge
//!   delay: The Tail at Scale's hedged requests (Dean and Barroso, CACM
//!   2013, <https://research.google/pubs/the-tail-at-scale/>). It pays where
//!   a request's slowness is its server's (a stall, a slow node), and adds
//!   load where it is the request's own (long work, a queue): the copy is
//!   as long, or waits as long.
//! - [`Hedging::Silent`] hedges a try only once its backend has answered
//!   nobody for a hedge delay while the try waits, checked again every
//!   delay until the try's timeout: a backend gone silent (a blackhole, a
//!   firewall dropping packets, a stall) is left at once, while a backend
//!   that goes on answering others is left to finish its slow request.
//!   `simulate --hedge silent` (docs/simulation.md) shows the difference.
//!
//! A first try beaten by its hedge is recorded as
//! [`FailureKind::Outpaced`] when its backend has answered nobody for a
//! whole try timeout ([`record_outpaced`]): a run of those takes a silent
//! backend out, where dropping the loser unrecorded would leave it in
//! forever (every try hedged away, none timing out). Any other loser is
//! dropped, counted for nothing.

use std::time::Duration;

use pickwise::{FailureKind, Outcome, Pick};

/// Which slow tries are hedged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hedging {
    /// Every try still unanswered after the hedge delay.
    Slow,
    /// A try whose backend has answered nobody for the hedge delay.
    Silent,
}

impl Hedging {
    /// `off` (none), `slow` (`on` too) or `silent`, as the programs'
    /// `--hedge` takes it.
    pub fn parse(text: &str) -> Result<Option<Hedging>, String> {
        match text {
            "off" => Ok(None),
            "slow" | "on" => Ok(Some(Hedging::Slow)),
            "silent" => Ok(Some(Hedging::Silent)),
            _ => Err("must be off, slow (or on) or silent".to_owned()),
        }
    }

    /// Whether the try on `first`, sent at `sent` and unanswered at `now`
    /// (both on the pool's clock), a hedge `delay` or more after it was
    /// sent, gets its hedge now. When not, ask again a `delay` later.
    pub fn due<B>(self, first: &Pick<B>, sent: Duration, now: Duration, delay: Duration) -> bool {
        match self {
            Hedging::Slow => true,
            Hedging::Silent => !first.answered_since(now.saturating_sub(delay).max(sent)),
        }
    }
}

/// Records the first try on `first`, beaten by its hedge at `now` (the
/// pool's clock) after waiting `waited`, as outpaced if its backend has
/// answered nobody for `silence` (the try timeout); else leaves it
/// unrecorded, to be dropped.
pub fn record_outpaced<B>(first: &mut Pick<B>, waited: Duration, now: Duration, silence: Duration) {
    if !first.answered_since(now.saturating_sub(silence)) {
        first.record(Outcome::failure(FailureKind::Outpaced, waited));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pickwise::clock::{Clock, ManualClock};
    use pickwise::strategy::RoundRobin;
    use pickwise::{BackendId, BackendSpec, Balancer, Context, Pool};
    use std::sync::Arc;

    fn pool() -> (Pool<RoundRobin, ()>, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new());
        let pool = Pool::builder(RoundRobin::new())
            .clock(clock.clone())
            .build([BackendSpec::new("a", ())])
            .expect("a pool");
        clock.set(Duration::from_secs(1));
        (pool, clock)
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_silent_hedge_waits_while_the_backend_answers_others_and_goes_once_it_stops() {
        let (pool, clock) = pool();
        let first = pool.pick(&Context::new()).unwrap();
        let sent = clock.now();
        clock.advance(20 * MS);
        pool.pick(&Context::new())
            .unwrap()
            .record(Outcome::success(MS));
        clock.advance(10 * MS);
        assert!(Hedging::Slow.due(&first, sent, clock.now(), 30 * MS));
        assert!(
            !Hedging::Silent.due(&first, sent, clock.now(), 30 * MS),
            "it answered another 10 ms ago"
        );
        clock.advance(30 * MS);
        assert!(
            Hedging::Silent.due(&first, sent, clock.now(), 30 * MS),
            "silent for 30 ms"
        );
    }

    #[test]
    fn a_loser_is_outpaced_only_after_a_try_timeout_of_silence() {
        let (pool, clock) = pool();
        pool.pick(&Context::new())
            .unwrap()
            .record(Outcome::success(MS));
        clock.advance(10 * MS);
        let mut first = pool.pick(&Context::new()).unwrap();
        clock.advance(100 * MS);
        record_outpaced(&mut first, 100 * MS, clock.now(), 200 * MS);
        assert!(!first.is_recorded(), "it answered 110 ms ago");
        clock.advance(150 * MS);
        record_outpaced(&mut first, 250 * MS, clock.now(), 200 * MS);
        assert!(first.is_recorded());
        drop(first);
        let status = pool.status(&BackendId::new("a")).unwrap();
        assert_eq!(status.consecutive_failures, 1, "silent while it waited");
        assert_eq!(status.failures, 0, "counted only in a row");
    }

    #[test]
    fn hedge_modes_parse_by_name() {
        assert_eq!(Hedging::parse("off"), Ok(None));
        assert_eq!(Hedging::parse("on"), Ok(Some(Hedging::Slow)));
        assert_eq!(Hedging::parse("slow"), Ok(Some(Hedging::Slow)));
        assert_eq!(Hedging::parse("silent"), Ok(Some(Hedging::Silent)));
        assert!(Hedging::parse("always").unwrap_err().contains("silent"));
    }
}
