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
    /// The id as it is, but with control characters (a newline, a CR, a
    /// NUL) escaped as `\n`, `\r`, `\u{0}`: an id built from outside text
    /// cannot forge a log line. The spec parser and config files refuse
    /// such ids; this covers ids built in code.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_escaping_controls(f, &self.0)
    }
}

/// Text from outside shown with its control characters escaped (see
/// [`write_escaping_controls`]): `format!("{}", Escaped(text))`.
pub(crate) struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_escaping_controls(f, self.0)
    }
}

/// Writes `text` with its control characters escaped (`\n`, `\r`,
/// `\u{0}`), the rest as it is: for text from outside (ids, agent replies)
/// that ends up in logs.
fn write_escaping_controls(f: &mut impl fmt::Write, text: &str) -> fmt::Result {
    if !text.chars().any(char::is_control) {
        return f.write_str(text);
    }
    for c in text.chars() {
        match c.is_control() {
            true => write!(f, "{}", c.escape_default())?,
            false => f.write_char(c)?,
        }
    }
    Ok(())
}

impl fmt::Debug for BackendId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// The largest priority a backend may have (see [`BackendSpec::priority`]).
pub const MAX_PRIORITY: u8 = 15;

/// The largest per-backend cap on requests in flight (see
/// [`BackendSpec::max_conns`]).
pub const MAX_CONNS: u32 = 1 << 30;

/// One backend as handed to a pool: id, configured weight, priority (tier),
/// cap on requests in flight, optional agent address and the caller's
/// payload `B` (an address, a connection pool, ...).
///
/// ```
/// use pickwise::BackendSpec;
/// use std::net::SocketAddr;
///
/// let spec: BackendSpec<SocketAddr> = "127.0.0.1:8002,weight=2,agent=127.0.0.1:9002".parse()?;
/// assert_eq!(spec.weight, 2);
/// assert_eq!(spec.id.as_str(), "127.0.0.1:8002");
/// assert_eq!(spec.agent, Some("127.0.0.1:9002".parse()?));
///
/// // A backup (priority 1) that takes at most 100 requests at once.
/// let spare: BackendSpec<SocketAddr> = "127.0.0.1:8009,backup,max_conns=100".parse()?;
/// assert_eq!((spare.priority, spare.max_conns), (1, Some(100)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendSpec<B> {
    /// Stable identity; defaults to the address when parsed.
    pub id: BackendId,
    /// Configured weight, `1..=MAX_WEIGHT`.
    pub weight: u32,
    /// Where this backend's agent answers, if it has one (the pool does not
    /// poll it: `health_check::AgentPoll` or the caller's own code does, and
    /// feeds the reply to the pool).
    pub agent: Option<SocketAddr>,
    /// Its tier, `0..=MAX_PRIORITY`: 0 (the default) is the primary tier,
    /// 1 the backups. Traffic goes to the best tier while enough of it is
    /// available and spills to the next as its available share drops (see
    /// [`PoolBuilder::overprovisioning`](crate::PoolBuilder::overprovisioning)).
    pub priority: u8,
    /// The most requests it may have in flight at once (nginx's
    /// `max_conns`), or `None` for no cap. A backend at its cap is skipped
    /// by every strategy; when every eligible backend is at its cap the pick
    /// fails with [`NoBackend::AtCapacity`](crate::NoBackend::AtCapacity).
    pub max_conns: Option<u32>,
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
            priority: 0,
            max_conns: None,
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

    /// The same spec with its payload turned into another, e.g. an address
    /// into a connection pool.
    ///
    /// ```
    /// use pickwise::BackendSpec;
    /// let spec = BackendSpec::new("a", 8001).backup().map(|port| format!("127.0.0.1:{port}"));
    /// assert_eq!((spec.value.as_str(), spec.priority), ("127.0.0.1:8001", 1));
    /// ```
    pub fn map<C>(self, payload: impl FnOnce(B) -> C) -> BackendSpec<C> {
        BackendSpec {
            id: self.id,
            weight: self.weight,
            agent: self.agent,
            priority: self.priority,
            max_conns: self.max_conns,
            value: payload(self.value),
        }
    }

    /// Sets the priority (tier): 0 is the primary tier (validated when the
    /// set is built: at most [`MAX_PRIORITY`]).
    pub fn priority(mut self, priority: u8) -> Self {
        self.priority = priority;
        self
    }

    /// Makes it a backup: priority 1, picked only when the primaries cannot
    /// take the traffic (nginx's `backup`).
    pub fn backup(self) -> Self {
        self.priority(1)
    }

    /// Caps its requests in flight at `max_conns` (`1..=MAX_CONNS`,
    /// validated when the set is built).
    pub fn max_conns(mut self, max_conns: u32) -> Self {
        self.max_conns = Some(max_conns);
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
        if self.priority > MAX_PRIORITY {
            return Err(ConfigError::Invalid {
                setting: "priority",
                why: format!(
                    "backend `{}` has priority {}, above the largest, {MAX_PRIORITY}",
                    self.id, self.priority
                ),
            });
        }
        if let Some(cap) = self.max_conns {
            if cap == 0 || cap > MAX_CONNS {
                return Err(ConfigError::Invalid {
                    setting: "max_conns",
                    why: format!(
                        "backend `{}` has max_conns {cap}, outside 1..={MAX_CONNS}",
                        self.id
                    ),
                });
            }
        }
        Ok(())
    }
}

impl From<SocketAddr> for BackendSpec<SocketAddr> {
    fn from(addr: SocketAddr) -> Self {
        BackendSpec::new(addr, addr)
    }
}

/// The options a backend spec may carry after its address.
pub const SPEC_KEYS: &[&str] = &["weight", "agent", "id", "priority", "backup", "max_conns"];

/// Parses `ADDR[,weight=N][,agent=ADDR][,id=NAME][,priority=N|,backup][,max_conns=N]`,
/// where `ADDR` is an IP literal and port (`127.0.0.1:8001`, `[::1]:80`).
/// Each key may appear once; `backup` (priority 1) and `priority` exclude
/// each other. Names are not resolved: resolving is I/O, and the library
/// does none.
///
/// ```
/// use pickwise::BackendSpec;
/// use std::net::SocketAddr;
///
/// let twice = "127.0.0.1:80,weight=2,weight=3".parse::<BackendSpec<SocketAddr>>();
/// assert_eq!(
///     twice.unwrap_err().to_string(),
///     "bad backend `127.0.0.1:80,weight=2,weight=3`: `weight` appears twice"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl FromStr for BackendSpec<SocketAddr> {
    type Err = ConfigError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        parse_spec(text, parse_addr).map(|(spec, _keys)| spec)
    }
}

/// Parses a spec whose head (before the first comma) `head` parses into
/// the payload, which also names it (the id, unless `id=` is given); the
/// options after it as [`BackendSpec`]'s parser says. Returns the keys given,
/// for a caller that refuses some of them.
pub(crate) fn parse_spec<B: std::fmt::Display>(
    text: &str,
    head: impl FnOnce(&str) -> Result<B, String>,
) -> Result<(BackendSpec<B>, Vec<&str>), ConfigError> {
    let bad = |why: String| ConfigError::BackendSpec {
        spec: text.to_owned(),
        why,
    };
    let mut parts = text.split(',').map(str::trim);
    let value = head(parts.next().unwrap_or_default()).map_err(&bad)?;
    let mut spec = BackendSpec::new(value.to_string(), value);
    let mut seen: Vec<&str> = Vec::new();
    for option in parts {
        let (key, value) = match option.split_once('=') {
            Some((key, value)) => (key.trim(), Some(value.trim())),
            None => (option, None),
        };
        if !SPEC_KEYS.contains(&key) {
            return Err(bad(format!(
                "unknown option `{key}` (known: {})",
                SPEC_KEYS.join(", ")
            )));
        }
        if seen.contains(&key) {
            return Err(bad(format!("`{key}` appears twice")));
        }
        if (key == "backup" && seen.contains(&"priority"))
            || (key == "priority" && seen.contains(&"backup"))
        {
            return Err(bad(
                "`backup` and `priority` exclude each other (`backup` is priority 1)".into(),
            ));
        }
        seen.push(key);
        let value = match (key, value) {
            ("backup", None) => {
                spec.priority = 1;
                continue;
            }
            ("backup", Some(_)) => return Err(bad("`backup` takes no value".into())),
            (_, Some(value)) => value,
            (_, None) => return Err(bad(format!("`{key}` needs a value: `{key}=...`"))),
        };
        match key {
            "weight" => {
                let weight = whole(key, value, 1, u64::from(MAX_WEIGHT)).map_err(&bad)?;
                spec.weight = weight as u32;
            }
            "priority" => {
                let priority = whole(key, value, 0, u64::from(MAX_PRIORITY)).map_err(&bad)?;
                spec.priority = priority as u8;
            }
            "max_conns" => {
                let cap = whole(key, value, 1, u64::from(MAX_CONNS)).map_err(&bad)?;
                spec.max_conns = Some(cap as u32);
            }
            "agent" => spec.agent = Some(parse_addr(value).map_err(&bad)?),
            "id" if value.chars().any(char::is_control) => {
                return Err(bad(format!(
                    "id `{}` has a control character",
                    Escaped(value)
                )))
            }
            "id" if !value.is_empty() => spec.id = BackendId::new(value),
            _ => return Err(bad("id is empty".into())),
        }
    }
    Ok((spec, seen))
}

/// A whole number in `low..=high`, or why not.
fn whole(key: &str, value: &str, low: u64, high: u64) -> Result<u64, String> {
    let n: u64 = value
        .parse()
        .map_err(|_| format!("{key} `{value}` is not a whole number"))?;
    if n < low || n > high {
        return Err(format!("{key} {n} is outside {low}..={high}"));
    }
    Ok(n)
}

fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    if text.is_empty() {
        return Err("the address is missing".into());
    }
    text.parse().map_err(|_| {
        format!("`{text}` is not IP:PORT (IPv6 goes in brackets, `[::1]:80`; host names are not resolved)")
    })
}
