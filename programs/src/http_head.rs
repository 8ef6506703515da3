//! A request's head on its way through hyper_proxy, as plain functions of
//! `http` types (no sockets), so the fuzz target `request_head` can drive
//! them with any head a parser accepts:
//! - [`target_rules`]: the request-target and `Host` rules of RFC 9112
//!   section 3.2 as nginx applies them (400 otherwise);
//! - [`upstream_parts`]: the head a backend gets (origin-form target, the
//!   absolute-form's host made the `Host`, hop-by-hop headers removed, the
//!   client appended to `X-Forwarded-For`);
//! - [`remove_hop_by_hop`]: hop-by-hop headers (RFC 9110 section 7.6.1)
//!   describe one connection, so a proxy drops them in both directions and
//!   lets hyper frame each side's messages itself;
//! - [`absolute`]: the absolute-form target an HTTP/2 request needs.

use std::io::Write as _;
use std::net::IpAddr;

use hyper::header::{
    HeaderMap, HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, HOST, PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION, TE, TRAILER, TRANSFER_ENCODING, UPGRADE,
};
use hyper::http::request::Parts;
use hyper::{Method, Uri, Version};

/// The request-target and `Host` rules of RFC 9112 section 3.2, as nginx
/// applies them: an HTTP/1.1 request carries exactly one `Host` (none, or
/// two, is a 400: two backends could read two different hosts), and
/// `CONNECT` (a tunnel, which this proxy does not make) is refused rather
/// than forwarded as a request for `/`.
pub fn target_rules(
    method: &Method,
    version: Version,
    headers: &HeaderMap,
) -> Result<(), &'static str> {
    if method == Method::CONNECT {
        return Err("CONNECT (a tunnel) is not proxied here");
    }
    if version == Version::HTTP_11 {
        match headers.get_all(HOST).iter().count() {
            1 => {}
            0 => return Err("an HTTP/1.1 request needs a Host header (RFC 9112, 3.2)"),
            _ => return Err("a request may carry one Host header, not several (RFC 9112, 3.2)"),
        }
    }
    Ok(())
}

/// The request's head as a backend gets it: HTTP/1.1 (or HTTP/2 for a
/// request that came over HTTP/2, with an absolute target from its
/// `:authority` or `Host`), an origin-form target with the absolute form's
/// host made the `Host` (RFC 9112, 3.2.2), hop-by-hop headers removed, and
/// `client` appended to `X-Forwarded-For`.
pub fn upstream_parts(mut parts: Parts, client: IpAddr) -> Parts {
    let headers = &mut parts.headers;
    parts.version = match parts.version {
        Version::HTTP_2 => Version::HTTP_2,
        _ => Version::HTTP_11,
    };
    if parts.version == Version::HTTP_2 {
        // HTTP/2 names the target in :scheme and :authority: h2c to the
        // backend, the client's authority (or its Host) kept; none, and
        // the backend's address is filled in when it is picked.
        let authority = parts
            .uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .or_else(|| {
                headers
                    .get(HOST)
                    .and_then(|h| h.to_str().ok())
                    .map(str::to_owned)
            });
        if let Some(authority) = authority {
            if let Ok(value) = HeaderValue::from_str(&authority) {
                parts.uri = absolute(&value, &parts.uri);
            }
        }
    } else if let Some(authority) = parts.uri.authority() {
        // An absolute-form target: its host is the request's Host (RFC
        // 9112, 3.2.2), whatever the Host header said.
        if let Ok(host) = HeaderValue::from_str(authority.as_str()) {
            headers.insert(HOST, host);
        }
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        parts.uri = path.parse().unwrap_or_default();
    }
    remove_hop_by_hop(headers);
    let forwarded = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(earlier) => HeaderValue::from_str(&format!("{earlier}, {client}")),
        None => {
            // Written on the stack: the value's own copy is the only allocation.
            let mut text = [0u8; 64];
            let mut cursor = std::io::Cursor::new(&mut text[..]);
            let _ = write!(cursor, "{client}");
            let written = usize::try_from(cursor.position()).unwrap_or(0);
            HeaderValue::from_bytes(&text[..written])
        }
    };
    if let Ok(value) = forwarded {
        headers.insert("x-forwarded-for", value);
    }
    parts
}

/// `uri`'s path and query under `http://authority`: the absolute form an
/// HTTP/2 request to a backend needs (`uri` unchanged if that does not
/// parse).
pub fn absolute(authority: &HeaderValue, uri: &Uri) -> Uri {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let authority = authority.to_str().unwrap_or("backend");
    format!("http://{authority}{path}")
        .parse()
        .unwrap_or_else(|_| uri.clone())
}

/// Removes `Connection` and every header it names, `Keep-Alive`,
/// `Proxy-Connection`, `TE` (a `TE: trailers` is kept: it says the client
/// accepts trailers, end to end), `Transfer-Encoding`, `Upgrade`,
/// `Proxy-Authorization`, `Proxy-Authenticate` and `Trailer`.
///
/// `Connection` never removes `Host` or `Content-Length`, whatever it
/// names: they say where a request goes and where a message ends, for
/// every hop (RFC 9110, 7.6.1: a sender must not name such fields), and a
/// client naming them would otherwise send the backend a request without
/// a Host (found by the `request_head` fuzz target).
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none: one pass over the names (standard ones
    // compare as numbers) instead of a lookup per hop-by-hop name.
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .filter(|name| *name != HOST && *name != CONTENT_LENGTH)
        .collect();
    for name in named {
        headers.remove(name);
    }
    let trailers = headers
        .get_all(TE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let coding = coding.split(';').next().unwrap_or("").trim();
            coding.eq_ignore_ascii_case("trailers")
        });
    for name in [
        CONNECTION,
        HeaderName::from_static("keep-alive"),
        HeaderName::from_static("proxy-connection"),
        TE,
        TRANSFER_ENCODING,
        UPGRADE,
        PROXY_AUTHORIZATION,
        PROXY_AUTHENTICATE,
        TRAILER,
    ] {
        headers.remove(name);
    }
    if trailers {
        headers.insert(TE, HeaderValue::from_static("trailers"));
    }
}

/// Whether `name` is one [`remove_hop_by_hop`] removes whatever `Connection`
/// says.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    [
        CONNECTION,
        TE,
        TRANSFER_ENCODING,
        UPGRADE,
        PROXY_AUTHORIZATION,
        PROXY_AUTHENTICATE,
        TRAILER,
    ]
    .contains(name)
        || *name == "keep-alive"
        || *name == "proxy-connection"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_naming_host_or_content_length_removes_neither() {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("example.test"));
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("3"));
        headers.insert("x-private", HeaderValue::from_static("1"));
        headers.insert(
            CONNECTION,
            HeaderValue::from_static("close, Host,,Content-Length, x-private"),
        );
        remove_hop_by_hop(&mut headers);
        assert_eq!(headers.get(HOST).unwrap(), "example.test");
        assert_eq!(headers.get(CONTENT_LENGTH).unwrap(), "3");
        assert!(!headers.contains_key("x-private"));
        assert!(!headers.contains_key(CONNECTION));
    }
}
