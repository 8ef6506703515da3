//! Command-line helpers every program shares (the worker includes this file
//! alone; the proxies through `common`).

use std::num::ParseIntError;
use std::time::Duration;

/// A number of milliseconds, as the `--*-ms` flags take them.
pub fn millis(text: &str) -> Result<Duration, ParseIntError> {
    text.parse().map(Duration::from_millis)
}

/// Exits as clap does on bad usage: the message, the usage line, status 2.
/// For what clap cannot check alone (e.g. two backends with one id).
pub fn exit_usage<P: clap::CommandFactory>(message: impl std::fmt::Display) -> ! {
    P::command()
        .error(clap::error::ErrorKind::ValueValidation, message)
        .exit()
}
