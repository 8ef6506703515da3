//! The series: every family's name, help and type, and how each sample is
//! read from a [`Snapshot`], encoded through prometheus-client's encoder.

use std::fmt;

use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use super::source::Snapshot;
use crate::runtime::slot::{BackendStatus, WEIGHT_UNIT};
use crate::runtime::tiers::TierStatus;
use crate::types::BackendState;

/// The states of the one-hot `pickwise_backend_state` family, in order.
pub(crate) const STATES: [BackendState; 5] = [
    BackendState::Up,
    BackendState::Draining,
    BackendState::Down,
    BackendState::Unhealthy,
    BackendState::Ejected,
];

/// A sample's value: counters are whole numbers; gauges whole or real.
#[derive(Debug, Clone, Copy)]
enum Value {
    Counter(u64),
    Count(u64),
    Real(f64),
}

/// One family: its name (counters without `_total`, which the encoder
/// adds), help text and type.
struct Family {
    name: &'static str,
    help: &'static str,
    counter: bool,
}

/// A family of per-backend series and how to read one backend's value
/// (`None`: this backend has no sample, e.g. in flight when not counted).
struct BackendFamily {
    family: Family,
    value: fn(&BackendStatus) -> Option<Value>,
}

/// A family of per-tier series.
struct TierFamily {
    family: Family,
    value: fn(&TierStatus) -> Value,
}

const fn counter(name: &'static str, help: &'static str) -> Family {
    Family {
        name,
        help,
        counter: true,
    }
}

const fn gauge(name: &'static str, help: &'static str) -> Family {
    Family {
        name,
        help,
        counter: false,
    }
}

/// Per-backend families, labelled `backend` (and `pool`).
const BACKEND_FAMILIES: &[BackendFamily] = &[
    BackendFamily {
        family: counter("pickwise_backend_picks", "Picks of the backend since it joined (only when the pool counts requests in flight)."),
        value: |s| s.picks.map(Value::Counter),
    },
    BackendFamily {
        family: counter("pickwise_backend_successes", "Outcomes recorded as success."),
        value: |s| Some(Value::Counter(s.successes)),
    },
    BackendFamily {
        family: counter("pickwise_backend_server_errors", "Outcomes recorded as server errors."),
        value: |s| Some(Value::Counter(s.server_errors)),
    },
    BackendFamily {
        family: counter("pickwise_backend_failures", "Outcomes recorded as failures (refused, timed out, reset, ...)."),
        value: |s| Some(Value::Counter(s.failures)),
    },
    BackendFamily {
        family: counter("pickwise_backend_client_faults", "Outcomes recorded as client faults (counted for neither side)."),
        value: |s| Some(Value::Counter(s.client_faults)),
    },
    BackendFamily {
        family: counter("pickwise_backend_ejections", "Times passive health or outlier detection ejected the backend."),
        value: |s| Some(Value::Counter(s.ejections)),
    },
    BackendFamily {
        family: gauge("pickwise_backend_in_flight", "Picks of the backend alive now (only when the pool counts them)."),
        value: |s| s.in_flight.map(Value::Count),
    },
    BackendFamily {
        family: gauge("pickwise_backend_max_conns", "The backend's cap on requests in flight (only for backends with a cap)."),
        value: |s| s.max_conns.map(|cap| Value::Count(u64::from(cap))),
    },
    BackendFamily {
        family: gauge("pickwise_backend_consecutive_failures", "Failures since the backend's last success."),
        value: |s| Some(Value::Count(u64::from(s.consecutive_failures))),
    },
    BackendFamily {
        family: gauge("pickwise_backend_latency_seconds", "The backend's latency estimate (peak-sensitive EWMA), in seconds; absent before its first success."),
        value: |s| s.latency.map(|l| Value::Real(l.as_secs_f64())),
    },
    BackendFamily {
        family: gauge("pickwise_backend_error_rate", "The backend's error-rate estimate (EWMA), from 0 to 1."),
        value: |s| Some(Value::Real(s.error_rate)),
    },
    BackendFamily {
        family: gauge("pickwise_backend_weight", "The backend's configured weight."),
        value: |s| Some(Value::Count(u64::from(s.weight))),
    },
    BackendFamily {
        family: gauge("pickwise_backend_effective_weight", "The weight strategies read now (agent capacity and slow start applied), in weight units."),
        value: |s| Some(Value::Real(s.effective_weight as f64 / WEIGHT_UNIT as f64)),
    },
    BackendFamily {
        family: gauge("pickwise_backend_priority", "The backend's tier (0 is the best)."),
        value: |s| Some(Value::Count(u64::from(s.priority))),
    },
];

/// The one-hot state family.
const STATE_FAMILY: Family = gauge(
    "pickwise_backend_state",
    "1 for the backend's state now (up, draining, down, unhealthy, ejected), 0 for the others.",
);

/// Per-tier families, labelled `priority` (and `pool`).
const TIER_FAMILIES: &[TierFamily] = &[
    TierFamily {
        family: gauge(
            "pickwise_tier_share",
            "The tier's share of the traffic, from 0 to 1.",
        ),
        value: |t| Value::Real(t.share),
    },
    TierFamily {
        family: gauge(
            "pickwise_tier_available",
            "The tier's backends available now (up, healthy, not ejected, weight above 0).",
        ),
        value: |t| Value::Count(t.available as u64),
    },
    TierFamily {
        family: gauge("pickwise_tier_members", "The tier's backends."),
        value: |t| Value::Count(t.members as u64),
    },
    TierFamily {
        family: gauge(
            "pickwise_tier_panic",
            "1 while the tier is in panic (its picks ignore health), else 0.",
        ),
        value: |t| Value::Count(u64::from(t.in_panic)),
    },
];

/// A sample's labels, in order: `pool` (when given), then the family's own.
type Labels<'a> = Vec<(&'static str, &'a str)>;

fn labels<'a>(pool: &'a Option<String>, own: &[(&'static str, &'a str)]) -> Labels<'a> {
    let mut labels = Vec::with_capacity(own.len() + 1);
    if let Some(pool) = pool {
        labels.push(("pool", pool.as_str()));
    }
    labels.extend_from_slice(own);
    labels
}

/// Writes one family, if it has any sample: its HELP and TYPE, then the
/// samples.
fn write_family(
    encoder: &mut DescriptorEncoder<'_>,
    family: &Family,
    samples: &[(Labels<'_>, Value)],
) -> fmt::Result {
    if samples.is_empty() {
        return Ok(());
    }
    let kind = if family.counter {
        MetricType::Counter
    } else {
        MetricType::Gauge
    };
    let mut metric = encoder.encode_descriptor(family.name, family.help, None, kind)?;
    for (labels, value) in samples {
        let mut sample = metric.encode_family(labels)?;
        match *value {
            Value::Counter(v) => sample.encode_counter::<NoLabelSet, u64, u64>(&v, None)?,
            Value::Count(v) => sample.encode_gauge(&v)?,
            Value::Real(v) => sample.encode_gauge(&v)?,
        }
    }
    Ok(())
}

/// Writes every family over `pools`.
pub(crate) fn encode(pools: &[Snapshot], mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
    for backend_family in BACKEND_FAMILIES {
        let samples: Vec<(Labels<'_>, Value)> = pools
            .iter()
            .flat_map(|pool| {
                pool.backends.iter().filter_map(|status| {
                    let value = (backend_family.value)(status)?;
                    Some((
                        labels(&pool.pool, &[("backend", status.id.as_str())]),
                        value,
                    ))
                })
            })
            .collect();
        write_family(&mut encoder, &backend_family.family, &samples)?;
    }
    let state_names: Vec<String> = STATES.iter().map(ToString::to_string).collect();
    let samples: Vec<(Labels<'_>, Value)> = pools
        .iter()
        .flat_map(|pool| {
            pool.backends.iter().flat_map(|status| {
                STATES.iter().zip(&state_names).map(|(state, name)| {
                    let own = [("backend", status.id.as_str()), ("state", name.as_str())];
                    let hot = u64::from(status.state == *state);
                    (labels(&pool.pool, &own), Value::Count(hot))
                })
            })
        })
        .collect();
    write_family(&mut encoder, &STATE_FAMILY, &samples)?;
    for tier_family in TIER_FAMILIES {
        let priorities: Vec<Vec<String>> = pools
            .iter()
            .map(|pool| pool.tiers.iter().map(|t| t.priority.to_string()).collect())
            .collect();
        let samples: Vec<(Labels<'_>, Value)> = pools
            .iter()
            .zip(&priorities)
            .flat_map(|(pool, names)| {
                pool.tiers.iter().zip(names).map(|(tier, name)| {
                    let value = (tier_family.value)(tier);
                    (labels(&pool.pool, &[("priority", name.as_str())]), value)
                })
            })
            .collect();
        write_family(&mut encoder, &tier_family.family, &samples)?;
    }
    Ok(())
}
