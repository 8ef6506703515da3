//! [`ConfigFileError`]: why a config file was refused, naming the field.

use std::error::Error;
use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why a pool's configuration could not be loaded. A refused field is named
/// by its path in the document (`backends[2].weight`,
/// `health.max_ejection`), so the message points at the line to fix.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigFileError {
    /// The file could not be read.
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// The file's extension names no format this module reads.
    UnknownFormat {
        /// The file.
        file: PathBuf,
    },
    /// The document is not valid TOML, YAML or JSON, or a field is
    /// missing, unknown, of the wrong type or out of its range.
    Field {
        /// The file, when loaded from one.
        file: Option<PathBuf>,
        /// The field's path (`backends[2].weight`); empty for the document
        /// as a whole (a syntax error, a missing top-level field).
        field: String,
        /// What is wrong with it.
        why: String,
    },
}

impl ConfigFileError {
    /// The refused field's path, if a field was refused.
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigFileError::Field { field, .. } => Some(field),
            _ => None,
        }
    }

    pub(crate) fn field_error(field: impl Into<String>, why: impl Into<String>) -> Self {
        ConfigFileError::Field {
            file: None,
            field: field.into(),
            why: why.into(),
        }
    }

    /// The same error, saying which file it came from.
    pub(crate) fn in_file(self, path: PathBuf) -> Self {
        match self {
            ConfigFileError::Field { field, why, .. } => ConfigFileError::Field {
                file: Some(path),
                field,
                why,
            },
            other => other,
        }
    }
}

impl fmt::Display for ConfigFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigFileError::Read { file, error } => {
                write!(f, "cannot read {}: {error}", file.display())
            }
            ConfigFileError::UnknownFormat { file } => write!(
                f,
                "{}: unknown config format (expected a .toml, .yaml, .yml or .json file)",
                file.display()
            ),
            ConfigFileError::Field { file, field, why } => {
                if let Some(file) = file {
                    write!(f, "{}: ", file.display())?;
                }
                if field.is_empty() {
                    f.write_str(why)
                } else {
                    write!(f, "{field}: {why}")
                }
            }
        }
    }
}

impl Error for ConfigFileError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            ConfigFileError::Read { error, .. } => Some(error),
            _ => None,
        }
    }
}
