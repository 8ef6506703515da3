//! The HTTP check's wire work, used by the driver: the request it
//! writes and the judgement of the reply read so far. No I/O here: a driver
//! reads into a buffer (at most [`MAX_HTTP_REPLY`] bytes) and asks
//! [`judge`] after each read until it has a verdict.

use std::net::SocketAddr;

use crate::health_check::check::{HttpCheck, MAX_HTTP_REPLY};
use crate::types::CheckFailure;

/// What the reply read so far says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Progress {
    /// Not enough yet: read more.
    More,
    /// The check's verdict.
    Done(Result<(), CheckFailure>),
}

/// The request: `GET` of the path, with `Host` (the check's, or the
/// address) and `Connection: close`.
pub(crate) fn request(check: &HttpCheck, addr: SocketAddr) -> Vec<u8> {
    let host = match &check.host {
        Some(host) => host.clone(),
        None => addr.to_string(),
    };
    format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: pickwise-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        check.path
    )
    .into_bytes()
}

fn bad(what: impl Into<String>) -> Progress {
    Progress::Done(Err(CheckFailure::BadReply(what.into())))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A line of the reply, shortened and escaped for an error message.
fn shown(line: &[u8]) -> String {
    let cut = &line[..line.len().min(60)];
    let text = String::from_utf8_lossy(cut);
    let more = if line.len() > cut.len() { "..." } else { "" };
    format!("{}{more}", text.escape_debug())
}

/// Judges the reply read so far. `closed`: the server closed the
/// connection (nothing more will come). A reply of [`MAX_HTTP_REPLY`] bytes
/// or more is judged on what it holds.
pub(crate) fn judge(reply: &[u8], closed: bool, expect_body: Option<&str>) -> Progress {
    let full = reply.len() >= MAX_HTTP_REPLY;
    let reply = &reply[..reply.len().min(MAX_HTTP_REPLY)];
    let Some(eol) = reply.iter().position(|&b| b == b'\n') else {
        return if reply.is_empty() && closed {
            bad("connection closed without a reply")
        } else if closed {
            bad("reply ended inside its status line")
        } else if full {
            bad("no status line in the first 64 KiB")
        } else {
            Progress::More
        };
    };
    let line = reply[..eol].strip_suffix(b"\r").unwrap_or(&reply[..eol]);
    let status = match status_code(line) {
        Ok(status) => status,
        Err(why) => return bad(why),
    };
    if !(200..=399).contains(&status) {
        return Progress::Done(Err(CheckFailure::BadStatus(status)));
    }
    let Some(text) = expect_body else {
        return Progress::Done(Ok(()));
    };
    let Some((head, body)) = split_head(reply) else {
        return if closed {
            bad("reply ended inside its headers")
        } else if full {
            bad("headers longer than 64 KiB")
        } else {
            Progress::More
        };
    };
    let framing = Framing::of(head);
    let (body, complete) = match framing {
        Framing::Chunked => match dechunk(body) {
            Ok(decoded) => decoded,
            Err(why) => return bad(why),
        },
        Framing::Length(length) => (body.to_vec(), body.len() >= length),
        Framing::ToClose => (body.to_vec(), false),
    };
    if find(&body, text.as_bytes()).is_some() {
        return Progress::Done(Ok(()));
    }
    if complete || closed {
        bad(format!("body lacks `{}`", text.escape_debug()))
    } else if full {
        bad(format!(
            "body lacks `{}` in the first 64 KiB of the reply",
            text.escape_debug()
        ))
    } else {
        Progress::More
    }
}

/// The status code of an HTTP/1 status line (`HTTP/1.1 200 OK`).
fn status_code(line: &[u8]) -> Result<u16, String> {
    let mut parts = line.splitn(3, |&b| b == b' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with(b"HTTP/1.") {
        return Err(format!("not an HTTP/1 status line: `{}`", shown(line)));
    }
    let code = parts.next().unwrap_or_default();
    if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
        return Err(format!("no status code in `{}`", shown(line)));
    }
    Ok(code.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0')))
}

/// The head (status line and headers) and what follows the blank line.
fn split_head(reply: &[u8]) -> Option<(&[u8], &[u8])> {
    if let Some(at) = find(reply, b"\r\n\r\n") {
        return Some((&reply[..at], &reply[at + 4..]));
    }
    find(reply, b"\n\n").map(|at| (&reply[..at], &reply[at + 2..]))
}

/// How the body's end is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Chunked,
    Length(usize),
    ToClose,
}

impl Framing {
    fn of(head: &[u8]) -> Framing {
        let mut length = None;
        for line in head.split(|&b| b == b'\n').skip(1) {
            let line = String::from_utf8_lossy(line);
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let (name, value) = (name.trim(), value.trim());
            if name.eq_ignore_ascii_case("transfer-encoding")
                && value.to_ascii_lowercase().contains("chunked")
            {
                return Framing::Chunked;
            }
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().ok();
            }
        }
        length.map_or(Framing::ToClose, Framing::Length)
    }
}

/// The data of a chunked body read so far, and whether its last chunk came.
fn dechunk(mut raw: &[u8]) -> Result<(Vec<u8>, bool), String> {
    let mut data = Vec::with_capacity(raw.len());
    loop {
        let Some(eol) = find(raw, b"\r\n") else {
            return Ok((data, false));
        };
        let line = String::from_utf8_lossy(&raw[..eol]);
        let size = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| format!("bad chunk size `{}` in a chunked body", line.escape_debug()))?;
        raw = &raw[eol + 2..];
        if size == 0 {
            return Ok((data, true));
        }
        if raw.len() < size {
            data.extend_from_slice(raw);
            return Ok((data, false));
        }
        data.extend_from_slice(&raw[..size]);
        raw = &raw[size..];
        match raw.get(..2) {
            None => return Ok((data, false)),
            Some(b"\r\n") => raw = &raw[2..],
            Some(_) => return Err("a chunk of a chunked body overruns its size".to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nall ok\n";

    fn failure(progress: Progress) -> CheckFailure {
        match progress {
            Progress::Done(Err(why)) => why,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn the_request_names_the_path_the_host_and_closes() {
        let addr: SocketAddr = "[::1]:8080".parse().unwrap();
        let text = String::from_utf8(request(&HttpCheck::new("/health"), addr)).unwrap();
        assert!(text.starts_with("GET /health HTTP/1.1\r\nHost: [::1]:8080\r\n"));
        assert!(text.contains("\r\nConnection: close\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        let named = request(&HttpCheck::new("/").host("api.example"), addr);
        assert!(String::from_utf8(named)
            .unwrap()
            .contains("\r\nHost: api.example\r\n"));
    }

    #[test]
    fn a_2xx_or_3xx_status_passes_as_soon_as_the_status_line_is_read() {
        assert_eq!(
            judge(b"HTTP/1.1 200 OK\r\n", false, None),
            Progress::Done(Ok(()))
        );
        assert_eq!(
            judge(b"HTTP/1.0 302 Found\n", false, None),
            Progress::Done(Ok(()))
        );
        assert_eq!(judge(b"HTTP/1.1 20", false, None), Progress::More);
    }

    #[test]
    fn another_status_fails_with_its_code() {
        for (reply, code) in [
            (&b"HTTP/1.1 503 Service Unavailable\r\n"[..], 503),
            (b"HTTP/1.1 404 Not Found\r\n", 404),
            (b"HTTP/1.1 101 Switching\r\n", 101),
        ] {
            assert_eq!(
                failure(judge(reply, false, Some("ok"))),
                CheckFailure::BadStatus(code)
            );
        }
    }

    #[test]
    fn a_reply_that_is_not_http_says_what_was_wrong() {
        assert_eq!(
            failure(judge(b"", true, None)),
            CheckFailure::BadReply("connection closed without a reply".into())
        );
        assert_eq!(
            failure(judge(b"HTTP/1.1 2", true, None)),
            CheckFailure::BadReply("reply ended inside its status line".into())
        );
        assert_eq!(
            failure(judge(b"SSH-2.0-OpenSSH_9.6\r\n", false, None)),
            CheckFailure::BadReply("not an HTTP/1 status line: `SSH-2.0-OpenSSH_9.6`".into())
        );
        assert_eq!(
            failure(judge(b"HTTP/1.1 OK\r\n", false, None)),
            CheckFailure::BadReply("no status code in `HTTP/1.1 OK`".into())
        );
        let endless = vec![b'x'; MAX_HTTP_REPLY];
        assert_eq!(
            failure(judge(&endless, false, None)),
            CheckFailure::BadReply("no status line in the first 64 KiB".into())
        );
    }

    #[test]
    fn the_expected_text_is_looked_for_in_the_body_only() {
        assert_eq!(judge(OK, false, Some("all ok")), Progress::Done(Ok(())));
        assert_eq!(
            failure(judge(OK, false, Some("OK"))),
            CheckFailure::BadReply("body lacks `OK`".into())
        );
        // The body is not all here yet, nor closed: wait for more.
        assert_eq!(judge(&OK[..41], false, Some("all ok")), Progress::More);
        assert_eq!(judge(&OK[..30], false, Some("all ok")), Progress::More);
        assert_eq!(
            failure(judge(&OK[..30], true, Some("all ok"))),
            CheckFailure::BadReply("reply ended inside its headers".into())
        );
    }

    #[test]
    fn a_body_without_a_length_is_read_to_the_close_or_the_limit() {
        let head = b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n".to_vec();
        let mut reply = head.clone();
        reply.extend_from_slice(b"starting");
        assert_eq!(judge(&reply, false, Some("ready")), Progress::More);
        assert_eq!(
            failure(judge(&reply, true, Some("ready"))),
            CheckFailure::BadReply("body lacks `ready`".into())
        );
        reply.resize(MAX_HTTP_REPLY + 10, b'.');
        assert_eq!(
            failure(judge(&reply, false, Some("ready"))),
            CheckFailure::BadReply("body lacks `ready` in the first 64 KiB of the reply".into())
        );
        let mut late = head;
        late.resize(MAX_HTTP_REPLY - 5, b'.');
        late.extend_from_slice(b"ready");
        assert_eq!(judge(&late, false, Some("ready")), Progress::Done(Ok(())));
    }

    #[test]
    fn a_chunked_body_is_read_through_its_chunks() {
        let reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=1\r\nrea\r\n2\r\ndy\r\n0\r\n\r\n";
        assert_eq!(judge(reply, false, Some("ready")), Progress::Done(Ok(())));
        assert_eq!(judge(&reply[..60], false, Some("ready")), Progress::More);
        assert_eq!(
            failure(judge(reply, false, Some("steady"))),
            CheckFailure::BadReply("body lacks `steady`".into())
        );
        let broken = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert!(matches!(
            failure(judge(broken, false, Some("ready"))),
            CheckFailure::BadReply(why) if why.contains("bad chunk size")
        ));
    }
}
