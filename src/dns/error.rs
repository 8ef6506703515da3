//! Why a lookup failed, in the words of DNS.

use std::error::Error;
use std::fmt;

use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::ResolveError;

/// A lookup that gave no usable answer: what was asked, and why it failed.
///
/// ```
/// use pickwise::dns::{DnsError, DnsErrorKind};
///
/// let error = DnsError::new("A/AAAA lookup of `web.example.test`", DnsErrorKind::NxDomain);
/// assert_eq!(
///     error.to_string(),
///     "A/AAAA lookup of `web.example.test` failed: the name does not exist (NXDOMAIN)"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsError {
    query: String,
    kind: DnsErrorKind,
}

/// The ways a lookup fails.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DnsErrorKind {
    /// The server says the name does not exist (NXDOMAIN).
    NxDomain,
    /// The name exists but has no records of the type asked (or an SRV
    /// name's only target is `.`, "no service here").
    NoRecords,
    /// The server failed to answer (SERVFAIL).
    ServerFailure,
    /// The server refused the query (REFUSED).
    Refused,
    /// No answer came within the timeout, on every attempt.
    Timeout,
    /// Anything else: the resolver's own words.
    Other(String),
}

impl DnsError {
    /// An error of `kind` for `query` (what was asked, e.g. "SRV lookup of
    /// `_http._tcp.example.test`").
    pub fn new(query: impl Into<String>, kind: DnsErrorKind) -> Self {
        DnsError {
            query: query.into(),
            kind,
        }
    }

    /// What was asked.
    pub fn query(&self) -> &str {
        &self.query
    }

    /// Why it failed.
    pub fn kind(&self) -> &DnsErrorKind {
        &self.kind
    }

    /// The resolver's error, classified.
    pub(crate) fn from_resolve(query: String, error: &ResolveError) -> Self {
        let kind = match error.proto().map(|p| p.kind()) {
            Some(ProtoErrorKind::NoRecordsFound { response_code, .. }) => match *response_code {
                ResponseCode::NXDomain => DnsErrorKind::NxDomain,
                ResponseCode::NoError => DnsErrorKind::NoRecords,
                ResponseCode::ServFail => DnsErrorKind::ServerFailure,
                ResponseCode::Refused => DnsErrorKind::Refused,
                code => DnsErrorKind::Other(format!("the server answered {code}")),
            },
            Some(ProtoErrorKind::Timeout) => DnsErrorKind::Timeout,
            Some(ProtoErrorKind::Io(io)) if io.kind() == std::io::ErrorKind::TimedOut => {
                DnsErrorKind::Timeout
            }
            _ => DnsErrorKind::Other(error.to_string()),
        };
        DnsError::new(query, kind)
    }
}

impl fmt::Display for DnsErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsErrorKind::NxDomain => f.write_str("the name does not exist (NXDOMAIN)"),
            DnsErrorKind::NoRecords => f.write_str("no records of that type"),
            DnsErrorKind::ServerFailure => f.write_str("the server failed (SERVFAIL)"),
            DnsErrorKind::Refused => f.write_str("the server refused the query (REFUSED)"),
            DnsErrorKind::Timeout => f.write_str("no answer in time (timed out)"),
            DnsErrorKind::Other(text) => f.write_str(text),
        }
    }
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.query, self.kind)
    }
}

impl Error for DnsError {}
