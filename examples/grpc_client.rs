//! A gRPC client balancing its calls over several servers: one tonic
//! `Channel` per server in a pickwise pool, calls classified by their gRPC
//! status, servers checked with gRPC's health protocol.
//!
//! ```text
//! cargo run --example grpc_client --features grpc                  # three demo servers in process
//! cargo run --example grpc_client --features grpc -- 10.0.0.1:50051 10.0.0.2:50051
//! ```
//!
//! Each server must serve `grpc.health.v1.Health` (the call made here, and
//! the health check). Without addresses, the example starts three tonic
//! health servers on 127.0.0.1 and stops one halfway, to show the balancer
//! leaving it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use pickwise::grpc::{GrpcClassifier, GrpcHealthCheck};
use pickwise::health_check::{CheckConfig, HealthChecker};
use pickwise::strategy::P2c;
use pickwise::tower::Balance;
use pickwise::{BackendSpec, Pool};
use tonic::transport::Channel;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// A tonic health server on 127.0.0.1 until `stop` fires.
async fn demo_server(stop: tokio::sync::oneshot::Receiver<()>) -> Result<SocketAddr, Error> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (_reporter, service) = tonic_health::server::health_reporter();
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tokio::spawn(async move {
        let server = tonic::transport::Server::builder();
        let stopped = async {
            let _ = stop.await;
        };
        let _ = server
            .serve_with_incoming_shutdown(service, incoming, stopped)
            .await;
    });
    Ok(addr)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut addrs: Vec<SocketAddr> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let mut stop_one = None;
    if addrs.is_empty() {
        for i in 0..3 {
            let (stop, stopped) = tokio::sync::oneshot::channel();
            addrs.push(demo_server(stopped).await?);
            if i == 2 {
                stop_one = Some(stop);
            } else {
                std::mem::forget(stop); // runs until the example ends
            }
        }
        println!("three demo servers: {addrs:?}");
    }

    // One lazily connected channel per server; the pool picks among them.
    let backends = addrs.iter().map(|addr| {
        let channel = Channel::from_shared(format!("http://{addr}"))
            .expect("an address is a valid URI")
            .connect_timeout(Duration::from_secs(1))
            .connect_lazy();
        BackendSpec::new(*addr, channel)
    });
    let pool = Arc::new(Pool::new(P2c::new(), backends)?);

    // gRPC's health protocol every 500 ms, beside the calls.
    let config = CheckConfig {
        interval: Duration::from_millis(500),
        ..CheckConfig::default()
    };
    let targets: Vec<SocketAddr> = addrs.clone();
    let _checker = HealthChecker::new(config, GrpcHealthCheck::new())?
        .on_event(|event| {
            if !event.result.passed() {
                println!("  {event}");
            }
        })
        .spawn_tokio(Arc::clone(&pool), move |spec| {
            targets
                .iter()
                .find(|a| a.to_string() == spec.id.as_str())
                .copied()
        })?;

    let balance = Balance::new(Arc::clone(&pool)).classify(GrpcClassifier);
    let mut client = HealthClient::new(balance);
    for round in 0..2 {
        let mut failed = 0;
        for _ in 0..50 {
            let request = HealthCheckRequest {
                service: String::new(),
            };
            if let Err(status) = client.check(request).await {
                failed += 1;
                println!("  call failed: {:?}: {}", status.code(), status.message());
            }
        }
        println!("round {round}: 50 calls, {failed} failed");
        for backend in pool.backends() {
            println!(
                "  {:<18} {:<10} {:>3} ok {:>2} failed  {}",
                backend.id.to_string(),
                backend.state.to_string(),
                backend.successes,
                backend.failures,
                backend.reason
            );
        }
        if let Some(stop) = stop_one.take() {
            let _ = stop.send(());
            println!("stopped {}", addrs[2]);
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    Ok(())
}
