//! gRPC (feature `grpc`): what a client-side balancer of gRPC calls needs
//! beside the strategies.
//!
//! - [`GrpcClassifier`] (in `status`): a call's outcome from its gRPC
//!   status, read where gRPC puts it (the trailers, or the head of a
//!   trailers-only response), with a documented table ([`outcome_of`]):
//!   transport errors and `UNAVAILABLE` are the backend's failures,
//!   `DEADLINE_EXCEEDED` a timeout, application statuses such as
//!   `INVALID_ARGUMENT` or `NOT_FOUND` never count against a backend. Use
//!   it with [`Balance`](crate::tower::Balance) over one tonic `Channel`
//!   (or any HTTP/2 client) per backend.
//! - [`HeaderKey`] (in `key`): the hash key from a request header, as
//!   [gRFC A76](https://github.com/grpc/proposal/blob/master/A76-ring-hash-improvements.md)
//!   sets it for ring hash: the header's value when present, a random
//!   hash when it is missing.
//! - [`GrpcHealthCheck`] (in `health`): the
//!   [gRPC health-checking protocol](https://github.com/grpc/grpc/blob/master/doc/health-checking.md)
//!   (`grpc.health.v1.Health/Check`, which Kubernetes and Envoy speak) as
//!   a [`Check`](crate::health_check::Check) the health checker runs,
//!   over HTTP/2 without TLS (h2c).
//!
//! The library depends on no gRPC framework: the status table reads
//! `grpc-status` from `http` headers, and the health check writes its
//! two small protobuf messages by hand over the `h2` crate.

mod health;
mod key;
mod status;

pub use health::GrpcHealthCheck;
pub use key::HeaderKey;
pub use status::{outcome_of, outcome_of_trailers, GrpcClassifier, StatusCode};
