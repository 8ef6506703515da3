//! `--config FILE`: the whole pool from a file (TOML, YAML or JSON by its
//! extension) through `pickwise::config::PoolConfig`, instead of the
//! balancing flags. The file is read and checked while the command line is
//! parsed, so an unreadable or wrong file is a usage error (exit 2) naming
//! the file and the field.

use std::path::Path;

use pickwise::config::PoolConfig;

/// A config file, read and checked.
#[derive(Clone, Debug)]
pub struct ConfigFile {
    /// The pool it describes, with its `[health_check]` and `[discovery]`.
    pub pool: PoolConfig,
}

/// The `--config` value parser: reads and checks the file.
pub fn parse(path: &str) -> Result<ConfigFile, String> {
    PoolConfig::from_path(Path::new(path))
        .map(|pool| ConfigFile { pool })
        .map_err(|e| e.to_string())
}

/// The balancing flags a config file replaces: giving one of them with
/// `--config` is a usage error, so no setting is silently ignored or
/// silently wins.
pub const REPLACED_FLAGS: [&str; 12] = [
    "strategy",
    "backends",
    "hash_key",
    "eject",
    "failures",
    "slow_start",
    "outlier_detection",
    "resolver",
    "health_check",
    "health_interval",
    "health_rise",
    "health_fall",
];
