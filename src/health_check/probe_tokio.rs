//! The probes' I/O on tokio's sockets, for the tokio driver: the same
//! framing and judgement as the std probes ([`http`](super::http),
//! [`agent_line`]), awaited instead of blocked on. The whole probe keeps to
//! one timeout.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::health_check::agent_reply::agent_line;
use crate::health_check::http::{self, Progress};
use crate::health_check::probe::{
    failure_from_io, take_chunk, Probe, MAX_AGENT_REPLY, MAX_HTTP_REPLY,
};
use crate::health_check::round::Answer;
use crate::types::CheckFailure;

/// Runs `probe` against `addr` within `timeout`.
pub(crate) async fn run(
    probe: &Probe,
    addr: SocketAddr,
    timeout: Duration,
) -> Result<Answer, CheckFailure> {
    match tokio::time::timeout(timeout, exchange(probe, addr)).await {
        Ok(answer) => answer,
        Err(_) => Err(CheckFailure::TimedOut),
    }
}

async fn exchange(probe: &Probe, addr: SocketAddr) -> Result<Answer, CheckFailure> {
    let mut stream = TcpStream::connect(addr)
        .await
        .map_err(|e| failure_from_io(&e))?;
    match probe {
        Probe::Tcp => Ok(Answer::Passed),
        Probe::Http(check) => {
            stream
                .write_all(&http::request(check, addr))
                .await
                .map_err(|e| failure_from_io(&e))?;
            let expect = check.expect_body.as_deref();
            read_until(
                &mut stream,
                MAX_HTTP_REPLY,
                |read, closed| match http::judge(read, closed, expect) {
                    Progress::More => None,
                    Progress::Done(verdict) => Some(verdict.map(|()| Answer::Passed)),
                },
            )
            .await
        }
        Probe::Agent => {
            read_until(&mut stream, MAX_AGENT_REPLY, |read, closed| {
                agent_line(read, closed).map(|line| Ok(Answer::AgentReply(line)))
            })
            .await
        }
    }
}

/// Reads (at most `limit` bytes) until `done` gives a verdict on what was
/// read or the peer closes (`done` is asked once more); the caller's
/// timeout bounds the time.
async fn read_until(
    stream: &mut TcpStream,
    limit: usize,
    mut done: impl FnMut(&[u8], bool) -> Option<Result<Answer, CheckFailure>>,
) -> Result<Answer, CheckFailure> {
    let mut read = Vec::with_capacity(1024);
    let mut buf = [0u8; 4096];
    loop {
        let n = stream
            .read(&mut buf)
            .await
            .map_err(|e| failure_from_io(&e))?;
        if let Some(verdict) = take_chunk(&mut read, &buf[..n], limit, &mut done) {
            return verdict;
        }
    }
}
