//! The probes' I/O on blocking std sockets, for the thread driver. The
//! whole probe (connect, request, reply) keeps to one deadline.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::health_check::agent_reply::agent_line;
use crate::health_check::http::{self, Progress};
use crate::health_check::probe::{
    failure_from_io, take_chunk, Probe, MAX_AGENT_REPLY, MAX_HTTP_REPLY,
};
use crate::health_check::round::Answer;
use crate::types::CheckFailure;

/// Runs `probe` against `addr` within `timeout`.
pub(crate) fn run(
    probe: &Probe,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<Answer, CheckFailure> {
    let deadline = Instant::now() + timeout;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| failure_from_io(&e))?;
    match probe {
        Probe::Tcp => Ok(Answer::Passed),
        Probe::Http(check) => {
            stream
                .set_write_timeout(Some(left(deadline)?))
                .map_err(|e| failure_from_io(&e))?;
            stream
                .write_all(&http::request(check, addr))
                .map_err(|e| failure_from_io(&e))?;
            let expect = check.expect_body.as_deref();
            read_until(
                &mut stream,
                deadline,
                MAX_HTTP_REPLY,
                |read, closed| match http::judge(read, closed, expect) {
                    Progress::More => None,
                    Progress::Done(verdict) => Some(verdict.map(|()| Answer::Passed)),
                },
            )
        }
        Probe::Agent => read_until(&mut stream, deadline, MAX_AGENT_REPLY, |read, closed| {
            agent_line(read, closed).map(|line| Ok(Answer::AgentReply(line)))
        }),
    }
}

/// Time left before the deadline, or the probe has timed out.
fn left(deadline: Instant) -> Result<Duration, CheckFailure> {
    match deadline.checked_duration_since(Instant::now()) {
        Some(left) if !left.is_zero() => Ok(left),
        _ => Err(CheckFailure::TimedOut),
    }
}

/// Reads (at most `limit` bytes) until `done` gives a verdict on what was
/// read, the peer closes (`done` is asked once more) or the deadline passes.
fn read_until(
    stream: &mut TcpStream,
    deadline: Instant,
    limit: usize,
    mut done: impl FnMut(&[u8], bool) -> Option<Result<Answer, CheckFailure>>,
) -> Result<Answer, CheckFailure> {
    let mut read = Vec::with_capacity(1024);
    let mut buf = [0u8; 4096];
    loop {
        stream
            .set_read_timeout(Some(left(deadline)?))
            .map_err(|e| failure_from_io(&e))?;
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(failure_from_io(&e)),
        };
        if let Some(verdict) = take_chunk(&mut read, &buf[..n], limit, &mut done) {
            return verdict;
        }
    }
}
