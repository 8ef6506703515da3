//! Reading the three formats: TOML, YAML and JSON, each through
//! `serde_path_to_error` so a refused value is named by its path.

use std::fmt;
use std::path::Path;

use super::error::ConfigFileError;
use super::file::PoolFile;

/// The formats a pool's configuration may be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// TOML (`.toml`).
    Toml,
    /// YAML (`.yaml`, `.yml`), read by `serde_norway`.
    Yaml,
    /// JSON (`.json`).
    Json,
}

impl Format {
    /// The format a file's extension names (`toml`, `yaml`, `yml`, `json`,
    /// in any case), if any.
    pub fn from_path(path: &Path) -> Option<Format> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "toml" => Some(Format::Toml),
            "yaml" | "yml" => Some(Format::Yaml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Toml => "TOML",
            Format::Yaml => "YAML",
            Format::Json => "JSON",
        })
    }
}

/// "line L, column C" of a byte offset in `text` (both counted from 1).
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// A refused value: its path (the document's root is empty) and what the
/// format's reader said, ending with where it stands.
fn refused(path: &serde_path_to_error::Path, why: String) -> ConfigFileError {
    let field = path.to_string();
    let field = if field == "." { String::new() } else { field };
    ConfigFileError::field_error(field, why)
}

/// serde_norway starts its messages with its own path (`backends[0]: `),
/// which is the start of the one tracked here: drop it, to name the field
/// once.
fn without_yaml_path(path: &serde_path_to_error::Path, message: String) -> String {
    let field = path.to_string();
    match message.split_once(": ") {
        Some((head, rest)) if !head.is_empty() && field.starts_with(head) => rest.to_owned(),
        _ => message,
    }
}

fn toml_why(error: &toml::de::Error, text: &str) -> String {
    let message = error.message().trim_end().to_owned();
    match error.span() {
        Some(span) => {
            let (line, column) = line_and_column(text, span.start);
            format!("{message} at line {line} column {column}")
        }
        None => message,
    }
}

pub(crate) fn from_toml(text: &str) -> Result<PoolFile, ConfigFileError> {
    let deserializer = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(deserializer)
        .map_err(|e| refused(e.path(), toml_why(e.inner(), text)))
}

pub(crate) fn from_yaml(text: &str) -> Result<PoolFile, ConfigFileError> {
    let deserializer = serde_norway::Deserializer::from_str(text);
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let why = without_yaml_path(e.path(), e.inner().to_string());
        refused(e.path(), why)
    })
}

pub(crate) fn from_json(text: &str) -> Result<PoolFile, ConfigFileError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let file = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|e| refused(e.path(), e.inner().to_string()))?;
    deserializer
        .end()
        .map_err(|e| ConfigFileError::field_error("", e.to_string()))?;
    Ok(file)
}

pub(crate) fn read(text: &str, format: Format) -> Result<PoolFile, ConfigFileError> {
    match format {
        Format::Toml => from_toml(text),
        Format::Yaml => from_yaml(text),
        Format::Json => from_json(text),
    }
}
