//! `--config FILE`: the whole pool from a file through
//! `pickwise::config::PoolConfig`, instead of the balancing flags. The
//! program picks the format by the file's extension (TOML, YAML or JSON)
//! and reads it through `serde_path_to_error`, so a refused value is named
//! by its path whichever reader refused it. The file is read and checked
//! while the command line is parsed, so an unreadable or wrong file is a
//! usage error (exit 2) naming the file and the field.

use std::error::Error;
use std::fmt;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

use pickwise::config::PoolConfig;

/// A config file, read and checked.
#[derive(Clone, Debug)]
pub struct ConfigFile {
    /// The pool it describes, with its `[health_check]` and `[discovery]`.
    pub pool: PoolConfig,
}

/// The `--config` value parser: reads and checks the file.
pub fn parse(path: &str) -> Result<ConfigFile, String> {
    load(Path::new(path))
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

/// The formats a config file may be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// TOML (`.toml`).
    Toml,
    /// YAML (`.yaml`, `.yml`).
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

/// Why a config file was refused.
#[derive(Debug)]
pub enum ConfigFileError {
    /// The file could not be read.
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// The file's extension names no format read here.
    UnknownFormat {
        /// The file.
        file: PathBuf,
    },
    /// The document is not valid in its format, or a field is missing,
    /// unknown, of the wrong type or out of its range.
    Refused {
        /// The file, when loaded from one.
        file: Option<PathBuf>,
        /// The refused field's path (`backends[2].weight`), empty when the
        /// document as a whole is refused, followed by what is wrong.
        message: String,
    },
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
            ConfigFileError::Refused { file, message } => match file {
                Some(file) => write!(f, "{}: {message}", file.display()),
                None => f.write_str(message),
            },
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

/// The most a config file may hold: a pool of thousands of backends fits
/// many times over; `/dev/zero` or a runaway file does not fill memory.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The deepest nesting of `[` and `{` a config may have (a pool's goes
/// three deep). YAML's reader takes time quadratic in it: 400 KB of `[`
/// took 67 s before this bound.
pub const MAX_NESTING: usize = 16;

/// Reads a file, in the format its extension names; errors name the file.
/// Only a regular file of at most [`MAX_FILE_BYTES`] is read (a FIFO or a
/// device would block or never end), and a pool with neither backends nor
/// names to discover is refused (every request would get 502).
pub fn load(path: &Path) -> Result<PoolConfig, ConfigFileError> {
    let format = Format::from_path(path).ok_or_else(|| ConfigFileError::UnknownFormat {
        file: path.to_owned(),
    })?;
    let refused = |message: String| ConfigFileError::Refused {
        file: Some(path.to_owned()),
        message,
    };
    let unreadable = |error| ConfigFileError::Read {
        file: path.to_owned(),
        error,
    };
    let metadata = std::fs::metadata(path).map_err(unreadable)?;
    if !metadata.is_file() {
        return Err(refused(
            "is not a regular file (a FIFO, a device or a directory is not read)".into(),
        ));
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(refused(format!(
            "is {} bytes, more than the {MAX_FILE_BYTES} a config file may be",
            metadata.len()
        )));
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_FILE_BYTES + 1).read_to_string(&mut text))
        .map_err(unreadable)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(refused(format!(
            "grew past the {MAX_FILE_BYTES} bytes a config file may be while it was read"
        )));
    }
    let pool = read(&text, format).map_err(|e| match e {
        ConfigFileError::Refused { message, .. } => refused(message),
        other => other,
    })?;
    if pool.backends.is_empty() && pool.discovery.is_none() {
        return Err(refused(
            "lists no backends and no [discovery] names: every request would get 502".into(),
        ));
    }
    Ok(pool)
}

/// Reads a configuration written in `format`, refusing nesting deeper
/// than [`MAX_NESTING`] before any reader sees it.
pub fn read(text: &str, format: Format) -> Result<PoolConfig, ConfigFileError> {
    if let Some((line, column)) = too_deep(text, MAX_NESTING) {
        return Err(ConfigFileError::Refused {
            file: None,
            message: format!(
                "nested deeper than {MAX_NESTING} levels of [ and {{ at line {line} column {column}"
            ),
        });
    }
    match format {
        Format::Toml => {
            let deserializer = toml::Deserializer::new(text);
            serde_path_to_error::deserialize(deserializer)
                .map_err(|e| refused(e.path(), toml_why(e.inner(), text)))
        }
        Format::Yaml => {
            let deserializer = serde_norway::Deserializer::from_str(text);
            serde_path_to_error::deserialize(deserializer).map_err(|e| {
                let why = without_yaml_path(e.path(), e.inner().to_string());
                refused(e.path(), why)
            })
        }
        Format::Json => {
            let mut deserializer = serde_json::Deserializer::from_str(text);
            let config = serde_path_to_error::deserialize(&mut deserializer)
                .map_err(|e| refused(e.path(), e.inner().to_string()))?;
            deserializer.end().map_err(|e| ConfigFileError::Refused {
                file: None,
                message: e.to_string(),
            })?;
            Ok(config)
        }
    }
}

/// A refused document: the path the reader was at (none at the root,
/// where the pool's own checks name their field in their message) and
/// what it said.
fn refused(path: &serde_path_to_error::Path, why: String) -> ConfigFileError {
    let field = path.to_string();
    let message = match field.as_str() {
        "." | "" => why,
        _ => format!("{field}: {why}"),
    };
    ConfigFileError::Refused {
        file: None,
        message,
    }
}

/// Where `[` or `{` first opens a level deeper than `max`, outside quoted
/// strings and `#` comments (as TOML and YAML write them; JSON has no
/// comments, and a `#` outside its strings is refused by its reader anyway).
fn too_deep(text: &str, max: usize) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut comment = false;
    for (offset, c) in text.char_indices() {
        match (quote, c) {
            _ if comment => comment = c != '\n',
            (Some('"'), _) if escaped => escaped = false,
            (Some('"'), '\\') => escaped = true,
            (Some(open), _) if c == open => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '#') => comment = true,
            (None, '[' | '{') => {
                depth += 1;
                if depth > max {
                    return Some(line_and_column(text, offset));
                }
            }
            (None, ']' | '}') => depth = depth.saturating_sub(1),
            (None, _) => {}
        }
    }
    None
}

/// "line L, column C" of a byte offset in `text` (both counted from 1).
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// toml's message, and where, when the error is at a place smaller than
/// the whole document (the pool's own checks run on the whole of it).
fn toml_why(error: &toml::de::Error, text: &str) -> String {
    let message = error.message().trim_end().to_owned();
    match error.span() {
        Some(span) if span.start > 0 || span.end < text.len() => {
            let (line, column) = line_and_column(text, span.start);
            format!("{message} at line {line} column {column}")
        }
        _ => message,
    }
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
