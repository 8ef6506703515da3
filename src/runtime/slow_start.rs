//! Slow start: a backend that joins or comes back takes a growing share.

use std::time::Duration;

use crate::types::ConfigError;

/// How a backend that joins the set, returns from an ejection, or is set
/// back up by an operator ramps its effective weight: from `floor_percent`
/// of its weight up to all of it, linearly, over `window`. A cold cache or
/// JIT, or a node that just recovered, is not flooded with its full share
/// at once (Envoy's and HAProxy's `slowstart`).
///
/// The ramp scales the effective weight (what weighted strategies read), so
/// it applies to every strategy that weighs backends; the hash strategies
/// map keys by configured weight and are not affected. Backends of the
/// pool's first set start at full weight: there is no one to spare them.
///
/// Off by default (a zero window).
///
/// ```
/// use pickwise::health::SlowStart;
/// use std::time::Duration;
///
/// let ramp = SlowStart::new(Duration::from_secs(30));
/// assert_eq!(ramp.permille(Duration::ZERO), 100);
/// assert_eq!(ramp.permille(Duration::from_secs(15)), 550);
/// assert_eq!(ramp.permille(Duration::from_secs(30)), 1000);
/// ```
///
/// With feature `serde` it deserializes, durations as text (`"30s"`),
/// unknown fields refused: the `[slow_start]` section of a
/// `pickwise::config::PoolConfig` file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Deserialize),
    serde(deny_unknown_fields)
)]
pub struct SlowStart {
    /// How long the ramp lasts; zero turns slow start off. Required when
    /// read from a config file (a `[slow_start]` section turns it on).
    #[cfg_attr(
        feature = "serde",
        serde(deserialize_with = "crate::types::deserialize_duration")
    )]
    pub window: Duration,
    /// The share of its weight a backend starts with, in percent (1..=100;
    /// [`DEFAULT_FLOOR_PERCENT`](Self::DEFAULT_FLOOR_PERCENT) when read
    /// without it).
    #[cfg_attr(feature = "serde", serde(default = "SlowStart::default_floor"))]
    pub floor_percent: u8,
}

impl SlowStart {
    /// The default floor: 10%.
    pub const DEFAULT_FLOOR_PERCENT: u8 = 10;

    #[cfg(feature = "serde")]
    fn default_floor() -> u8 {
        SlowStart::DEFAULT_FLOOR_PERCENT
    }

    /// A ramp over `window` from the default 10% floor.
    pub fn new(window: Duration) -> Self {
        SlowStart {
            window,
            floor_percent: SlowStart::DEFAULT_FLOOR_PERCENT,
        }
    }

    /// Slow start off.
    pub fn disabled() -> Self {
        SlowStart::default()
    }

    /// Whether backends ramp at all.
    pub fn is_enabled(&self) -> bool {
        !self.window.is_zero()
    }

    /// The share of its weight a backend has `elapsed` after its ramp
    /// began, in thousandths: the floor at first, 1000 from the end of the
    /// window on, linear in between. Integer arithmetic, so it never
    /// decreases as `elapsed` grows.
    pub fn permille(&self, elapsed: Duration) -> u64 {
        if elapsed >= self.window {
            return 1000;
        }
        let floor = u128::from(self.floor_percent.min(100)) * 10;
        let gained = (1000 - floor) * elapsed.as_nanos() / self.window.as_nanos();
        (floor + gained) as u64
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.is_enabled() && !(1..=100).contains(&self.floor_percent) {
            return Err(ConfigError::Invalid {
                setting: "slow_start.floor_percent",
                why: format!("{} is outside 1..=100", self.floor_percent),
            });
        }
        Ok(())
    }
}
