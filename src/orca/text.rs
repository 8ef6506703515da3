//! The text forms of `endpoint-load-metrics`: `TEXT name=value, ...` and
//! `JSON {...}` (a flat object of numbers, maps as nested objects).

use super::{check_value, LoadReport, OrcaError};

pub(super) fn parse(value: &[u8]) -> Result<LoadReport, OrcaError> {
    let text = std::str::from_utf8(value).map_err(|e| OrcaError::Syntax {
        at: e.valid_up_to(),
        why: "not UTF-8",
    })?;
    let trimmed = text.trim_start();
    let skipped = text.len() - trimmed.len();
    let mut report = LoadReport::default();
    if let Some(rest) = strip_word(trimmed, "TEXT") {
        parse_text(rest, skipped + 4, &mut report)?;
    } else if let Some(rest) = strip_word(trimmed, "JSON") {
        Json {
            text: rest,
            at: 0,
            base: skipped + 4,
        }
        .parse(&mut report)?;
    } else {
        let start: String = trimmed.chars().take(16).collect();
        return Err(OrcaError::Format(start));
    }
    report.validate()?;
    Ok(report)
}

/// `rest` after a leading `word` followed by whitespace or the end.
fn strip_word<'a>(text: &'a str, word: &str) -> Option<&'a str> {
    let rest = text.strip_prefix(word)?;
    (rest.is_empty() || rest.starts_with([' ', '\t'])).then_some(rest)
}

fn parse_text(text: &str, base: usize, report: &mut LoadReport) -> Result<(), OrcaError> {
    let mut at = base;
    for pair in text.split(',') {
        let here = at;
        at += pair.len() + 1;
        if pair.trim().is_empty() {
            if text.trim().is_empty() {
                continue;
            }
            return Err(OrcaError::Syntax {
                at: here,
                why: "an empty name=value pair",
            });
        }
        let Some((name, value)) = pair.split_once('=') else {
            return Err(OrcaError::Syntax {
                at: here,
                why: "expected name=value",
            });
        };
        let (name, value) = (name.trim(), value.trim());
        let number = value.parse::<f64>().map_err(|_| OrcaError::Value {
            field: name.to_string(),
            value: value.to_string(),
        })?;
        set(report, name, number)?;
    }
    Ok(())
}

/// Sets field `name` (a message field, its lowerCamelCase JSON name, or
/// `map.key`) to `value`.
fn set(report: &mut LoadReport, name: &str, value: f64) -> Result<(), OrcaError> {
    if let Some((map, key)) = name.split_once('.') {
        let entries = map_named(report, map).ok_or_else(|| unknown(name))?;
        if key.is_empty() {
            return Err(unknown(name));
        }
        entries.push((key.to_string(), value));
        return Ok(());
    }
    let field = match name {
        "cpu_utilization" | "cpuUtilization" => &mut report.cpu_utilization,
        "mem_utilization" | "memUtilization" => &mut report.mem_utilization,
        "application_utilization" | "applicationUtilization" => &mut report.application_utilization,
        "rps_fractional" | "rpsFractional" => &mut report.rps_fractional,
        "eps" => &mut report.eps,
        // The deprecated integer form: the fractional one wins if both come.
        "rps" => {
            check_value(name, value, false)?;
            if report.rps_fractional == 0.0 {
                report.rps_fractional = value;
            }
            return Ok(());
        }
        _ => return Err(unknown(name)),
    };
    *field = value;
    Ok(())
}

fn map_named<'r>(report: &'r mut LoadReport, map: &str) -> Option<&'r mut Vec<(String, f64)>> {
    match map {
        "request_cost" | "requestCost" => Some(&mut report.request_cost),
        "utilization" => Some(&mut report.utilization),
        "named_metrics" | "namedMetrics" => Some(&mut report.named_metrics),
        _ => None,
    }
}

fn unknown(name: &str) -> OrcaError {
    OrcaError::UnknownField(name.to_string())
}

/// A reader of the JSON subset a load report is: one object whose values
/// are numbers, or (for the maps) objects of numbers.
struct Json<'a> {
    text: &'a str,
    at: usize,
    /// Offset of `text` in the header value, for errors.
    base: usize,
}

impl Json<'_> {
    fn parse(mut self, report: &mut LoadReport) -> Result<(), OrcaError> {
        self.expect(b'{', "expected {")?;
        if !self.eat(b'}') {
            loop {
                let name = self.string()?;
                self.expect(b':', "expected :")?;
                if self.peek() == Some(b'{') {
                    self.object_of_numbers(&name, report)?;
                } else {
                    let value = self.number(&name)?;
                    set(report, &name, value)?;
                }
                if self.eat(b',') {
                    continue;
                }
                self.expect(b'}', "expected , or }")?;
                break;
            }
        }
        self.skip_space();
        if self.at != self.text.len() {
            return Err(self.error("text after the object"));
        }
        Ok(())
    }

    fn object_of_numbers(&mut self, map: &str, report: &mut LoadReport) -> Result<(), OrcaError> {
        if map_named(report, map).is_none() {
            return Err(unknown(map));
        }
        self.expect(b'{', "expected {")?;
        if self.eat(b'}') {
            return Ok(());
        }
        loop {
            let key = self.string()?;
            self.expect(b':', "expected :")?;
            let value = self.number(&format!("{map}.{key}"))?;
            if let Some(entries) = map_named(report, map) {
                entries.push((key, value));
            }
            if self.eat(b',') {
                continue;
            }
            return self.expect(b'}', "expected , or }");
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.text.as_bytes().get(self.at).copied()
    }

    fn skip_space(&mut self) {
        let bytes = self.text.as_bytes();
        while bytes
            .get(self.at)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        {
            self.at += 1;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, byte: u8, why: &'static str) -> Result<(), OrcaError> {
        if self.eat(byte) {
            Ok(())
        } else {
            Err(self.error(why))
        }
    }

    fn error(&self, why: &'static str) -> OrcaError {
        OrcaError::Syntax {
            at: self.base + self.at,
            why,
        }
    }

    /// A string without escapes other than `\"` and `\\` (names are
    /// identifiers; anything else is refused rather than misread).
    fn string(&mut self) -> Result<String, OrcaError> {
        self.expect(b'"', "expected a quoted name")?;
        let mut out = String::new();
        let mut chars = self.text[self.at..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.at += i + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, e @ ('"' | '\\'))) => out.push(e),
                    _ => {
                        self.at += i;
                        return Err(self.error("an escape other than \\\" or \\\\"));
                    }
                },
                c if c.is_control() => {
                    self.at += i;
                    return Err(self.error("a control character in a name"));
                }
                c => out.push(c),
            }
        }
        self.at = self.text.len();
        Err(self.error("an unterminated string"))
    }

    fn number(&mut self, field: &str) -> Result<f64, OrcaError> {
        self.skip_space();
        let rest = &self.text[self.at..];
        let len = rest
            .find(|c: char| !(c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E')))
            .unwrap_or(rest.len());
        if len == 0 {
            return Err(self.error("expected a number"));
        }
        let token = &rest[..len];
        self.at += len;
        token.parse::<f64>().map_err(|_| OrcaError::Value {
            field: field.to_string(),
            value: token.to_string(),
        })
    }
}

pub(super) fn to_text(report: &LoadReport) -> String {
    let mut pairs: Vec<String> = Vec::new();
    for (name, value) in [
        ("cpu_utilization", report.cpu_utilization),
        ("mem_utilization", report.mem_utilization),
        ("application_utilization", report.application_utilization),
        ("rps_fractional", report.rps_fractional),
        ("eps", report.eps),
    ] {
        if value != 0.0 {
            pairs.push(format!("{name}={value}"));
        }
    }
    for (map, entries) in [
        ("request_cost", &report.request_cost),
        ("utilization", &report.utilization),
        ("named_metrics", &report.named_metrics),
    ] {
        for (key, value) in entries {
            pairs.push(format!("{map}.{key}={value}"));
        }
    }
    format!("TEXT {}", pairs.join(", "))
}
