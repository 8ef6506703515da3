//! The sections of optional features: `[health_check]` (feature
//! `health-check`: a [`CheckConfig`](crate::health_check::CheckConfig) and
//! its [`CheckKind`](crate::health_check::CheckKind)) and `[discovery]` (feature
//! `dns`: a [`DnsConfig`](crate::dns::DnsConfig)), checked by those
//! modules' own validation with every refusal naming its field. Without
//! the feature, a section is refused with the feature it needs.

#[cfg(feature = "dns")]
use std::time::Duration;

#[cfg(feature = "dns")]
use super::file::DiscoveryFile;
#[cfg(feature = "health-check")]
use super::file::HealthCheckFile;
#[cfg(feature = "dns")]
use super::resolve::{address, positive};
use super::resolve::{bad, Checked};
#[cfg(any(feature = "health-check", feature = "dns"))]
use super::resolve::{why, within};
#[cfg(feature = "dns")]
use crate::dns::{DnsConfig, DnsTarget, DEFAULT_MAX_INTERVAL, DEFAULT_MIN_INTERVAL};
#[cfg(feature = "health-check")]
use crate::health_check::{Check, CheckConfig, CheckKind, HttpCheck};
#[cfg(any(feature = "health-check", feature = "dns"))]
use crate::types::ConfigError;

/// A section this build cannot honour: refused, naming the cargo feature
/// that would, rather than ignored.
#[cfg(any(not(feature = "health-check"), not(feature = "dns")))]
pub(super) fn needs_feature<T>(section: &str, feature: &str) -> Checked<T> {
    bad(
        section,
        format!(
            "this section needs pickwise's `{feature}` cargo feature, which this build \
             lacks (enable it: `features = [\"serde\", \"{feature}\"]`)"
        ),
    )
}

/// Active health checks, as `[health_check]` configures them: the
/// checker's settings and its check, both validated. Start a checker with
/// [`PoolConfig::health_checker`](super::PoolConfig::health_checker).
#[cfg(feature = "health-check")]
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HealthCheckSection {
    /// Interval, jitter, timeout, rise, fall and concurrency.
    pub config: CheckConfig,
    /// The file's `probe = "tcp"` (the default), `"http"` (with `path`,
    /// `host`, `expect_body`) or `"agent"`.
    pub check: CheckKind,
}

#[cfg(feature = "health-check")]
impl HealthCheckSection {
    /// A section of these settings and this check.
    pub fn new(config: CheckConfig, check: CheckKind) -> Self {
        HealthCheckSection { config, check }
    }
}

/// The field of `[health_check]` a `CheckConfig` or `HttpCheck` setting is.
#[cfg(feature = "health-check")]
fn health_check_field(error: &ConfigError) -> &'static str {
    match error {
        ConfigError::Invalid { setting, .. } => match *setting {
            "health check interval" => "health_check.interval",
            "health check jitter" => "health_check.jitter",
            "health check timeout" => "health_check.timeout",
            "health check rise" => "health_check.rise",
            "health check fall" => "health_check.fall",
            "health check concurrency" => "health_check.concurrency",
            "health check path" => "health_check.path",
            "health check host" => "health_check.host",
            "health check body text" => "health_check.expect_body",
            _ => "health_check",
        },
        _ => "health_check",
    }
}

#[cfg(feature = "health-check")]
pub(super) fn health_check(section: HealthCheckFile) -> Checked<HealthCheckSection> {
    let mut config = CheckConfig::default();
    if let Some(interval) = section.interval {
        config.interval = interval.0;
    }
    if let Some(timeout) = section.timeout {
        config.timeout = timeout.0;
    }
    if let Some(jitter) = section.jitter {
        config.jitter = jitter;
    }
    if let Some(rise) = section.rise {
        config.rise = rise;
    }
    if let Some(fall) = section.fall {
        config.fall = fall;
    }
    if let Some(concurrency) = section.concurrency {
        // Threads or tasks at once: 1..=1024 is plenty, and keeps a typo
        // from asking for millions.
        config.concurrency = within("health_check.concurrency", concurrency, 1, 1024)? as usize;
    }
    let name = section.probe.as_deref().unwrap_or("tcp");
    let check = match name.trim() {
        "http" => {
            let mut http = HttpCheck::new(section.path.unwrap_or_else(|| "/".to_owned()));
            http.host = section.host;
            http.expect_body = section.expect_body;
            CheckKind::Http(http)
        }
        other @ ("tcp" | "agent") => {
            for (field, given) in [
                ("path", section.path.is_some()),
                ("host", section.host.is_some()),
                ("expect_body", section.expect_body.is_some()),
            ] {
                if given {
                    return bad(
                        format!("health_check.{field}"),
                        format!("applies only to probe = \"http\", not \"{other}\""),
                    );
                }
            }
            if other == "tcp" {
                CheckKind::Tcp
            } else {
                CheckKind::Agent
            }
        }
        other => {
            return bad(
                "health_check.probe",
                format!("unknown probe `{other}` (known: tcp, http, agent)"),
            )
        }
    };
    config
        .validate()
        .and_then(|()| check.validate())
        .or_else(|e| bad(health_check_field(&e), why(e)))?;
    Ok(HealthCheckSection { config, check })
}

#[cfg(feature = "dns")]
pub(super) fn discovery(section: DiscoveryFile) -> Checked<DnsConfig> {
    let mut targets = Vec::with_capacity(section.names.len());
    for (i, name) in section.names.iter().enumerate() {
        let target: DnsTarget = name
            .parse()
            .or_else(|e: ConfigError| bad(format!("discovery.names[{i}]"), e.to_string()))?;
        targets.push(target);
    }
    let mut config =
        DnsConfig::with_targets(targets).or_else(|e| bad("discovery.names", why(e)))?;
    if let Some(server) = section.resolver {
        config = config.resolver(address("discovery.resolver", &server)?);
    }
    let min = section.min_ttl.map(|d| d.0);
    let max = section.max_ttl.map(|d| d.0);
    let field = match (min, max) {
        (Some(min), _) if min.is_zero() => "discovery.min_ttl",
        (_, Some(_)) => "discovery.max_ttl",
        _ => "discovery.min_ttl",
    };
    config = config
        .ttl_range(
            min.unwrap_or(DEFAULT_MIN_INTERVAL),
            max.unwrap_or(DEFAULT_MAX_INTERVAL.max(min.unwrap_or(Duration::ZERO))),
        )
        .or_else(|e| bad(field, why(e)))?;
    if let Some(timeout) = section.timeout {
        config = config.timeout(positive("discovery.timeout", timeout.0)?);
    }
    if let Some(attempts) = section.attempts {
        config = config.attempts(within("discovery.attempts", attempts, 1, 16)? as usize);
    }
    Ok(config)
}
