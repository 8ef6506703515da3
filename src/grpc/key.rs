//! [`HeaderKey`]: a call's hash key from one of its headers (gRPC
//! metadata), as gRFC A76 has ring hash take it.

use http::header::HeaderName;

use crate::tower::MakeContext;
use crate::types::{ConfigError, Context};

/// Makes each call's [`Context`] key from a request header, for the hash
/// strategies ([`RingHash`](crate::strategy::RingHash),
/// [`Maglev`](crate::strategy::Maglev), ...), as
/// [gRFC A76](https://github.com/grpc/proposal/blob/master/A76-ring-hash-improvements.md)
/// configures ring hash's `request_hash_header`: calls with the same value
/// go to the same backend; a call without the header gets a random hash,
/// so such calls spread over the backends instead of piling on one.
///
/// A header with several values hashes its first (A76 joins them with
/// commas; the key here borrows from the request, so calls that send a
/// key should send it once). Binary headers (`-bin`) are refused, as A76
/// refuses them.
///
/// ```
/// use pickwise::grpc::HeaderKey;
/// use pickwise::tower::MakeContext;
///
/// let by_user = HeaderKey::new("x-user-id")?;
/// let call = http::Request::builder().header("x-user-id", "42").body(())?;
/// assert_eq!(by_user.context(&call).key, Some(&b"42"[..]));
/// let anonymous = http::Request::new(());
/// assert_eq!(by_user.context(&anonymous).key, None); // a random hash
/// assert!(HeaderKey::new("trace-bin").is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Set it on a balance with
/// [`Balance::make_context`](crate::tower::Balance::make_context).
#[derive(Debug, Clone)]
pub struct HeaderKey {
    name: HeaderName,
}

impl HeaderKey {
    /// Keys on the header `name` (any case). Refuses a name that is not a
    /// valid header name, and a binary one (ending in `-bin`).
    pub fn new(name: &str) -> Result<Self, ConfigError> {
        let invalid = |why: String| ConfigError::Invalid {
            setting: "hash key header",
            why,
        };
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| invalid(format!("`{}` is not a header name", name.escape_debug())))?;
        if name.as_str().ends_with("-bin") {
            return Err(invalid(format!(
                "`{name}` is a binary header, which gRFC A76 does not hash"
            )));
        }
        Ok(HeaderKey { name })
    }

    /// The header's name.
    pub fn name(&self) -> &HeaderName {
        &self.name
    }
}

impl<B> MakeContext<http::Request<B>> for HeaderKey {
    fn context<'r>(&self, request: &'r http::Request<B>) -> Context<'r> {
        match request.headers().get(&self.name) {
            Some(value) => Context::new().key(value.as_bytes()),
            None => Context::new(),
        }
    }
}
