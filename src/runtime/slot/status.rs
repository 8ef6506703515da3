//! The public picture of one backend: [`BackendStatus`], read from its slot.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Slot;
use crate::runtime::arena::{ADMIN_DOWN, ADMIN_DRAINING};
use crate::types::clock::saturating_nanos;
use crate::types::{AdminState, BackendId, BackendState, CheckResult, Reason};

/// A backend's runtime picture, from [`Pool::backends`](crate::Pool::backends).
///
/// With the `serde` feature it serialises as a map with these field names
/// (a program's status endpoint can serve it as it is):
///
/// | field | value |
/// |---|---|
/// | `id` | the id, a string |
/// | `state` | `up`, `draining`, `down`, `unhealthy`, `ejected` or `removed` |
/// | `admin` | `up`, `draining` or `down` |
/// | `reason` | why it last changed state, in words |
/// | `since_ms` | when it last changed state: milliseconds on the pool's clock |
/// | `weight` | the configured weight |
/// | `effective_weight` | the effective weight in weight units (a float) |
/// | `priority` | its tier (0 is the best) |
/// | `max_conns` | its cap, or `null` |
/// | `in_flight`, `picks` | counts, or `null` when the pool does not count them |
/// | `successes`, `server_errors`, `failures`, `client_faults` | outcomes recorded |
/// | `consecutive_failures`, `ejections` | passive health's counts |
/// | `latency_ms` | the latency estimate in milliseconds (to the microsecond), or `null` |
/// | `error_rate` | from 0 to 1 |
/// | `last_check` | `{"passed": bool, "result": words, "at_ms": pool clock}`, or `null` |
#[derive(Debug, Clone, PartialEq)]
pub struct BackendStatus {
    /// The backend.
    pub id: BackendId,
    /// Its state now: the strongest of what holds it back.
    pub state: BackendState,
    /// The operator's (or agent's) word alone, whatever health says: a
    /// backend failing its check while draining shows `Unhealthy` above
    /// and `Draining` here.
    pub admin: AdminState,
    /// Why it last changed state.
    pub reason: Reason,
    /// When it last changed state, on the pool's clock.
    pub since: Duration,
    /// Configured weight.
    pub weight: u32,
    /// Effective weight in hundredths of a weight unit ([`WEIGHT_UNIT`](crate::strategy::WEIGHT_UNIT)).
    pub effective_weight: u64,
    /// Its tier (0 is the best).
    pub priority: u8,
    /// Its cap on requests in flight, if it has one.
    pub max_conns: Option<u32>,
    /// Picks of it alive now; `None` when the pool does not count them
    /// (round robin, weighted round robin, random and the hash strategies
    /// skip the count unless [`PoolBuilder::counts_in_flight`](crate::PoolBuilder::counts_in_flight)
    /// asks for it or a backend has a cap).
    pub in_flight: Option<u64>,
    /// Picks of it since it joined, counted with `in_flight` (`None` when
    /// that is not counted).
    pub picks: Option<u64>,
    /// Outcomes recorded as success.
    pub successes: u64,
    /// Outcomes recorded as server errors.
    pub server_errors: u64,
    /// Outcomes recorded as failures.
    pub failures: u64,
    /// Outcomes recorded as client faults: counted for neither side.
    pub client_faults: u64,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// Times passive health ejected it.
    pub ejections: u64,
    /// Its latency estimate (the peak-sensitive EWMA the latency-aware
    /// strategies read); `None` before its first success.
    pub latency: Option<Duration>,
    /// Its error-rate estimate now, from 0 to 1.
    pub error_rate: f64,
    /// The last active health check's result and when it came, if any.
    pub last_check: Option<(CheckResult, Duration)>,
}

impl Slot {
    /// Its picture; `counted` says whether its pool counts in flight, the
    /// tier and cap are its set's.
    pub(crate) fn status(
        &self,
        counted: bool,
        priority: u8,
        max_conns: Option<u32>,
    ) -> BackendStatus {
        // Settles an ejection that ran out, so the reason shown is current.
        self.not_ejected();
        let now = self.shared.now();
        let nanos = saturating_nanos(now);
        let last = self.last_change.lock().clone();
        BackendStatus {
            id: self.id.clone(),
            state: self.state_at(now),
            admin: match self.admin_code() {
                ADMIN_DOWN => AdminState::Down,
                ADMIN_DRAINING => AdminState::Draining,
                _ => AdminState::Up,
            },
            reason: last.reason,
            since: last.at,
            weight: self.configured_weight.load(Ordering::Relaxed),
            effective_weight: self.effective_weight(),
            priority,
            max_conns,
            in_flight: counted.then(|| self.in_flight()),
            picks: counted.then(|| self.picks.load(Ordering::Relaxed)),
            successes: self.successes.load(Ordering::Relaxed),
            server_errors: self.server_errors.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            client_faults: self.client_faults.load(Ordering::Relaxed),
            consecutive_failures: self.consecutive_failures.load(Ordering::Relaxed),
            ejections: self.times_ejected.load(Ordering::Relaxed),
            latency: self
                .latency_ns(nanos)
                .map(|ns| Duration::from_nanos(ns as u64)),
            error_rate: self.error_rate(nanos),
            last_check: self.last_check.lock().clone(),
        }
    }
}

#[cfg(feature = "serde")]
mod serialized {
    use serde::ser::{Serialize, SerializeStruct, Serializer};

    use super::BackendStatus;
    use crate::runtime::slot::WEIGHT_UNIT;
    use crate::types::CheckResult;
    use std::time::Duration;

    fn millis(duration: Duration) -> u64 {
        u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
    }

    /// An active check's result as `BackendStatus` serialises it.
    struct Check<'a>(&'a CheckResult, Duration);

    impl Serialize for Check<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut check = serializer.serialize_struct("Check", 3)?;
            check.serialize_field("passed", &(*self.0 == CheckResult::Passed))?;
            check.serialize_field("result", &self.0.to_string())?;
            check.serialize_field("at_ms", &millis(self.1))?;
            check.end()
        }
    }

    impl Serialize for BackendStatus {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut b = serializer.serialize_struct("BackendStatus", 20)?;
            b.serialize_field("id", self.id.as_str())?;
            b.serialize_field("state", &self.state.to_string())?;
            b.serialize_field("admin", &self.admin.to_string())?;
            b.serialize_field("reason", &self.reason.to_string())?;
            b.serialize_field("since_ms", &millis(self.since))?;
            b.serialize_field("weight", &self.weight)?;
            b.serialize_field(
                "effective_weight",
                &(self.effective_weight as f64 / WEIGHT_UNIT as f64),
            )?;
            b.serialize_field("priority", &self.priority)?;
            b.serialize_field("max_conns", &self.max_conns)?;
            b.serialize_field("in_flight", &self.in_flight)?;
            b.serialize_field("picks", &self.picks)?;
            b.serialize_field("successes", &self.successes)?;
            b.serialize_field("server_errors", &self.server_errors)?;
            b.serialize_field("failures", &self.failures)?;
            b.serialize_field("client_faults", &self.client_faults)?;
            b.serialize_field("consecutive_failures", &self.consecutive_failures)?;
            b.serialize_field("ejections", &self.ejections)?;
            // Microseconds are plenty: 1.07 ms, not 1.0699290000000001.
            let latency = self.latency.map(|l| (l.as_secs_f64() * 1e6).round() / 1e3);
            b.serialize_field("latency_ms", &latency)?;
            b.serialize_field("error_rate", &self.error_rate)?;
            let check = self.last_check.as_ref().map(|(r, at)| Check(r, *at));
            b.serialize_field("last_check", &check)?;
            b.end()
        }
    }
}
