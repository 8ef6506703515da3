//! What the proxies share about this host's limits: the open-files limit
//! raised at start (and a warning when the connection cap needs more), and
//! a throttle that keeps a storm of the same error (accept failing for lack
//! of descriptors, connects failing for the same reason) to one log line a
//! second.

use std::io;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use tracing::{info, warn};

/// Counts events and says when one may be logged: at most once a second.
/// `new` is `const`, so a throttle can be a `static` shared by every thread.
#[derive(Default)]
pub struct Throttle(Mutex<(Option<Instant>, u64)>);

impl Throttle {
    /// A throttle that lets the first event be logged.
    pub const fn new() -> Self {
        Throttle(Mutex::new((None, 0)))
    }

    /// Counts one; the count since the last line (this one included) if a
    /// line is due now.
    pub fn hit(&self) -> Option<u64> {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        state.1 += 1;
        let now = Instant::now();
        if state
            .0
            .is_some_and(|at| now.duration_since(at) < Duration::from_secs(1))
        {
            return None;
        }
        let count = state.1;
        *state = (Some(now), 0);
        Some(count)
    }
}

/// Raises the soft limit on open files to the hard limit, so
/// `--max-connections` (two descriptors each, client and backend) is what
/// bounds connections; logs the limit, and warns when the cap needs more.
/// Returns the soft limit now in force (`None`: unlimited or unknown).
pub fn raise_open_files_limit(cap: usize) -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own; setrlimit reads it.
    let soft = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            warn!(
                "cannot read the open-files limit: {}",
                io::Error::last_os_error()
            );
            return None;
        }
        let was = limit.rlim_cur;
        limit.rlim_cur = limit.rlim_max;
        if limit.rlim_cur != was && libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
            warn!(
                "cannot raise the open-files limit from {was} to {}: {}",
                limit.rlim_max,
                io::Error::last_os_error()
            );
            was
        } else {
            limit.rlim_cur
        }
    };
    let needed = libc::rlim_t::try_from(cap)
        .unwrap_or(libc::rlim_t::MAX)
        .saturating_mul(2)
        .saturating_add(64);
    if soft == libc::RLIM_INFINITY {
        info!("open files limit: unlimited");
        return None;
    }
    if soft < needed {
        warn!(
            "open files limit: {soft}, below the {needed} that --max-connections {cap} needs: \
             clients past it are refused by the system, not the cap"
        );
    } else {
        info!("open files limit: {soft}");
    }
    Some(soft)
}
