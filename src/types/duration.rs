//! Durations as people write them in config files: `"2s"`, `"500ms"`,
//! `"1m30s"`, `"1.5h"`; the settings that hold a duration read it so
//! (`deserialize_duration`), wherever they are defined.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// The units a duration may use, with their length in nanoseconds.
const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
];

/// Parses a duration: one or more `NUMBER UNIT` parts (`"2s"`, `"500ms"`,
/// `"1m30s"`, `"1.5s"`), units `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h`,
/// `d`; a bare `"0"` is zero. Spaces between parts are allowed.
///
/// ```
/// use pickwise::config::parse_duration;
/// use std::time::Duration;
///
/// assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
/// assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
/// assert_eq!(parse_duration("1.5ms"), Ok(Duration::from_micros(1500)));
/// assert_eq!(
///     parse_duration("30").unwrap_err(),
///     "`30` has no unit (ns, us, ms, s, m, h, d): write \"30s\" or \"30ms\""
/// );
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed == "0" {
        return Ok(Duration::ZERO);
    }
    if trimmed.is_empty() {
        return Err("a duration is empty: write e.g. \"2s\" or \"500ms\"".into());
    }
    let known = "ns, us, ms, s, m, h, d";
    let mut nanos: u128 = 0;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_end);
        if number.is_empty() {
            return Err(format!(
                "`{text}` is not a duration: expected a number at `{rest}`"
            ));
        }
        if number == "." || number.matches('.').count() > 1 {
            return Err(format!(
                "`{text}` is not a duration: `{number}` is not a number"
            ));
        }
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.' || c.is_whitespace())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        if unit.is_empty() {
            return Err(format!(
                "`{text}` has no unit ({known}): write \"{number}s\" or \"{number}ms\""
            ));
        }
        let Some(&(_, scale)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(format!(
                "`{text}` has an unknown unit `{unit}` (known: {known})"
            ));
        };
        nanos = nanos
            .checked_add(part_nanos(number, scale).ok_or_else(|| too_long(text))?)
            .ok_or_else(|| too_long(text))?;
        rest = after.trim_start();
    }
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| too_long(text))?;
    Ok(Duration::new(secs, (nanos % 1_000_000_000) as u32))
}

fn too_long(text: &str) -> String {
    format!("`{text}` is too long a duration")
}

/// `number` (digits, at most one point) times `scale` nanoseconds;
/// fractions of a nanosecond are dropped. `None` if it does not parse or
/// overflows.
fn part_nanos(number: &str, scale: u128) -> Option<u128> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
        return None;
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut nanos = whole.checked_mul(scale)?;
    // At most 18 fraction digits matter below a nanosecond of a day.
    let digits = &fraction[..fraction.len().min(18)];
    if !digits.is_empty() {
        let value: u128 = digits.parse().ok()?;
        let denominator = 10u128.pow(digits.len() as u32);
        nanos = nanos.checked_add(value.checked_mul(scale)? / denominator)?;
    }
    Some(nanos)
}

/// A duration setting as serde reads it: text with a unit (see
/// [`parse_duration`]), for `#[serde(deserialize_with = ...)]`.
pub(crate) fn deserialize_duration<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Duration, D::Error> {
    DurationText::deserialize(deserializer).map(|text| text.0)
}

/// A duration field of a config file, written as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DurationText(pub(crate) Duration);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;

        impl Visitor<'_> for Text {
            type Value = DurationText;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"2s\" or \"500ms\"")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<DurationText, E> {
                parse_duration(text).map(DurationText).map_err(E::custom)
            }

            fn visit_u64<E: de::Error>(self, n: u64) -> Result<DurationText, E> {
                if n == 0 {
                    return Ok(DurationText(Duration::ZERO));
                }
                Err(E::custom(format!(
                    "{n} has no unit: write \"{n}s\" or \"{n}ms\" (in quotes)"
                )))
            }

            fn visit_i64<E: de::Error>(self, n: i64) -> Result<DurationText, E> {
                match u64::try_from(n) {
                    Ok(n) => self.visit_u64(n),
                    Err(_) => Err(E::custom(format!("{n} is a negative duration"))),
                }
            }

            fn visit_f64<E: de::Error>(self, n: f64) -> Result<DurationText, E> {
                Err(E::custom(format!(
                    "{n} has no unit: write \"{n}s\" (in quotes)"
                )))
            }
        }

        deserializer.deserialize_any(Text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_every_unit_and_in_parts() {
        let cases = [
            ("500ms", Duration::from_millis(500)),
            ("2s", Duration::from_secs(2)),
            (" 1m30s ", Duration::from_secs(90)),
            ("1m 30s", Duration::from_secs(90)),
            ("1.5h", Duration::from_secs(5400)),
            ("250us", Duration::from_micros(250)),
            ("250µs", Duration::from_micros(250)),
            ("10ns", Duration::from_nanos(10)),
            ("1d", Duration::from_secs(86_400)),
            (".5s", Duration::from_millis(500)),
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn bad_durations_say_what_is_wrong() {
        for (text, why) in [
            ("", "empty"),
            ("5", "has no unit"),
            ("5x", "unknown unit `x`"),
            ("s", "expected a number"),
            ("1.2.3s", "`1.2.3` is not a number"),
            ("99999999999999999999999d", "too long"),
            ("-1s", "expected a number"),
        ] {
            let error = parse_duration(text).expect_err(text);
            assert!(error.contains(why), "{text}: {error}");
        }
    }
}
