//! The agent check's framing, used by the driver: an agent sends one
//! line and may close; the line ends at a newline, at the close, or at
//! [`MAX_AGENT_REPLY`] bytes.

use crate::health_check::check::MAX_AGENT_REPLY;

/// The reply line once it is complete, without its line end; `None` while
/// more may come. `closed`: the agent closed the connection.
pub(crate) fn agent_line(read: &[u8], closed: bool) -> Option<Vec<u8>> {
    let read = &read[..read.len().min(MAX_AGENT_REPLY)];
    let line = match read.iter().position(|&b| b == b'\n') {
        Some(end) => &read[..end],
        None if closed || read.len() >= MAX_AGENT_REPLY => read,
        None => return None,
    };
    Some(line.strip_suffix(b"\r").unwrap_or(line).to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_ends_at_a_newline_the_close_or_the_limit() {
        assert_eq!(
            agent_line(b"up 50%\r\nmore", false),
            Some(b"up 50%".to_vec())
        );
        assert_eq!(agent_line(b"drain", false), None);
        assert_eq!(agent_line(b"drain", true), Some(b"drain".to_vec()));
        assert_eq!(agent_line(b"", true), Some(Vec::new()));
        let long = vec![b'x'; MAX_AGENT_REPLY + 5];
        assert_eq!(
            agent_line(&long, false).map(|l| l.len()),
            Some(MAX_AGENT_REPLY)
        );
    }
}
