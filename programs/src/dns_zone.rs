//! A small authoritative DNS server in this process (hickory's) serving one
//! zone whose records are replaced whole at run time: the lab's service
//! registry, and the resolver the end-to-end tests point the proxies at.
//! It listens on 127.0.0.1 (UDP) at a port chosen at run time.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use hickory_server::authority::{Catalog, ZoneType};
use hickory_server::proto::rr::rdata::SOA;
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::store::in_memory::InMemoryAuthority;
use hickory_server::ServerFuture;

pub use hickory_server::proto::rr::rdata::{A, AAAA, SRV};
pub use hickory_server::proto::rr::RData as Data;

/// The server, answering until dropped or stopped (on the tokio runtime
/// it was started on).
pub struct ZoneServer {
    /// Where it answers (UDP).
    pub addr: std::net::SocketAddr,
    origin: Name,
    catalog: Arc<Mutex<Arc<Catalog>>>,
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

/// `text` as a DNS name, or why not.
pub fn name(text: &str) -> Result<Name, String> {
    Name::from_ascii(text).map_err(|e| format!("bad DNS name {text:?}: {e}"))
}

impl ZoneServer {
    /// Starts serving the zone `origin` (e.g. `lab.test.`), empty but for
    /// its SOA, on the running tokio runtime.
    pub async fn start(origin: &str) -> Result<ZoneServer, String> {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("the DNS server cannot bind 127.0.0.1:0: {e}"))?;
        let addr = socket
            .local_addr()
            .map_err(|e| format!("the DNS server has no address: {e}"))?;
        let catalog = Arc::new(Mutex::new(Arc::new(Catalog::new())));
        let mut server = ServerFuture::new(Handler(Arc::clone(&catalog)));
        server.register_socket(socket);
        let mut zone = ZoneServer {
            addr,
            origin: name(origin)?,
            catalog,
            server,
            serial: 0,
        };
        zone.set(&[])?;
        Ok(zone)
    }

    /// Replaces the zone's records (its SOA aside) with `records`: each a
    /// name, a TTL in seconds and the data.
    pub fn set(&mut self, records: &[(Name, u32, RData)]) -> Result<(), String> {
        self.serial += 1;
        let serial = self.serial;
        let origin = &self.origin;
        let mut authority = InMemoryAuthority::empty(origin.clone(), ZoneType::Primary, false);
        let soa = SOA::new(
            name(&format!("ns.{origin}"))?,
            name(&format!("admin.{origin}"))?,
            serial,
            60,
            60,
            60,
            // Negative answers are not cached: a name coming back is seen.
            0,
        );
        let soa = Record::from_rdata(origin.clone(), 1, RData::SOA(soa));
        let records = records
            .iter()
            .map(|(name, ttl, data)| Record::from_rdata(name.clone(), *ttl, data.clone()));
        for record in std::iter::once(soa).chain(records) {
            if !authority.upsert_mut(record, serial) {
                return Err(format!("the DNS zone {origin} refused a record"));
            }
        }
        let mut catalog = Catalog::new();
        catalog.upsert(LowerName::new(origin), vec![Arc::new(authority)]);
        *self.catalog.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(catalog);
        Ok(())
    }

    /// Stops answering.
    pub async fn stop(mut self) {
        let _ = self.server.shutdown_gracefully().await;
    }
}
