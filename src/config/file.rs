//! The shape of a config file, as serde reads it: every section and field,
//! unknown ones refused. The sections that are a library setting as it
//! stands (`[health]`, `[outlier_detection]`, `[slow_start]`,
//! `[feedback]`) are read as that setting; the others are shaped here and
//! turned into the library's settings in `resolve`, where every value is
//! checked.
//!
//! A new section is one more field of [`PoolFile`] with its own struct
//! here, and one more step in `resolve`. The sections of optional features
//! (`health_check`, `discovery`) are read whatever the features: without
//! the feature the section is taken as any value and `resolve` refuses it,
//! saying which feature it needs.

use std::fmt;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use crate::runtime::feedback::FeedbackConfig;
use crate::runtime::passive::{HealthConfig, OutlierConfig};
use crate::runtime::slow_start::SlowStart;
use crate::types::DurationText;

/// The whole file.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PoolFile {
    pub(crate) strategy: StrategyEntry,
    #[serde(default)]
    pub(crate) backends: Vec<BackendEntry>,
    pub(crate) counts_in_flight: Option<bool>,
    pub(crate) agent_expiry: Option<DurationText>,
    pub(crate) health: Option<HealthConfig>,
    pub(crate) outlier_detection: Option<OutlierConfig>,
    pub(crate) slow_start: Option<SlowStart>,
    pub(crate) feedback: Option<FeedbackConfig>,
    pub(crate) tiers: Option<TiersFile>,
    pub(crate) health_check: Option<HealthCheckEntry>,
    pub(crate) discovery: Option<DiscoveryEntry>,
}

/// `[health_check]`: its table with feature `health-check`, else any value
/// (refused in `resolve`).
#[cfg(feature = "health-check")]
pub(crate) type HealthCheckEntry = HealthCheckFile;
#[cfg(not(feature = "health-check"))]
pub(crate) type HealthCheckEntry = de::IgnoredAny;

/// `[discovery]`: its table with feature `dns`, else any value (refused in
/// `resolve`).
#[cfg(feature = "dns")]
pub(crate) type DiscoveryEntry = DiscoveryFile;
#[cfg(not(feature = "dns"))]
pub(crate) type DiscoveryEntry = de::IgnoredAny;

/// Active health checks (`CheckConfig` and the probe).
#[cfg(feature = "health-check")]
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HealthCheckFile {
    pub(crate) probe: Option<String>,
    pub(crate) path: Option<String>,
    pub(crate) host: Option<String>,
    pub(crate) expect_body: Option<String>,
    pub(crate) interval: Option<DurationText>,
    pub(crate) timeout: Option<DurationText>,
    pub(crate) jitter: Option<f64>,
    pub(crate) rise: Option<u32>,
    pub(crate) fall: Option<u32>,
    pub(crate) concurrency: Option<u64>,
}

/// DNS discovery (`DnsConfig`).
#[cfg(feature = "dns")]
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DiscoveryFile {
    pub(crate) names: Vec<String>,
    pub(crate) resolver: Option<String>,
    pub(crate) min_ttl: Option<DurationText>,
    pub(crate) max_ttl: Option<DurationText>,
    pub(crate) timeout: Option<DurationText>,
    pub(crate) attempts: Option<u64>,
}

/// `strategy = "p2c"`, or a table with the name and its options.
#[derive(Debug)]
pub(crate) enum StrategyEntry {
    Name(String),
    Table(StrategyTable),
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StrategyTable {
    pub(crate) name: String,
    pub(crate) hash_key: Option<String>,
    pub(crate) seed: Option<u64>,
    pub(crate) v6_prefix: Option<u64>,
    pub(crate) load_report_blackout: Option<String>,
}

/// A backend: its spec string (`"127.0.0.1:8001,weight=2,backup"`), or a
/// table of the same words.
#[derive(Debug)]
pub(crate) enum BackendEntry {
    Spec(String),
    Table(BackendTable),
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BackendTable {
    pub(crate) address: String,
    pub(crate) id: Option<String>,
    pub(crate) weight: Option<u64>,
    pub(crate) priority: Option<u64>,
    pub(crate) backup: Option<bool>,
    pub(crate) max_conns: Option<u64>,
    pub(crate) agent: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TiersFile {
    pub(crate) overprovisioning: Option<f64>,
    pub(crate) panic_threshold: Option<u64>,
}

/// A value that is either a string or a table: `visit_str` makes the one,
/// the table goes through `T`'s own derive (unknown fields refused, the
/// path kept for errors).
macro_rules! string_or_table {
    ($entry:ident, $string:ident, $table:ident($table_type:ident), $expecting:literal) => {
        impl<'de> Deserialize<'de> for $entry {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct Either;

                impl<'de> Visitor<'de> for Either {
                    type Value = $entry;

                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }

                    fn visit_str<E: de::Error>(self, text: &str) -> Result<$entry, E> {
                        Ok($entry::$string(text.to_owned()))
                    }

                    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<$entry, M::Error> {
                        $table_type::deserialize(MapAccessDeserializer::new(map))
                            .map($entry::$table)
                    }
                }

                deserializer.deserialize_any(Either)
            }
        }
    };
}

string_or_table!(
    StrategyEntry,
    Name,
    Table(StrategyTable),
    "a strategy name, or a table with `name` and its options"
);
string_or_table!(
    BackendEntry,
    Spec,
    Table(BackendTable),
    "a backend spec such as \"127.0.0.1:8001,weight=2\", or a table with `address`"
);
