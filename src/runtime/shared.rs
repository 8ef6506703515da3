//! What every backend of one pool shares: the clock, the health settings,
//! the ejection registry and the observers. Slots point here, never back at
//! the pool's snapshots, so there is no reference cycle.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;

use crate::runtime::agent_reports::AgentExpiry;
use crate::runtime::feedback::FeedbackConfig;
use crate::runtime::floor::LoadFloor;
use crate::runtime::passive::ejection::Ejections;
use crate::runtime::passive::outlier::Outliers;
use crate::runtime::passive::HealthConfig;
use crate::runtime::passive::OutlierConfig;
use crate::runtime::refresh::Tables;
use crate::runtime::slow_start::SlowStart;
use crate::runtime::tiers::TierConfig;
use crate::types::clock::Clock;
use crate::types::{Observer, PanicChange, StateChange};

pub(crate) struct Shared {
    pub(crate) clock: Arc<dyn Clock>,
    /// The epoch of `clock` when it is the pool's own `SystemClock` (the
    /// builder's default): its time is then `Instant` arithmetic, read
    /// without a call through `dyn Clock`, and an `Instant` the caller has
    /// read already converts without a second clock read ([`Shared::now_at`]).
    /// `None` for a clock given to the builder.
    system_epoch: Option<Instant>,
    pub(crate) health: HealthConfig,
    pub(crate) feedback: FeedbackConfig,
    pub(crate) slow_start: SlowStart,
    pub(crate) ejections: Ejections,
    pub(crate) agents: AgentExpiry,
    /// Tables built from load reports, refreshed by reporters.
    pub(crate) tables: Tables,
    /// Whether the pool's strategy reads load reports (so callers need not
    /// parse them otherwise).
    pub(crate) reads_load_reports: bool,
    pub(crate) outliers: Outliers,
    /// Size of the current set: the ejection cap is a share of it.
    pub(crate) backends: AtomicUsize,
    /// Set once any backend's effective weight has exceeded its configured
    /// one (an agent's `weight:N` or a percentage over 100), and never
    /// cleared: strategies that sample by configured weight and thin by
    /// effective weight are exact only while it is false.
    pub(crate) boosted: AtomicBool,
    /// Bumped whenever a backend's availability may have moved (a state
    /// change, a weight crossing zero): each generation's tier plan is
    /// computed for one value of it and recomputed when it moves.
    epoch: AtomicU64,
    /// Bumped whenever some backend's effective weight may have moved (a
    /// configured-weight update, an agent's capacity, a slow-start ramp
    /// starting or ending): tables precomputed from weights (weighted round
    /// robin's schedule) are valid for one value of it.
    weights: AtomicU64,
    /// How tiers share traffic and when they panic.
    pub(crate) tiers: TierConfig,
    /// The load floor that lets the least-loaded strategies stop their
    /// scans early over busy sets (see `runtime::floor`).
    pub(crate) floor: LoadFloor,
    /// The priorities whose panic observers last heard of, one bit each:
    /// kept across generations, so an update does not repeat the news.
    panics: parking_lot::Mutex<u32>,
    observers: RwLock<Vec<Arc<dyn Observer>>>,
}

/// A pool's settings, validated, as the builder hands them over.
pub(crate) struct Settings {
    pub(crate) clock: Arc<dyn Clock>,
    /// `Some(epoch)` when `clock` is the builder's own `SystemClock`.
    pub(crate) system_epoch: Option<Instant>,
    pub(crate) health: HealthConfig,
    pub(crate) feedback: FeedbackConfig,
    pub(crate) slow_start: SlowStart,
    pub(crate) observers: Vec<Arc<dyn Observer>>,
    pub(crate) agent_expiry: Duration,
    pub(crate) outliers: Option<OutlierConfig>,
    pub(crate) tiers: TierConfig,
    pub(crate) reads_load_reports: bool,
}

impl Shared {
    pub(crate) fn new(settings: Settings) -> Self {
        let Settings {
            clock,
            system_epoch,
            health,
            feedback,
            slow_start,
            observers,
            agent_expiry,
            outliers,
            tiers,
            reads_load_reports,
        } = settings;
        let now = clock.now();
        Shared {
            outliers: Outliers::new(outliers, now),
            clock,
            system_epoch,
            health,
            feedback,
            slow_start,
            ejections: Ejections::default(),
            agents: AgentExpiry::new(agent_expiry),
            tables: Tables::new(),
            reads_load_reports,
            backends: AtomicUsize::new(0),
            boosted: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
            weights: AtomicU64::new(0),
            floor: LoadFloor::default(),
            tiers,
            panics: parking_lot::Mutex::new(0),
            observers: RwLock::new(observers),
        }
    }

    #[inline]
    pub(crate) fn now(&self) -> Duration {
        match self.system_epoch {
            // What `SystemClock::now` returns, without the virtual call.
            Some(epoch) => epoch.elapsed(),
            None => self.clock.now(),
        }
    }

    /// The pool's time at `at`, an `Instant` the caller has just read (a
    /// response's arrival): no clock read of its own with the system
    /// clock; with a clock given to the builder, that clock's `now()`.
    #[cfg(feature = "tower")]
    #[inline]
    pub(crate) fn now_at(&self, at: Instant) -> Duration {
        match self.system_epoch {
            Some(epoch) => at.saturating_duration_since(epoch),
            None => self.clock.now(),
        }
    }

    pub(crate) fn subscribe(&self, observer: Arc<dyn Observer>) {
        self.observers.write().push(observer);
    }

    /// Tells every observer; the list is copied first so an observer may
    /// subscribe another without deadlocking.
    pub(crate) fn notify(&self, change: &StateChange) {
        let observers = self.observers.read().clone();
        for observer in observers {
            observer.state_changed(change);
        }
    }

    /// Says that some backend's availability may have moved.
    pub(crate) fn states_changed(&self) {
        self.epoch.fetch_add(1, Ordering::Release);
    }

    /// The current availability epoch (see `states_changed`).
    #[inline]
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Says that some backend's effective weight may have moved; called
    /// after the new weight (or ramp) is stored.
    pub(crate) fn weights_changed(&self) {
        self.weights.fetch_add(1, Ordering::Release);
    }

    /// The current weights version (see `weights_changed`): read it before
    /// reading the weights a table is built from.
    #[inline]
    pub(crate) fn weights_version(&self) -> u64 {
        self.weights.load(Ordering::Acquire)
    }

    /// Records that tier `priority` is (or is not) in panic; true when
    /// that is news.
    pub(crate) fn panic_noted(&self, priority: u8, in_panic: bool) -> bool {
        let bit = 1u32 << u32::from(priority.min(31));
        let mut panics = self.panics.lock();
        let was = *panics & bit != 0;
        if in_panic {
            *panics |= bit;
        } else {
            *panics &= !bit;
        }
        was != in_panic
    }

    /// Whether tier `priority` is in panic, as last noted.
    pub(crate) fn in_panic(&self, priority: u8) -> bool {
        *self.panics.lock() & (1u32 << u32::from(priority.min(31))) != 0
    }

    /// Tells every observer that a tier entered or left panic.
    pub(crate) fn notify_panic(&self, change: &PanicChange) {
        let observers = self.observers.read().clone();
        for observer in observers {
            observer.panic_changed(change);
        }
    }

    pub(crate) fn backend_count(&self) -> usize {
        self.backends.load(Ordering::Relaxed)
    }
}
