//! [`ToOrigin`]: one backend's HTTP client, sending every request to that
//! backend's origin.

use std::task::{Context, Poll};

use ::tower::Service;
use http::uri::{Authority, PathAndQuery, Scheme, Uri};

use crate::types::ConfigError;

/// Wraps an HTTP client (hyper-util's `Client`, or any service of
/// `http::Request`s) so that every request goes to one origin (scheme and
/// host:port) with its own path and query: the payload of one backend in a
/// pool of HTTP backends. Cheap to clone when the client is.
///
/// ```
/// use http::Request;
/// use pickwise::tower::ToOrigin;
/// use tower::{service_fn, ServiceExt};
///
/// let client = service_fn(|request: Request<()>| async move {
///     Ok::<_, std::convert::Infallible>(request.uri().to_string())
/// });
/// let backend = ToOrigin::new(client, "http://127.0.0.1:8001")?;
/// let request = Request::get("/cart/42?x=1").body(())?;
/// let sent_to = tokio::runtime::Builder::new_current_thread().build()?
///     .block_on(backend.oneshot(request))?;
/// assert_eq!(sent_to, "http://127.0.0.1:8001/cart/42?x=1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ToOrigin<S> {
    inner: S,
    scheme: Scheme,
    authority: Authority,
}

impl<S> ToOrigin<S> {
    /// Sends `inner`'s requests to `origin`, a URI with a scheme and an
    /// authority (`http://10.0.0.1:8080`); anything after the authority
    /// is refused rather than silently dropped.
    pub fn new(inner: S, origin: &str) -> Result<Self, ConfigError> {
        let invalid = |why: String| ConfigError::Invalid {
            setting: "origin",
            why,
        };
        let uri: Uri = origin
            .parse()
            .map_err(|e| invalid(format!("`{origin}` is not a URI: {e}")))?;
        let parts = uri.into_parts();
        let (Some(scheme), Some(authority)) = (parts.scheme, parts.authority) else {
            return Err(invalid(format!(
                "`{origin}` needs a scheme and a host, as in http://10.0.0.1:8080"
            )));
        };
        if parts
            .path_and_query
            .is_some_and(|p| !matches!(p.as_str(), "" | "/"))
        {
            return Err(invalid(format!(
                "`{origin}` has a path: give the origin alone, as in http://10.0.0.1:8080"
            )));
        }
        Ok(ToOrigin {
            inner,
            scheme,
            authority,
        })
    }

    /// The origin, as `scheme://authority`.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.authority)
    }

    /// The wrapped client.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl<S, B> Service<http::Request<B>> for ToOrigin<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let mut parts = request.uri().clone().into_parts();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        if parts.path_and_query.is_none() {
            parts.path_and_query = Some(PathAndQuery::from_static("/"));
        }
        // With a scheme, an authority and a path, the parts always make a
        // URI; should they not, the request goes as it was.
        if let Ok(uri) = Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
        self.inner.call(request)
    }
}
