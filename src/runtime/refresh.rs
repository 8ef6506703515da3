//! Tables built from weights that move at run time, refreshed off the pick
//! path, one place: the pool's registry of such tables ([`Tables`]) and the
//! process's one background thread that rebuilds a table whose weights
//! moved under a pick ([`refresh_soon`]).
//!
//! Two kinds of table register:
//! - tables built from load reports (ORCA's weighted round robin) ask to be
//!   refreshed once a period: whoever records a report refreshes them when
//!   the period has run out ([`Tables::refresh_if_due`]);
//! - tables built from effective weights (smooth weighted round robin's
//!   schedule) ask to be refreshed when those move: the writer that moved
//!   them (an agent's report applied, an update) rebuilds them before it
//!   returns ([`Tables::refresh_moved`]), and a move noticed on a pick (an
//!   agent report expiring, a ramp starting or ending) is handed to the
//!   background thread, so the pick goes on with the schedule it has.
//!
//! A pick never rebuilds a table: it reads the one in force.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use parking_lot::Mutex;

use crate::types::clock::saturating_nanos;

/// No refresh due.
const NEVER: u64 = u64::MAX;

/// A table refreshed off the pick path.
pub(crate) trait Refresh: Send + Sync {
    /// Rebuilds from the backends' weights as they are at `now` (clock
    /// nanoseconds).
    fn refresh(&self, now: u64);
    /// How often it wants refreshing (tables of reported weights); `None`
    /// for tables refreshed only when their weights move.
    fn period(&self) -> Option<Duration>;
}

/// The pool's tables refreshed off the pick path.
pub(crate) struct Tables {
    tables: Mutex<Vec<Weak<dyn Refresh>>>,
    /// Clock nanoseconds of the next periodic refresh; `NEVER` while no
    /// table wants one.
    next: AtomicU64,
}

impl Tables {
    pub(crate) fn new() -> Self {
        Tables {
            tables: Mutex::new(Vec::new()),
            next: AtomicU64::new(NEVER),
        }
    }

    /// Registers a table, from `now` on. Tables of generations gone are
    /// forgotten at the next refresh.
    pub(crate) fn register(&self, table: &Arc<dyn Refresh>, now: u64) {
        let mut tables = self.tables.lock();
        tables.retain(|table| table.strong_count() > 0);
        tables.push(Arc::downgrade(table));
        if let Some(period) = table.period() {
            let due = now.saturating_add(saturating_nanos(period));
            self.next.fetch_min(due, Ordering::Relaxed);
        }
    }

    /// Refreshes every live periodic table if the period has run out by
    /// `now`: one atomic load otherwise.
    pub(crate) fn refresh_if_due(&self, now: u64) {
        let next = self.next.load(Ordering::Relaxed);
        if now < next {
            return;
        }
        // One refresher at a time; the others go on.
        let Some(mut tables) = self.tables.try_lock() else {
            return;
        };
        if now < self.next.load(Ordering::Relaxed) {
            return;
        }
        let mut period = None::<Duration>;
        tables.retain(|table| match table.upgrade() {
            Some(table) => {
                if let Some(every) = table.period() {
                    table.refresh(now);
                    period = Some(period.map_or(every, |p| p.min(every)));
                }
                true
            }
            None => false,
        });
        let next = period.map_or(NEVER, |p| now.saturating_add(saturating_nanos(p)));
        self.next.store(next, Ordering::Relaxed);
    }

    /// Refreshes every live table built from effective weights: what a
    /// writer that moved them calls before it returns.
    pub(crate) fn refresh_moved(&self, now: u64) {
        let live: Vec<Arc<dyn Refresh>> = self
            .tables
            .lock()
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|table| table.period().is_none())
            .collect();
        for table in live {
            table.refresh(now);
        }
    }
}

/// Hands `table` to the process's background thread, which refreshes it
/// soon; started on first use. Without a thread (it could not be started,
/// or under loom) the table is refreshed here, now.
pub(crate) fn refresh_soon(table: Weak<dyn Refresh>, now: u64) {
    static QUEUE: OnceLock<Option<Sender<Weak<dyn Refresh>>>> = OnceLock::new();
    let queue = QUEUE.get_or_init(|| {
        if cfg!(pickwise_loom) {
            return None;
        }
        let (queue, requests) = channel::<Weak<dyn Refresh>>();
        std::thread::Builder::new()
            .name("pickwise-refresh".into())
            .spawn(move || {
                for table in requests {
                    if let Some(table) = table.upgrade() {
                        table.refresh(0);
                    }
                }
            })
            .ok()
            .map(|_| queue)
    });
    let unsent = match queue {
        Some(queue) => queue.send(table).err().map(|gone| gone.0),
        None => Some(table),
    };
    if let Some(table) = unsent.and_then(|table| table.upgrade()) {
        table.refresh(now);
    }
}
