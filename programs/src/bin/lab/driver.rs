//! The chaos soak's driver: applies each fault of the schedule to its host
//! and lifts it again. A kill and a firewall are the lab's [`HostFault`]s
//! (as the replay puts them on); a drain is `POST /admin/drain` to the
//! worker's admin listener (its agent then says `drain`), lifted with `POST
//! /admin/ready`; a leave takes the host out of the lab's DNS records (and
//! out of nginx's upstream, reloaded), lifted by putting it back.
//!
//! Which hosts the proxies are given how: w1 and w2 by address with their
//! agents ([`BY_ADDRESS`], the drain faults), w3 and w4 through DNS
//! ([`BY_NAME`], the leave faults).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::cluster::Cluster;
use super::dns::{LabDns, Member};
use super::faults::HostFault;
use super::hosts::Firewall;
use super::nginx::Nginx;
use super::schedule::{Fault, Strike};

/// Hosts whose backend is given by address with its agent (drainable).
pub const BY_ADDRESS: [usize; 2] = [0, 1];
/// Hosts found through DNS (members that leave and join).
pub const BY_NAME: [usize; 2] = [2, 3];

/// The DNS members among the hosts found by name, as `present` says.
pub fn members(cluster: &Cluster, present: &[bool]) -> Vec<Member> {
    BY_NAME
        .iter()
        .filter(|&&i| present[i])
        .map(|&i| {
            let worker = &cluster.workers[i];
            (worker.host.name.clone(), worker.listen)
        })
        .collect()
}

/// Applies and lifts the faults, and remembers when the hard ones were on.
pub struct Driver {
    /// Per host, when a kill or firewall was on (its end: when lifted).
    pub windows: Vec<Vec<(Instant, Instant)>>,
    /// When the membership changed (a host left or joined).
    pub changes: Vec<Instant>,
    /// Per host, whether it is in the membership.
    present: Vec<bool>,
    pub errors: Vec<String>,
    /// Strikes applied and not lifted yet.
    pub on: Vec<Strike>,
}

impl Driver {
    /// Nothing applied yet; every host in the membership.
    pub fn new(hosts: usize) -> Driver {
        Driver {
            windows: vec![Vec::new(); hosts],
            changes: Vec::new(),
            present: vec![true; hosts],
            errors: Vec::new(),
            on: Vec::new(),
        }
    }

    /// Applies `strike` (errors are noted, not returned: the soak goes on).
    pub async fn apply(
        &mut self,
        cluster: &mut Cluster,
        dns: &mut LabDns,
        nginx: Option<&mut Nginx>,
        strike: Strike,
    ) {
        let host = strike.host;
        let (name, admin_addr) = {
            let worker = &cluster.workers[host];
            (worker.host.name.clone(), worker.admin)
        };
        let on_host = |fault: HostFault, cluster: &mut Cluster| {
            tokio::task::block_in_place(|| fault.apply(cluster, host))
        };
        let result = match strike.fault {
            Fault::Kill => on_host(HostFault::Kill, cluster),
            Fault::Reject => on_host(HostFault::Firewall(Firewall::Reject), cluster),
            Fault::Drop => on_host(HostFault::Firewall(Firewall::Drop), cluster),
            Fault::Drain => admin(admin_addr, "/admin/drain").await,
            Fault::Leave => {
                self.present[host] = false;
                self.membership(cluster, dns, nginx)
            }
        };
        if strike.fault.is_hard() {
            let now = Instant::now();
            self.windows[host].push((now, now));
        }
        self.on.push(strike);
        self.note(result, "apply", strike, &name);
    }

    /// Lifts `strike` if it is on.
    pub async fn lift(
        &mut self,
        cluster: &mut Cluster,
        dns: &mut LabDns,
        nginx: Option<&mut Nginx>,
        strike: Strike,
    ) {
        let Some(at) = self
            .on
            .iter()
            .position(|s| s.host == strike.host && s.at == strike.at)
        else {
            return;
        };
        self.on.remove(at);
        let host = strike.host;
        let name = cluster.workers[host].host.name.clone();
        let off_host = |fault: HostFault, cluster: &mut Cluster| {
            tokio::task::block_in_place(|| fault.lift(cluster, host))
        };
        let result = match strike.fault {
            Fault::Kill => off_host(HostFault::Kill, cluster),
            Fault::Reject => off_host(HostFault::Firewall(Firewall::Reject), cluster),
            Fault::Drop => off_host(HostFault::Firewall(Firewall::Drop), cluster),
            Fault::Drain => admin(cluster.workers[host].admin, "/admin/ready").await,
            Fault::Leave => {
                self.present[host] = true;
                self.membership(cluster, dns, nginx)
            }
        };
        if strike.fault.is_hard() {
            if let Some(window) = self.windows[host].last_mut() {
                window.1 = Instant::now();
            }
        }
        self.note(result, "lift", strike, &name);
    }

    /// Tells the membership to the DNS server, and to nginx (a reload).
    fn membership(
        &mut self,
        cluster: &Cluster,
        dns: &mut LabDns,
        nginx: Option<&mut Nginx>,
    ) -> Result<(), String> {
        self.changes.push(Instant::now());
        dns.set(&members(cluster, &self.present))?;
        if let Some(nginx) = nginx {
            let present: Vec<SocketAddr> = cluster
                .workers
                .iter()
                .enumerate()
                .filter(|&(i, _)| self.present[i])
                .map(|(_, w)| w.listen)
                .collect();
            tokio::task::block_in_place(|| nginx.reload(&present))?;
        }
        Ok(())
    }

    fn note(&mut self, result: Result<(), String>, what: &str, strike: Strike, name: &str) {
        let fault = strike.fault.name();
        let at = if what == "apply" {
            strike.at
        } else {
            strike.end()
        };
        match result {
            Ok(()) => eprintln!(
                "lab: chaos: +{:.1} s {what} {fault} on {name}",
                at.as_secs_f64()
            ),
            Err(e) => {
                eprintln!("lab: chaos: cannot {what} {fault} on {name}: {e}");
                self.errors.push(format!("{what} {fault} on {name}: {e}"));
            }
        }
    }
}

/// `POST path` to a worker's admin listener (drain, ready); 200 expected.
async fn admin(addr: Option<SocketAddr>, path: &str) -> Result<(), String> {
    let addr = addr.ok_or("the worker has no admin listener")?;
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await?;
        Ok::<_, std::io::Error>(reply)
    };
    let reply = tokio::time::timeout(Duration::from_secs(2), exchange)
        .await
        .map_err(|_| format!("{addr} did not answer POST {path} within 2 s"))?
        .map_err(|e| format!("POST {path} to {addr}: {e}"))?;
    let text = String::from_utf8_lossy(&reply);
    if text.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        Err(format!(
            "POST {path} to {addr}: {}",
            text.lines().next().unwrap_or("no answer")
        ))
    }
}
