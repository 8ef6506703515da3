use std::fmt;
use std::str::FromStr;

use crate::types::ConfigError;

/// Which client this is, of how many: `I/C` on a command line, `0 <= I < C`.
///
/// ```
/// use pickwise::subset::ClientIndex;
///
/// let me: ClientIndex = "2/8".parse()?;
/// assert_eq!((me.index(), me.clients()), (2, 8));
/// assert!("8/8".parse::<ClientIndex>().is_err());
/// # Ok::<(), pickwise::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientIndex {
    index: usize,
    clients: usize,
}

impl ClientIndex {
    /// Client `index` of `clients`; refused unless `index < clients`.
    pub fn new(index: usize, clients: usize) -> Result<Self, ConfigError> {
        if index < clients {
            Ok(ClientIndex { index, clients })
        } else {
            Err(ConfigError::Invalid {
                setting: "client index",
                why: format!("client {index} of {clients}: the index must be below the count"),
            })
        }
    }

    /// This client's index, from 0.
    pub fn index(&self) -> usize {
        self.index
    }

    /// How many clients there are.
    pub fn clients(&self) -> usize {
        self.clients
    }
}

impl FromStr for ClientIndex {
    type Err = ConfigError;

    fn from_str(text: &str) -> Result<Self, ConfigError> {
        let invalid = |why: String| ConfigError::Invalid {
            setting: "client index",
            why,
        };
        let (index, clients) = text
            .split_once('/')
            .ok_or_else(|| invalid(format!("`{text}` is not I/C (e.g. 2/8)")))?;
        let number = |part: &str| {
            part.trim()
                .parse::<usize>()
                .map_err(|_| invalid(format!("`{part}` in `{text}` is not a whole number")))
        };
        ClientIndex::new(number(index)?, number(clients)?)
    }
}

impl fmt::Display for ClientIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.clients)
    }
}
