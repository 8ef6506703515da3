//! `--backend SPEC`: a backend by address, or a host name followed through
//! DNS. Both parse through the library (`BackendSpec` and `DnsTarget`), so
//! the proxies accept and refuse exactly the words the library does.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use pickwise::dns::DnsTarget;
use pickwise::{BackendSpec, ConfigError};

/// The words of a backend SPEC, for `--help` and DESIGN.md.
pub const SPEC_HELP: &str = "A backend: ADDR[,weight=N][,max_conns=N][,backup|,priority=N]\
[,agent=ADDR][,id=NAME]. ADDR is IP:PORT, [v6]:PORT, or host:PORT: a name \
looked up through DNS (--resolver) and followed as its records change (every \
address a backend; agent= and id= need an IP). max_conns caps requests in \
flight; backup (priority 1) and priority=N (0..=15) make tiers used when the \
better ones cannot serve. Repeat for each (at least one without --config)";

/// One `--backend`: an address with its words, or a name to follow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackendArg {
    /// `IP:PORT[,words]`: one backend, as written.
    Address(BackendSpec<SocketAddr>),
    /// `host:PORT[,words]`: every address the name resolves to.
    Name(DnsTarget),
}

/// An IP address with its port is one backend; anything else is a name
/// for DNS (whose parser says what is wrong with it, e.g. a missing port).
impl FromStr for BackendArg {
    type Err = ConfigError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let head = text.split(',').next().unwrap_or_default().trim();
        if head.parse::<SocketAddr>().is_ok() {
            text.parse().map(BackendArg::Address)
        } else {
            text.parse().map(BackendArg::Name)
        }
    }
}

impl fmt::Display for BackendArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackendArg::Address(spec) => write!(f, "{}", spec.id),
            BackendArg::Name(target) => write!(f, "{}", target.value),
        }
    }
}

/// Splits the `--backend` values into the fixed backends and the names.
pub fn split(args: &[BackendArg]) -> (Vec<BackendSpec<SocketAddr>>, Vec<DnsTarget>) {
    let mut fixed = Vec::new();
    let mut names = Vec::new();
    for arg in args {
        match arg {
            BackendArg::Address(spec) => fixed.push(spec.clone()),
            BackendArg::Name(target) => names.push(target.clone()),
        }
    }
    (fixed, names)
}
