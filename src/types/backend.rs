//! Backends as the user describes them: a stable id, a weight and a payload.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;

use crate::types::ConfigError;

/// The largest configured weight a backend may have.
///
/// Weights above it are rejected rather than clamped: a weight of four billion
/// is far more likely a typo than a wish, and bounding it keeps every weighted
/// sum in the strategies far from overflow.
pub const MAX_WEIGHT: u32 = 1_000_000;

/// The largest number of backends one set may hold.
pub const MAX_BACKENDS: usize = 65_536;

/// A backend's stable identity: what survives set updates, keys the per-backend
/// counters, and what hash strategies hash (so two proxies agree).
///
/// Cloning is cheap (a reference count).
///
/// ```
/// use pickwise::BackendId;
/// let id = BackendId::new("w1");
/// assert_eq!(id.as_str(), "w1");
/// assert_eq!(id, BackendId::from("w1"));
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BackendId(Arc<str>);

impl BackendId {
    /// An id from any string.
    pub fn new(id: impl AsRef<str>) -> Self {
        BackendId(Arc::from(id.as_ref()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for BackendId {
    fn from(s: &str) -> Self {
        BackendId::new(s)
    }
}

impl From<String> for BackendId {
    fn from(s: String) -> Self {
        BackendId(Arc::from(s))
    }
}

impl From<SocketAddr> for BackendId {
    fn from(addr: SocketAddr) -> Self {
        BackendId::from(addr.to_string())
    }
}

impl fmt::Display for BackendId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for BackendId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// One backend as handed to a pool: id, configured weight, optional agent
/// address and the caller's payload `B` (an address, a connection pool, ...).
///
/// ```
/// use pickwise::BackendSpec;
/// use std::net::SocketAddr;
///
/// let spec: BackendSpec<SocketAddr> = "127.0.0.1:8002,weight=2,agent=127.0.0.1:9002".parse()?;
/// assert_eq!(spec.weight, 2);
/// assert_eq!(spec.id.as_str(), "127.0.0.1:8002");
/// assert_eq!(spec.agent, Some("127.0.0.1:9002".parse()?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendSpec<B> {
    /// Stable identity; defaults to the address when parsed.
    pub id: BackendId,
    /// Configured weight, `1..=MAX_WEIGHT`.
    pub weight: u32,
    /// Where this backend's agent answers, if it has one (the pool does not
    /// poll it: the caller's runtime does, and feeds the reply to the pool).
    pub agent: Option<SocketAddr>,
    /// The caller's payload, handed back by every pick of this backend.
    pub value: B,
}

impl<B> BackendSpec<B> {
    /// A backend of weight 1 with no agent.
    pub fn new(id: impl Into<BackendId>, value: B) -> Self {
        BackendSpec {
            id: id.into(),
            weight: 1,
            agent: None,
            value,
        }
    }

    /// Sets the configured weight (validated when the set is built).
    pub fn weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// Sets the agent address.
    pub fn agent(mut self, agent: SocketAddr) -> Self {
        self.agent = Some(agent);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.id.as_str().is_empty() {
            return Err(ConfigError::EmptyId);
        }
        if self.weight == 0 || self.weight > MAX_WEIGHT {
            return Err(ConfigError::Weight {
                id: self.id.clone(),
                weight: u64::from(self.weight),
            });
        }
        Ok(())
    }
}

impl From<SocketAddr> for BackendSpec<SocketAddr> {
    fn from(addr: SocketAddr) -> Self {
        BackendSpec::new(addr, addr)
    }
}

/// Parses `ADDR[,weight=N][,agent=ADDR][,id=NAME]`, where `ADDR` is an IP
/// literal and port (`127.0.0.1:8001`, `[::1]:80`). Names are not resolved:
/// resolving is I/O, and the library does none.
impl FromStr for BackendSpec<SocketAddr> {
    type Err = ConfigError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |why: String| ConfigError::BackendSpec {
            spec: text.to_owned(),
            why,
        };
        let mut parts = text.split(',').map(str::trim);
        let addr_text = parts.next().unwrap_or_default();
        let addr = parse_addr(addr_text).map_err(&bad)?;
        let mut spec = BackendSpec::from(addr);
        for option in parts {
            let (key, value) = option
                .split_once('=')
                .ok_or_else(|| bad(format!("`{option}` is not KEY=VALUE")))?;
            match key.trim() {
                "weight" => {
                    let weight: u64 = value
                        .trim()
                        .parse()
                        .map_err(|_| bad(format!("weight `{value}` is not a whole number")))?;
                    if weight == 0 || weight > u64::from(MAX_WEIGHT) {
                        return Err(bad(format!("weight {weight} is outside 1..={MAX_WEIGHT}")));
                    }
                    spec.weight = weight as u32;
                }
                "agent" => spec.agent = Some(parse_addr(value.trim()).map_err(&bad)?),
                "id" if !value.trim().is_empty() => spec.id = BackendId::new(value.trim()),
                "id" => return Err(bad("id is empty".into())),
                other => {
                    return Err(bad(format!(
                        "unknown option `{other}` (expected weight, agent or id)"
                    )))
                }
            }
        }
        Ok(spec)
    }
}

fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    if text.is_empty() {
        return Err("the address is missing".into());
    }
    text.parse().map_err(|_| {
        format!("`{text}` is not IP:PORT (IPv6 goes in brackets, `[::1]:80`; host names are not resolved)")
    })
}
