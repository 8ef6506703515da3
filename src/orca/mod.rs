//! ORCA load reports: what a backend says about its own load, per call, in
//! a response header or trailer, for weights that follow real server load.
//!
//! [ORCA](https://github.com/envoyproxy/envoy/issues/6614) (Open Request
//! Cost Aggregation) is the format gRPC and Envoy share: the
//! `OrcaLoadReport` message of
//! [`xds/data/orca/v3/orca_load_report.proto`](https://github.com/cncf/xds/blob/main/xds/data/orca/v3/orca_load_report.proto)
//! (CPU, memory and application utilization, queries and errors per
//! second, named metrics). A backend sends it on each response in one of
//! three forms, all read here:
//!
//! | header | form | read by |
//! |---|---|---|
//! | `endpoint-load-metrics` | `TEXT cpu_utilization=0.3, rps_fractional=10, named_metrics.foo=1` | [`LoadReport::parse`] |
//! | `endpoint-load-metrics` | `JSON {"cpu_utilization": 0.3, "rps_fractional": 10}` | [`LoadReport::parse`] |
//! | `endpoint-load-metrics-bin` | the message, base64 as gRPC sends binary metadata | [`LoadReport::parse_bin`] |
//!
//! [`LoadReport::decode`] reads the message's bytes as they are (tonic's
//! `MetadataMap::get_bin` hands them over already decoded), and
//! [`LoadReport::to_text`] / [`LoadReport::encode`] write the forms a
//! backend sends.
//!
//! `from_headers` (feature `tower`) finds a report in an HTTP response's
//! headers or trailers.
//!
//! A report reaches the pool through [`Pool::apply_load_report`](crate::Pool::apply_load_report)
//! or the request's own guard ([`Pick::record_load_report`](crate::Pick::record_load_report),
//! [`Ticket::record_load_report`](crate::Ticket::record_load_report)); the
//! tower layer reads the headers itself when the pool's strategy asks for
//! reports. [`OrcaWrr`](crate::strategy::OrcaWrr) turns them into weights
//! as gRPC's `weighted_round_robin` policy does
//! ([gRFC A58](https://github.com/grpc/proposal/blob/master/A58-client-side-weighted-round-robin-lb-policy.md)):
//! [`LoadReport::weight`].
//!
//! ```
//! use pickwise::orca::LoadReport;
//!
//! let report = LoadReport::parse(b"TEXT cpu_utilization=0.5, rps_fractional=200, eps=4")?;
//! assert_eq!(report.cpu_utilization, 0.5);
//! // gRFC A58: qps / (utilization + eps / qps * penalty)
//! assert_eq!(report.weight(1.0), Some(200.0 / (0.5 + 4.0 / 200.0)));
//! assert_eq!(LoadReport::parse(report.to_text().as_bytes())?, report);
//! assert_eq!(LoadReport::decode(&report.encode())?, report);
//! # Ok::<(), pickwise::orca::OrcaError>(())
//! ```

mod proto;
mod text;

use std::fmt;

/// The header of the text and JSON forms (`TEXT ...`, `JSON {...}`).
pub const HEADER: &str = "endpoint-load-metrics";
/// The header of the binary form: the `OrcaLoadReport` message, base64.
pub const HEADER_BIN: &str = "endpoint-load-metrics-bin";

/// The report in a response's headers or trailers, if any: the binary
/// form first (`endpoint-load-metrics-bin`), else the text or JSON one;
/// `Some(Err)` when the one found does not parse. Feature `tower`.
#[cfg(feature = "tower")]
pub fn from_headers(headers: &http::HeaderMap) -> Option<Result<LoadReport, OrcaError>> {
    if let Some(value) = headers.get(HEADER_BIN) {
        return Some(LoadReport::parse_bin(value.as_bytes()));
    }
    headers
        .get(HEADER)
        .map(|value| LoadReport::parse(value.as_bytes()))
}

/// One load report: the fields of ORCA's `OrcaLoadReport`, zero where the
/// backend did not say.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    /// CPU utilization, a fraction of the CPU the backend has (may exceed 1
    /// past a soft limit).
    pub cpu_utilization: f64,
    /// Memory utilization, a fraction of the memory the backend has.
    pub mem_utilization: f64,
    /// Utilization as the application itself measures it; when above zero
    /// it replaces `cpu_utilization` in [`weight`](Self::weight).
    pub application_utilization: f64,
    /// Queries per second the backend serves (the deprecated integer `rps`
    /// field is read into it when this one is absent).
    pub rps_fractional: f64,
    /// Errors per second.
    pub eps: f64,
    /// Per-request costs (`request_cost.NAME`), in the order received.
    pub request_cost: Vec<(String, f64)>,
    /// Named utilizations (`utilization.NAME`), each 0..=1.
    pub utilization: Vec<(String, f64)>,
    /// Application metrics (`named_metrics.NAME`), any value.
    pub named_metrics: Vec<(String, f64)>,
}

impl LoadReport {
    /// Parses the value of an `endpoint-load-metrics` header: `TEXT` then
    /// `name=value` pairs separated by commas, or `JSON` then an object.
    /// Names are the message's fields (`cpu_utilization`, `rps_fractional`,
    /// ...), maps as `named_metrics.NAME`; JSON also takes the lowerCamelCase
    /// names of protobuf's JSON mapping and nested objects for the maps.
    /// An unknown field, a value that is not a finite number, or a negative
    /// utilization, rate or cost is refused with its name.
    pub fn parse(value: &[u8]) -> Result<Self, OrcaError> {
        text::parse(value)
    }

    /// Parses the value of an `endpoint-load-metrics-bin` header: the
    /// message in base64 (padded or not), as gRPC sends binary metadata.
    pub fn parse_bin(value: &[u8]) -> Result<Self, OrcaError> {
        let bytes = proto::base64_decode(value)?;
        Self::decode(&bytes)
    }

    /// Decodes the `OrcaLoadReport` message from its protobuf bytes.
    /// Unknown fields are skipped, as protobuf readers do.
    pub fn decode(bytes: &[u8]) -> Result<Self, OrcaError> {
        let report = proto::decode(bytes)?;
        report.validate()?;
        Ok(report)
    }

    /// The report in the `TEXT` form of `endpoint-load-metrics` (the value,
    /// `TEXT ` included), zero fields left out.
    pub fn to_text(&self) -> String {
        text::to_text(self)
    }

    /// The report as `OrcaLoadReport` protobuf bytes, zero fields left out.
    pub fn encode(&self) -> Vec<u8> {
        proto::encode(self)
    }

    /// The report as an `endpoint-load-metrics-bin` header value (base64,
    /// padded).
    pub fn to_bin(&self) -> String {
        proto::base64_encode(&self.encode())
    }

    /// The utilization weights follow: the application's when it gave one
    /// above zero, else the CPU's (gRFC A58).
    pub fn load(&self) -> f64 {
        if self.application_utilization > 0.0 {
            self.application_utilization
        } else {
            self.cpu_utilization
        }
    }

    /// The backend's weight as gRFC A58 computes it:
    /// `qps / (utilization + eps / qps * error_penalty)`, where utilization
    /// is [`load`](Self::load). `None` when queries per second or
    /// utilization is zero: such a report says nothing about capacity.
    pub fn weight(&self, error_penalty: f64) -> Option<f64> {
        let qps = self.rps_fractional;
        let utilization = self.load();
        if !(qps > 0.0 && utilization > 0.0) {
            return None;
        }
        let weight = qps / (utilization + self.eps / qps * error_penalty);
        (weight.is_finite() && weight > 0.0).then_some(weight)
    }

    /// Refuses what ORCA forbids: a value that is not finite, or a
    /// negative one (every field is a utilization, a rate or a cost; only
    /// named metrics may be anything finite).
    fn validate(&self) -> Result<(), OrcaError> {
        let fields = [
            ("cpu_utilization", self.cpu_utilization),
            ("mem_utilization", self.mem_utilization),
            ("application_utilization", self.application_utilization),
            ("rps_fractional", self.rps_fractional),
            ("eps", self.eps),
        ];
        for (name, value) in fields {
            check_value(name, value, false)?;
        }
        for (map, entries, any_sign) in [
            ("request_cost", &self.request_cost, false),
            ("utilization", &self.utilization, false),
            ("named_metrics", &self.named_metrics, true),
        ] {
            for (name, value) in entries {
                check_value(&format!("{map}.{name}"), *value, any_sign)?;
            }
        }
        Ok(())
    }
}

fn check_value(name: &str, value: f64, any_sign: bool) -> Result<(), OrcaError> {
    if !value.is_finite() || (!any_sign && value < 0.0) {
        return Err(OrcaError::Value {
            field: name.to_string(),
            value: value.to_string(),
        });
    }
    Ok(())
}

/// Why a load report was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OrcaError {
    /// The header value starts with neither `TEXT` nor `JSON`.
    Format(String),
    /// The text or JSON does not parse; `at` is the byte offset.
    Syntax {
        /// Byte offset in the header value.
        at: usize,
        /// What was expected there.
        why: &'static str,
    },
    /// A field the report does not have.
    UnknownField(String),
    /// A field's value is not a finite number, or is negative where ORCA
    /// forbids it.
    Value {
        /// The field (`cpu_utilization`, `named_metrics.NAME`).
        field: String,
        /// Its value as received.
        value: String,
    },
    /// The binary form is not valid base64 or not a valid message.
    Binary(&'static str),
}

impl fmt::Display for OrcaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrcaError::Format(start) => write!(
                f,
                "load report: expected TEXT or JSON at the start, got {start:?}"
            ),
            OrcaError::Syntax { at, why } => write!(f, "load report: at byte {at}: {why}"),
            OrcaError::UnknownField(name) => write!(f, "load report: unknown field {name:?}"),
            OrcaError::Value { field, value } => write!(
                f,
                "load report: {field} = {value:?} is not a finite number at or above zero"
            ),
            OrcaError::Binary(why) => write!(f, "load report (binary form): {why}"),
        }
    }
}

impl std::error::Error for OrcaError {}

#[cfg(test)]
mod tests;
