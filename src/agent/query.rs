//! The blocking agent query: one TCP connection, one line read. For a
//! program's polling thread; the balancer itself never does I/O.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The longest reply [`query`] reads; agents send one short line.
const MAX_REPLY: usize = 1024;

/// Polls one agent once: connects to `addr`, reads one line (at most 1 KiB,
/// up to a newline or the agent closing), and closes. `timeout` bounds the
/// connect and each read. For programs' polling threads; never called by the
/// balancer itself.
pub fn query(addr: SocketAddr, timeout: Duration) -> io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    let mut reply = Vec::with_capacity(64);
    let mut buf = [0u8; 256];
    while reply.len() < MAX_REPLY && !reply.contains(&b'\n') {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buf[..n]);
    }
    reply.truncate(MAX_REPLY);
    if let Some(end) = reply.iter().position(|&b| b == b'\n') {
        reply.truncate(end);
    }
    if reply.last() == Some(&b'\r') {
        reply.pop();
    }
    String::from_utf8(reply).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}
