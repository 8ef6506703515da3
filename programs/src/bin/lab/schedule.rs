//! The chaos soak's schedule: which fault strikes which host when, and for
//! how long, drawn from a seed (ChaCha8, so a seed gives the same schedule
//! on every machine and every run: the proxies and nginx face the same one).
//!
//! Faults: a worker killed (SIGKILL) and started again at the end; its
//! firewall rejecting its port (ICMP host unreachable) or dropping it; its
//! agent saying `drain` (hosts whose backend has an agent); the host taken
//! out of the membership (hosts the proxies find through DNS).
//!
//! Bounds: a host has one fault at a time and a second of rest after it; at
//! most [`MAX_AT_ONCE`] hosts are faulty at once, so half of the four always
//! serve; every fault lasts 2 to 8 s and is over 2 s before the end, so the
//! soak ends on a whole cluster; a new fault is drawn every 1 to 3 s (about
//! a hundred in five minutes).

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// Hosts faulty at once, at most.
pub const MAX_AT_ONCE: usize = 2;
/// A host's rest between two faults.
const REST: Duration = Duration::from_secs(1);
/// The fault-free end of the soak.
const CALM_END: Duration = Duration::from_secs(2);

/// What is done to a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// The worker killed, started again when the fault ends.
    Kill,
    /// The firewall answers ICMP host unreachable on the worker's port.
    Reject,
    /// The firewall drops the worker's port silently.
    Drop,
    /// The agent says `drain`, then `up` again.
    Drain,
    /// The host leaves the membership (DNS), then joins again.
    Leave,
}

impl Fault {
    pub const ALL: [Fault; 5] = [
        Fault::Kill,
        Fault::Reject,
        Fault::Drop,
        Fault::Drain,
        Fault::Leave,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::Reject => "reject",
            Fault::Drop => "drop",
            Fault::Drain => "drain",
            Fault::Leave => "leave",
        }
    }

    /// Whether the host cannot serve while it lasts (kill, firewalls): a
    /// connection already made to it is lost.
    pub fn is_hard(self) -> bool {
        matches!(self, Fault::Kill | Fault::Reject | Fault::Drop)
    }
}

/// One fault: from `at` (since the soak's start) for `length`.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Strike {
    #[serde(serialize_with = "as_ms")]
    pub at: Duration,
    pub host: usize,
    pub fault: Fault,
    #[serde(serialize_with = "as_ms")]
    pub length: Duration,
}

impl Strike {
    pub fn end(&self) -> Duration {
        self.at + self.length
    }
}

fn as_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_millis() as u64)
}

/// Which hosts each fault may strike.
pub struct Targets {
    pub hosts: usize,
    /// Hosts whose backend has an agent (Drain).
    pub drainable: Vec<usize>,
    /// Hosts found through DNS (Leave).
    pub members: Vec<usize>,
}

/// The schedule for a soak of `total`, in order of `at`.
pub fn draw(seed: u64, total: Duration, targets: &Targets) -> Vec<Strike> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut strikes: Vec<Strike> = Vec::new();
    let mut t = Duration::from_millis(rng.gen_range(500..2000));
    let latest_end = total.saturating_sub(CALM_END);
    loop {
        t += Duration::from_millis(rng.gen_range(1000..3000));
        let fault = Fault::ALL[rng.gen_range(0..Fault::ALL.len())];
        let length = Duration::from_millis(rng.gen_range(2000..8000));
        // Drawn whatever happens next, so one refused strike does not
        // shift the rest of the schedule.
        let pick = rng.gen_range(0..targets.hosts.max(1));
        if t + Duration::from_secs(2) > latest_end {
            break;
        }
        let length = length.min(latest_end - t);
        let busy = |host: usize| {
            strikes
                .iter()
                .any(|s| s.host == host && s.at <= t && t < s.end() + REST)
        };
        let faulty = (0..targets.hosts).filter(|&h| busy(h)).count();
        if faulty >= MAX_AT_ONCE {
            continue;
        }
        let eligible: Vec<usize> = (0..targets.hosts)
            .filter(|&h| !busy(h))
            .filter(|h| match fault {
                Fault::Drain => targets.drainable.contains(h),
                Fault::Leave => targets.members.contains(h),
                _ => true,
            })
            .collect();
        if eligible.is_empty() {
            continue;
        }
        let host = eligible[pick % eligible.len()];
        strikes.push(Strike {
            at: t,
            host,
            fault,
            length,
        });
    }
    strikes
}
