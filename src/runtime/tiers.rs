//! Tiers (priority levels): how much of the traffic each tier takes as its
//! backends come and go, and when a tier panics. The rule is Envoy's
//! ([priority levels](https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/load_balancing/priority),
//! [panic threshold](https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/load_balancing/panic_threshold)):
//!
//! 1. A tier's *health* is its available share times the overprovisioning
//!    factor (1.4 by default), at most 100%: a tier with 72% of its backends
//!    available still takes everything, one with 50% takes 70%.
//! 2. Tiers fill in priority order: each takes its health, at most what is
//!    left; the rest moves down.
//! 3. If all tiers together cannot take 100%, their shares are scaled up
//!    to 100% (everything to the best tier if none has any health), and
//!    each tier whose available share is below the panic threshold panics:
//!    its picks ignore health and spread over all its members.
//!
//! A generation computes its plan for one value of the pool's availability
//! epoch ([`Shared::states_changed`]) and recomputes it when the epoch has
//! moved: the pick path pays two atomic loads while nothing changes. When
//! the whole plan is "tier 0 takes everything, no panic", picks skip the
//! draw entirely.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::runtime::set::BackendSet;
use crate::runtime::shared::Shared;
use crate::types::PanicChange;

/// Shares are counted in thousandths.
pub(crate) const WHOLE: u32 = 1000;

/// How tiers share traffic and when they panic: the pool's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TierConfig {
    /// Overprovisioning factor in thousandths (1400 = 1.4).
    pub(crate) overprovisioning: u32,
    /// Panic below this available share, in percent; 0 turns panic off.
    pub(crate) panic_threshold: u8,
}

impl Default for TierConfig {
    fn default() -> Self {
        TierConfig {
            overprovisioning: 1400,
            panic_threshold: 50,
        }
    }
}

/// One tier's backends, as the plan counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Availability {
    /// Up, healthy, not ejected, weight above zero.
    pub(crate) available: usize,
    /// All of them.
    pub(crate) members: usize,
}

/// One tier's part of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Share {
    /// Its share of the traffic, thousandths.
    pub(crate) load: u32,
    /// Whether it is in panic.
    pub(crate) panic: bool,
}

/// The plan for tiers in priority order (see the module docs).
pub(crate) fn plan(config: &TierConfig, tiers: &[Availability]) -> Vec<Share> {
    let health: Vec<u32> = tiers
        .iter()
        .map(|t| {
            if t.members == 0 {
                return 0;
            }
            let h = t.available as u64 * u64::from(config.overprovisioning) / t.members as u64;
            h.min(u64::from(WHOLE)) as u32
        })
        .collect();
    let mut left = WHOLE;
    let mut loads: Vec<u32> = health
        .iter()
        .map(|&h| {
            let load = h.min(left);
            left -= load;
            load
        })
        .collect();
    let short = left > 0;
    if short {
        if let Some(total) = std::num::NonZeroU32::new(WHOLE - left) {
            for load in &mut loads {
                *load = *load * WHOLE / total;
            }
            // Rounding leftovers go to the best tier that takes traffic.
            let sum: u32 = loads.iter().sum();
            if let Some(first) = loads.iter_mut().find(|l| **l > 0) {
                *first += WHOLE - sum;
            }
        } else if let Some(first) = loads.first_mut() {
            // No tier has any health: the best takes everything (in panic).
            *first = WHOLE;
        }
    }
    let threshold = u64::from(config.panic_threshold);
    tiers
        .iter()
        .zip(loads)
        .map(|(t, load)| Share {
            load,
            panic: short && load > 0 && (t.available as u64) * 100 < threshold * t.members as u64,
        })
        .collect()
}

/// A tag no epoch matches: the plan was never computed.
const NEVER: u64 = u64::MAX;

/// One generation's tier plan, kept in atomics so picks read it without a
/// lock; recomputed (under a lock, by one picker) when the epoch moves.
pub(crate) struct Router {
    /// `epoch << 1 | simple`, where simple means tier 0 takes everything
    /// and does not panic. [`NEVER`] before the first plan.
    tag: AtomicU64,
    /// Each tier's upper bound in thousandths: a draw below it (and above
    /// the previous bound) goes to that tier.
    bounds: Box<[AtomicU32]>,
    recompute: Mutex<()>,
}

/// Where a pick starts: one tier, or a draw over the plan's bounds.
pub(crate) enum Route {
    /// Tier 0 takes everything.
    First,
    /// Draw in `0..WHOLE` and take the tier whose bound is above it.
    Draw,
}

impl Router {
    pub(crate) fn new(tiers: usize) -> Self {
        Router {
            tag: AtomicU64::new(NEVER),
            bounds: (0..tiers).map(|_| AtomicU32::new(WHOLE)).collect(),
            recompute: Mutex::new(()),
        }
    }

    /// Whether the plan is current and sends everything to tier 0 with no
    /// panic: two loads, the whole cost of tiers on the plain pick path.
    #[inline(always)]
    pub(crate) fn all_to_first_tier(&self, shared: &Shared) -> bool {
        self.tag.load(Ordering::Acquire) == (shared.epoch() << 1 | 1)
    }

    /// The route for a pick now: two loads while the plan is current;
    /// `sets` (the tiers' sets, best first) is called only to recompute it.
    #[inline]
    pub(crate) fn route<'s>(
        &self,
        shared: &Shared,
        sets: impl FnOnce() -> Vec<&'s BackendSet>,
    ) -> Route {
        let epoch = shared.epoch();
        let tag = self.tag.load(Ordering::Acquire);
        if tag == (epoch << 1 | 1) {
            return Route::First;
        }
        if tag == epoch << 1 {
            return Route::Draw;
        }
        self.refresh(epoch, shared, &sets())
    }

    /// The tier a draw in `0..WHOLE` lands in.
    pub(crate) fn tier_of(&self, draw: u32) -> usize {
        let last = self.bounds.len().saturating_sub(1);
        self.bounds
            .iter()
            .position(|bound| draw < bound.load(Ordering::Relaxed))
            .unwrap_or(last)
    }

    /// Each tier's share now, thousandths (for the status).
    pub(crate) fn loads(&self) -> Vec<u32> {
        let mut below = 0;
        self.bounds
            .iter()
            .map(|bound| {
                let bound = bound.load(Ordering::Relaxed);
                let load = bound.saturating_sub(below);
                below = bound;
                load
            })
            .collect()
    }

    /// Recomputes the plan if the epoch moved since it was computed, and
    /// tells observers which tiers entered or left panic.
    #[cold]
    #[inline(never)]
    pub(crate) fn refresh(&self, epoch: u64, shared: &Shared, sets: &[&BackendSet]) -> Route {
        let tag = self.tag.load(Ordering::Acquire);
        let current = if tag != NEVER && tag & 1 == 1 {
            Route::First
        } else {
            Route::Draw
        };
        // One picker recomputes; the others go on with the plan as it was
        // (before the first plan, every bound sends a draw to tier 0)
        // rather than wait on the pick path.
        let Some(guard) = self.recompute.try_lock() else {
            return current;
        };
        let tag = self.tag.load(Ordering::Acquire);
        if tag != NEVER && tag >> 1 == epoch {
            return if tag & 1 == 1 {
                Route::First
            } else {
                Route::Draw
            };
        }
        let counts: Vec<Availability> = sets.iter().map(|set| set.availability()).collect();
        let shares = plan(&shared.tiers, &counts);
        let mut bound = 0;
        let mut changes = Vec::new();
        let now = shared.now();
        for ((set, share), (count, slot)) in sets
            .iter()
            .zip(&shares)
            .zip(counts.iter().zip(self.bounds.iter()))
        {
            bound += share.load;
            slot.store(bound, Ordering::Relaxed);
            if set.set_panic(share.panic) != share.panic {
                changes.push(PanicChange {
                    priority: set.priority(),
                    in_panic: share.panic,
                    available: count.available,
                    members: count.members,
                    at: now,
                });
            }
        }
        let simple = shares
            .first()
            .is_some_and(|first| first.load == WHOLE && !first.panic);
        self.tag
            .store(epoch << 1 | u64::from(simple), Ordering::Release);
        drop(guard);
        // Only changes against the previous generation's word are news.
        changes.retain(|change| shared.panic_noted(change.priority, change.in_panic));
        for change in &changes {
            shared.notify_panic(change);
        }
        if simple {
            Route::First
        } else {
            Route::Draw
        }
    }
}

/// One tier's picture, from [`Pool::tiers`](crate::Pool::tiers).
///
/// With the `serde` feature it serialises as a map of its fields under
/// their own names: `priority`, `members`, `available`, `share`,
/// `in_panic`.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TierStatus {
    /// Its backends' priority (0 is the best tier).
    pub priority: u8,
    /// Its backends.
    pub members: usize,
    /// Its backends available now: up, healthy, not ejected, weight above
    /// zero.
    pub available: usize,
    /// Its share of the traffic, from 0 to 1.
    pub share: f64,
    /// Whether it is in panic: its picks ignore health and spread over all
    /// its members.
    pub in_panic: bool,
}

/// A tier's panic flag, read by its set's slow eligibility path only.
#[derive(Debug, Default)]
pub(crate) struct PanicFlag(AtomicBool);

impl PanicFlag {
    #[inline]
    pub(crate) fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Sets it; returns what it was.
    pub(crate) fn replace(&self, panic: bool) -> bool {
        self.0.swap(panic, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiers(counts: &[(usize, usize)]) -> Vec<Availability> {
        counts
            .iter()
            .map(|&(available, members)| Availability { available, members })
            .collect()
    }

    fn loads(counts: &[(usize, usize)]) -> Vec<u32> {
        plan(&TierConfig::default(), &tiers(counts))
            .iter()
            .map(|s| s.load)
            .collect()
    }

    #[test]
    fn a_tier_with_72_percent_available_takes_everything() {
        assert_eq!(loads(&[(18, 25), (4, 4)]), [1000, 0]);
        assert_eq!(loads(&[(17, 25), (4, 4)]), [952, 48]);
    }

    #[test]
    fn half_the_primaries_take_70_percent_and_the_backups_the_rest() {
        assert_eq!(loads(&[(3, 6), (2, 2)]), [700, 300]);
    }

    #[test]
    fn with_every_primary_down_the_backups_take_everything() {
        assert_eq!(loads(&[(0, 6), (2, 2)]), [0, 1000]);
    }

    #[test]
    fn shares_scale_up_when_all_tiers_together_fall_short() {
        // 0.7 + 0.35 of the rest... 700 + 233 = 933 < 1000: scaled.
        let shares = plan(&TierConfig::default(), &tiers(&[(3, 6), (1, 6)]));
        assert_eq!(shares[0].load + shares[1].load, 1000);
        assert_eq!(shares[0].load, 700 * 1000 / 933 + 1);
        assert!(!shares[0].panic && shares[1].panic);
    }

    #[test]
    fn a_lone_tier_panics_below_the_threshold_only() {
        let two_of_six = plan(&TierConfig::default(), &tiers(&[(2, 6)]));
        assert_eq!(
            two_of_six,
            [Share {
                load: 1000,
                panic: true
            }]
        );
        let four_of_six = plan(&TierConfig::default(), &tiers(&[(4, 6)]));
        assert_eq!(
            four_of_six,
            [Share {
                load: 1000,
                panic: false
            }]
        );
        let off = TierConfig {
            panic_threshold: 0,
            ..TierConfig::default()
        };
        assert!(!plan(&off, &tiers(&[(0, 6)]))[0].panic);
    }

    #[test]
    fn with_nothing_available_anywhere_the_best_tier_takes_everything_in_panic() {
        let shares = plan(&TierConfig::default(), &tiers(&[(0, 3), (0, 2)]));
        assert_eq!(
            shares,
            [
                Share {
                    load: 1000,
                    panic: true
                },
                Share {
                    load: 0,
                    panic: false
                }
            ]
        );
    }

    #[test]
    fn backups_that_cover_the_gap_keep_the_primaries_out_of_panic() {
        let shares = plan(&TierConfig::default(), &tiers(&[(2, 6), (4, 4)]));
        assert_eq!(
            shares[0],
            Share {
                load: 466,
                panic: false
            }
        );
        assert_eq!(
            shares[1],
            Share {
                load: 534,
                panic: false
            }
        );
    }
}
