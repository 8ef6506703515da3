//! Pool configuration files, read through `PoolConfig`'s `Deserialize` by
//! TOML, YAML and JSON readers. The input's first line names the format
//! (`toml`, `yaml` or `json`) and the rest is the file; without such a
//! line the whole input is read in the format its length picks. Any text
//! is a configuration or an error naming what is wrong, never a panic, and
//! a configuration read from a file builds its pool (and its health
//! checker) without error, then picks.

#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use pickwise::clock::ManualClock;
use pickwise::config::PoolConfig;
use pickwise::{Balancer, Context, NoBackend};

#[derive(Clone, Copy)]
enum Format {
    Toml,
    Yaml,
    Json,
}

/// Reads `text` as `format`; a refusal is its message.
fn read(text: &str, format: Format) -> Result<PoolConfig, String> {
    match format {
        Format::Toml => toml::from_str(text).map_err(|e| e.to_string()),
        Format::Yaml => serde_norway::from_str(text).map_err(|e| e.to_string()),
        Format::Json => serde_json::from_str(text).map_err(|e| e.to_string()),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let named = text.split_once('\n').and_then(|(tag, rest)| {
        let format = match tag.trim() {
            "toml" => Format::Toml,
            "yaml" => Format::Yaml,
            "json" => Format::Json,
            _ => return None,
        };
        Some((format, rest))
    });
    let (format, text) = named.unwrap_or_else(|| {
        let formats = [Format::Toml, Format::Yaml, Format::Json];
        (formats[text.len() % 3], text)
    });
    let config = match read(text, format) {
        Ok(config) => config,
        Err(error) => {
            // Displays without panicking, and says something.
            assert!(!error.to_string().is_empty());
            return;
        }
    };
    if let Some(checker) = config.health_checker() {
        checker.unwrap_or_else(|e| panic!("a checked file's health check is refused: {e}"));
    }
    let pool = config
        .builder()
        .clock(Arc::new(ManualClock::new()))
        .build(config.backends.clone())
        .unwrap_or_else(|e| panic!("a checked file's pool is refused: {e}"));
    assert_eq!(pool.strategy().kind(), config.strategy);
    assert_eq!(pool.backends().len(), config.backends.len());
    for _ in 0..3 {
        match pool.pick(&Context::new()) {
            Ok(pick) => assert!(config.backends.iter().any(|b| &b.id == pick.id())),
            Err(NoBackend::Empty) => assert!(config.backends.is_empty()),
            Err(other) => panic!("a fresh pool of up backends found none: {other}"),
        }
    }
});
