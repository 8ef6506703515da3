//! Backend states, the reasons they change, and observers that hear of it.

use std::fmt;
use std::time::Duration;

use crate::types::{BackendId, FailureKind};

/// Where a backend stands, for every strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendState {
    /// Takes new requests.
    Up,
    /// Takes no new clients; sticky clients stay until their entry expires.
    Draining,
    /// Set down by the operator or its agent: skipped, sticky entries ignored.
    Down,
    /// Ejected by passive health until a time: skipped, sticky entries ignored.
    Ejected,
    /// No longer in the set.
    Removed,
}

impl fmt::Display for BackendState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendState::Up => "up",
            BackendState::Draining => "draining",
            BackendState::Down => "down",
            BackendState::Ejected => "ejected",
            BackendState::Removed => "removed",
        })
    }
}

/// The state an operator or agent sets; ejection is passive health's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AdminState {
    /// Serve.
    Up,
    /// Keeps its sticky clients, takes no new ones.
    Draining,
    /// Serve nothing.
    Down,
}

/// Why a backend's state changed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// It joined the set.
    Added,
    /// An update removed it from the set.
    Removed,
    /// The operator set it through the API; the text is theirs.
    Admin(String),
    /// Its agent reported a word (`drain`, `maint`, `down#disk full`, `up`).
    Agent(String),
    /// Passive health ejected it after consecutive failures.
    Failures {
        /// How many failures in a row.
        consecutive: u32,
        /// The last one.
        last: FailureKind,
        /// How long it is ejected for.
        ejected_for: Duration,
    },
    /// Success-rate outlier detection ejected it: over the last interval its
    /// success rate fell below its peers' mean minus `stdev_factor` standard
    /// deviations (see [`OutlierConfig`](crate::health::OutlierConfig)). Rates are
    /// in basis points, hundredths of a percent: 10 000 is 100%.
    SuccessRateOutlier {
        /// Its success rate over the interval, basis points.
        rate: u32,
        /// The threshold it fell below, basis points.
        threshold: u32,
        /// How long it is ejected for.
        ejected_for: Duration,
    },
    /// Its ejection time ran out.
    EjectionEnded,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Added => f.write_str("added to the set"),
            Reason::Removed => f.write_str("removed by update"),
            Reason::Admin(text) => write!(f, "operator: {text}"),
            Reason::Agent(text) => write!(f, "agent said {text}"),
            Reason::Failures {
                consecutive,
                last,
                ejected_for,
            } => write!(
                f,
                "{consecutive} consecutive failures, last: {last}; ejected for {ejected_for:?}"
            ),
            Reason::SuccessRateOutlier {
                rate,
                threshold,
                ejected_for,
            } => write!(
                f,
                "success rate {} below the outlier threshold {} of its peers; ejected for {ejected_for:?}",
                Percent(*rate),
                Percent(*threshold)
            ),
            Reason::EjectionEnded => f.write_str("ejection time ended"),
        }
    }
}

/// Basis points shown as a percent with two decimals: 6650 is `66.50%`.
struct Percent(u32);

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}%", self.0 / 100, self.0 % 100)
    }
}

/// One state change, as observers and snapshots see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    /// The backend.
    pub id: BackendId,
    /// State before.
    pub from: BackendState,
    /// State after.
    pub to: BackendState,
    /// Why.
    pub reason: Reason,
    /// When, on the pool's clock.
    pub at: Duration,
}

impl fmt::Display for StateChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reason == Reason::Added {
            return write!(f, "backend {} added, {}", self.id, self.to);
        }
        write!(
            f,
            "backend {} {} -> {}: {}",
            self.id, self.from, self.to, self.reason
        )
    }
}

/// Hears about every backend state change. Called on the thread that caused
/// the change: an update or a report (after the pool's own locks are
/// released, so it may call back into the pool), an outcome, or a pick that
/// notices an ejection ran out. In that last case a strategy may be holding
/// its own short lock (weighted round robin's scores, the sticky table), so
/// an observer must not pick from the same pool: keep it quick, e.g. send to
/// a channel or log.
pub trait Observer: Send + Sync + 'static {
    /// One change happened.
    fn state_changed(&self, change: &StateChange);
}

impl<F: Fn(&StateChange) + Send + Sync + 'static> Observer for F {
    fn state_changed(&self, change: &StateChange) {
        self(change)
    }
}
