//! [`Error`]: why a balanced call failed.

use std::error::Error as StdError;
use std::fmt;

use crate::types::{BackendId, NoBackend};

/// Why a call through [`Balance`](super::Balance) failed: no backend could
/// take it, or the chosen backend's service failed.
///
/// The backend's error is the [`source`](StdError::source), so
/// [`FailureKind::from_error`](crate::types::FailureKind::from_error) and
/// error reporters walk through to the socket's error.
///
/// ```
/// use pickwise::NoBackend;
/// use pickwise::tower::Error;
///
/// let error: Error<std::io::Error> = Error::NoBackend(NoBackend::Empty);
/// assert_eq!(error.to_string(), "no backend: the set is empty");
/// let error = Error::Backend { id: "w1".into(), error: std::io::Error::other("boom") };
/// assert_eq!(error.to_string(), "backend `w1` failed");
/// ```
#[derive(Debug)]
pub enum Error<E> {
    /// No backend could take the call; it was not sent.
    NoBackend(NoBackend),
    /// The backend's service failed (in `poll_ready` or its call).
    Backend {
        /// The backend.
        id: BackendId,
        /// Its service's error.
        error: E,
    },
}

impl<E> Error<E> {
    /// The backend's error, if the call reached one.
    pub fn into_backend_error(self) -> Option<E> {
        match self {
            Error::NoBackend(_) => None,
            Error::Backend { error, .. } => Some(error),
        }
    }
}

impl<E> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoBackend(why) => fmt::Display::fmt(why, f),
            Error::Backend { id, .. } => write!(f, "backend `{id}` failed"),
        }
    }
}

impl<E: StdError + 'static> StdError for Error<E> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Error::NoBackend(_) => None,
            Error::Backend { error, .. } => Some(error),
        }
    }
}

impl<E> From<NoBackend> for Error<E> {
    fn from(why: NoBackend) -> Self {
        Error::NoBackend(why)
    }
}
