//! The lab's DNS server: the membership the proxies follow. A small
//! authoritative server (hickory's, in this process) on 127.0.0.1 at a port
//! chosen at run time, serving one SRV name, `_http._tcp.pool.lab.test`,
//! whose records point at some of the hosts (`wN.lab.test`, an A record
//! each, the worker's port in the SRV record), with a TTL of one second.
//! The proxies are given the SRV name as a backend and this server as
//! `--resolver`; changing the records adds and removes backends in the
//! running proxies, as a real service registry would.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use hickory_server::authority::{Catalog, ZoneType};
use hickory_server::proto::rr::rdata::{A, AAAA, SOA, SRV};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::store::in_memory::InMemoryAuthority;
use hickory_server::ServerFuture;

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
    zone: Arc<Mutex<Arc<Catalog>>>,
    server: ServerFuture<Handler>,
    serial: u32,
}

struct Handler(Arc<Mutex<Arc<Catalog>>>);

#[async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler>(
        &self,
        request: &Request,
        response: R,
    ) -> ResponseInfo {
        let catalog = Arc::clone(&self.0.lock().unwrap_or_else(|e| e.into_inner()));
        catalog.handle_request(request, response).await
    }
}

impl LabDns {
    /// Starts serving `members` (on the running tokio runtime).
    pub async fn start(members: &[Member]) -> Result<LabDns, String> {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("the lab's DNS server cannot bind 127.0.0.1:0: {e}"))?;
        let addr = socket
            .local_addr()
            .map_err(|e| format!("the lab's DNS server has no address: {e}"))?;
        let zone = Arc::new(Mutex::new(Arc::new(Catalog::new())));
        let mut server = ServerFuture::new(Handler(Arc::clone(&zone)));
        server.register_socket(socket);
        let mut dns = LabDns {
            addr,
            zone,
            server,
            serial: 0,
        };
        dns.set(members)?;
        Ok(dns)
    }

    /// Replaces the members: the SRV name's records from now on.
    pub fn set(&mut self, members: &[Member]) -> Result<(), String> {
        self.serial += 1;
        let serial = self.serial;
        let name =
            |text: &str| Name::from_ascii(text).map_err(|e| format!("bad DNS name {text:?}: {e}"));
        let origin = name(ZONE)?;
        let mut authority = InMemoryAuthority::empty(origin.clone(), ZoneType::Primary, false);
        let soa = SOA::new(
            name(&format!("ns.{ZONE}"))?,
            name(&format!("admin.{ZONE}"))?,
            serial,
            60,
            60,
            60,
            // Negative answers are not cached: a member coming back is seen.
            0,
        );
        let mut records = vec![Record::from_rdata(origin.clone(), TTL, RData::SOA(soa))];
        let service = name(&format!("{SERVICE}."))?;
        for (host, addr) in members {
            let target = name(&format!("{host}.{ZONE}"))?;
            records.push(Record::from_rdata(
                service.clone(),
                TTL,
                RData::SRV(SRV::new(0, 1, addr.port(), target.clone())),
            ));
            let data = match addr.ip() {
                IpAddr::V4(ip) => RData::A(A(ip)),
                IpAddr::V6(ip) => RData::AAAA(AAAA(ip)),
            };
            records.push(Record::from_rdata(target, TTL, data));
        }
        for record in records {
            if !authority.upsert_mut(record, serial) {
                return Err("the lab's DNS zone refused a record".into());
            }
        }
        let mut catalog = Catalog::new();
        catalog.upsert(LowerName::new(&origin), vec![Arc::new(authority)]);
        *self.zone.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(catalog);
        Ok(())
    }

    /// Stops answering.
    pub async fn stop(mut self) {
        let _ = self.server.shutdown_gracefully().await;
    }
}
