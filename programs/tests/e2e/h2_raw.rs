//! HTTP/2 frames written and read by hand, for clients that break the
//! rules on purpose (a flood, too many streams, rapid resets): no client
//! library would send them.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const END_STREAM: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;
pub const REFUSED_STREAM: u32 = 0x7;
pub const CANCEL: u32 = 0x8;
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

/// A frame's bytes: the 9-byte header and the payload.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// An HPACK string literal, not Huffman-coded (lengths under 2^21).
fn string(out: &mut Vec<u8>, text: &[u8]) {
    integer(out, 0x00, 7, text.len());
    out.extend_from_slice(text);
}

/// An HPACK integer with an `prefix`-bit prefix, `first` the high bits.
fn integer(out: &mut Vec<u8>, first: u8, prefix: u32, mut value: usize) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
}

/// A header block for `GET path` (or a gRPC-style POST with `grpc`), with
/// `extra` headers as literals never indexed.
pub fn request_block(authority: &str, path: &str, grpc: bool, extra: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    // Static table: 2 = :method GET, 3 = :method POST, 6 = :scheme http.
    out.push(if grpc { 0x83 } else { 0x82 });
    out.push(0x86);
    // :path (name 4) and :authority (name 1), literals without indexing.
    integer(&mut out, 0x00, 4, 4);
    string(&mut out, path.as_bytes());
    integer(&mut out, 0x00, 4, 1);
    string(&mut out, authority.as_bytes());
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if grpc {
        headers.push(("content-type", "application/grpc"));
        headers.push(("te", "trailers"));
    }
    headers.extend_from_slice(extra);
    for (name, value) in headers {
        out.push(0x10);
        string(&mut out, name.as_bytes());
        string(&mut out, value.as_bytes());
    }
    out
}

/// A client connection: the preface and an empty SETTINGS sent.
pub struct Conn {
    pub stream: TcpStream,
    buffer: Vec<u8>,
}

/// A frame as read: type, flags, stream, payload.
#[derive(Debug, Clone)]
#[allow(dead_code)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The error code of a RST_STREAM or GOAWAY.
    pub fn error_code(&self) -> Option<u32> {
        let at = match self.kind {
            RST_STREAM => 0,
            GOAWAY => 4,
            _ => return None,
        };
        let bytes: [u8; 4] = self.payload.get(at..at + 4)?.try_into().ok()?;
        Some(u32::from_be_bytes(bytes))
    }
}

impl Conn {
    pub fn open(addr: SocketAddr) -> Conn {
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .unwrap();
        stream.write_all(&frame(SETTINGS, 0, 0, &[])).unwrap();
        Conn {
            stream,
            buffer: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Every frame that arrives within `limit` (or until the server closes),
    /// and whether it closed.
    pub fn read_for(&mut self, limit: Duration) -> (Vec<Frame>, bool) {
        let deadline = Instant::now() + limit;
        let mut frames = Vec::new();
        let mut closed = false;
        let mut chunk = [0u8; 65536];
        loop {
            while let Some(frame) = self.next_buffered() {
                frames.push(frame);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        while let Some(frame) = self.next_buffered() {
            frames.push(frame);
        }
        (frames, closed)
    }

    fn next_buffered(&mut self) -> Option<Frame> {
        if self.buffer.len() < 9 {
            return None;
        }
        let len = (usize::from(self.buffer[0]) << 16)
            | (usize::from(self.buffer[1]) << 8)
            | usize::from(self.buffer[2]);
        if self.buffer.len() < 9 + len {
            return None;
        }
        let head: Vec<u8> = self.buffer.drain(..9 + len).collect();
        Some(Frame {
            kind: head[3],
            flags: head[4],
            stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
            payload: head[9..].to_vec(),
        })
    }
}
