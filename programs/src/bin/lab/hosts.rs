//! The lab's four hosts: four network namespaces, each joined to this host by
//! a veth pair with a /30 of its own, or, without root, four places on
//! loopback. Everything made here is removed when [`Hosts`] is dropped (also
//! on an error or a panic), and namespaces left behind by a lab that crashed
//! are removed before new ones are made.
//!
//! Only the lab's own namespaces (`pw-lab-<pid>-<n>`), their links
//! (`pwl<pid>h<n>` on this host, `pwl<pid>n<n>` inside) and loopback are ever
//! touched: firewall rules and queueing disciplines go inside a namespace or
//! on a link the lab made.

use std::process::Command;

pub use pickwise_programs::system::{is_root, run};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

/// How many hosts the lab has.
pub const HOSTS: usize = 4;

/// Where the workers run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum HostsMode {
    /// Network namespaces when run as root, else loopback
    Auto,
    /// Four addresses on loopback (127.0.0.2 to 127.0.0.5): no firewall or link faults
    Loopback,
    /// Four network namespaces with veth links (needs root and `ip`)
    Netns,
}

/// One host: where its worker listens and how to run a command on it.
#[derive(Clone, Debug)]
pub struct Host {
    /// `w1` to `w4`: the worker's name and its backend id in the proxy.
    pub name: String,
    /// The worker's address (its namespace's end of the veth, or 127.0.0.N).
    pub ip: IpAddr,
    /// The namespace, when the hosts are namespaces.
    pub netns: Option<String>,
    /// The link inside the namespace and its peer on this host.
    pub link: Option<(String, String)>,
}

impl Host {
    /// A command run on this host: through `ip netns exec` in a namespace.
    pub fn command(&self, program: &str) -> Command {
        match &self.netns {
            Some(ns) => {
                let mut command = Command::new("ip");
                command.args(["netns", "exec", ns, program]);
                command
            }
            None => Command::new(program),
        }
    }

    /// The firewall rule that makes the worker's port answer with ICMP host
    /// unreachable (`reject`) or answer nothing (`drop`), as a command line
    /// (`-A` adds it, `-D` removes it).
    pub fn firewall_line(&self, op: &str, port: u16, fault: Firewall) -> Option<Vec<String>> {
        let ns = self.netns.as_ref()?;
        let mut line: Vec<String> = ["ip", "netns", "exec", ns, "iptables", op, "INPUT"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        line.extend(
            ["-p", "tcp", "--dport", &port.to_string(), "-j"]
                .iter()
                .map(|s| s.to_string()),
        );
        match fault {
            Firewall::Reject => line.extend(
                ["REJECT", "--reject-with", "icmp-host-unreachable"]
                    .iter()
                    .map(|s| s.to_string()),
            ),
            Firewall::Drop => line.push("DROP".into()),
        }
        Some(line)
    }

    /// The commands that rate-limit both ends of this host's link (`add`)
    /// or lift the limit (`del`): 1 Mbit/s, 400 ms of queue.
    pub fn congestion_lines(&self, op: &str) -> Option<Vec<Vec<String>>> {
        let ns = self.netns.as_ref()?;
        let (inside, outside) = self.link.as_ref()?;
        let tbf = [
            "root", "tbf", "rate", "1mbit", "burst", "32kbit", "latency", "400ms",
        ];
        let mut lines = Vec::new();
        for (prefix, dev) in [
            (vec!["ip", "netns", "exec", ns.as_str(), "tc"], inside),
            (vec!["tc"], outside),
        ] {
            let mut line: Vec<String> = prefix.iter().map(|s| s.to_string()).collect();
            line.extend(["qdisc", op, "dev", dev].iter().map(|s| s.to_string()));
            if op == "add" {
                line.extend(tbf.iter().map(|s| s.to_string()));
            } else {
                line.push("root".into());
            }
            lines.push(line);
        }
        Some(lines)
    }
}

/// What a host's firewall does to the worker's port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firewall {
    /// Answers with ICMP host unreachable, as the seed's firewall did.
    Reject,
    /// Answers nothing.
    Drop,
}

/// The lab's hosts; dropping this removes every namespace and link made.
pub struct Hosts {
    pub hosts: Vec<Host>,
    /// The /24 the links' /30s come from, when namespaced.
    pub subnet: Option<Ipv4Addr>,
    made_netns: Vec<String>,
    made_links: Vec<String>,
}

impl Hosts {
    /// Four places on loopback: 127.0.0.2 to 127.0.0.5.
    pub fn loopback() -> Hosts {
        let hosts = (0..HOSTS)
            .map(|i| Host {
                name: format!("w{}", i + 1),
                ip: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + i as u8)),
                netns: None,
                link: None,
            })
            .collect();
        Hosts {
            hosts,
            subnet: None,
            made_netns: Vec::new(),
            made_links: Vec::new(),
        }
    }

    /// Four namespaces `pw-lab-<pid>-<n>`, each with a veth pair to this host
    /// and a /30 from a 10.x.y.0/24 that no route or address here overlaps.
    pub fn netns() -> Result<Hosts, String> {
        if !is_root() {
            return Err("network namespaces need root: run the lab as root (sudo)".into());
        }
        run(&["ip", "-V"]).map_err(|e| {
            format!("{e}\nthe lab needs iproute2 (`apt-get install -y iproute2 iptables`)")
        })?;
        remove_stale();
        let subnet = free_subnet()?;
        let pid = std::process::id();
        let mut lab = Hosts {
            hosts: Vec::new(),
            subnet: Some(subnet),
            made_netns: Vec::new(),
            made_links: Vec::new(),
        };
        let [a, b, c, _] = subnet.octets();
        for i in 0..HOSTS {
            let n = i + 1;
            let ns = format!("pw-lab-{pid}-{n}");
            let (outside, inside) = (format!("pwl{pid}h{n}"), format!("pwl{pid}n{n}"));
            let base = 4 * i as u8;
            let (host_ip, node_ip) = (
                Ipv4Addr::new(a, b, c, base + 1),
                Ipv4Addr::new(a, b, c, base + 2),
            );
            run(&["ip", "netns", "add", &ns])?;
            lab.made_netns.push(ns.clone());
            run(&[
                "ip", "link", "add", &outside, "type", "veth", "peer", "name", &inside, "netns",
                &ns,
            ])?;
            lab.made_links.push(outside.clone());
            run(&[
                "ip",
                "addr",
                "add",
                &format!("{host_ip}/30"),
                "dev",
                &outside,
            ])?;
            run(&["ip", "link", "set", &outside, "up"])?;
            let in_ns = |args: &[&str]| {
                let mut line = vec!["ip", "netns", "exec", &ns];
                line.extend_from_slice(args);
                run(&line)
            };
            in_ns(&["ip", "link", "set", "lo", "up"])?;
            in_ns(&[
                "ip",
                "addr",
                "add",
                &format!("{node_ip}/30"),
                "dev",
                &inside,
            ])?;
            in_ns(&["ip", "link", "set", &inside, "up"])?;
            lab.hosts.push(Host {
                name: format!("w{n}"),
                ip: IpAddr::V4(node_ip),
                netns: Some(ns),
                link: Some((inside, outside)),
            });
        }
        Ok(lab)
    }

    /// Namespaced (firewalls and links can fail) or on loopback.
    pub fn namespaced(&self) -> bool {
        !self.made_netns.is_empty()
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        // Deleting a link deletes its peer; deleting a namespace deletes its
        // firewall rules and queueing disciplines.
        for link in self.made_links.drain(..) {
            let _ = run(&["ip", "link", "del", &link]);
        }
        for ns in self.made_netns.drain(..) {
            if let Err(e) = run(&["ip", "netns", "del", &ns]) {
                eprintln!("lab: could not remove namespace {ns}: {e}");
            }
        }
    }
}

impl fmt::Display for Hosts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.subnet {
            Some(subnet) => write!(
                f,
                "four network namespaces (pw-lab-{}-1..4) on {subnet}/24, a veth link and a /30 each",
                std::process::id()
            ),
            None => f.write_str("four addresses on loopback (no namespaces: run as root for them)"),
        }
    }
}

/// Runs a command line given as owned words.
pub fn run_words(line: &[String]) -> Result<String, String> {
    run(&line.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Whether a lab process with this pid is still running (a zombie, killed
/// but not yet reaped, is not).
fn lab_alive(pid: u32) -> bool {
    // "PID (COMM) STATE ...": COMM may hold spaces and parentheses.
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
        return false;
    };
    let comm = &stat[open + 1..close];
    let state = stat[close + 1..].trim_start().chars().next();
    comm.starts_with("lab") && !matches!(state, Some('Z' | 'X'))
}

/// Removes namespaces and links of labs that are no longer running (a
/// crash, a SIGKILL): `pw-lab-<pid>-<n>` and `pwl<pid>h<n>` whose pid is dead.
pub fn remove_stale() {
    let namespaces = run(&["ip", "netns", "list"]).unwrap_or_default();
    for ns in namespaces
        .lines()
        .filter_map(|l| l.split_whitespace().next())
    {
        let Some(pid) = ns
            .strip_prefix("pw-lab-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !lab_alive(pid) {
            eprintln!("lab: removing namespace {ns} left by lab {pid}, which is gone");
            // Its workers first: a namespace lives as long as its processes.
            let pids = run(&["ip", "netns", "pids", ns]).unwrap_or_default();
            for pid in pids.split_whitespace() {
                let _ = run(&["kill", "-KILL", pid]);
            }
            let _ = run(&["ip", "netns", "del", ns]);
        }
    }
    let links = run(&["ip", "-o", "link", "show"]).unwrap_or_default();
    for line in links.lines() {
        // "7: pwl123h1@if2: <...>"
        let Some(name) = line
            .split(": ")
            .nth(1)
            .map(|n| n.split('@').next().unwrap_or(n))
        else {
            continue;
        };
        let Some(pid) = name
            .strip_prefix("pwl")
            .and_then(|rest| rest.split(['h', 'n']).next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !lab_alive(pid) {
            let _ = run(&["ip", "link", "del", name]);
        }
    }
}

/// A 10.x.y.0/24 overlapping no route and no address of this host (nor
/// another running lab's links), starting from one derived from the pid.
fn free_subnet() -> Result<Ipv4Addr, String> {
    let routes = run(&["ip", "-4", "-o", "route", "show", "table", "all"])?;
    let addrs = run(&["ip", "-4", "-o", "addr", "show"])?;
    let taken: Vec<(u32, u32)> = routes
        .split_whitespace()
        .chain(addrs.split_whitespace())
        .filter_map(prefix)
        .collect();
    let pid = std::process::id();
    for step in 0..512u32 {
        let n = pid.wrapping_add(step.wrapping_mul(7919));
        let candidate = Ipv4Addr::new(10, 100 + (n % 100) as u8, ((n / 100) % 256) as u8, 0);
        let net = u32::from(candidate);
        let clash = taken.iter().any(|&(addr, len)| {
            let shorter = len.min(24);
            let mask = if shorter == 0 {
                0
            } else {
                u32::MAX << (32 - shorter)
            };
            addr & mask == net & mask
        });
        if !clash {
            return Ok(candidate);
        }
    }
    Err("no free 10.x.y.0/24 for the lab's links: every candidate overlaps a route".into())
}

/// `a.b.c.d` or `a.b.c.d/len` as (address, prefix length).
fn prefix(word: &str) -> Option<(u32, u32)> {
    let (addr, len) = match word.split_once('/') {
        Some((addr, len)) => (addr, len.parse().ok().filter(|&l: &u32| l <= 32)?),
        None => (word, 32),
    };
    addr.parse::<Ipv4Addr>().ok().map(|a| (u32::from(a), len))
}
