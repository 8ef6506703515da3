//! Looking up one name: the resolver, A/AAAA and SRV answers turned into
//! addresses with their weight and tier, and the answer's TTL.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfigGroup, ResolveHosts, ResolverConfig,
};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::rr::Record;
use hickory_resolver::{Name, Resolver, TokioResolver};

use crate::dns::{DnsConfig, DnsError, DnsErrorKind, DnsName, DnsTarget};
use crate::types::{ConfigError, MAX_PRIORITY};

/// One address a name gave, with the options it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Found {
    pub addr: SocketAddr,
    pub weight: u32,
    pub priority: u8,
}

/// A name's answer: its addresses in a stable order, and the smallest TTL
/// of the records it took.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub found: Vec<Found>,
    pub ttl: Duration,
}

/// The resolver the configuration asks for: its server, or the system's.
pub(crate) fn resolver<B>(config: &DnsConfig<B>) -> Result<TokioResolver, ConfigError> {
    let provider = TokioConnectionProvider::default();
    let mut builder = match config.resolver {
        Some(server) => {
            let servers =
                NameServerConfigGroup::from_ips_clear(&[server.ip()], server.port(), true);
            let resolver_config = ResolverConfig::from_parts(None, Vec::new(), servers);
            Resolver::builder_with_config(resolver_config, provider)
        }
        None => Resolver::builder(provider).map_err(|e| ConfigError::Invalid {
            setting: "dns resolver",
            why: format!(
                "cannot read the system's resolver configuration ({e}); give a server with \
                 DnsConfig::resolver"
            ),
        })?,
    };
    let options = builder.options_mut();
    options.timeout = config.timeout;
    // hickory counts retries after the first query.
    options.attempts = config.attempts.saturating_sub(1);
    options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    if config.resolver.is_some() {
        // A server given is the whole truth: no /etc/hosts in between.
        options.use_hosts_file = ResolveHosts::Never;
    }
    Ok(builder.build())
}

/// Looks `target` up, afresh (the resolver's cache is emptied first: the
/// discovery keeps its own schedule).
pub(crate) async fn lookup(
    resolver: &TokioResolver,
    target: &DnsTarget,
) -> Result<Answer, DnsError> {
    resolver.clear_cache();
    match &target.value {
        DnsName::Host { host, port } => {
            let (ips, ttl) =
                addresses(resolver, host, || format!("A/AAAA lookup of `{host}`")).await?;
            let found = ips
                .into_iter()
                .map(|ip| Found {
                    addr: SocketAddr::new(ip, *port),
                    weight: target.weight,
                    priority: target.priority,
                })
                .collect();
            Ok(Answer { found, ttl })
        }
        DnsName::Srv(name) => srv(resolver, name).await,
    }
}

/// An SRV name: records by priority (the distinct priorities, ascending,
/// become tiers 0, 1, 2..., capped at `MAX_PRIORITY`), weight 0 taken as 1,
/// each target resolved. A target that fails fails the name: its last good
/// set is better than one missing a target for a passing fault.
async fn srv(resolver: &TokioResolver, name: &str) -> Result<Answer, DnsError> {
    let query = || format!("SRV lookup of `{name}`");
    let answer = resolver
        .srv_lookup(name)
        .await
        .map_err(|e| DnsError::from_resolve(query(), &e))?;
    let mut ttl = smallest_ttl(answer.as_lookup().records());
    // A target of `.` says "no such service here".
    let mut records: Vec<(u16, u16, u16, Name)> = answer
        .iter()
        .filter(|srv| !srv.target().is_root())
        .map(|srv| {
            (
                srv.priority(),
                srv.weight(),
                srv.port(),
                srv.target().clone(),
            )
        })
        .collect();
    if records.is_empty() {
        return Err(DnsError::new(query(), DnsErrorKind::NoRecords));
    }
    records.sort();
    let mut priorities: Vec<u16> = records.iter().map(|r| r.0).collect();
    priorities.dedup();
    let tier = |priority: u16| {
        let rank = priorities.iter().position(|p| *p == priority).unwrap_or(0);
        u8::try_from(rank).map_or(MAX_PRIORITY, |rank| rank.min(MAX_PRIORITY))
    };
    let mut targets: HashMap<Name, Vec<IpAddr>> = HashMap::new();
    let mut found = Vec::new();
    for (priority, weight, port, target) in records {
        if !targets.contains_key(&target) {
            let text = target.to_string();
            let (ips, target_ttl) = addresses(resolver, &text, || {
                format!("A/AAAA lookup of `{text}` (target of SRV `{name}`)")
            })
            .await?;
            ttl = ttl.min(target_ttl);
            targets.insert(target.clone(), ips);
        }
        for ip in targets.get(&target).into_iter().flatten() {
            found.push(Found {
                addr: SocketAddr::new(*ip, port),
                weight: u32::from(weight.max(1)),
                priority: tier(priority),
            });
        }
    }
    // A stable order (tier, then address), whatever the server's; the same
    // address under two records: the better tier's stays.
    found.sort_by_key(|f| (f.priority, f.addr));
    let mut seen = Vec::with_capacity(found.len());
    found.retain(|f| {
        let new = !seen.contains(&f.addr);
        seen.push(f.addr);
        new
    });
    Ok(Answer { found, ttl })
}

/// A host's addresses (A and AAAA), sorted, and their TTL.
async fn addresses(
    resolver: &TokioResolver,
    host: &str,
    query: impl Fn() -> String,
) -> Result<(Vec<IpAddr>, Duration), DnsError> {
    let answer = resolver
        .lookup_ip(host)
        .await
        .map_err(|e| DnsError::from_resolve(query(), &e))?;
    let mut ips: Vec<IpAddr> = answer.iter().collect();
    ips.sort();
    ips.dedup();
    if ips.is_empty() {
        return Err(DnsError::new(query(), DnsErrorKind::NoRecords));
    }
    Ok((ips, smallest_ttl(answer.as_lookup().records())))
}

/// The smallest TTL of `records` (a day if there is none, as for an IP
/// literal: the configured maximum then applies).
fn smallest_ttl(records: &[Record]) -> Duration {
    let seconds = records.iter().map(Record::ttl).min().unwrap_or(86_400);
    Duration::from_secs(u64::from(seconds))
}
