//! What a running proxy holds, read from /proc: its resident memory
//! (`VmRSS` of /proc/PID/status), its open file descriptors (the entries of
//! /proc/PID/fd) and, among them, its TCP connections to the lab's hosts
//! (sockets whose inode /proc/net/tcp lists with a remote address in the
//! hosts' /24), summed over a process and its children (nginx's master and
//! workers).

use std::collections::HashSet;
use std::net::Ipv4Addr;

use serde::Serialize;

/// Memory and descriptors of one program (its processes summed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Held {
    /// Resident set size, KiB.
    pub rss_kib: u64,
    /// Open file descriptors.
    pub fds: u64,
    /// Of those, TCP connections to the lab's hosts (idle keep-alive
    /// connections in a pool, connects under way, health checks).
    pub upstream: u64,
    /// Processes counted.
    pub processes: u64,
}

impl Held {
    /// The larger of each figure.
    pub fn max(self, other: Held) -> Held {
        Held {
            rss_kib: self.rss_kib.max(other.rss_kib),
            fds: self.fds.max(other.fds),
            upstream: self.upstream.max(other.upstream),
            processes: self.processes.max(other.processes),
        }
    }
}

/// What `pid` and, with `children`, its direct children hold; connections
/// to addresses in `hosts` (a /24) count as upstream. Errors when `pid`
/// itself cannot be read (gone, or /proc missing).
pub fn held(pid: u32, with_children: bool, hosts: Ipv4Addr) -> Result<Held, String> {
    let upstream = upstream_inodes(pid, hosts);
    let mut total = one(pid, &upstream)?;
    if with_children {
        for child in children(pid) {
            // A child may exit between the listing and the reading.
            if let Ok(held) = one(child, &upstream) {
                total.rss_kib += held.rss_kib;
                total.fds += held.fds;
                total.upstream += held.upstream;
                total.processes += 1;
            }
        }
    }
    Ok(total)
}

/// The inodes of the TCP sockets (in `pid`'s network namespace) whose
/// remote address is in the /24 of `hosts`.
fn upstream_inodes(pid: u32, hosts: Ipv4Addr) -> HashSet<String> {
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).unwrap_or_default();
    let net = u32::from(hosts) & 0xffff_ff00;
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            // "sl local rem st tx:rx tr:when retrnsmt uid timeout inode ..."
            let fields: Vec<&str> = line.split_whitespace().collect();
            let remote = fields.get(2)?.split(':').next()?;
            // The address's bytes in memory, printed as a native u32.
            let raw = u32::from_str_radix(remote, 16).ok()?;
            let ip = u32::from(Ipv4Addr::from(raw.to_ne_bytes()));
            (ip & 0xffff_ff00 == net).then(|| fields.get(9).map(|s| s.to_string()))?
        })
        .collect()
}

fn one(pid: u32, upstream: &HashSet<String>) -> Result<Held, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("cannot read /proc/{pid}/status: {e}"))?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .ok_or_else(|| format!("no VmRSS in /proc/{pid}/status"))?;
    let mut fds = 0;
    let mut to_hosts = 0;
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map_err(|e| format!("cannot list /proc/{pid}/fd: {e}"))?
        .flatten()
    {
        fds += 1;
        let inode = std::fs::read_link(entry.path()).ok().and_then(|link| {
            let link = link.to_string_lossy().into_owned();
            Some(link.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        });
        if inode.is_some_and(|inode| upstream.contains(&inode)) {
            to_hosts += 1;
        }
    }
    Ok(Held {
        rss_kib,
        fds,
        upstream: to_hosts,
        processes: 1,
    })
}

/// The processes whose parent is `pid` (field 4 of /proc/N/stat).
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&n| {
            std::fs::read_to_string(format!("/proc/{n}/stat"))
                .ok()
                .and_then(|stat| {
                    // "PID (COMM) STATE PPID ...": COMM may hold spaces.
                    let after = &stat[stat.rfind(')')? + 1..];
                    after.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .collect()
}
