//! The binary form: the `OrcaLoadReport` protobuf message (read and
//! written by hand: nine fields do not need a code generator) and the
//! base64 gRPC wraps binary metadata in.
//!
//! ```text
//! message OrcaLoadReport {
//!   double cpu_utilization = 1;          double mem_utilization = 2;
//!   uint64 rps = 3 [deprecated];         map<string, double> request_cost = 4;
//!   map<string, double> utilization = 5; double rps_fractional = 6;
//!   double eps = 7;                      map<string, double> named_metrics = 8;
//!   double application_utilization = 9;
//! }
//! ```

use super::{LoadReport, OrcaError};

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LENGTH: u8 = 2;
const FIXED32: u8 = 5;

/// A cursor over protobuf bytes.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, OrcaError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = self
                .bytes
                .split_first()
                .ok_or(OrcaError::Binary("a varint cut short"))?;
            self.bytes = rest;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(OrcaError::Binary("a varint over ten bytes"))
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], OrcaError> {
        if len > self.bytes.len() {
            return Err(OrcaError::Binary("a field cut short"));
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(head)
    }

    fn double(&mut self) -> Result<f64, OrcaError> {
        let bytes = self.take(8)?;
        let mut array = [0u8; 8];
        array.copy_from_slice(bytes);
        Ok(f64::from_le_bytes(array))
    }

    /// The next field's number and wire type, or `None` at the end.
    fn key(&mut self) -> Result<Option<(u64, u8)>, OrcaError> {
        if self.bytes.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        Ok(Some((key >> 3, (key & 7) as u8)))
    }

    fn skip(&mut self, wire: u8) -> Result<(), OrcaError> {
        match wire {
            VARINT => self.varint().map(drop),
            FIXED64 => self.take(8).map(drop),
            LENGTH => {
                let len = self.length()?;
                self.take(len).map(drop)
            }
            FIXED32 => self.take(4).map(drop),
            _ => Err(OrcaError::Binary("a wire type protobuf does not have")),
        }
    }

    fn length(&mut self) -> Result<usize, OrcaError> {
        usize::try_from(self.varint()?).map_err(|_| OrcaError::Binary("a length too large"))
    }
}

pub(super) fn decode(bytes: &[u8]) -> Result<LoadReport, OrcaError> {
    let mut report = LoadReport::default();
    let mut rps = None;
    let mut reader = Reader { bytes };
    while let Some((field, wire)) = reader.key()? {
        let double = match (field, wire) {
            (1, FIXED64) => &mut report.cpu_utilization,
            (2, FIXED64) => &mut report.mem_utilization,
            (6, FIXED64) => &mut report.rps_fractional,
            (7, FIXED64) => &mut report.eps,
            (9, FIXED64) => &mut report.application_utilization,
            (3, VARINT) => {
                rps = Some(reader.varint()?);
                continue;
            }
            (4 | 5 | 8, LENGTH) => {
                let len = reader.length()?;
                let entry = entry(reader.take(len)?)?;
                match field {
                    4 => report.request_cost.push(entry),
                    5 => report.utilization.push(entry),
                    _ => report.named_metrics.push(entry),
                }
                continue;
            }
            (1..=9, _) => return Err(OrcaError::Binary("a known field with the wrong wire type")),
            _ => {
                reader.skip(wire)?;
                continue;
            }
        };
        *double = reader.double()?;
    }
    if let (Some(rps), true) = (rps, report.rps_fractional == 0.0) {
        report.rps_fractional = rps as f64;
    }
    Ok(report)
}

/// One map entry: `string key = 1; double value = 2;`.
fn entry(bytes: &[u8]) -> Result<(String, f64), OrcaError> {
    let mut reader = Reader { bytes };
    let (mut key, mut value) = (String::new(), 0.0);
    while let Some((field, wire)) = reader.key()? {
        match (field, wire) {
            (1, LENGTH) => {
                let len = reader.length()?;
                key = std::str::from_utf8(reader.take(len)?)
                    .map_err(|_| OrcaError::Binary("a map key that is not UTF-8"))?
                    .to_string();
            }
            (2, FIXED64) => value = reader.double()?,
            _ => reader.skip(wire)?,
        }
    }
    Ok((key, value))
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_double(out: &mut Vec<u8>, field: u64, value: f64) {
    put_varint(out, field << 3 | u64::from(FIXED64));
    out.extend_from_slice(&value.to_le_bytes());
}

pub(super) fn encode(report: &LoadReport) -> Vec<u8> {
    let mut out = Vec::new();
    for (field, value) in [
        (1, report.cpu_utilization),
        (2, report.mem_utilization),
        (6, report.rps_fractional),
        (7, report.eps),
        (9, report.application_utilization),
    ] {
        if value != 0.0 {
            put_double(&mut out, field, value);
        }
    }
    for (field, entries) in [
        (4, &report.request_cost),
        (5, &report.utilization),
        (8, &report.named_metrics),
    ] {
        for (key, value) in entries {
            let mut entry = Vec::with_capacity(key.len() + 12);
            put_varint(&mut entry, 1 << 3 | u64::from(LENGTH));
            put_varint(&mut entry, key.len() as u64);
            entry.extend_from_slice(key.as_bytes());
            put_double(&mut entry, 2, *value);
            put_varint(&mut out, field << 3 | u64::from(LENGTH));
            put_varint(&mut out, entry.len() as u64);
            out.extend_from_slice(&entry);
        }
    }
    out
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64, padding optional (gRPC sends it either way).
pub(super) fn base64_decode(text: &[u8]) -> Result<Vec<u8>, OrcaError> {
    let text = text.trim_ascii();
    let unpadded = match text {
        [rest @ .., b'=', b'='] | [rest @ .., b'='] => rest,
        _ => text,
    };
    if unpadded.len() % 4 == 1 || (unpadded.len() != text.len() && text.len() % 4 != 0) {
        return Err(OrcaError::Binary("base64 of a length no encoder gives"));
    }
    let mut out = Vec::with_capacity(unpadded.len() * 3 / 4);
    let (mut bits, mut held) = (0u32, 0u32);
    for &c in unpadded {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return Err(OrcaError::Binary("a character base64 does not have")),
        };
        bits = bits << 6 | u32::from(value);
        held += 6;
        if held >= 8 {
            held -= 8;
            out.push((bits >> held) as u8);
            bits &= (1 << held) - 1;
        }
    }
    Ok(out)
}

pub(super) fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
