//! What every backend of one pool shares: the clock, the health settings,
//! the ejection registry and the observers. Slots point here, never back at
//! the pool's snapshots, so there is no reference cycle.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

use crate::health::{FeedbackConfig, HealthConfig, OutlierConfig, SlowStart};
use crate::runtime::agent_expiry::AgentExpiry;
use crate::runtime::ejections::Ejections;
use crate::runtime::outliers::Outliers;
use crate::types::clock::Clock;
use crate::types::{Observer, StateChange};

pub(crate) struct Shared {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) health: HealthConfig,
    pub(crate) feedback: FeedbackConfig,
    pub(crate) slow_start: SlowStart,
    pub(crate) ejections: Ejections,
    pub(crate) agents: AgentExpiry,
    pub(crate) outliers: Outliers,
    /// Size of the current set: the ejection cap is a share of it.
    pub(crate) backends: AtomicUsize,
    /// Set once any backend's effective weight has exceeded its configured
    /// one (an agent's `weight:N` or a percentage over 100), and never
    /// cleared: strategies that sample by configured weight and thin by
    /// effective weight are exact only while it is false.
    pub(crate) boosted: AtomicBool,
    observers: RwLock<Vec<Arc<dyn Observer>>>,
}

impl Shared {
    pub(crate) fn new(
        clock: Arc<dyn Clock>,
        health: HealthConfig,
        feedback: FeedbackConfig,
        slow_start: SlowStart,
        observers: Vec<Arc<dyn Observer>>,
        agent_expiry: Duration,
        outliers: Option<OutlierConfig>,
    ) -> Self {
        let now = clock.now();
        Shared {
            outliers: Outliers::new(outliers, now),
            clock,
            health,
            feedback,
            slow_start,
            ejections: Ejections::default(),
            agents: AgentExpiry::new(agent_expiry),
            backends: AtomicUsize::new(0),
            boosted: AtomicBool::new(false),
            observers: RwLock::new(observers),
        }
    }

    pub(crate) fn now(&self) -> Duration {
        self.clock.now()
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

    pub(crate) fn backend_count(&self) -> usize {
        self.backends.load(Ordering::Relaxed)
    }
}
