//! Logs of the example programs: `tracing` events, one line each on stderr.
//! The level comes from `--log-level`, else `RUST_LOG`, else `info`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The `--log-level` flag every program that logs takes.
#[derive(clap::Args, Clone, Debug)]
pub struct LogArgs {
    /// What to log: a level (error, warn, info, debug, trace) or tracing
    /// directives (`info,hyper=debug`). Overrides RUST_LOG [default: RUST_LOG,
    /// else info]
    #[arg(long, value_name = "FILTER", value_parser = parse_filter)]
    pub log_level: Option<String>,
}

fn parse_filter(text: &str) -> Result<String, String> {
    EnvFilter::try_new(text)
        .map(|_| text.to_owned())
        .map_err(|e| e.to_string())
}

impl LogArgs {
    /// Installs the global subscriber: stderr, no colours unless stderr is
    /// a terminal.
    pub fn init(&self) {
        let from_env = std::env::var(EnvFilter::DEFAULT_ENV).ok();
        let (filter, bad_env) = match (&self.log_level, &from_env) {
            (Some(directives), _) => (EnvFilter::new(directives), None),
            (None, Some(directives)) => match EnvFilter::try_new(directives) {
                Ok(filter) => (filter, None),
                Err(e) => (EnvFilter::new("info"), Some(e)),
            },
            (None, None) => (EnvFilter::new("info"), None),
        };
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .with_target(false)
            .init();
        if let Some(e) = bad_env {
            tracing::warn!("ignoring RUST_LOG: {e}; logging at info");
        }
    }
}
