//! Agent checks: the one-line reports a small agent on each backend sends
//! about itself (HAProxy's agent-check words), parsed, validated and applied
//! to the backend's effective weight and admin state.
//!
//! The library does no I/O on the pick path: a program polls each agent
//! (e.g. with [`query`] on a thread, or its own async code), then hands the
//! reply to [`Pool::apply_agent_reply`](crate::Pool::apply_agent_reply).
//!
//! ```
//! use pickwise::agent::{AgentReport, Capacity};
//! use pickwise::AdminState;
//!
//! let report: AgentReport = "75%,maxconn:30,maint".parse()?;
//! assert_eq!(report.capacity, Some(Capacity::Percent(75)));
//! assert_eq!(report.maxconn, Some(30));
//! assert_eq!(report.state.as_ref().map(|s| s.admin), Some(AdminState::Down));
//! assert!("-5%".parse::<AgentReport>().is_err());
//! # Ok::<(), pickwise::agent::AgentError>(())
//! ```

use std::error::Error;
use std::fmt;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;

use crate::backend::{BackendId, MAX_WEIGHT};
use crate::clock::saturating_nanos;
use crate::slot::Slot;
use crate::state::AdminState;

/// The highest capacity percentage accepted. HAProxy lets an agent report
/// more than 100% (a node that can take more than its configured share);
/// beyond ten times is far more likely a bug than a wish, and the bound
/// keeps effective weights far from overflow in the weighted sums.
pub const MAX_PERCENT: u32 = 1000;

/// The longest reply [`query`] reads; agents send one short line.
const MAX_REPLY: usize = 1024;

/// What an agent said about its capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capacity {
    /// `75%` or `weight:75%`: this share of the configured weight
    /// (`0..=MAX_PERCENT`).
    Percent(u32),
    /// `weight:N`: this weight outright (`0..=MAX_WEIGHT`).
    Weight(u32),
}

/// A state word and what came with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentState {
    /// The admin state it sets: `up`/`ready` → up, `drain` → drain,
    /// `maint`/`down`/`fail`/`stopped` → down.
    pub admin: AdminState,
    /// The word as sent, lower-cased (`maint`, `down`, ...).
    pub word: String,
    /// The text after `#`, if any (`down#disk full` → `disk full`).
    pub description: Option<String>,
}

impl AgentState {
    /// The reason text observers see: the word, with its description.
    pub fn reason_text(&self) -> String {
        match &self.description {
            Some(text) => format!("{}#{}", self.word, text),
            None => self.word.clone(),
        }
    }
}

/// One parsed agent reply. Fields an agent did not send are `None` and leave
/// the backend's current value unchanged when applied.
///
/// Words are separated by spaces, tabs or commas, case-insensitive:
/// `N%` and `weight:N%` (capacity as a share of the configured weight),
/// `weight:N` (absolute weight), `maxconn:N`, and the state words `up`,
/// `ready`, `drain`, `maint`, `down`, `fail`, `stopped`. A `#` starts a
/// description that runs to the end of the line (HAProxy's rule, so it may
/// hold spaces). When one line holds several state words the most
/// restrictive wins (down over drain over up), as HAProxy's separate
/// health and admin states combine.
///
/// HAProxy keeps health (`up`/`down`) and admin (`ready`/`drain`/`maint`)
/// apart; here both set the one [`AdminState`], so a later `up` also ends an
/// earlier `drain`. `maxconn` is parsed and returned for the program to
/// enforce; the balancer does not cap in-flight requests by it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentReport {
    /// New capacity, if sent.
    pub capacity: Option<Capacity>,
    /// `maxconn:N`, if sent.
    pub maxconn: Option<u32>,
    /// New state, if sent.
    pub state: Option<AgentState>,
}

/// Why an agent reply or its application was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AgentError {
    /// The reply held no word.
    Empty,
    /// The reply is not UTF-8.
    NotUtf8,
    /// A percentage that is not a whole number in `0..=MAX_PERCENT`.
    BadPercent {
        /// The word.
        word: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A `weight:N` or `maxconn:N` whose number is not valid.
    BadNumber {
        /// The word.
        word: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A word the agent protocol does not have.
    UnknownWord(String),
    /// No backend of the current set has this id.
    UnknownBackend(BackendId),
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentError::Empty => f.write_str("empty agent reply"),
            AgentError::NotUtf8 => f.write_str("agent reply is not UTF-8"),
            AgentError::BadPercent { word, why } => {
                write!(f, "bad capacity `{word}` in agent reply: {why}")
            }
            AgentError::BadNumber { word, why } => {
                write!(f, "bad number in agent word `{word}`: {why}")
            }
            AgentError::UnknownWord(word) => write!(f, "unknown agent word `{word}`"),
            AgentError::UnknownBackend(id) => write!(f, "no backend `{id}` in the set"),
        }
    }
}

impl Error for AgentError {}

impl AgentReport {
    /// Parses a reply as read from the wire (trailing CR/LF allowed).
    pub fn parse(reply: &[u8]) -> Result<Self, AgentError> {
        std::str::from_utf8(reply)
            .map_err(|_| AgentError::NotUtf8)?
            .parse()
    }
}

impl FromStr for AgentReport {
    type Err = AgentError;

    fn from_str(reply: &str) -> Result<Self, AgentError> {
        // Only the first line counts; a `#` starts a description to its end.
        let line = reply.lines().next().unwrap_or("");
        let (words, description) = match line.split_once('#') {
            Some((words, text)) => (words, Some(text.trim().to_owned())),
            None => (line, None),
        };
        let mut report = AgentReport::default();
        let mut any = false;
        for word in words.split([' ', '\t', ',']).filter(|w| !w.is_empty()) {
            any = true;
            let lower = word.to_ascii_lowercase();
            if let Some(number) = lower.strip_suffix('%') {
                let number = number.strip_prefix("weight:").unwrap_or(number);
                report.capacity = Some(Capacity::Percent(percent(word, number)?));
            } else if let Some(number) = lower.strip_prefix("weight:") {
                let weight = number_in(word, number, MAX_WEIGHT)?;
                report.capacity = Some(Capacity::Weight(weight));
            } else if let Some(number) = lower.strip_prefix("maxconn:") {
                report.maxconn = Some(number_in(word, number, u32::MAX)?);
            } else {
                let admin = match lower.as_str() {
                    "up" | "ready" => AdminState::Up,
                    "drain" => AdminState::Drain,
                    "maint" | "down" | "fail" | "stopped" => AdminState::Down,
                    _ => return Err(AgentError::UnknownWord(word.to_owned())),
                };
                let stricter = report
                    .state
                    .as_ref()
                    .is_none_or(|s| rank(admin) >= rank(s.admin));
                if stricter {
                    report.state = Some(AgentState {
                        admin,
                        word: lower,
                        description: None,
                    });
                }
            }
        }
        if !any {
            return Err(AgentError::Empty);
        }
        if let Some(state) = &mut report.state {
            state.description = description.filter(|d| !d.is_empty());
        }
        Ok(report)
    }
}

fn rank(state: AdminState) -> u8 {
    match state {
        AdminState::Up => 0,
        AdminState::Drain => 1,
        AdminState::Down => 2,
    }
}

/// Digits only: no sign, no exponent, no fraction, no `NaN`, so nothing a
/// float parser would bend into a value (`1e400` is infinity to it).
fn digits(number: &str) -> Option<u64> {
    if number.is_empty() || number.len() > 10 || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    number.parse().ok()
}

fn percent(word: &str, number: &str) -> Result<u32, AgentError> {
    let bad = |why| AgentError::BadPercent {
        word: word.to_owned(),
        why,
    };
    if number.starts_with('-') {
        return Err(bad("negative"));
    }
    let value = digits(number).ok_or_else(|| bad("not a whole number of percent"))?;
    u32::try_from(value)
        .ok()
        .filter(|&v| v <= MAX_PERCENT)
        .ok_or_else(|| bad("above the 1000% limit"))
}

fn number_in(word: &str, number: &str, max: u32) -> Result<u32, AgentError> {
    let bad = |why| AgentError::BadNumber {
        word: word.to_owned(),
        why,
    };
    let value = digits(number).ok_or_else(|| bad("not a whole non-negative number"))?;
    u32::try_from(value)
        .ok()
        .filter(|&v| v <= max)
        .ok_or_else(|| bad("too large"))
}

/// Polls one agent once: connects to `addr`, reads one line (at most 1 KiB,
/// up to a newline or the agent closing), and closes. `timeout` bounds the
/// connect and each read. For programs' polling threads; never called by the
/// balancer itself.
pub fn query(addr: SocketAddr, timeout: Duration) -> io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    let mut reply = Vec::with_capacity(64);
    let mut buf = [0u8; 256];
    while reply.len() < MAX_REPLY && !reply.contains(&b'\n') {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
    }
    reply.truncate(MAX_REPLY);
    if let Some(end) = reply.iter().position(|&b| b == b'\n') {
        reply.truncate(end);
    }
    if reply.last() == Some(&b'\r') {
        reply.pop();
    }
    String::from_utf8(reply).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// The capacity an agent set on one backend, and until when it holds.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct AgentCapacity {
    pub(crate) capacity: Option<Capacity>,
    /// Clock nanoseconds at which it expires (meaningful when `capacity` is set).
    pub(crate) until: u64,
}

impl AgentCapacity {
    /// The effective weight for `configured`, in hundredths of a unit.
    pub(crate) fn effective(&self, configured: u32) -> u64 {
        let unit = crate::slot::WEIGHT_UNIT;
        match self.capacity {
            None => u64::from(configured) * unit,
            // configured * UNIT * p / 100, exact since UNIT is 100.
            Some(Capacity::Percent(p)) => u64::from(configured) * unit * u64::from(p) / 100,
            Some(Capacity::Weight(w)) => u64::from(w) * unit,
        }
    }
}

/// No capacity report in force.
const NEVER: u64 = u64::MAX;

/// Expiry of agent capacities, per pool.
///
/// The pick path pays one relaxed atomic load of `deadline` while no
/// capacity report is in force. While one is, each pick also reads the
/// clock once to compare with the earliest expiry; the first pick past it
/// restores the configured weights of the expired backends (a short sweep,
/// under a `try_lock` so concurrent picks never wait for it).
pub(crate) struct AgentExpiry {
    /// How long a capacity report holds.
    pub(crate) ttl: Duration,
    /// Earliest expiry among the reports in force (clock nanoseconds), or NEVER.
    deadline: AtomicU64,
    /// Backends with a capacity in force. Weak: slots point at the pool's
    /// shared state, which owns this, so strong pointers would be a cycle.
    active: Mutex<Vec<Weak<Slot>>>,
}

impl AgentExpiry {
    pub(crate) fn new(ttl: Duration) -> Self {
        AgentExpiry {
            ttl,
            deadline: AtomicU64::new(NEVER),
            active: Mutex::new(Vec::new()),
        }
    }

    /// Notes that `slot` now holds a capacity until `until`; `already`
    /// says one was in force, so the slot is tracked already.
    ///
    /// Exactly the slots whose capacity is set are tracked: the slot's own
    /// lock orders a report against the sweep's expiry of the same slot, so
    /// either the sweep saw the renewed report and kept the slot, or it
    /// expired the old one first and this report finds none in force. That
    /// keeps a report O(1) with thousands of backends, with no list search.
    pub(crate) fn track(&self, slot: &Arc<Slot>, until: u64, already: bool) {
        if already {
            // The deadline is at or before the old report's expiry, which is
            // earlier than this one's: an early sweep at worst.
            return;
        }
        let mut active = self.active.lock();
        active.push(Arc::downgrade(slot));
        self.deadline.fetch_min(until, Ordering::Relaxed);
    }

    /// The pick path's check: one load unless a report is in force.
    #[inline]
    pub(crate) fn check(&self, now: impl FnOnce() -> Duration) {
        let deadline = self.deadline.load(Ordering::Relaxed);
        if deadline != NEVER {
            self.due(deadline, now);
        }
    }

    #[cold]
    fn due(&self, deadline: u64, now: impl FnOnce() -> Duration) {
        let now = saturating_nanos(now());
        if now < deadline {
            return;
        }
        let Some(mut active) = self.active.try_lock() else {
            return; // another pick is sweeping
        };
        let mut next = NEVER;
        active.retain(|weak| match weak.upgrade() {
            Some(slot) => match slot.expire_agent(now) {
                Some(until) => {
                    next = next.min(until);
                    true
                }
                None => false,
            },
            None => false,
        });
        // Under the lock, so no `track` can slip a new deadline in between.
        self.deadline.store(next, Ordering::Relaxed);
    }
}
