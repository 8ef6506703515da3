//! The faults the lab puts on one host, applied and lifted the same way by
//! the replay (one fault a phase) and the chaos soak (a schedule of them): a
//! firewall rule in the host's namespace (`iptables -A`, lifted with `-D`),
//! a congested link (`tc` on both ends of its veth), a SIGKILL of the worker
//! (lifted by starting it again on its addresses).

use super::cluster::Cluster;
use super::hosts::{run_words, Firewall};

/// A fault on one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostFault {
    /// Its worker's port firewalled, rejecting or dropping.
    Firewall(Firewall),
    /// Its link slowed to 1 Mbit/s with 400 ms of queue.
    Congestion,
    /// Its worker killed.
    Kill,
}

impl HostFault {
    /// Puts the fault on `host`.
    pub fn apply(self, cluster: &mut Cluster, host: usize) -> Result<(), String> {
        let worker = &cluster.workers[host];
        match self {
            HostFault::Firewall(kind) => {
                let line = worker
                    .host
                    .firewall_line("-A", worker.listen.port(), kind)
                    .ok_or("no firewall without namespaces")?;
                run_words(&line).map(drop)
            }
            HostFault::Congestion => {
                for line in worker
                    .host
                    .congestion_lines("add")
                    .ok_or("no link to congest without namespaces")?
                {
                    run_words(&line)?;
                }
                Ok(())
            }
            HostFault::Kill => {
                cluster.kill(host);
                Ok(())
            }
        }
    }

    /// Takes the fault off `host` (nothing to do where it could not be put
    /// on); every step is tried, the first error returned.
    pub fn lift(self, cluster: &mut Cluster, host: usize) -> Result<(), String> {
        let worker = &cluster.workers[host];
        match self {
            HostFault::Firewall(kind) => {
                match worker.host.firewall_line("-D", worker.listen.port(), kind) {
                    Some(line) => run_words(&line).map(drop),
                    None => Ok(()),
                }
            }
            HostFault::Congestion => {
                let mut result = Ok(());
                for line in worker.host.congestion_lines("del").unwrap_or_default() {
                    result = result.and(run_words(&line).map(drop));
                }
                result
            }
            HostFault::Kill => cluster.restart(host),
        }
    }
}
