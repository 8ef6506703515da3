//! What the proxies share about this host's limits: the open-files limit
//! raised at start (and a warning when the connection cap needs more), the
//! connections each client address may hold (`--max-connections-per-client`),
//! a throttle that keeps a storm of the same event (accept failing for
//! lack of descriptors, a client refused at its limit) to one log line a
//! second, and memory freed after a flood given back to the system.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
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

/// The client connections open per client address, each address held to
/// `cap` (nginx's `limit_conn` keyed by address): one address cannot take
/// every slot of the proxy's connection cap.
pub struct PerClient {
    cap: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
    refused: Throttle,
}

/// One connection's place in its address's count, given back on drop.
pub struct ClientSlot {
    counts: Arc<PerClient>,
    client: IpAddr,
}

impl PerClient {
    /// Counts with each address held to `cap` connections.
    pub fn new(cap: usize) -> Arc<PerClient> {
        Arc::new(PerClient {
            cap,
            open: Mutex::new(HashMap::new()),
            refused: Throttle::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place for one more connection from `client`, or `None` when it
    /// already holds `cap` (the refusal logged at most once a second).
    pub fn admit(self: &Arc<Self>, client: IpAddr) -> Option<ClientSlot> {
        let mut open = self.lock();
        let count = open.entry(client).or_insert(0);
        if *count >= self.cap {
            drop(open);
            if let Some(times) = self.refused.hit() {
                warn!(
                    "client {client}: a connection refused, it holds {} already \
                     (--max-connections-per-client; {times} refused in the last second)",
                    self.cap
                );
            }
            return None;
        }
        *count += 1;
        Some(ClientSlot {
            counts: self.clone(),
            client,
        })
    }

    /// The connections `client` holds now.
    pub fn open(&self, client: IpAddr) -> usize {
        self.lock().get(&client).copied().unwrap_or(0)
    }

    /// Every address's count now (for choosing whom to close at the cap).
    pub fn snapshot(&self) -> HashMap<IpAddr, usize> {
        self.lock().clone()
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.counts.lock();
        if let Some(count) = open.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

/// How often memory freed inside the process is given back to the system.
const TRIM_EVERY: Duration = Duration::from_secs(10);

/// Gives memory the allocator holds free back to the system every 10 s, on
/// a thread of its own: after a flood of connections closes, glibc's
/// malloc keeps their buffers in its arenas (hyper_proxy stayed at 575 MB
/// after 2,000 half-sent heads had gone, tcp_forwarder at 125 MB).
/// `malloc_trim` releases them; it costs a few milliseconds on an idle
/// process and nothing on the request path. Only with glibc (elsewhere
/// this does nothing).
pub fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let started = std::thread::Builder::new()
            .name("trim".into())
            .spawn(|| loop {
                std::thread::sleep(TRIM_EVERY);
                // SAFETY: malloc_trim only walks the allocator's own arenas.
                unsafe {
                    libc::malloc_trim(0);
                }
            });
        if let Err(e) = started {
            warn!("cannot start the thread that gives freed memory back: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_held_to_its_cap_and_gets_its_places_back_as_connections_close() {
        let counts = PerClient::new(2);
        let (a, b): (IpAddr, IpAddr) = ("127.0.0.1".parse().unwrap(), "127.0.0.2".parse().unwrap());
        let first = counts.admit(a).expect("first");
        let _second = counts.admit(a).expect("second");
        assert!(counts.admit(a).is_none(), "a third from the same address");
        let _other = counts
            .admit(b)
            .expect("another address is not held by a's count");
        assert_eq!(counts.open(a), 2);
        drop(first);
        assert_eq!(counts.open(a), 1);
        assert!(counts.admit(a).is_some());
        assert_eq!(counts.snapshot().len(), 2);
    }

    #[test]
    fn a_throttle_lets_one_line_through_a_second_with_the_count() {
        let throttle = Throttle::new();
        assert_eq!(throttle.hit(), Some(1));
        assert_eq!(throttle.hit(), None);
        assert_eq!(throttle.hit(), None);
    }
}
