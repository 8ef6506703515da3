//! The `tower` feature with tower's own types: `service_fn` backends for
//! what each call records, `Discover` streams for membership, and tower's
//! p2c balancer beside pickwise's over real sockets.

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use http::{Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use pickwise::health::HealthConfig;
use pickwise::strategy::{LeastConnections, PeakEwma, Rendezvous, RoundRobin};
use pickwise::tower::{apply_change, discover_with, Balance, DiscoverError, Error, ToOrigin};
use pickwise::{AdminState, BackendId, BackendSpec, Context, NoBackend, Pool, Reason};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tower::discover::Change;
use tower::{service_fn, Service, ServiceExt};

type Outcome = Result<&'static str, io::Error>;

/// A backend's service answering with its name, or failing as `fail` says.
fn named(
    name: &'static str,
    fail: Option<io::ErrorKind>,
) -> impl Service<(), Response = &'static str, Error = io::Error, Future = impl Send>
       + Clone
       + Send
       + Sync
       + 'static {
    service_fn(move |()| async move {
        match fail {
            None => Outcome::Ok(name),
            Some(kind) => Outcome::Err(io::Error::from(kind)),
        }
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Ejects at the first failure, so the reason shows the failure's kind.
fn eject_at_once() -> HealthConfig {
    HealthConfig {
        consecutive_failures: 1,
        max_ejected_percent: 100,
        ..HealthConfig::default()
    }
}

#[test]
fn the_result_classifier_records_ok_as_a_success_and_an_error_as_the_failure_its_source_chain_names(
) {
    let pool = Pool::builder(RoundRobin::new())
        .health(eject_at_once())
        .build(vec![
            BackendSpec::new("up", named("up", None)),
            BackendSpec::new(
                "refused",
                named("refused", Some(io::ErrorKind::ConnectionRefused)),
            ),
        ])
        .unwrap();
    let mut balance = Balance::new(pool);
    let results = runtime().block_on(async {
        let mut results = Vec::new();
        for _ in 0..2 {
            results.push(balance.ready().await.unwrap().call(()).await);
        }
        results
    });
    assert_eq!(results[0].as_ref().unwrap(), &"up");
    match &results[1] {
        Err(Error::Backend { id, error }) => {
            assert_eq!(id.as_str(), "refused");
            assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
        }
        other => panic!("expected the refused backend's error, got {other:?}"),
    }
    let up = balance.pool().status(&"up".into()).unwrap();
    assert_eq!((up.successes, up.failures), (1, 0));
    let refused = balance.pool().status(&"refused".into()).unwrap();
    assert_eq!((refused.successes, refused.failures), (0, 1));
    assert!(
        refused.reason.to_string().contains("connection refused"),
        "the ejection names the failure: {}",
        refused.reason
    );
}

/// A response body of frames given in advance; an `Err` item fails it.
struct Frames(VecDeque<Result<Bytes, io::Error>>);

impl Body for Frames {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        Poll::Ready(self.0.pop_front().map(|item| item.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }
}

/// An HTTP backend answering the status its request's path names
/// (`/503`), or a transport error for `/refused`, with a body of two
/// chunks (`/cut`: one chunk, then an error).
fn http_backend(
) -> impl Service<Request<()>, Response = Response<Frames>, Error = io::Error, Future = impl Send>
       + Clone
       + Send
       + Sync
       + 'static {
    service_fn(|request: Request<()>| async move {
        let path = request.uri().path().trim_start_matches('/').to_owned();
        if path == "refused" {
            return Err(io::Error::from(io::ErrorKind::ConnectionRefused));
        }
        let chunks = match path.as_str() {
            "cut" => vec![
                Ok(Bytes::from("half")),
                Err(io::Error::from(io::ErrorKind::ConnectionReset)),
            ],
            _ => vec![Ok(Bytes::from("one")), Ok(Bytes::from("two"))],
        };
        let status = path.parse().ok().and_then(|n| StatusCode::from_u16(n).ok());
        let mut response = Response::new(Frames(chunks.into()));
        *response.status_mut() = status.unwrap_or(StatusCode::OK);
        Ok(response)
    })
}

fn get(path: &str) -> Request<()> {
    Request::get(path).body(()).unwrap()
}

#[test]
fn the_http_classifier_fails_transport_errors_and_502_503_504_counts_other_5xx_as_server_errors_and_the_rest_as_successes(
) {
    let pool = Pool::builder(LeastConnections::new())
        .health(HealthConfig::disabled())
        .build(vec![BackendSpec::new("b", http_backend())])
        .unwrap();
    let mut balance = Balance::http(pool);
    runtime().block_on(async {
        for path in [
            "/200", "/404", "/500", "/501", "/502", "/503", "/504", "/refused",
        ] {
            let answer = balance.ready().await.unwrap().call(get(path)).await;
            if let Ok(response) = answer {
                response.into_body().collect().await.unwrap();
            }
        }
    });
    let b = balance.pool().status(&"b".into()).unwrap();
    assert_eq!((b.successes, b.server_errors, b.failures), (2, 2, 4));
    assert_eq!(b.in_flight, Some(0), "every body was read to its end");
}

#[test]
fn an_http_pick_is_held_until_the_response_body_ends() {
    let pool = Pool::new(
        LeastConnections::new(),
        vec![BackendSpec::new("b", http_backend())],
    )
    .unwrap();
    let mut balance = Balance::http(pool);
    let in_flight =
        |balance: &Balance<_, _, _, _>| balance.pool().status(&"b".into()).unwrap().in_flight;
    runtime().block_on(async {
        let response = balance.ready().await.unwrap().call(get("/")).await.unwrap();
        let b = balance.pool().status(&"b".into()).unwrap();
        assert_eq!(
            (b.successes, b.in_flight),
            (1, Some(1)),
            "the outcome at the head, the pick still held"
        );
        let mut body = response.into_body();
        assert!(body.holds_pick());
        body.frame().await.unwrap().unwrap();
        assert_eq!(in_flight(&balance), Some(1), "one chunk of two read");
        body.frame().await.unwrap().unwrap();
        assert!(!body.holds_pick());
        assert_eq!(in_flight(&balance), Some(0), "released with the last chunk");
    });
}

#[test]
fn a_body_that_fails_midway_turns_the_success_into_a_body_cut_failure() {
    let pool = Pool::new(
        LeastConnections::new(),
        vec![BackendSpec::new("b", http_backend())],
    )
    .unwrap();
    let mut balance = Balance::http(pool);
    runtime().block_on(async {
        let response = balance
            .ready()
            .await
            .unwrap()
            .call(get("/cut"))
            .await
            .unwrap();
        let error = response.into_body().collect().await.err();
        assert_eq!(
            error.map(|e| e.kind()),
            Some(io::ErrorKind::ConnectionReset)
        );
    });
    let b = balance.pool().status(&"b".into()).unwrap();
    assert_eq!((b.successes, b.failures, b.in_flight), (0, 1, Some(0)));
}

#[test]
fn dropping_a_response_body_early_releases_its_pick_and_records_no_failure() {
    let pool = Pool::new(
        LeastConnections::new(),
        vec![BackendSpec::new("b", http_backend())],
    )
    .unwrap();
    let mut balance = Balance::http(pool);
    runtime().block_on(async {
        let response = balance.ready().await.unwrap().call(get("/")).await.unwrap();
        drop(response);
    });
    let b = balance.pool().status(&"b".into()).unwrap();
    assert_eq!((b.successes, b.failures, b.in_flight), (1, 0, Some(0)));
}

#[test]
fn least_connections_balances_open_response_bodies_not_headers() {
    let pool = Pool::new(
        LeastConnections::new(),
        vec![
            BackendSpec::new("a", http_backend()),
            BackendSpec::new("b", http_backend()),
        ],
    )
    .unwrap();
    let mut balance = Balance::http(pool);
    runtime().block_on(async {
        let mut open = Vec::new();
        for _ in 0..6 {
            open.push(balance.ready().await.unwrap().call(get("/")).await.unwrap());
        }
        let counts: Vec<_> = balance
            .pool()
            .backends()
            .iter()
            .map(|b| b.in_flight)
            .collect();
        assert_eq!(counts, [Some(3), Some(3)], "six streams open, three each");
        drop(open);
        let counts: Vec<_> = balance
            .pool()
            .backends()
            .iter()
            .map(|b| b.in_flight)
            .collect();
        assert_eq!(counts, [Some(0), Some(0)]);
    });
}

#[test]
fn an_empty_pool_is_ready_and_fails_each_call_with_no_backend_without_calling_any_service() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = {
        let calls = Arc::clone(&calls);
        service_fn(move |()| {
            calls.fetch_add(1, Ordering::Relaxed);
            async { Outcome::Ok("called") }
        })
    };
    let pool = Pool::new(RoundRobin::new(), vec![BackendSpec::new("a", counted)]).unwrap();
    let pool = Arc::new(pool);
    let mut balance = Balance::new(Arc::clone(&pool));
    runtime().block_on(async {
        pool.set_state(
            &"a".into(),
            AdminState::Down,
            Reason::Program("test".into()),
        );
        let ready = std::future::poll_fn(|cx| Poll::Ready(balance.poll_ready(cx))).await;
        assert!(matches!(ready, Poll::Ready(Ok(()))), "always ready");
        let error = balance.call(()).await.unwrap_err();
        assert!(
            matches!(error, Error::NoBackend(NoBackend::AllDown)),
            "{error:?}"
        );

        pool.update(Vec::new()).unwrap();
        let error = balance.call(()).await.unwrap_err();
        assert!(
            matches!(error, Error::NoBackend(NoBackend::Empty)),
            "{error:?}"
        );
        assert_eq!(error.to_string(), "no backend: the set is empty");
    });
    assert_eq!(calls.load(Ordering::Relaxed), 0);
}

/// A service whose readiness fails: its backend refuses connections.
#[derive(Clone)]
struct NeverReady;

impl Service<()> for NeverReady {
    type Response = &'static str;
    type Error = io::Error;
    type Future = std::future::Ready<Outcome>;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), io::Error>> {
        Poll::Ready(Err(io::Error::from(io::ErrorKind::ConnectionRefused)))
    }

    fn call(&mut self, (): ()) -> Self::Future {
        panic!("called without being ready")
    }
}

#[test]
fn an_inner_service_failing_its_readiness_is_a_failure_of_that_backend() {
    let pool = Pool::builder(RoundRobin::new())
        .health(eject_at_once())
        .build(vec![BackendSpec::new("a", NeverReady)])
        .unwrap();
    let mut balance = Balance::new(pool);
    let error = runtime().block_on(balance.call(())).unwrap_err();
    assert!(
        matches!(&error, Error::Backend { id, .. } if id.as_str() == "a"),
        "{error:?}"
    );
    let a = balance.pool().status(&"a".into()).unwrap();
    assert_eq!((a.failures, a.in_flight), (1, None));
}

#[test]
fn the_balancer_is_send_and_sync_and_its_clones_share_one_pool() {
    fn send_sync<T: Send + Sync + Clone + 'static>(_: &T) {}
    let pool = Pool::new(
        LeastConnections::new(),
        vec![BackendSpec::new("b", http_backend())],
    )
    .unwrap();
    let balance = Balance::http(pool);
    send_sync(&balance);
    let mut clone = balance.clone();
    assert!(Arc::ptr_eq(balance.pool(), clone.pool()));
    let future = clone.call(get("/"));
    fn send<T: Send>(_: &T) {}
    send(&future);
    drop(future);
    assert_eq!(
        balance.pool().status(&"b".into()).unwrap().in_flight,
        Some(0)
    );
}

#[test]
fn a_context_made_from_the_request_keeps_each_key_on_one_backend() {
    let echo =
        |name: &'static str| service_fn(move |_path: String| async move { Outcome::Ok(name) });
    let pool = Pool::new(
        Rendezvous::new(),
        vec![
            BackendSpec::new("a", echo("a")),
            BackendSpec::new("b", echo("b")),
            BackendSpec::new("c", echo("c")),
        ],
    )
    .unwrap();
    let mut balance =
        Balance::new(pool).context(|path: &String| Context::new().key(path.as_bytes()));
    runtime().block_on(async {
        let mut seen: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for round in 0..5 {
            for user in 0..20 {
                let path = format!("/user/{user}");
                let _ = round;
                let answer = balance
                    .ready()
                    .await
                    .unwrap()
                    .call(path.clone())
                    .await
                    .unwrap();
                seen.entry(path).or_default().push(answer);
            }
        }
        for (path, answers) in &seen {
            assert!(
                answers.iter().all(|a| a == &answers[0]),
                "{path} went to {answers:?}"
            );
        }
        let used: std::collections::BTreeSet<_> = seen.values().map(|a| a[0]).collect();
        assert!(
            used.len() > 1,
            "twenty keys spread over more than one backend: {used:?}"
        );
    });
}

/// A `Discover` stream of the changes the test sends.
struct Changes<S>(mpsc::UnboundedReceiver<Result<Change<String, S>, io::Error>>);

impl<S> futures_core::Stream for Changes<S> {
    type Item = Result<Change<String, S>, io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// Waits (at most 5 s) until the pool's ids are `ids`.
async fn until_ids<S: pickwise::Strategy, B>(pool: &Pool<S, B>, ids: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now: Vec<String> = pool.backends().iter().map(|b| b.id.to_string()).collect();
        if now == ids {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "within 5 s the pool has {ids:?}, not {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[test]
fn a_discover_stream_inserts_and_removes_backends_and_backends_that_stay_keep_their_counters() {
    let pool = Arc::new(Pool::new(RoundRobin::new(), Vec::<BackendSpec<_>>::new()).unwrap());
    let mut balance = Balance::new(Arc::clone(&pool));
    let (send, receive) = mpsc::unbounded_channel();
    runtime().block_on(async {
        let following = {
            let pool = Arc::clone(&pool);
            tokio::spawn(async move {
                discover_with(&pool, Changes(receive), |key: &String| BackendId::new(key)).await
            })
        };
        send.send(Ok(Change::Insert("a".to_owned(), named("a", None))))
            .unwrap();
        send.send(Ok(Change::Insert("b".to_owned(), named("b", None))))
            .unwrap();
        until_ids(&pool, &["a", "b"]).await;
        for _ in 0..4 {
            balance.ready().await.unwrap().call(()).await.unwrap();
        }
        // b's service replaced by one that fails: same backend, counters kept.
        send.send(Ok(Change::Insert(
            "b".to_owned(),
            named("b", Some(io::ErrorKind::ConnectionReset)),
        )))
        .unwrap();
        send.send(Ok(Change::Remove("a".to_owned()))).unwrap();
        until_ids(&pool, &["b"]).await;
        assert_eq!(pool.status(&"b".into()).unwrap().successes, 2);
        let error = balance.ready().await.unwrap().call(()).await.unwrap_err();
        assert!(
            matches!(&error, Error::Backend { id, .. } if id.as_str() == "b"),
            "{error:?}"
        );
        assert_eq!(pool.status(&"b".into()).unwrap().failures, 1);

        // A removal of an unknown key changes nothing; the stream's end ends the task.
        send.send(Ok(Change::Remove("zzz".to_owned()))).unwrap();
        drop(send);
        let ended = tokio::time::timeout(Duration::from_secs(5), following).await;
        assert!(matches!(ended, Ok(Ok(Ok(())))), "{ended:?}");
        assert_eq!(pool.backends().len(), 1);
    });
}

#[test]
fn a_failing_discover_stream_stops_with_its_error_after_applying_the_changes_before_it() {
    let pool = Pool::new(RoundRobin::new(), Vec::<BackendSpec<_>>::new()).unwrap();
    let (send, receive) = mpsc::unbounded_channel();
    send.send(Ok(Change::Insert("a".to_owned(), named("a", None))))
        .unwrap();
    send.send(Err(io::Error::other("registry unreachable")))
        .unwrap();
    let result = runtime().block_on(discover_with(&pool, Changes(receive), |key: &String| {
        BackendId::new(key)
    }));
    match result {
        Err(DiscoverError::Discover(e)) => assert_eq!(e.to_string(), "registry unreachable"),
        other => panic!("expected the stream's error, got {other:?}"),
    }
    assert_eq!(pool.backends()[0].id.as_str(), "a");
}

#[test]
fn apply_change_replaces_a_service_keeping_the_backends_settings() {
    let pool = Pool::new(
        RoundRobin::new(),
        vec![BackendSpec::new("a", 1).weight(3).max_conns(7)],
    )
    .unwrap();
    apply_change(&pool, Change::Insert("a".into(), 2)).unwrap();
    assert_eq!(
        pool.specs(),
        vec![BackendSpec::new("a", 2).weight(3).max_conns(7)]
    );
}

#[test]
fn to_origin_refuses_an_origin_without_a_scheme_or_with_a_path() {
    let client = service_fn(|_: Request<()>| async { Ok::<_, Infallible>(()) });
    let error = ToOrigin::new(client, "127.0.0.1:8080")
        .unwrap_err()
        .to_string();
    assert!(error.contains("needs a scheme and a host"), "{error}");
    let error = ToOrigin::new(client, "http://127.0.0.1:8080/api")
        .unwrap_err()
        .to_string();
    assert!(error.contains("has a path"), "{error}");
    assert_eq!(
        ToOrigin::new(client, "http://127.0.0.1:8080/")
            .unwrap()
            .origin(),
        "http://127.0.0.1:8080"
    );
}

// ---------------------------------------------------------------------
// Beside tower's p2c, over real sockets.

/// Serves HTTP/1.1 on 127.0.0.1 (a free port), answering `name` after `delay`.
async fn serve(name: &'static str, delay: Duration) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let answer = hyper::service::service_fn(move |_: Request<Incoming>| async move {
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(name))))
                });
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), answer);
                let _ = connection.await;
            });
        }
    });
    addr
}

/// An address nothing listens on: a port bound, then released.
fn dead_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// What one balancer did with the requests.
#[derive(Debug, Default)]
struct Tally {
    answered: BTreeMap<String, usize>,
    failed: usize,
}

/// Sends `requests` GETs through `service`, `concurrency` at a time, and
/// counts who answered.
async fn drive<S, B>(mut service: S, requests: usize, concurrency: usize) -> Tally
where
    S: Service<Request<Empty<Bytes>>, Response = Response<B>>,
    S::Error: std::fmt::Debug,
    S::Future: Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
{
    let mut tally = Tally::default();
    let mut running = JoinSet::new();
    let count = |done: Result<Option<String>, tokio::task::JoinError>, tally: &mut Tally| match done
        .expect("a request task ends")
    {
        Some(name) => *tally.answered.entry(name).or_default() += 1,
        None => tally.failed += 1,
    };
    for _ in 0..requests {
        while running.len() >= concurrency {
            let done = running.join_next().await.expect("a task runs");
            count(done, &mut tally);
        }
        let ready = service.ready().await.expect("the balancer is ready");
        let call = ready.call(Request::get("/").body(Empty::new()).unwrap());
        running.spawn(async move {
            let response = call.await.ok()?;
            let body = response.into_body().collect().await.ok()?;
            Some(String::from_utf8_lossy(&body.to_bytes()).into_owned())
        });
    }
    while let Some(done) = running.join_next().await {
        count(done, &mut tally);
    }
    tally
}

/// Runs `requests` requests, `concurrency` at a time, through tower's p2c
/// (load: pending requests) and then through pickwise's peak EWMA (passive
/// health at its defaults: 5 failures in a row eject for 30 s), each over
/// three real backends on 127.0.0.1: one answering at once, one after
/// 50 ms, one dead (nothing listens on its port). Bounded: 60 s.
fn beside_p2c(requests: usize, concurrency: usize) -> (Tally, Tally) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let run = async {
        let fast = serve("fast", Duration::ZERO).await;
        let slow = serve("slow", Duration::from_millis(50)).await;
        let dead = dead_addr();
        let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
        let backend =
            |addr: SocketAddr| ToOrigin::new(client.clone(), &format!("http://{addr}")).unwrap();

        let list =
            tower::discover::ServiceList::new(vec![backend(fast), backend(slow), backend(dead)]);
        let load = tower::load::PendingRequestsDiscover::new(
            list,
            tower::load::CompleteOnResponse::default(),
        );
        let p2c = drive(
            tower::balance::p2c::Balance::new(load),
            requests,
            concurrency,
        )
        .await;

        let pool = Pool::new(
            PeakEwma::new(),
            vec![
                BackendSpec::new("fast", backend(fast)),
                BackendSpec::new("slow", backend(slow)),
                BackendSpec::new("dead", backend(dead)),
            ],
        )
        .unwrap();
        let balance = Balance::http(pool);
        let ours = drive(balance.clone(), requests, concurrency).await;
        let dead = balance.pool().status(&"dead".into()).unwrap();
        assert_eq!(
            dead.ejections, 1,
            "passive health ejected the dead backend: {dead:?}"
        );
        (p2c, ours)
    };
    let both = runtime.block_on(async { tokio::time::timeout(Duration::from_secs(60), run).await });
    let (p2c, ours) = both.expect("both balancers are done within 60 s");
    println!("{requests} requests, {concurrency} at a time");
    println!("  tower p2c (pending requests): {p2c:?}");
    println!("  pickwise peak-ewma:           {ours:?}");
    for tally in [&p2c, &ours] {
        let answered: usize = tally.answered.values().sum();
        assert_eq!(
            answered + tally.failed,
            requests,
            "every request is counted once"
        );
    }
    (p2c, ours)
}

/// One request at a time: p2c's pending-request load sees every backend
/// idle at each pick, so it picks at random (a third each); pickwise learns
/// from each outcome. (tower's own latency-aware load, PeakEwmaDiscover,
/// would avoid the slow backend too; nothing in tower ejects the dead one.)
#[test]
fn one_at_a_time_beside_towers_p2c_the_dead_backend_fails_five_requests_and_the_slow_one_gets_under_a_tenth(
) {
    const REQUESTS: usize = 150;
    let (p2c, ours) = beside_p2c(REQUESTS, 1);
    // Passive health ejects after 5 failures in a row, for longer than the run.
    assert_eq!(ours.failed, 5);
    // p2c sends about a third (50) to the dead backend; 20 is 5 standard
    // deviations below that.
    assert!(
        p2c.failed >= 20,
        "tower's p2c keeps picking the dead backend: {p2c:?}"
    );
    let slow = |t: &Tally| t.answered.get("slow").copied().unwrap_or(0);
    assert!(
        slow(&ours) <= REQUESTS / 10,
        "the slow backend gets under a tenth: {ours:?}"
    );
    assert!(
        slow(&p2c) >= 25,
        "p2c gives the slow backend about a third: {p2c:?}"
    );
}

/// Four at a time: the dead backend, idle by p2c's measure, draws every
/// pick it is a candidate for; pickwise ejects it after 5 failures in a
/// row (a few more may be under way then).
#[test]
fn four_at_a_time_beside_towers_p2c_the_dead_backend_fails_at_most_eight_requests() {
    const REQUESTS: usize = 300;
    const CONCURRENCY: usize = 4;
    let (p2c, ours) = beside_p2c(REQUESTS, CONCURRENCY);
    assert!(
        ours.failed >= 5 && ours.failed < 5 + CONCURRENCY,
        "{ours:?}"
    );
    assert!(
        p2c.failed >= REQUESTS / 5,
        "tower's p2c keeps picking the dead backend: {p2c:?}"
    );
}

/// tower's `Retry` over `Balance`, its policy spending pickwise's
/// `RetryBudget`: every backend failing, requests cost at most 1 + the
/// budget's share of tries (the same policy unbudgeted costs three).
#[cfg(feature = "tower-retry")]
#[tokio::test]
async fn towers_retry_over_balance_spends_a_pickwise_retry_budget() {
    use pickwise::tail::RetryBudget;
    use tower::retry::budget::Budget;
    use tower::retry::{Policy, Retry};

    /// Up to two retries a request, each only if the budget (any of
    /// tower's, here pickwise's) allows.
    #[derive(Clone)]
    struct Budgeted {
        budget: Option<Arc<dyn Budget + Send + Sync>>,
        left: usize,
        first: bool,
    }
    impl<Req: Clone, Res, E> Policy<Req, Res, E> for Budgeted {
        type Future = std::future::Ready<()>;
        fn retry(&mut self, _: &mut Req, result: &mut Result<Res, E>) -> Option<Self::Future> {
            if std::mem::take(&mut self.first) {
                if let Some(budget) = &self.budget {
                    budget.deposit();
                }
            }
            if result.is_ok() || self.left == 0 {
                return None;
            }
            self.left -= 1;
            let allowed = self.budget.as_ref().is_none_or(|b| b.withdraw());
            allowed.then(|| std::future::ready(()))
        }
        fn clone_request(&mut self, req: &Req) -> Option<Req> {
            Some(req.clone())
        }
    }

    let tries = Arc::new(AtomicUsize::new(0));
    let failing = |port: u16| {
        let tries = tries.clone();
        service_fn(move |_: u32| {
            tries.fetch_add(1, Ordering::Relaxed);
            std::future::ready(Err::<u32, io::Error>(io::Error::other(format!(
                "{port} fails"
            ))))
        })
    };
    // Passive health off: every try reaches a backend.
    let pool = |services: Vec<_>| {
        Pool::builder(RoundRobin::new())
            .health(HealthConfig::disabled())
            .build(
                services
                    .into_iter()
                    .enumerate()
                    .map(|(i, s)| BackendSpec::new(format!("b{i}"), s)),
            )
            .unwrap()
    };
    let requests = 1_000;
    let mut counts = Vec::new();
    let pickwise_budget: Arc<dyn Budget + Send + Sync> =
        Arc::new(RetryBudget::new(0.2, 0, Duration::from_secs(10)));
    for budget in [None, Some(pickwise_budget)] {
        tries.store(0, Ordering::Relaxed);
        let balance = Balance::new(pool((0..4).map(failing).collect()));
        let policy = Budgeted {
            budget,
            left: 2,
            first: true,
        };
        let mut retry = Retry::new(policy, balance);
        for i in 0..requests {
            let answer = retry.ready().await.unwrap().call(i).await;
            assert!(answer.is_err());
        }
        counts.push(tries.load(Ordering::Relaxed));
    }
    assert_eq!(
        counts[0],
        3 * requests as usize,
        "unbudgeted: three tries each"
    );
    assert!(
        counts[1] <= requests as usize * 12 / 10 + 1,
        "budgeted: {} tries for {requests} requests",
        counts[1]
    );
}

/// tower's `Hedge` over `Balance`, its policy wrapped in pickwise's
/// `BudgetedHedge`: one backend answers at once, the other after 30 ms;
/// with a hedge delay of 1 ms (the timer's grain) nearly every request is
/// hedged unbudgeted, and at most the budget's share within it.
#[cfg(feature = "tower-hedge")]
#[tokio::test]
async fn towers_hedge_over_balance_sends_its_copies_within_a_pickwise_budget() {
    use pickwise::tail::{BudgetedHedge, RetryBudget};
    use tower::hedge::{Hedge, Policy};

    /// Every request may be copied.
    #[derive(Clone)]
    struct Any;
    impl Policy<u32> for Any {
        fn clone_request(&self, req: &u32) -> Option<u32> {
            Some(*req)
        }
        fn can_retry(&self, _: &u32) -> bool {
            true
        }
    }

    let calls = Arc::new(AtomicUsize::new(0));
    let backend = |delay_ms: u64| {
        let calls = calls.clone();
        service_fn(move |req: u32| {
            calls.fetch_add(1, Ordering::Relaxed);
            async move {
                tokio::time::sleep(Duration::from_millis(delay_ms)).await;
                Ok::<u32, io::Error>(req)
            }
        })
    };
    let requests: u32 = 100;
    // Fast answers seen before: the hedge goes after the p50 (1 ms).
    let seen = [1u64; 100];
    let mut counts = Vec::new();
    for share in [None, Some(0.1)] {
        calls.store(0, Ordering::Relaxed);
        let pool = Pool::builder(RoundRobin::new())
            .health(HealthConfig::disabled())
            .build([
                BackendSpec::new("fast", backend(0)),
                BackendSpec::new("slow", backend(30)),
            ])
            .unwrap();
        let balance = Balance::new(pool);
        let period = Duration::from_secs(60);
        let answers = match share {
            None => {
                let mut hedge = Hedge::new_with_mock_latencies(balance, Any, 1, 0.5, period, &seen);
                let mut answers = Vec::new();
                for i in 0..requests {
                    answers.push(hedge.ready().await.unwrap().call(i).await.unwrap());
                }
                answers
            }
            Some(share) => {
                let budget = Arc::new(RetryBudget::new(share, 0, Duration::from_secs(10)));
                let policy = BudgetedHedge::new(Any, budget);
                let mut hedge =
                    Hedge::new_with_mock_latencies(balance, policy, 1, 0.5, period, &seen);
                let mut answers = Vec::new();
                for i in 0..requests {
                    answers.push(hedge.ready().await.unwrap().call(i).await.unwrap());
                }
                answers
            }
        };
        assert_eq!(answers, (0..requests).collect::<Vec<_>>());
        counts.push(calls.load(Ordering::Relaxed) - requests as usize);
    }
    eprintln!(
        "hedges for {requests} requests: {} unbudgeted, {} within 10%",
        counts[0], counts[1]
    );
    assert!(counts[0] >= 40, "unbudgeted: {} hedges", counts[0]);
    assert!(counts[1] >= 5, "the budget allowed none: {}", counts[1]);
    assert!(
        counts[1] <= requests as usize / 10 + 1,
        "within 10%: {} hedges",
        counts[1]
    );
}
