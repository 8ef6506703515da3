//! DNS discovery against a real DNS server: hickory's server in process on
//! 127.0.0.1 (a port chosen at run time), its zone changed between lookups,
//! made to fail (NXDOMAIN, SERVFAIL) or to fall silent. Needs the `dns`
//! feature (`required-features` in Cargo.toml).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use hickory_server::authority::{Catalog, MessageResponseBuilder, ZoneType};
use hickory_server::proto::op::{Header, ResponseCode};
use hickory_server::proto::rr::rdata::{A, AAAA, SOA, SRV};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::store::in_memory::InMemoryAuthority;
use hickory_server::ServerFuture;
use pickwise::dns::{DiscoveryHandle, DnsConfig, DnsDiscovery, DnsErrorKind, DnsEvent};
use pickwise::strategy::{LeastConnections, RoundRobin};
use pickwise::{BackendId, Balancer, Context, Pool};
use tokio::sync::mpsc;
use tokio::time::Instant;

const ZONE: &str = "example.test.";
/// How long anything the tests wait for may take: generous, for liveness.
const WITHIN: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------
// The server: a catalog swapped whole on each change, or SERVFAIL.
// ---------------------------------------------------------------------

#[derive(Default)]
struct Zone {
    catalog: Mutex<Arc<Catalog>>,
    servfail: AtomicBool,
}

struct Handler(Arc<Zone>);

#[async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler>(
        &self,
        request: &Request,
        mut response: R,
    ) -> ResponseInfo {
        if self.0.servfail.load(Ordering::SeqCst) {
            let message = MessageResponseBuilder::from_message_request(request)
                .error_msg(request.header(), ResponseCode::ServFail);
            return match response.send_response(message).await {
                Ok(info) => info,
                Err(_) => ResponseInfo::from(Header::response_from_request(request.header())),
            };
        }
        let catalog = Arc::clone(&self.0.catalog.lock().unwrap());
        catalog.handle_request(request, response).await
    }
}

struct TestDns {
    addr: SocketAddr,
    zone: Arc<Zone>,
    server: Option<ServerFuture<Handler>>,
    /// Bound on the server's port once it stopped: takes queries, never answers.
    silent: Option<std::net::UdpSocket>,
    serial: u32,
}

impl TestDns {
    async fn start(records: Vec<Record>) -> TestDns {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let zone = Arc::new(Zone::default());
        let mut server = ServerFuture::new(Handler(Arc::clone(&zone)));
        server.register_socket(socket);
        let mut dns = TestDns {
            addr,
            zone,
            server: Some(server),
            silent: None,
            serial: 0,
        };
        dns.set(records);
        dns
    }

    /// Replaces the zone's records (the SOA aside).
    fn set(&mut self, records: Vec<Record>) {
        self.serial += 1;
        let origin = Name::from_ascii(ZONE).unwrap();
        let mut authority = InMemoryAuthority::empty(origin.clone(), ZoneType::Primary, false);
        let soa = SOA::new(
            name("ns.example.test."),
            name("admin.example.test."),
            self.serial,
            60,
            60,
            60,
            0,
        );
        let soa = Record::from_rdata(origin.clone(), 60, RData::SOA(soa));
        assert!(authority.upsert_mut(soa, self.serial));
        for record in records {
            assert!(authority.upsert_mut(record, self.serial));
        }
        let mut catalog = Catalog::new();
        catalog.upsert(LowerName::new(&origin), vec![Arc::new(authority)]);
        *self.zone.catalog.lock().unwrap() = Arc::new(catalog);
    }

    fn servfail(&self, on: bool) {
        self.zone.servfail.store(on, Ordering::SeqCst);
    }

    /// Stops the server and keeps its port bound without answering, so
    /// queries time out (rather than being refused).
    async fn fall_silent(&mut self) {
        if let Some(mut server) = self.server.take() {
            server.shutdown_gracefully().await.unwrap();
        }
        let started = Instant::now();
        loop {
            match std::net::UdpSocket::bind(self.addr) {
                Ok(socket) => {
                    self.silent = Some(socket);
                    return;
                }
                Err(e) if started.elapsed() < WITHIN => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!(
                    "could not bind the stopped server's port {}: {e}",
                    self.addr
                ),
            }
        }
    }
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

fn a(host: &str, ip: [u8; 4], ttl: u32) -> Record {
    Record::from_rdata(name(host), ttl, RData::A(A(Ipv4Addr::from(ip))))
}

fn aaaa(host: &str, ip: Ipv6Addr, ttl: u32) -> Record {
    Record::from_rdata(name(host), ttl, RData::AAAA(AAAA(ip)))
}

fn srv(service: &str, priority: u16, weight: u16, port: u16, target: &str) -> Record {
    let data = SRV::new(priority, weight, port, name(target));
    Record::from_rdata(name(service), 1, RData::SRV(data))
}

// ---------------------------------------------------------------------
// Helpers on the client side.
// ---------------------------------------------------------------------

/// A config asking the test server, with short query timeouts, and a
/// channel of its events.
fn settings(dns: &TestDns, names: &[&str]) -> (DnsConfig, mpsc::UnboundedReceiver<DnsEvent>) {
    let (send, events) = mpsc::unbounded_channel();
    let config = DnsConfig::new(names)
        .unwrap()
        .resolver(dns.addr)
        .timeout(Duration::from_secs(1))
        .attempts(1)
        .observe(move |event: &DnsEvent| {
            let _ = send.send(event.clone());
        });
    (config, events)
}

/// A pool with `strategy` following `names` through `dns` (the discovery
/// running until its handle is dropped), once its first set holds `first`
/// backends; with the discovery's events.
async fn following<S: pickwise::Strategy>(
    dns: &TestDns,
    names: &[&str],
    strategy: S,
    first: usize,
) -> (
    Arc<Pool<S, SocketAddr>>,
    DiscoveryHandle,
    mpsc::UnboundedReceiver<DnsEvent>,
) {
    let (config, events) = settings(dns, names);
    let pool = Arc::new(Pool::new(strategy, Vec::new()).unwrap());
    let handle = DnsDiscovery::new(config)
        .unwrap()
        .spawn(Arc::clone(&pool))
        .unwrap();
    until("the first set applied", || pool.backends().len() == first).await;
    (pool, handle, events)
}

/// The first event `wanted` accepts, within `WITHIN`.
async fn event_where(
    events: &mut mpsc::UnboundedReceiver<DnsEvent>,
    what: &str,
    wanted: impl Fn(&DnsEvent) -> bool,
) -> DnsEvent {
    let deadline = Instant::now() + WITHIN;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(event)) if wanted(&event) => return event,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the discovery ended before {what}"),
            Err(_) => panic!("no {what} within {WITHIN:?}"),
        }
    }
}

/// Waits until `done` holds, polling, within `WITHIN`.
async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + WITHIN;
    while !done() {
        assert!(Instant::now() < deadline, "not within {WITHIN:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn ids<S: pickwise::Strategy, B: Send + Sync + 'static>(pool: &Pool<S, B>) -> Vec<String> {
    let mut ids: Vec<String> = pool
        .backends()
        .into_iter()
        .map(|b| b.id.to_string())
        .collect();
    ids.sort();
    ids
}

fn strings(ids: &[BackendId]) -> Vec<String> {
    ids.iter().map(ToString::to_string).collect()
}

// ---------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_and_aaaa_records_become_backends_with_the_names_words() {
    let dns = TestDns::start(vec![
        a("web.example.test.", [127, 0, 0, 2], 60),
        a("web.example.test.", [127, 0, 0, 1], 60),
        aaaa("web.example.test.", Ipv6Addr::LOCALHOST, 60),
    ])
    .await;
    let (config, mut events) = settings(&dns, &["web.example.test:8080,weight=3,max_conns=7"]);
    let specs = DnsDiscovery::new(config)
        .unwrap()
        .resolve_once()
        .await
        .unwrap();

    let got: Vec<(String, SocketAddr, u32, u8, Option<u32>)> = specs
        .iter()
        .map(|s| (s.id.to_string(), s.value, s.weight, s.priority, s.max_conns))
        .collect();
    let ip4 = |last| SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)), 8080);
    let ip6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 8080);
    assert_eq!(
        got,
        [
            ("127.0.0.1:8080".into(), ip4(1), 3, 0, Some(7)),
            ("127.0.0.2:8080".into(), ip4(2), 3, 0, Some(7)),
            ("[::1]:8080".into(), ip6, 3, 0, Some(7)),
        ]
    );
    let resolved = event_where(&mut events, "a Resolved event", |e| {
        matches!(e, DnsEvent::Resolved { .. })
    })
    .await;
    let DnsEvent::Resolved {
        name,
        backends,
        ttl,
        next,
    } = resolved
    else {
        unreachable!()
    };
    assert_eq!(name, "web.example.test:8080");
    assert_eq!(
        strings(&backends),
        ["127.0.0.1:8080", "127.0.0.2:8080", "[::1]:8080"]
    );
    assert_eq!(
        (ttl, next),
        (Duration::from_secs(60), Duration::from_secs(60))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_change_is_followed_within_its_ttl_and_the_backend_that_stays_keeps_its_counters()
{
    let mut dns = TestDns::start(vec![
        a("web.example.test.", [127, 0, 0, 1], 1),
        a("web.example.test.", [127, 0, 0, 2], 1),
    ])
    .await;
    let (pool, _handle, mut events) =
        following(&dns, &["web.example.test:80"], LeastConnections::new(), 2).await;

    // Hold a pick of the backend that stays across the change.
    let stays = BackendId::from("127.0.0.1:80");
    let mut held = Vec::new();
    for _ in 0..4 {
        let pick = pool.pick(&Context::new()).unwrap();
        if pick.id() == &stays {
            held.push(pick);
            break;
        }
        held.push(pick);
    }
    held.retain(|p| p.id() == &stays);
    assert_eq!(
        held.len(),
        1,
        "least connections picks each of two backends within 4 picks"
    );
    let picks_before = pool.status(&stays).unwrap().picks;
    assert_eq!(pool.status(&stays).unwrap().in_flight, Some(1));

    // .2 leaves, .3 joins.
    dns.set(vec![
        a("web.example.test.", [127, 0, 0, 1], 1),
        a("web.example.test.", [127, 0, 0, 3], 1),
    ]);
    let updated = event_where(
        &mut events,
        "the change applied",
        |e| matches!(e, DnsEvent::Updated { removed, .. } if !removed.is_empty()),
    )
    .await;
    assert_eq!(
        updated,
        DnsEvent::Updated {
            added: vec!["127.0.0.3:80".into()],
            removed: vec!["127.0.0.2:80".into()],
            backends: 2,
        }
    );
    assert_eq!(ids(&pool), ["127.0.0.1:80", "127.0.0.3:80"]);
    let status = pool.status(&stays).unwrap();
    assert_eq!(status.in_flight, Some(1), "the held pick still counts");
    assert_eq!(status.picks, picks_before, "the counters stayed");
    drop(held);
    assert_eq!(pool.status(&stays).unwrap().in_flight, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srv_priorities_become_tiers_and_weights_become_weights() {
    let dns = TestDns::start(vec![
        srv("_http._tcp.example.test.", 10, 5, 8001, "a.example.test."),
        srv("_http._tcp.example.test.", 10, 0, 8002, "b.example.test."),
        srv("_http._tcp.example.test.", 20, 1, 8003, "c.example.test."),
        srv("_http._tcp.example.test.", 35, 2, 8004, "c.example.test."),
        a("a.example.test.", [127, 0, 0, 1], 60),
        a("b.example.test.", [127, 0, 0, 2], 60),
        a("c.example.test.", [127, 0, 0, 3], 60),
    ])
    .await;
    let (config, _events) = settings(&dns, &["_http._tcp.example.test,max_conns=9"]);
    let specs = DnsDiscovery::new(config)
        .unwrap()
        .resolve_once()
        .await
        .unwrap();
    let got: Vec<(String, u32, u8, Option<u32>)> = specs
        .iter()
        .map(|s| (s.id.to_string(), s.weight, s.priority, s.max_conns))
        .collect();
    assert_eq!(
        got,
        [
            ("127.0.0.1:8001".into(), 5, 0, Some(9)),
            ("127.0.0.2:8002".into(), 1, 0, Some(9)), // SRV weight 0 becomes 1
            ("127.0.0.3:8003".into(), 1, 1, Some(9)),
            ("127.0.0.3:8004".into(), 2, 2, Some(9)),
        ]
    );

    // In a pool they are three tiers, the first two backends the primaries.
    let pool = Pool::new(RoundRobin::new(), specs).unwrap();
    let tiers: Vec<(u8, usize)> = pool
        .tiers()
        .iter()
        .map(|t| (t.priority, t.members))
        .collect();
    assert_eq!(tiers, [(0, 2), (1, 1), (2, 1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_names_merge_into_one_set_each_address_once() {
    let dns = TestDns::start(vec![
        a("web.example.test.", [127, 0, 0, 1], 60),
        a("web.example.test.", [127, 0, 0, 2], 60),
        srv("_http._tcp.example.test.", 0, 4, 80, "api.example.test."),
        a("api.example.test.", [127, 0, 0, 2], 60),
        a("api.example.test.", [127, 0, 0, 9], 60),
    ])
    .await;
    let (config, _events) = settings(&dns, &["web.example.test:80", "_http._tcp.example.test"]);
    let specs = DnsDiscovery::new(config)
        .unwrap()
        .resolve_once()
        .await
        .unwrap();
    let got: Vec<(String, u32)> = specs.iter().map(|s| (s.id.to_string(), s.weight)).collect();
    assert_eq!(
        got,
        [
            ("127.0.0.1:80".into(), 1),
            ("127.0.0.2:80".into(), 1), // the first name's
            ("127.0.0.9:80".into(), 4),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nxdomain_keeps_the_last_set_and_emits_a_failed_event() {
    let mut dns = TestDns::start(vec![
        a("web.example.test.", [127, 0, 0, 1], 1),
        a("web.example.test.", [127, 0, 0, 2], 1),
    ])
    .await;
    let (pool, _handle, mut events) =
        following(&dns, &["web.example.test:80"], RoundRobin::new(), 2).await;

    dns.set(vec![a("other.example.test.", [127, 0, 0, 5], 1)]);
    let failed = event_where(&mut events, "a Failed event", |e| {
        matches!(e, DnsEvent::Failed { .. })
    })
    .await;
    let DnsEvent::Failed { name, error, kept } = failed else {
        unreachable!()
    };
    assert_eq!((name.as_str(), kept), ("web.example.test:80", 2));
    assert_eq!(error.kind(), &DnsErrorKind::NxDomain);
    assert_eq!(
        error.to_string(),
        "A/AAAA lookup of `web.example.test` failed: the name does not exist (NXDOMAIN)"
    );
    // A second failure later: still the same set.
    event_where(&mut events, "a second Failed event", |e| {
        matches!(e, DnsEvent::Failed { kept: 2, .. })
    })
    .await;
    assert_eq!(ids(&pool), ["127.0.0.1:80", "127.0.0.2:80"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servfail_keeps_the_last_set_and_emits_a_failed_event() {
    let dns = TestDns::start(vec![a("web.example.test.", [127, 0, 0, 1], 1)]).await;
    let (pool, _handle, mut events) =
        following(&dns, &["web.example.test:80"], RoundRobin::new(), 1).await;

    dns.servfail(true);
    let failed = event_where(&mut events, "a Failed event", |e| {
        matches!(e, DnsEvent::Failed { .. })
    })
    .await;
    let DnsEvent::Failed { error, kept, .. } = failed else {
        unreachable!()
    };
    assert_eq!((error.kind(), kept), (&DnsErrorKind::ServerFailure, 1));
    assert_eq!(ids(&pool), ["127.0.0.1:80"]);

    // The server recovers: lookups succeed again, nothing to change.
    dns.servfail(false);
    event_where(&mut events, "a Resolved event after recovery", |e| {
        matches!(e, DnsEvent::Resolved { .. })
    })
    .await;
    assert_eq!(ids(&pool), ["127.0.0.1:80"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stops_answering_gives_timeouts_and_the_last_set_stays() {
    let mut dns = TestDns::start(vec![
        a("web.example.test.", [127, 0, 0, 1], 1),
        a("web.example.test.", [127, 0, 0, 2], 1),
    ])
    .await;
    let (config, mut events) = settings(&dns, &["web.example.test:80"]);
    let config = config.timeout(Duration::from_millis(300));
    let pool = Arc::new(Pool::new(RoundRobin::new(), Vec::new()).unwrap());
    let _handle = DnsDiscovery::new(config)
        .unwrap()
        .spawn(Arc::clone(&pool))
        .unwrap();
    until("the first set applied", || pool.backends().len() == 2).await;

    dns.fall_silent().await;
    let failed = event_where(&mut events, "a Failed event", |e| {
        matches!(e, DnsEvent::Failed { .. })
    })
    .await;
    let DnsEvent::Failed { error, kept, .. } = failed else {
        unreachable!()
    };
    assert_eq!((error.kind(), kept), (&DnsErrorKind::Timeout, 2), "{error}");
    assert_eq!(ids(&pool), ["127.0.0.1:80", "127.0.0.2:80"]);
    assert!(!pool.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ttl_of_zero_is_looked_up_again_no_sooner_than_the_minimum() {
    let dns = TestDns::start(vec![a("web.example.test.", [127, 0, 0, 1], 0)]).await;
    let (config, mut events) = settings(&dns, &["web.example.test:80"]);
    let pool = Arc::new(Pool::new(RoundRobin::new(), Vec::new()).unwrap());
    let started = Instant::now();
    let _handle = DnsDiscovery::new(config)
        .unwrap()
        .spawn(Arc::clone(&pool))
        .unwrap();

    // Default range: 1 s to 300 s. Watch for 2.5 s: lookups at 0, >= 1 s
    // and >= 2 s at most, since each waits at least the minimum.
    let mut lookups = Vec::new();
    while let Ok(Some(event)) =
        tokio::time::timeout_at(started + Duration::from_millis(2500), events.recv()).await
    {
        if let DnsEvent::Resolved { ttl, next, .. } = event {
            assert_eq!((ttl, next), (Duration::ZERO, Duration::from_secs(1)));
            lookups.push(started.elapsed());
        }
    }
    assert!(
        lookups.len() >= 2,
        "it looks again after the minimum: {lookups:?}"
    );
    assert!(
        lookups.len() <= 3,
        "no sooner than the minimum: {lookups:?}"
    );
    for pair in lookups.windows(2) {
        assert!(pair[1] - pair[0] >= Duration::from_secs(1), "{lookups:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_lookup_that_fails_leaves_the_pool_empty_and_is_retried() {
    let mut dns = TestDns::start(vec![]).await;
    let (config, mut events) = settings(&dns, &["web.example.test:80"]);
    let pool = Arc::new(Pool::new(RoundRobin::new(), Vec::new()).unwrap());
    let _handle = DnsDiscovery::new(config)
        .unwrap()
        .spawn(Arc::clone(&pool))
        .unwrap();
    let failed = event_where(&mut events, "a Failed event", |e| {
        matches!(e, DnsEvent::Failed { .. })
    })
    .await;
    assert!(
        matches!(failed, DnsEvent::Failed { kept: 0, .. }),
        "{failed:?}"
    );
    assert!(pool.is_empty());
    assert!(pool.pick(&Context::new()).is_err());

    dns.set(vec![a("web.example.test.", [127, 0, 0, 1], 60)]);
    until("the retry found the new record", || {
        pool.backends().len() == 1
    })
    .await;
    assert_eq!(ids(&pool), ["127.0.0.1:80"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_task_ends_when_the_pool_is_dropped_and_on_stop() {
    let dns = TestDns::start(vec![a("web.example.test.", [127, 0, 0, 1], 1)]).await;
    let (pool, handle, _events) =
        following(&dns, &["web.example.test:80"], RoundRobin::new(), 1).await;
    assert!(handle.is_running());
    drop(pool);
    until("the task ended", || !handle.is_running()).await;

    // Outside a runtime, spawn says why instead of panicking.
    let (config, _events) = settings(&dns, &["web.example.test:80"]);
    let discovery = DnsDiscovery::new(config).unwrap();
    let pool = Arc::new(Pool::new(RoundRobin::new(), Vec::new()).unwrap());
    let error = std::thread::spawn(move || discovery.spawn(pool).unwrap_err())
        .join()
        .unwrap();
    assert!(
        error.to_string().contains("within a tokio runtime"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_discovery_changes_only_its_own_backends_and_leaves_the_others() {
    let mut dns = TestDns::start(vec![
        a("web.example.test.", [127, 0, 0, 1], 1),
        a("web.example.test.", [127, 0, 0, 2], 1),
    ])
    .await;
    let (config, mut events) = settings(&dns, &["web.example.test:80,weight=2"]);
    // A fixed backend by address, and one by id at an address the name
    // also gives: both the pool's from the start, not the discovery's.
    let fixed: SocketAddr = "10.0.0.9:80".parse().unwrap();
    let pool = Arc::new(
        Pool::new(
            RoundRobin::new(),
            vec![
                pickwise::BackendSpec::new(fixed, fixed),
                pickwise::BackendSpec::new("127.0.0.2:80", "127.0.0.2:80".parse().unwrap())
                    .max_conns(5),
            ],
        )
        .unwrap(),
    );
    let _handle = DnsDiscovery::new(config)
        .unwrap()
        .spawn_shared(Arc::clone(&pool))
        .unwrap();
    let first = event_where(&mut events, "the first set applied", |e| {
        matches!(e, DnsEvent::Updated { .. })
    })
    .await;
    assert_eq!(
        first,
        DnsEvent::Updated {
            added: vec!["127.0.0.1:80".into()],
            removed: vec![],
            backends: 3,
        }
    );
    assert_eq!(ids(&pool), ["10.0.0.9:80", "127.0.0.1:80", "127.0.0.2:80"]);
    let shared = pool.status(&"127.0.0.2:80".into()).unwrap();
    assert_eq!(
        (shared.weight, shared.max_conns),
        (1, Some(5)),
        "the address held from elsewhere keeps its own words"
    );

    // The name now gives .3 only: .1 (the discovery's) leaves, .3 joins,
    // the fixed backend and the one held from elsewhere stay.
    dns.set(vec![a("web.example.test.", [127, 0, 0, 3], 1)]);
    let change = event_where(
        &mut events,
        "the change applied",
        |e| matches!(e, DnsEvent::Updated { removed, .. } if !removed.is_empty()),
    )
    .await;
    assert_eq!(
        change,
        DnsEvent::Updated {
            added: vec!["127.0.0.3:80".into()],
            removed: vec!["127.0.0.1:80".into()],
            backends: 3,
        }
    );
    assert_eq!(ids(&pool), ["10.0.0.9:80", "127.0.0.2:80", "127.0.0.3:80"]);
    assert_eq!(pool.status(&"127.0.0.3:80".into()).unwrap().weight, 2);

    // An operator's backend added meanwhile survives the next change.
    pool.update_with(|mut specs| {
        let op: SocketAddr = "10.0.0.10:80".parse().unwrap();
        specs.push(pickwise::BackendSpec::new("operator", op));
        Some(specs)
    })
    .unwrap();
    dns.set(vec![a("web.example.test.", [127, 0, 0, 4], 1)]);
    event_where(
        &mut events,
        "the second change applied",
        |e| matches!(e, DnsEvent::Updated { removed, .. } if !removed.is_empty()),
    )
    .await;
    assert_eq!(
        ids(&pool),
        ["10.0.0.9:80", "127.0.0.2:80", "127.0.0.4:80", "operator"]
    );
}
