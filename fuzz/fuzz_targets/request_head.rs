//! hyper_proxy's request-head rules (`pickwise_programs::http_head`) on any
//! head httparse (hyper's HTTP/1 parser) accepts: `target_rules` refuses or
//! passes, never panics; what passes becomes a head a backend can read
//! without ambiguity: HTTP/1.1, an origin-form target, exactly one `Host`
//! (the absolute form's host when the target had one), no hop-by-hop
//! header left (bar `TE: trailers`), and the client last in
//! `X-Forwarded-For`.

#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use hyper::header::{HeaderName, HeaderValue, HOST};
use hyper::{Method, Request, Version};
use libfuzzer_sys::fuzz_target;
use pickwise_programs::http_head::{target_rules, upstream_parts};

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));

fuzz_target!(|data: &[u8]| {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Request::new(&mut headers);
    let Ok(httparse::Status::Complete(_)) = parsed.parse(data) else {
        return;
    };
    // What hyper would build from it (hyper refuses what `http` refuses).
    let Ok(method) = Method::from_bytes(parsed.method.unwrap_or("").as_bytes()) else {
        return;
    };
    let version = match parsed.version {
        Some(0) => Version::HTTP_10,
        _ => Version::HTTP_11,
    };
    let mut builder = Request::builder()
        .method(method)
        .uri(parsed.path.unwrap_or("/"))
        .version(version);
    for header in parsed.headers.iter() {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(header.name.as_bytes()),
            HeaderValue::from_bytes(header.value),
        ) else {
            return;
        };
        builder = builder.header(name, value);
    }
    let Ok(request) = builder.body(()) else {
        return;
    };
    let (parts, ()) = request.into_parts();
    if target_rules(&parts.method, parts.version, &parts.headers).is_err() {
        return;
    }
    let target_host = parts.uri.authority().map(|a| a.as_str().to_owned());
    let out = upstream_parts(parts, CLIENT);
    assert_eq!(out.version, Version::HTTP_11);
    assert!(
        out.uri.authority().is_none(),
        "not origin-form: {}",
        out.uri
    );
    let hosts: Vec<&HeaderValue> = out.headers.get_all(HOST).iter().collect();
    if version == Version::HTTP_11 || target_host.is_some() {
        assert_eq!(hosts.len(), 1, "{hosts:?}");
    }
    if let Some(host) = target_host {
        if HeaderValue::from_str(&host).is_ok() {
            assert_eq!(hosts[0], host.as_str());
        }
    }
    for name in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "upgrade",
        "proxy-authorization",
        "proxy-authenticate",
        "trailer",
    ] {
        assert!(!out.headers.contains_key(name), "{name} left");
    }
    for te in out.headers.get_all("te") {
        assert_eq!(te, "trailers");
    }
    let forwarded: Vec<&HeaderValue> = out.headers.get_all("x-forwarded-for").iter().collect();
    assert_eq!(forwarded.len(), 1);
    let last = forwarded[0].to_str().unwrap().rsplit(", ").next().unwrap();
    assert_eq!(last, CLIENT.to_string());
});
