//! The lab's DNS server: the membership the proxies follow. A small
//! authoritative server (hickory's, in this process) on 127.0.0.1 at a port
//! chosen at run time, serving one SRV name, `_http._tcp.pool.lab.test`,
//! whose records point at some of the hosts (`wN.lab.test`, an A record
//! each, the worker's port in the SRV record), with a TTL of one second.
//! The proxies are given the SRV name as a backend and this server as
//! `--resolver`; changing the records adds and removes backends in the
//! running proxies, as a real service registry would.

use std::net::{IpAddr, SocketAddr};

use pickwise_programs::dns_zone::{name, Data, ZoneServer, A, AAAA, SRV};

/// The zone served.
const ZONE: &str = "lab.test.";
/// The SRV name the proxies follow.
pub const SERVICE: &str = "_http._tcp.pool.lab.test";
/// Every record's TTL, seconds: the proxies look again every second.
const TTL: u32 = 1;

/// A member: the host's name (`w3`), its worker's address.
pub type Member = (String, SocketAddr);

/// The server, answering until dropped (with the lab's runtime).
pub struct LabDns {
    /// Where it answers (UDP).
    pub addr: SocketAddr,
    zone: ZoneServer,
}

impl LabDns {
    /// Starts serving `members` (on the running tokio runtime).
    pub async fn start(members: &[Member]) -> Result<LabDns, String> {
        let zone = ZoneServer::start(ZONE).await?;
        let mut dns = LabDns {
            addr: zone.addr,
            zone,
        };
        dns.set(members)?;
        Ok(dns)
    }

    /// Replaces the members: the SRV name's records from now on.
    pub fn set(&mut self, members: &[Member]) -> Result<(), String> {
        let service = name(&format!("{SERVICE}."))?;
        let mut records = Vec::new();
        for (host, addr) in members {
            let target = name(&format!("{host}.{ZONE}"))?;
            let srv = SRV::new(0, 1, addr.port(), target.clone());
            records.push((service.clone(), TTL, Data::SRV(srv)));
            let data = match addr.ip() {
                IpAddr::V4(ip) => Data::A(A(ip)),
                IpAddr::V6(ip) => Data::AAAA(AAAA(ip)),
            };
            records.push((target, TTL, data));
        }
        self.zone.set(&records)
    }

    /// Stops answering.
    pub async fn stop(self) {
        self.zone.stop().await;
    }
}
