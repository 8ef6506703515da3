//! The rules every pick keeps, written apart from the library as a model
//! to check it against: used by `tests/random_operations.rs` and by the
//! `pool_operations` fuzz target (`#[path]`), so the two hold the pool to
//! the same rules.

use pickwise::{AdminState, BackendId, BackendState, BackendStatus, TierStatus};

/// Whether the backend could take a request that excludes `exclude`, in a
/// tier whose panic state is `panic`.
pub fn could_take(status: &BackendStatus, panic: bool, exclude: &[BackendId]) -> bool {
    let healthy_enough = match status.state {
        BackendState::Up => true,
        BackendState::Ejected | BackendState::Unhealthy => panic && status.admin == AdminState::Up,
        _ => false,
    };
    healthy_enough
        && status.effective_weight > 0
        && !exclude.contains(&status.id)
        && status
            .max_conns
            .is_none_or(|cap| status.in_flight.unwrap_or(0) < u64::from(cap))
}

/// The tier a backend's status names.
pub fn tier_of<'t>(tiers: &'t [TierStatus], status: &BackendStatus) -> &'t TierStatus {
    tiers
        .iter()
        .find(|t| t.priority == status.priority)
        .unwrap_or_else(|| panic!("{} in tier {}, not shown", status.id, status.priority))
}

/// The rule a pick of `picked` broke, against the pool as it stood just
/// before it (`before`, `tiers`), if any.
pub fn broken_by_pick(
    picked: &BackendId,
    before: &[BackendStatus],
    tiers: &[TierStatus],
    exclude: &[BackendId],
) -> Option<String> {
    let Some(status) = before.iter().find(|s| &s.id == picked) else {
        return Some(format!("picked {picked}, not in the set"));
    };
    if exclude.contains(picked) {
        return Some(format!("picked {picked}, excluded"));
    }
    if status.admin != AdminState::Up {
        return Some(format!("picked {picked} while {:?}", status.admin));
    }
    let tier = tier_of(tiers, status);
    if status.state != BackendState::Up && !tier.in_panic {
        return Some(format!(
            "picked {picked} while {} outside panic",
            status.state
        ));
    }
    if status.effective_weight == 0 {
        return Some(format!("picked {picked} at effective weight 0"));
    }
    if let Some(cap) = status.max_conns {
        match status.in_flight {
            None => return Some(format!("{picked} has a cap but no in-flight count")),
            Some(n) if n >= u64::from(cap) => {
                return Some(format!("picked {picked} at its cap {cap}"))
            }
            Some(_) => {}
        }
    }
    if tier.share == 0.0 {
        for better in tiers.iter().filter(|t| t.priority < status.priority) {
            let open = before
                .iter()
                .find(|s| s.priority == better.priority && could_take(s, better.in_panic, exclude));
            if better.share != 0.0 {
                if let Some(open) = open {
                    return Some(format!(
                        "picked {picked} in tier {} with no share while {} in tier {} could take it",
                        status.priority, open.id, better.priority
                    ));
                }
            }
        }
    }
    None
}

/// The rule a failed pick broke (a backend could have taken it), if any.
pub fn broken_by_no_pick(
    before: &[BackendStatus],
    tiers: &[TierStatus],
    exclude: &[BackendId],
) -> Option<String> {
    before
        .iter()
        .find(|s| could_take(s, tier_of(tiers, s).in_panic, exclude))
        .map(|open| format!("no pick while {} could take it", open.id))
}
