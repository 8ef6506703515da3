//! Parsing an agent's reply (HAProxy's agent-check words) into an
//! [`AgentReport`], with the errors that refuse a bad one.

use std::error::Error;
use std::fmt;
use std::str::FromStr;

use crate::types::{AdminState, BackendId, Escaped, MAX_WEIGHT};

/// The highest capacity percentage accepted. HAProxy lets an agent report
/// more than 100% (a node that can take more than its configured share);
/// beyond ten times is far more likely a bug than a wish, and the bound
/// keeps effective weights far from overflow in the weighted sums.
pub const MAX_PERCENT: u32 = 1000;

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
            // The agent's own words, escaped: its text cannot forge a log line.
            AgentError::BadPercent { word, why } => {
                let word = Escaped(word);
                write!(f, "bad capacity `{word}` in agent reply: {why}")
            }
            AgentError::BadNumber { word, why } => {
                let word = Escaped(word);
                write!(f, "bad number in agent word `{word}`: {why}")
            }
            AgentError::UnknownWord(word) => {
                write!(f, "unknown agent word `{}`", Escaped(word))
            }
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
            // Control characters (a CR, a NUL) escaped: the description
            // shows in logs and reasons.
            Some((words, text)) => (words, Some(escape_controls(text.trim()))),
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
                    "drain" => AdminState::Draining,
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

/// `text` with its control characters escaped.
fn escape_controls(text: &str) -> String {
    Escaped(text).to_string()
}

fn rank(state: AdminState) -> u8 {
    match state {
        AdminState::Up => 0,
        AdminState::Draining => 1,
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
