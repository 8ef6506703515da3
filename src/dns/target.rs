//! What a discovery follows: a `host:PORT` or an SRV name, with the options
//! every backend found under it gets.

use std::fmt;
use std::str::FromStr;

use crate::types::{parse_spec, BackendSpec, ConfigError, MAX_CONNS, MAX_PRIORITY, MAX_WEIGHT};

/// A name to look up.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DnsName {
    /// `host:PORT`: the host's A and AAAA records; each address is a
    /// backend on `port`.
    Host {
        /// The host name (or an IP literal, which resolves to itself).
        host: String,
        /// The port every address gets.
        port: u16,
    },
    /// An SRV name such as `_http._tcp.example.test`: each record's target,
    /// resolved to its addresses, on the record's port.
    Srv(String),
}

impl fmt::Display for DnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsName::Host { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            DnsName::Host { host, port } => write!(f, "{host}:{port}"),
            DnsName::Srv(name) => f.write_str(name),
        }
    }
}

/// One name and the options its backends get: a [`BackendSpec`] whose value
/// is the [`DnsName`]; for `host:PORT`, weight, priority (tier) and cap;
/// for an SRV name, only the cap (its records give priority and weight).
/// `id` and `agent` belong to one address, not to a name: a target has
/// none (its id is the name).
///
/// Parsed from the backend spec syntax with a name in place of the address:
///
/// ```
/// use pickwise::dns::{DnsName, DnsTarget};
///
/// let web: DnsTarget = "web.example.test:8080,weight=2,max_conns=100".parse()?;
/// assert_eq!(web.value, DnsName::Host { host: "web.example.test".into(), port: 8080 });
/// assert_eq!((web.weight, web.priority, web.max_conns), (2, 0, Some(100)));
///
/// // A name that starts with `_` is an SRV name: no port, no weight.
/// let srv: DnsTarget = "_http._tcp.example.test,max_conns=50".parse()?;
/// assert_eq!(srv.value, DnsName::Srv("_http._tcp.example.test".into()));
///
/// let bad = "_http._tcp.example.test,weight=3".parse::<DnsTarget>().unwrap_err();
/// assert_eq!(
///     bad.to_string(),
///     "bad backend `_http._tcp.example.test,weight=3`: `weight` does not apply to an SRV \
///      name: its records give each backend's priority and weight"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub type DnsTarget = BackendSpec<DnsName>;

impl BackendSpec<DnsName> {
    /// A `host:PORT` name: its A and AAAA records, weight 1, priority 0.
    pub fn host(host: impl Into<String>, port: u16) -> Self {
        let name = DnsName::Host {
            host: host.into(),
            port,
        };
        BackendSpec::new(name.to_string(), name)
    }

    /// An SRV name (`_service._proto.domain`).
    pub fn srv(name: impl Into<String>) -> Self {
        let name = DnsName::Srv(name.into());
        BackendSpec::new(name.to_string(), name)
    }

    /// Checks the options against their ranges and the name's kind.
    pub(crate) fn validate_target(&self) -> Result<(), ConfigError> {
        let bad = |why: String| ConfigError::BackendSpec {
            spec: self.value.to_string(),
            why,
        };
        match &self.value {
            DnsName::Host { host, .. } if host.is_empty() => {
                return Err(bad("the host name is empty".into()))
            }
            DnsName::Srv(name) if name.is_empty() => {
                return Err(bad("the SRV name is empty".into()))
            }
            DnsName::Srv(_) if self.weight != 1 || self.priority != 0 => {
                return Err(bad(
                    "an SRV name takes no weight or priority: its records give them".into(),
                ))
            }
            _ => {}
        }
        if self.agent.is_some() {
            return Err(bad(
                "`agent` does not apply to a name: it belongs to one address".into(),
            ));
        }
        if self.weight == 0 || self.weight > MAX_WEIGHT {
            return Err(bad(format!(
                "weight {} is outside 1..={MAX_WEIGHT}",
                self.weight
            )));
        }
        if self.priority > MAX_PRIORITY {
            return Err(bad(format!(
                "priority {} is above the largest, {MAX_PRIORITY}",
                self.priority
            )));
        }
        if let Some(cap) = self.max_conns {
            if cap == 0 || cap > MAX_CONNS {
                return Err(bad(format!("max_conns {cap} is outside 1..={MAX_CONNS}")));
            }
        }
        Ok(())
    }
}

/// Parses `host:PORT[,weight=N][,priority=N|,backup][,max_conns=N]` or
/// `_service._proto.domain[,max_conns=N]` with [`BackendSpec`]'s own parser
/// (the same options, refused the same way), except `id` and `agent`, which
/// belong to one address, not to a name.
impl FromStr for BackendSpec<DnsName> {
    type Err = ConfigError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |why: String| ConfigError::BackendSpec {
            spec: text.to_owned(),
            why,
        };
        let (target, keys) = parse_spec(text, parse_name)?;
        for key in keys {
            match key {
                "id" | "agent" => {
                    return Err(bad(format!(
                        "`{key}` does not apply to a name: it belongs to one address"
                    )))
                }
                "weight" | "priority" | "backup" if matches!(target.value, DnsName::Srv(_)) => {
                    return Err(bad(format!(
                        "`{key}` does not apply to an SRV name: its records give each \
                         backend's priority and weight"
                    )))
                }
                _ => {}
            }
        }
        target.validate_target().map_err(|e| match e {
            ConfigError::BackendSpec { why, .. } => bad(why),
            other => other,
        })?;
        Ok(target)
    }
}

/// `host:PORT`, `[v6]:PORT` or an SRV name (starting with `_`).
fn parse_name(text: &str) -> Result<DnsName, String> {
    if text.is_empty() {
        return Err("the name is missing".into());
    }
    if text.starts_with('_') {
        if text.contains(':') {
            return Err(format!(
                "`{text}` is an SRV name (it starts with `_`): it takes no port, its records give them"
            ));
        }
        return Ok(DnsName::Srv(text.to_owned()));
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!(
            "`{text}` has no port: write `host:PORT`, or an SRV name such as `_http._tcp.{text}`"
        ));
    };
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Err(format!("`{text}` has no host before its port"));
    }
    if host.contains(':') && !text.starts_with('[') {
        return Err(format!(
            "`{text}`: an IPv6 address goes in brackets, `[::1]:80`"
        ));
    }
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("port `{port}` of `{text}` is not a number in 0..=65535"))?;
    Ok(DnsName::Host {
        host: host.to_owned(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_name_takes_the_backend_options() {
        let t: DnsTarget = "web.test:80,backup,max_conns=3".parse().unwrap();
        assert_eq!(t.value.to_string(), "web.test:80");
        assert_eq!((t.weight, t.priority, t.max_conns), (1, 1, Some(3)));
    }

    #[test]
    fn an_ipv6_literal_keeps_its_brackets_in_text() {
        let t: DnsTarget = "[::1]:80".parse().unwrap();
        assert_eq!(
            t.value,
            DnsName::Host {
                host: "::1".into(),
                port: 80
            }
        );
        assert_eq!(t.value.to_string(), "[::1]:80");
    }

    #[test]
    fn bad_names_and_options_say_what_is_wrong() {
        let cases = [
            ("web.test", "has no port"),
            ("web.test:http", "is not a number"),
            (":80", "no host"),
            ("_http._tcp.test:80", "takes no port"),
            ("web.test:80,agent=127.0.0.1:9", "belongs to one address"),
            ("web.test:80,id=x", "belongs to one address"),
            ("_x._tcp.test,backup", "does not apply to an SRV name"),
            ("web.test:80,weight=0", "weight 0 is outside"),
            ("web.test:80,colour=red", "unknown option `colour`"),
        ];
        for (text, why) in cases {
            let err = text.parse::<DnsTarget>().unwrap_err().to_string();
            assert!(err.contains(why), "{text}: {err}");
            assert!(err.contains(text), "{text}: {err}");
        }
    }

    #[test]
    fn built_targets_are_checked_like_parsed_ones() {
        assert!(DnsTarget::srv("_x._tcp.test")
            .weight(2)
            .validate_target()
            .is_err());
        assert!(DnsTarget::host("a.test", 1)
            .priority(16)
            .validate_target()
            .is_err());
        assert!(DnsTarget::host("", 1).validate_target().is_err());
        assert!(DnsTarget::host("a.test", 1)
            .max_conns(4)
            .validate_target()
            .is_ok());
    }
}
