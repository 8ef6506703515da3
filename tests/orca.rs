//! ORCA load reports end to end: the binary form against prost (code
//! nobody here wrote), `OrcaWrr`'s weights as gRFC A58 sets them (blackout,
//! expiry, the mean for the silent), picks while weights move, and reports
//! read by the tower layer from a tonic server's headers and from trailers.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use pickwise::clock::ManualClock;
use pickwise::grpc::GrpcClassifier;
use pickwise::orca::LoadReport;
use pickwise::strategy::OrcaWrr;
use pickwise::tower::Balance;
use pickwise::{BackendId, BackendSpec, Balancer, Context, Pool};
use proptest::prelude::*;
use tokio::net::TcpListener;
use tonic::transport::Channel;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// `xds.data.orca.v3.OrcaLoadReport`, as prost derives it from the proto.
#[derive(Clone, PartialEq, prost::Message)]
struct OrcaLoadReport {
    #[prost(double, tag = "1")]
    cpu_utilization: f64,
    #[prost(double, tag = "2")]
    mem_utilization: f64,
    #[prost(uint64, tag = "3")]
    rps: u64,
    #[prost(btree_map = "string, double", tag = "4")]
    request_cost: std::collections::BTreeMap<String, f64>,
    #[prost(btree_map = "string, double", tag = "5")]
    utilization: std::collections::BTreeMap<String, f64>,
    #[prost(double, tag = "6")]
    rps_fractional: f64,
    #[prost(double, tag = "7")]
    eps: f64,
    #[prost(btree_map = "string, double", tag = "8")]
    named_metrics: std::collections::BTreeMap<String, f64>,
    #[prost(double, tag = "9")]
    application_utilization: f64,
}

fn sorted(entries: &[(String, f64)]) -> std::collections::BTreeMap<String, f64> {
    entries.iter().cloned().collect()
}

fn metrics() -> impl Strategy<Value = Vec<(String, f64)>> {
    prop::collection::btree_map("[a-z_]{1,8}", 0.0..1e6f64, 0..4)
        .prop_map(|map| map.into_iter().collect())
}

proptest! {
    #[test]
    fn prost_and_pickwise_read_each_others_binary_reports(
        cpu in 0.0..4.0f64, mem in 0.0..1.0f64, app in 0.0..4.0f64,
        qps in 0.0..1e6f64, eps in 0.0..1e3f64,
        cost in metrics(), util in metrics(), named in metrics(),
    ) {
        let ours = LoadReport {
            cpu_utilization: cpu,
            mem_utilization: mem,
            application_utilization: app,
            rps_fractional: qps,
            eps,
            request_cost: cost,
            utilization: util,
            named_metrics: named,
        };
        let theirs = OrcaLoadReport {
            cpu_utilization: cpu,
            mem_utilization: mem,
            rps: 0,
            request_cost: sorted(&ours.request_cost),
            utilization: sorted(&ours.utilization),
            rps_fractional: qps,
            eps,
            named_metrics: sorted(&ours.named_metrics),
            application_utilization: app,
        };
        let read_theirs = LoadReport::decode(&prost::Message::encode_to_vec(&theirs)).unwrap();
        prop_assert_eq!(&read_theirs, &ours);
        let read_ours = <OrcaLoadReport as prost::Message>::decode(&ours.encode()[..]).unwrap();
        prop_assert_eq!(read_ours, theirs);
        prop_assert_eq!(LoadReport::parse(ours.to_text().as_bytes()).unwrap(), ours.clone());
        prop_assert_eq!(LoadReport::parse_bin(ours.to_bin().as_bytes()).unwrap(), ours);
    }
}

fn report(qps: f64, cpu: f64) -> LoadReport {
    LoadReport {
        rps_fractional: qps,
        cpu_utilization: cpu,
        ..LoadReport::default()
    }
}

fn shares<B: Send + Sync + 'static>(pool: &Pool<OrcaWrr, B>, picks: usize) -> Vec<(String, usize)> {
    let mut counts = std::collections::BTreeMap::new();
    for _ in 0..picks {
        let pick = pool.pick(&Context::new()).unwrap();
        *counts.entry(pick.id().as_str().to_string()).or_insert(0) += 1;
    }
    counts.into_iter().collect()
}

fn manual_pool(strategy: OrcaWrr, ids: &[&str]) -> (Arc<ManualClock>, Pool<OrcaWrr, ()>) {
    let clock = Arc::new(ManualClock::new());
    let pool = Pool::builder(strategy)
        .clock(clock.clone())
        .build(ids.iter().map(|id| BackendSpec::new(*id, ())))
        .unwrap();
    (clock, pool)
}

#[test]
fn weights_count_after_the_blackout_and_stop_when_reports_expire() {
    let (clock, pool) = manual_pool(OrcaWrr::new(), &["a", "b"]);
    let both = |a_cpu: f64| {
        pool.apply_load_report(&"a".into(), &report(100.0, a_cpu))
            .unwrap();
        pool.apply_load_report(&"b".into(), &report(100.0, 0.4))
            .unwrap();
    };
    // In the blackout (10 s), reports do not count yet: even shares.
    for _ in 0..5 {
        both(0.1);
        clock.advance(Duration::from_secs(1));
    }
    both(0.1);
    assert_eq!(shares(&pool, 400), [("a".into(), 200), ("b".into(), 200)]);
    // Past it, a (4x less busy for the same qps) takes 4 of 5.
    for _ in 0..6 {
        clock.advance(Duration::from_secs(1));
        both(0.1);
    }
    let after = shares(&pool, 500);
    assert!((398..=402).contains(&after[0].1), "{after:?}");
    // No report for 3 minutes: weights expire, shares are even again.
    clock.advance(Duration::from_secs(181));
    pool.apply_load_report(&"c-unknown".into(), &report(1.0, 1.0))
        .unwrap_err();
    // A report with no weight in it refreshes but says nothing.
    pool.apply_load_report(&"a".into(), &LoadReport::default())
        .unwrap();
    assert_eq!(shares(&pool, 400), [("a".into(), 200), ("b".into(), 200)]);
}

#[test]
fn a_backend_that_never_reports_takes_the_mean_of_the_others() {
    let strategy = OrcaWrr::new().blackout_period(Duration::ZERO);
    let (clock, pool) = manual_pool(strategy, &["a", "b", "silent"]);
    pool.apply_load_report(&"a".into(), &report(100.0, 0.5))
        .unwrap(); // 200
    pool.apply_load_report(&"b".into(), &report(100.0, 0.25))
        .unwrap(); // 400
    clock.advance(Duration::from_secs(1));
    pool.apply_load_report(&"a".into(), &report(100.0, 0.5))
        .unwrap();
    let counts = shares(&pool, 900);
    // 200 : 400 : 300 (the mean).
    for ((id, count), want) in counts.iter().zip([200, 400, 300]) {
        assert!(count.abs_diff(want) <= 3, "{id}: {counts:?}");
    }
}

#[test]
fn errors_per_second_count_against_a_backend_by_the_penalty() {
    let strategy = OrcaWrr::new()
        .blackout_period(Duration::ZERO)
        .error_utilization_penalty(1.0);
    let (clock, pool) = manual_pool(strategy, &["clean", "failing"]);
    let failing = LoadReport {
        eps: 50.0,
        ..report(100.0, 0.5)
    };
    pool.apply_load_report(&"clean".into(), &report(100.0, 0.5))
        .unwrap();
    pool.apply_load_report(&"failing".into(), &failing).unwrap();
    clock.advance(Duration::from_secs(1));
    pool.apply_load_report(&"clean".into(), &report(100.0, 0.5))
        .unwrap();
    // 100 / 0.5 = 200 against 100 / (0.5 + 0.5) = 100.
    let counts = shares(&pool, 300);
    assert!(counts[0].1.abs_diff(200) <= 2, "{counts:?}");
}

#[test]
fn settings_that_make_no_sense_are_refused_by_name() {
    let err = |strategy: OrcaWrr| {
        Pool::new(strategy, vec![BackendSpec::new("a", ())])
            .err()
            .unwrap()
            .to_string()
    };
    assert!(
        err(OrcaWrr::new().weight_update_period(Duration::from_millis(10)))
            .contains("weight_update_period")
    );
    assert!(
        err(OrcaWrr::new().error_utilization_penalty(-1.0)).contains("error_utilization_penalty")
    );
    assert!(err(OrcaWrr::new().weight_expiration_period(Duration::ZERO))
        .contains("weight_expiration_period"));
}

#[test]
fn picks_go_on_while_weights_change_a_hundred_times_a_second() {
    let strategy = OrcaWrr::new()
        .blackout_period(Duration::ZERO)
        .weight_update_period(Duration::from_millis(100));
    let ids: Vec<String> = (0..64).map(|i| format!("b{i}")).collect();
    let pool = Arc::new(
        Pool::new(
            strategy,
            ids.iter().map(|id| BackendSpec::new(id.as_str(), ())),
        )
        .unwrap(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let reporter = {
        let (pool, stop, ids) = (Arc::clone(&pool), Arc::clone(&stop), ids.clone());
        std::thread::spawn(move || {
            let mut round = 0u32;
            while !stop.load(Ordering::Relaxed) && round < 2_000 {
                for (i, id) in ids.iter().enumerate() {
                    let cpu = 0.1 + ((i as u32 + round) % 8) as f64 / 10.0;
                    pool.apply_load_report(&BackendId::new(id.as_str()), &report(100.0, cpu))
                        .unwrap();
                }
                round += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let pickers: Vec<_> = (0..2)
        .map(|_| {
            let pool = Arc::clone(&pool);
            std::thread::spawn(move || {
                let mut seen = std::collections::HashSet::new();
                for _ in 0..200_000 {
                    seen.insert(pool.pick(&Context::new()).unwrap().id().clone());
                }
                seen.len()
            })
        })
        .collect();
    for picker in pickers {
        assert_eq!(picker.join().unwrap(), 64, "every backend keeps a share");
    }
    stop.store(true, Ordering::Relaxed);
    reporter.join().unwrap();
}

/// A tonic Health server whose every response carries a load report in
/// its headers, as a gRPC server with per-call ORCA metrics sends it.
async fn reporting_server(report: LoadReport) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_reporter, service) = tonic_health::server::health_reporter();
    let value = http::HeaderValue::from_str(&report.to_bin()).unwrap();
    let service = WithLoadReport {
        inner: service,
        value,
    };
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tokio::spawn(tonic::transport::Server::builder().serve_with_incoming(service, incoming));
    addr
}

#[derive(Clone)]
struct WithLoadReport<S> {
    inner: S,
    value: http::HeaderValue,
}

impl<S> tonic::server::NamedService for WithLoadReport<S> {
    const NAME: &'static str = "grpc.health.v1.Health";
}

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S> tower::Service<http::Request<tonic::body::Body>> for WithLoadReport<S>
where
    S: tower::Service<
            http::Request<tonic::body::Body>,
            Response = http::Response<tonic::body::Body>,
            Error = Infallible,
        > + Send,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let future = self.inner.call(request);
        let value = self.value.clone();
        Box::pin(async move {
            let mut response = future.await?;
            response
                .headers_mut()
                .insert(pickwise::orca::HEADER_BIN, value);
            Ok(response)
        })
    }
}

#[tokio::test]
async fn tonic_calls_follow_the_load_reports_in_the_servers_headers() {
    // Same qps; "idle" at 20% CPU, "busy" at 60%: weights 500 and 166.7.
    let idle = reporting_server(report(100.0, 0.2)).await;
    let busy = reporting_server(report(100.0, 0.6)).await;
    let clock = Arc::new(ManualClock::new());
    let strategy = OrcaWrr::new().blackout_period(Duration::ZERO);
    let channels = [("idle", idle), ("busy", busy)].map(|(id, addr)| {
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_lazy();
        BackendSpec::new(id, channel)
    });
    let pool = Arc::new(
        Pool::builder(strategy)
            .clock(clock.clone())
            .build(channels)
            .unwrap(),
    );
    let mut client = HealthClient::new(Balance::new(Arc::clone(&pool)).classify(GrpcClassifier));
    let request = || HealthCheckRequest {
        service: String::new(),
    };
    // Before the first refresh: even, and every call reports.
    for _ in 0..10 {
        client.check(request()).await.unwrap();
    }
    clock.advance(Duration::from_secs(1));
    client.check(request()).await.unwrap(); // its report refreshes the weights
    let mut idle_calls = 0;
    for _ in 0..400 {
        let before = pool.status(&"idle".into()).unwrap().successes;
        client.check(request()).await.unwrap();
        idle_calls += usize::from(pool.status(&"idle".into()).unwrap().successes > before);
    }
    assert!(
        idle_calls.abs_diff(300) <= 2,
        "idle took {idle_calls} of 400"
    );
}

type TrailerResponse = http::Response<StreamBody<futures_stream::Frames>>;

/// A backend answering 200 with its load report in the body's trailers.
fn trailer_backend(
    report: LoadReport,
) -> impl tower::Service<
    http::Request<()>,
    Response = TrailerResponse,
    Error = Infallible,
    Future = std::future::Ready<Result<TrailerResponse, Infallible>>,
> + Clone {
    let text = report.to_text();
    tower::service_fn(move |_request: http::Request<()>| {
        let mut trailers = http::HeaderMap::new();
        trailers.insert(pickwise::orca::HEADER, text.parse().unwrap());
        let frames = vec![
            Ok(http_body::Frame::data(Bytes::from_static(b"ok"))),
            Ok(http_body::Frame::trailers(trailers)),
        ];
        std::future::ready(Ok(http::Response::new(StreamBody::new(
            futures_stream::Frames::new(frames),
        ))))
    })
}

mod futures_stream {
    //! A stream of body frames from a vector, for `StreamBody`.
    use bytes::Bytes;
    use std::convert::Infallible;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    pub struct Frames(std::vec::IntoIter<Result<http_body::Frame<Bytes>, Infallible>>);

    impl Frames {
        pub fn new(frames: Vec<Result<http_body::Frame<Bytes>, Infallible>>) -> Self {
            Frames(frames.into_iter())
        }
    }

    impl futures_core::Stream for Frames {
        type Item = Result<http_body::Frame<Bytes>, Infallible>;
        fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Poll::Ready(self.0.next())
        }
    }
}

#[tokio::test]
async fn http_responses_report_load_in_their_trailers() {
    use tower::{Service, ServiceExt};
    let clock = Arc::new(ManualClock::new());
    let strategy = OrcaWrr::new().blackout_period(Duration::ZERO);
    let pool = Arc::new(
        Pool::builder(strategy)
            .clock(clock.clone())
            .build(vec![
                BackendSpec::new("light", trailer_backend(report(50.0, 0.1))),
                BackendSpec::new("heavy", trailer_backend(report(50.0, 0.9))),
            ])
            .unwrap(),
    );
    let mut balance = Balance::http(Arc::clone(&pool));
    let mut call = async || {
        let response = balance
            .ready()
            .await
            .unwrap()
            .call(http::Request::new(()))
            .await
            .unwrap();
        response.into_body().collect().await.unwrap();
    };
    for _ in 0..4 {
        call().await;
    }
    clock.advance(Duration::from_secs(1));
    call().await;
    let before = pool.status(&"light".into()).unwrap().successes;
    for _ in 0..100 {
        call().await;
    }
    let light = pool.status(&"light".into()).unwrap().successes - before;
    // 500 against 55.6: nine in ten.
    assert!(light.abs_diff(90) <= 2, "light took {light} of 100");
}
