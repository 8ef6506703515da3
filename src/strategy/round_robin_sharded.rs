use std::cell::Cell;

use crate::runtime::set::BackendSet;
use crate::strategy::Strategy;
use crate::types::{ConfigError, Context};

thread_local! {
    /// Each thread's own cursor, started at a place drawn from the thread's
    /// id so that threads do not walk the set in step, and a program (a
    /// seeded simulation) that makes its threads in the same order gets the
    /// same picks on every run.
    static CURSOR: Cell<usize> = Cell::new(start_of(std::thread::current().id()));
}

fn start_of(thread: std::thread::ThreadId) -> usize {
    use std::hash::{Hash, Hasher};
    // Any fixed mix will do: the point is a spread, not secrecy.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    thread.hash(&mut hasher);
    hasher.finish() as u32 as usize
}

/// Round robin with one cursor per thread instead of one per pool: each
/// thread takes the backends in turn, and over many threads the shares are
/// even, but there is no single global order.
///
/// **Choose it** where [`RoundRobin`](super::RoundRobin)'s exact global order
/// is not needed and many threads pick at once: the shared cursor is the one
/// word every round-robin pick writes, and sharing it makes two threads
/// slower per pick than one.
///
/// **Synchronisation**: none of its own: a thread-local counter. A backend
/// that is not eligible is skipped by taking the thread's next value.
#[derive(Debug, Default, Clone, Copy)]
pub struct RoundRobinSharded;

impl RoundRobinSharded {
    /// Round robin with a cursor per thread.
    pub fn new() -> Self {
        RoundRobinSharded
    }
}

impl Strategy for RoundRobinSharded {
    type Table = ();

    fn counts_in_flight(&self) -> bool {
        false
    }

    fn build(&self, _set: &BackendSet) -> Result<(), ConfigError> {
        Ok(())
    }

    #[inline]
    fn select(&self, _: &(), set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
        let n = set.len();
        CURSOR.with(|cursor| {
            for _ in 0..n {
                let next = cursor.get();
                cursor.set(next.wrapping_add(1));
                let i = next % n;
                if set.is_eligible(i, ctx) {
                    return Some(i);
                }
            }
            None
        })
    }
}
