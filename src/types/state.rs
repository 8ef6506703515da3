//! Backend states, the reasons they change, and observers that hear of it.

use std::fmt;
use std::time::Duration;

use crate::types::{BackendId, CheckResult, FailureKind};

/// Where a backend stands, for every strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BackendState {
    /// Takes new requests.
    Up,
    /// Takes no new clients; sticky clients stay until their entry expires.
    Draining,
    /// Set down by the operator or its agent: skipped, sticky entries ignored.
    Down,
    /// Failed its active health check: skipped, sticky entries ignored,
    /// until a check passes. Separate from `Down`: a passing check never
    /// lifts an operator's down, nor an operator's up a failing check.
    Unhealthy,
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
            BackendState::Unhealthy => "unhealthy",
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

/// `up`, `draining` or `down`: the words agents and status pages use.
impl fmt::Display for AdminState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AdminState::Up => "up",
            AdminState::Draining => "draining",
            AdminState::Down => "down",
        })
    }
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
    /// An active health check decided it (see
    /// [`Pool::set_health`](crate::Pool::set_health)); a passing check also
    /// ends a passive ejection.
    HealthCheck(CheckResult),
    /// Set by the caller's own code (not an operator, not a health check);
    /// the text is theirs and is shown as is.
    Program(String),
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
            Reason::HealthCheck(result) => result.fmt(f),
            Reason::Program(text) => f.write_str(text),
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

    /// A tier entered or left panic (see
    /// [`PoolBuilder::panic_threshold`](crate::PoolBuilder::panic_threshold)).
    /// Noticed by the first pick or status read after the backends' states
    /// changed, and told on that thread: the same rules as above apply.
    fn panic_changed(&self, change: &PanicChange) {
        let _ = change;
    }
}

/// A tier entering or leaving panic: with too few of its backends
/// available, its picks ignore health (passive ejections and failed health
/// checks, never an operator's down or drain) and spread over all its
/// members, so the survivors are not crushed by the whole load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanicChange {
    /// The tier's priority.
    pub priority: u8,
    /// Whether it is in panic now.
    pub in_panic: bool,
    /// Its backends available (up, healthy, not ejected, weight above zero).
    pub available: usize,
    /// Its backends.
    pub members: usize,
    /// When it was noticed, on the pool's clock.
    pub at: Duration,
}

impl fmt::Display for PanicChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let PanicChange {
            priority,
            available,
            members,
            ..
        } = self;
        if self.in_panic {
            write!(f, "tier {priority} in panic: {available} of {members} available, picks spread over all {members}")
        } else {
            write!(
                f,
                "tier {priority} out of panic: {available} of {members} available"
            )
        }
    }
}

impl<F: Fn(&StateChange) + Send + Sync + 'static> Observer for F {
    fn state_changed(&self, change: &StateChange) {
        self(change)
    }
}
