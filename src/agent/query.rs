//! The blocking agent query: one TCP connection, one line read, all within
//! one deadline. For a program's polling thread; the balancer itself never
//! does I/O.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// The longest reply [`query`] reads; agents send one short line.
const MAX_REPLY: usize = 1024;

/// Polls one agent once: connects to `addr`, reads one line (at most 1 KiB,
/// up to a newline or the agent closing), and closes.
///
/// `timeout` is a deadline for the whole exchange, the connect and the
/// complete reply together: an agent that trickles its reply a byte at a
/// time, or holds the connection open without a line end, cannot hold the
/// caller past it. Past the deadline the error is of kind
/// [`TimedOut`](io::ErrorKind::TimedOut) and says what was missing: `no reply
/// within N ms` (the agent sent nothing) or `no complete reply within N ms`
/// (part of a line came). A connect that fails keeps the socket's error
/// (connection refused, ...); a zero `timeout` is an
/// [`InvalidInput`](io::ErrorKind::InvalidInput) error. For programs' polling
/// threads; never called by the balancer itself.
pub fn query(addr: SocketAddr, timeout: Duration) -> io::Result<String> {
    if timeout.is_zero() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "agent query timeout must be above zero",
        ));
    }
    let deadline = Instant::now() + timeout;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    let mut reply = Vec::with_capacity(64);
    let mut buf = [0u8; 256];
    while reply.len() < MAX_REPLY && !reply.contains(&b'\n') {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(late(&reply, timeout));
        }
        stream.set_read_timeout(Some(left))?;
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            // A read timeout shows as WouldBlock (EAGAIN) on Unix and
            // TimedOut on Windows: either way the deadline passed.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(late(&reply, timeout))
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
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

/// The error for a reply the deadline cut off, `read` being what came.
fn late(read: &[u8], timeout: Duration) -> io::Error {
    let ms = timeout.as_millis();
    let what = match read.len() {
        0 => format!("no reply within {ms} ms"),
        n => format!("no complete reply within {ms} ms ({n} bytes, no line end)"),
    };
    io::Error::new(io::ErrorKind::TimedOut, what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;
    use std::sync::mpsc;
    use std::thread;

    /// An agent on 127.0.0.1:0 that runs `serve` on its first connection.
    fn agent(serve: impl FnOnce(TcpStream) + Send + 'static) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind an agent port");
        let addr = listener.local_addr().expect("the agent's address");
        thread::spawn(move || {
            if let Ok((conn, _)) = listener.accept() {
                serve(conn);
            }
        });
        addr
    }

    /// `query(addr, timeout)` on a thread; its result, or a failure if it
    /// has not returned within 20 s.
    fn bounded_query(addr: SocketAddr, timeout: Duration) -> io::Result<String> {
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let _ = tx.send(query(addr, timeout));
        });
        rx.recv_timeout(Duration::from_secs(20))
            .expect("query did not return within 20 s of a 300 ms deadline")
    }

    #[test]
    fn an_agent_trickling_a_byte_every_300_ms_is_cut_off_at_the_deadline() {
        // Spaces, never a line end: each read succeeds well within the
        // timeout, so only a deadline for the whole reply ends it.
        let addr = agent(|mut conn| {
            for _ in 0..200 {
                if conn.write_all(b" ").is_err() {
                    return;
                }
                thread::sleep(Duration::from_millis(300));
            }
        });
        let err = bounded_query(addr, Duration::from_millis(1000)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        let text = err.to_string();
        assert!(
            text.starts_with("no complete reply within 1000 ms ("),
            "{text}"
        );
    }

    #[test]
    fn a_silent_agent_is_reported_as_no_reply_not_as_would_block() {
        let addr = agent(|conn| {
            thread::sleep(Duration::from_secs(5));
            drop(conn);
        });
        let err = bounded_query(addr, Duration::from_millis(300)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        assert_eq!(err.to_string(), "no reply within 300 ms");
    }

    #[test]
    fn a_reply_in_pieces_within_the_deadline_is_read_whole() {
        let addr = agent(|mut conn| {
            for piece in [&b"up "[..], b"50", b"%\r\n"] {
                let _ = conn.write_all(piece);
                thread::sleep(Duration::from_millis(20));
            }
        });
        assert_eq!(
            bounded_query(addr, Duration::from_secs(10)).unwrap(),
            "up 50%"
        );
    }

    #[test]
    fn a_zero_timeout_is_refused() {
        let addr = agent(drop);
        let err = query(addr, Duration::ZERO).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
    }
}
