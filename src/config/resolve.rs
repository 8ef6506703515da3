//! From the file's shape to [`PoolConfig`]: every value checked against its
//! range, every refusal naming its field.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use super::error::FieldError;
use super::file::{BackendEntry, BackendTable, PoolFile, StrategyEntry, TiersFile};
use super::{sections, PoolConfig};
use crate::hash::HashKey;
use crate::runtime::feedback::FeedbackConfig;
use crate::runtime::passive::HealthConfig;
use crate::runtime::passive::OutlierConfig;
use crate::runtime::slow_start::SlowStart;
use crate::strategy::{StrategyKind, StrategyOptions};
use crate::types::{
    BackendId, BackendSpec, ConfigError, MAX_BACKENDS, MAX_CONNS, MAX_PRIORITY, MAX_WEIGHT,
};

pub(super) type Checked<T> = Result<T, FieldError>;

pub(super) fn bad<T>(field: impl Into<String>, why: impl Into<String>) -> Checked<T> {
    Err(FieldError::new(field, why))
}

/// A library error's own words, without the setting it would name (the
/// field's path names it better).
pub(super) fn why(error: ConfigError) -> String {
    match error {
        ConfigError::Invalid { why, .. } => why,
        other => other.to_string(),
    }
}

/// A whole number of `field` in `low..=high`.
pub(super) fn within(field: &str, value: u64, low: u64, high: u64) -> Checked<u64> {
    if (low..=high).contains(&value) {
        Ok(value)
    } else {
        bad(field, format!("{value} is outside {low}..={high}"))
    }
}

pub(super) fn positive(field: &str, value: Duration) -> Checked<Duration> {
    if value.is_zero() {
        bad(field, "must be more than zero")
    } else {
        Ok(value)
    }
}

/// Checks the whole file and turns it into the library's settings.
pub(crate) fn resolve(file: PoolFile) -> Checked<PoolConfig> {
    let (strategy, strategy_options) = strategy(file.strategy)?;
    let mut config = PoolConfig::new(strategy);
    config.strategy_options = strategy_options;
    config.backends = backends(file.backends)?;
    if let Some(counts) = file.counts_in_flight {
        config.counts_in_flight = counts;
    }
    if let Some(expiry) = file.agent_expiry {
        config.agent_expiry = positive("agent_expiry", expiry.0)?;
    }
    if let Some(section) = file.health {
        config.health = checked(section, HealthConfig::validate)?;
    }
    config.outlier_detection = file
        .outlier_detection
        .map(|section| checked(section, OutlierConfig::validate))
        .transpose()?;
    if let Some(section) = file.slow_start {
        config.slow_start = checked(section, SlowStart::validate)?;
    }
    if let Some(section) = file.feedback {
        config.feedback = checked(section, FeedbackConfig::validate)?;
    }
    if let Some(section) = file.tiers {
        tiers(section, &mut config)?;
    }
    #[cfg(feature = "health-check")]
    if let Some(section) = file.health_check {
        config.health_check = Some(sections::health_check(section)?);
    }
    #[cfg(not(feature = "health-check"))]
    if file.health_check.is_some() {
        return sections::needs_feature("health_check", "health-check");
    }
    #[cfg(feature = "dns")]
    if let Some(section) = file.discovery {
        config.discovery = Some(sections::discovery(section)?);
    }
    #[cfg(not(feature = "dns"))]
    if file.discovery.is_some() {
        return sections::needs_feature("discovery", "dns");
    }
    Ok(config)
}

fn strategy(entry: StrategyEntry) -> Checked<(StrategyKind, StrategyOptions)> {
    let table = match entry {
        StrategyEntry::Name(name) => {
            let kind = name.parse().or_else(|e| bad("strategy", why(e)))?;
            return Ok((kind, StrategyOptions::default()));
        }
        StrategyEntry::Table(table) => table,
    };
    let kind = table
        .name
        .parse()
        .or_else(|e| bad("strategy.name", why(e)))?;
    let mut options = StrategyOptions::default();
    if let Some(hex) = table.hash_key {
        let key: HashKey = hex.parse().or_else(|e| bad("strategy.hash_key", why(e)))?;
        options.hash_key = Some(key);
    }
    options.seed = table.seed;
    if let Some(prefix) = table.v6_prefix {
        options.v6_prefix = Some(within("strategy.v6_prefix", prefix, 0, 128)? as u8);
    }
    if let Some(text) = table.load_report_blackout {
        let blackout = crate::types::parse_duration(&text)
            .or_else(|e| bad("strategy.load_report_blackout", e))?;
        options.load_report_blackout = Some(blackout);
    }
    Ok((kind, options))
}

pub(super) fn address(field: &str, text: &str) -> Checked<SocketAddr> {
    text.trim().parse().or_else(|_| {
        bad(
            field,
            format!(
                "`{text}` is not IP:PORT (IPv6 goes in brackets, `[::1]:80`; host names are \
                 not resolved)"
            ),
        )
    })
}

fn backends(entries: Vec<BackendEntry>) -> Checked<Vec<BackendSpec<SocketAddr>>> {
    if entries.len() > MAX_BACKENDS {
        return bad(
            "backends",
            ConfigError::TooManyBackends(entries.len()).to_string(),
        );
    }
    let mut specs = Vec::with_capacity(entries.len());
    let mut seen: HashMap<BackendId, usize> = HashMap::new();
    for (i, entry) in entries.into_iter().enumerate() {
        let at = format!("backends[{i}]");
        let (spec, id_field) = match entry {
            BackendEntry::Spec(text) => {
                let spec = text
                    .parse()
                    .or_else(|e: ConfigError| bad(&at, e.to_string()))?;
                (spec, at.clone())
            }
            BackendEntry::Table(table) => (backend_table(&at, table)?, format!("{at}.id")),
        };
        if let Some(first) = seen.insert(spec.id.clone(), i) {
            return bad(
                id_field,
                format!("`{}` is also the id of backends[{first}]", spec.id),
            );
        }
        specs.push(spec);
    }
    Ok(specs)
}

fn backend_table(at: &str, table: BackendTable) -> Checked<BackendSpec<SocketAddr>> {
    let addr = address(&format!("{at}.address"), &table.address)?;
    let mut spec = BackendSpec::from(addr);
    if let Some(id) = table.id {
        if id.is_empty() {
            return bad(format!("{at}.id"), "is empty");
        }
        if id.chars().any(char::is_control) {
            return bad(
                format!("{at}.id"),
                format!("`{}` has a control character", crate::types::Escaped(&id)),
            );
        }
        spec.id = BackendId::new(id);
    }
    if let Some(weight) = table.weight {
        spec.weight = within(&format!("{at}.weight"), weight, 1, u64::from(MAX_WEIGHT))? as u32;
    }
    match (table.backup, table.priority) {
        (Some(true), Some(_)) => {
            return bad(
                format!("{at}.backup"),
                "`backup` and `priority` exclude each other (`backup` is priority 1)",
            )
        }
        (Some(true), None) => spec.priority = 1,
        (_, Some(priority)) => {
            let field = format!("{at}.priority");
            spec.priority = within(&field, priority, 0, u64::from(MAX_PRIORITY))? as u8;
        }
        (_, None) => {}
    }
    if let Some(cap) = table.max_conns {
        let cap = within(&format!("{at}.max_conns"), cap, 1, u64::from(MAX_CONNS))?;
        spec.max_conns = Some(cap as u32);
    }
    if let Some(agent) = table.agent {
        spec.agent = Some(address(&format!("{at}.agent"), &agent)?);
    }
    Ok(spec)
}

/// Checks a section read as the library's setting with the setting's own
/// validation, which names its field (`health.max_ejection`).
fn checked<T>(section: T, validate: impl FnOnce(&T) -> Result<(), ConfigError>) -> Checked<T> {
    match validate(&section) {
        Ok(()) => Ok(section),
        Err(ConfigError::Invalid { setting, why }) => bad(setting, why),
        Err(other) => bad("", other.to_string()),
    }
}

fn tiers(section: TiersFile, config: &mut PoolConfig) -> Checked<()> {
    if let Some(factor) = section.overprovisioning {
        if !(1.0..=100.0).contains(&factor) {
            return bad(
                "tiers.overprovisioning",
                format!("{factor} is outside 1..=100"),
            );
        }
        config.overprovisioning = Some(factor);
    }
    if let Some(percent) = section.panic_threshold {
        config.panic_threshold = Some(within("tiers.panic_threshold", percent, 0, 100)? as u8);
    }
    Ok(())
}
