//! [`FieldError`]: a configuration value refused, named by its field.

use std::error::Error;
use std::fmt;

/// A value of a pool's configuration refused after reading: its field's
/// path in the document (`backends[2].weight`, `health.max_ejection`) and
/// what is wrong with it, so the message points at the line to fix.
///
/// Deserializing a [`PoolConfig`](super::PoolConfig) reports it through the
/// format's own error (`serde::de::Error::custom`), whose message is this
/// error's `field: why`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    field: String,
    why: String,
}

impl FieldError {
    pub(crate) fn new(field: impl Into<String>, why: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            why: why.into(),
        }
    }

    /// The refused field's path (`backends[2].weight`).
    pub fn field(&self) -> &str {
        &self.field
    }

    /// What is wrong with its value.
    pub fn why(&self) -> &str {
        &self.why
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.why)
    }
}

impl Error for FieldError {}
