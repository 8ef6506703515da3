//! Strategies chosen by name at run time, dispatched by a `match` rather
//! than a virtual call, so a `Pool<AnyStrategy, B>` keeps the whole pool API.

use std::fmt;
use std::str::FromStr;

use super::*;
use crate::hash::HashKey;

/// Settings for strategies chosen by name; each strategy takes the ones that
/// apply to it and ignores the rest.
#[derive(Debug, Clone, Default)]
pub struct StrategyOptions {
    /// Key of the hash strategies; random per process when `None`.
    pub hash_key: Option<HashKey>,
    /// Seed of the randomised strategies; random when `None`.
    pub seed: Option<u64>,
    /// Bits of an IPv6 client address the hash strategies hash; their
    /// default ([`DEFAULT_V6_PREFIX`](crate::hash::DEFAULT_V6_PREFIX)) when `None`.
    pub v6_prefix: Option<u8>,
    /// How long [`OrcaWrr`] waits before a backend's load reports count
    /// ([`OrcaWrr::blackout_period`]); gRFC A58's 10 s when `None`.
    pub load_report_blackout: Option<std::time::Duration>,
}

/// Builds a strategy from [`StrategyOptions`]; strategies without options
/// take their default.
pub trait FromOptions: Default {
    /// The strategy configured by `options`.
    fn from_options(options: &StrategyOptions) -> Self {
        let _ = options;
        Self::default()
    }
}

/// Declares every strategy once: its name, and its place in the enums.
macro_rules! strategies {
    ($( $variant:ident => $name:literal: $doc:literal, )*) => {
        /// A strategy's name, as programs take it on their command line.
        ///
        /// ```
        /// use pickwise::strategy::StrategyKind;
        /// let kind: StrategyKind = "least-connections".parse()?;
        /// assert_eq!(kind, StrategyKind::LeastConnections);
        /// assert_eq!(kind.to_string(), "least-connections");
        /// assert!("fastest".parse::<StrategyKind>().is_err());
        /// # Ok::<(), pickwise::ConfigError>(())
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum StrategyKind {
            $( #[doc = $doc] $variant, )*
        }

        impl StrategyKind {
            /// Every strategy, in the README's order.
            pub const ALL: &'static [StrategyKind] = &[$(StrategyKind::$variant),*];
            /// Every strategy's name, in the same order.
            pub const NAMES: &'static [&'static str] = &[$($name),*];

            /// The name, as parsed.
            pub fn name(self) -> &'static str {
                match self { $( StrategyKind::$variant => $name, )* }
            }
        }

        /// Any strategy, chosen at run time (see [`StrategyKind`]).
        #[derive(Debug)]
        pub enum AnyStrategy {
            $( #[doc = $doc] $variant($variant), )*
        }

        /// The table of an [`AnyStrategy`].
        #[derive(Debug)]
        pub enum AnyTable {
            $( #[doc = $doc] $variant(<$variant as Strategy>::Table), )*
        }

        impl AnyStrategy {
            /// The strategy named `kind`, with its default settings.
            pub fn new(kind: StrategyKind) -> Self {
                AnyStrategy::with_options(kind, &StrategyOptions::default())
            }

            /// The strategy named `kind`, configured by `options`.
            pub fn with_options(kind: StrategyKind, options: &StrategyOptions) -> Self {
                match kind {
                    $( StrategyKind::$variant => AnyStrategy::$variant($variant::from_options(options)), )*
                }
            }

            /// Which strategy this is.
            pub fn kind(&self) -> StrategyKind {
                match self { $( AnyStrategy::$variant(_) => StrategyKind::$variant, )* }
            }
        }

        impl Strategy for AnyStrategy {
            type Table = AnyTable;

            fn build(&self, set: &BackendSet) -> Result<AnyTable, ConfigError> {
                match self {
                    $( AnyStrategy::$variant(s) => s.build(set).map(AnyTable::$variant), )*
                }
            }

            fn counts_in_flight(&self) -> bool {
                match self { $( AnyStrategy::$variant(s) => s.counts_in_flight(), )* }
            }

            fn reads_load_reports(&self) -> bool {
                match self { $( AnyStrategy::$variant(s) => s.reads_load_reports(), )* }
            }

            #[inline]
            fn select(&self, table: &AnyTable, set: &BackendSet, ctx: &Context<'_>) -> Option<usize> {
                match (self, table) {
                    $( (AnyStrategy::$variant(s), AnyTable::$variant(t)) => s.select(t, set, ctx), )*
                    // The pool builds every table with its own strategy.
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }
        }

        $(
            impl From<$variant> for AnyStrategy {
                fn from(strategy: $variant) -> Self {
                    AnyStrategy::$variant(strategy)
                }
            }
        )*
    };
}

strategies! {
    RoundRobin => "round-robin": "Each backend in turn.",
    RoundRobinSharded => "round-robin-sharded": "Each backend in turn, one cursor per thread.",
    WeightedRoundRobin => "weighted-round-robin": "Smooth weighted round robin (nginx).",
    LeastConnections => "least-connections": "Fewest picks in flight.",
    WeightedLeastConnections => "weighted-least-connections": "Fewest picks in flight per unit of weight.",
    ResourceBased => "resource-based": "Shares following agent-reported capacity.",
    SdnAdaptive => "sdn-adaptive": "Better of two random backends by latency, errors, load and capacity.",
    SourceIpHash => "source-ip-hash": "Client address hashed to a backend, with a sticky table.",
    P2c => "p2c": "Two random candidates, the less loaded per unit of weight wins.",
    PeakEwma => "peak-ewma": "Power of two choices on latency x load, failures penalised.",
    Maglev => "maglev": "Maglev lookup table over the key or client: O(1), finely balanced.",
    RingHash => "ring-hash": "Ketama consistent-hash ring over the key or client.",
    Rendezvous => "rendezvous": "Weighted highest-random-weight hashing of the key or client.",
    BoundedLoad => "bounded-load": "Consistent hashing with bounded loads: hot keys spill along the ring.",
    Random => "random": "Weighted random.",
    Prequal => "prequal": "Probe replies (in flight, latency) picked by the hot-cold rule.",
    OrcaWrr => "orca-wrr": "Weighted round robin on backends' ORCA load reports (gRFC A58).",
}

impl FromOptions for RoundRobin {}
impl FromOptions for RoundRobinSharded {}
impl FromOptions for WeightedRoundRobin {}
impl FromOptions for LeastConnections {}
impl FromOptions for WeightedLeastConnections {}
impl FromOptions for ResourceBased {}

impl FromOptions for OrcaWrr {
    fn from_options(options: &StrategyOptions) -> Self {
        match options.load_report_blackout {
            Some(blackout) => OrcaWrr::new().blackout_period(blackout),
            None => OrcaWrr::new(),
        }
    }
}

/// The randomised strategies take the seed, when there is one.
macro_rules! seeded_from_options {
    ($($strategy:ident),*) => {$(
        impl FromOptions for $strategy {
            fn from_options(options: &StrategyOptions) -> Self {
                let strategy = $strategy::new();
                match options.seed {
                    Some(seed) => strategy.seeded(seed),
                    None => strategy,
                }
            }
        }
    )*};
}

seeded_from_options!(SdnAdaptive, P2c, PeakEwma, Random, Prequal);

impl FromStr for StrategyKind {
    type Err = ConfigError;

    fn from_str(name: &str) -> Result<Self, ConfigError> {
        let wanted = name.trim().to_ascii_lowercase().replace('_', "-");
        StrategyKind::ALL
            .iter()
            .copied()
            .find(|kind| kind.name() == wanted)
            .ok_or_else(|| ConfigError::UnknownStrategy {
                name: name.to_owned(),
                known: StrategyKind::NAMES,
            })
    }
}

impl fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AnyStrategy {
    type Err = ConfigError;

    fn from_str(name: &str) -> Result<Self, ConfigError> {
        name.parse().map(AnyStrategy::new)
    }
}

impl From<StrategyKind> for AnyStrategy {
    fn from(kind: StrategyKind) -> Self {
        AnyStrategy::new(kind)
    }
}
