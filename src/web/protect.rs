//! Protections every response or credential-taking request goes through (RFC 9700, RFC 6749 §10):
//! security headers, request size limits, refusal of cross-site credential posts, and a limit on
//! failed credential attempts per client.

use std::sync::Arc;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use tower::{Layer, Service};

use super::error::{AppError, render_error_page};
use super::views::Layout;

/// The most a request body may weigh: a login form is a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// The most a request's headers may weigh, names and values together.
pub const MAX_HEADER_BYTES: usize = 8 * 1024;
/// The longest request target (path and query) accepted.
pub const MAX_URI_BYTES: usize = 4 * 1024;

/// `Content-Security-Policy` on every response: everything from this origin only, no inline
/// script or style, no framing. Images may come over https (Bitbucket's avatars).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' https: data:; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// The headers added to every response (unless a handler set them already). The values are
/// checked at compile time (`const`): no per-call scan of the policy's bytes.
pub fn security_headers() -> [(HeaderName, HeaderValue); 4] {
    [
        (header::CONTENT_SECURITY_POLICY, const { HeaderValue::from_static(CONTENT_SECURITY_POLICY) }),
        (header::X_CONTENT_TYPE_OPTIONS, const { HeaderValue::from_static("nosniff") }),
        (header::REFERRER_POLICY, const { HeaderValue::from_static("no-referrer") }),
        (header::X_FRAME_OPTIONS, const { HeaderValue::from_static("DENY") }),
    ]
}

/// Whether a request's headers, names and values together, stay within [`MAX_HEADER_BYTES`].
pub fn headers_fit(headers: &HeaderMap) -> bool {
    headers.iter().map(|(name, value)| name.as_str().len() + value.len()).sum::<usize>() <= MAX_HEADER_BYTES
}

/// The `Host` values the app answers to (lower-case): `localhost`, `127.0.0.1` and `[::1]` with the
/// listening port, the callback's host, and the operator's `allowedHosts` (an entry without a port
/// matches any port). Anything else is a DNS-rebinding page or a misdirected request.
#[derive(Clone, Debug)]
pub struct AllowedHosts {
    exact: Vec<String>,
    any_port: Vec<String>,
}

impl AllowedHosts {
    /// The hosts for an app listening on `local_addr` with callback `callback` and operator list
    /// `extra`. The listening address itself counts too, unless it is a wildcard.
    pub fn new(local_addr: std::net::SocketAddr, callback: Option<&str>, extra: &[String]) -> AllowedHosts {
        let port = local_addr.port();
        let mut exact: Vec<String> =
            ["localhost", "127.0.0.1", "[::1]"].iter().map(|h| format!("{h}:{port}")).collect();
        if !local_addr.ip().is_unspecified() {
            exact.push(local_addr.to_string());
        }
        if port == 80 {
            exact.extend(["localhost", "127.0.0.1", "[::1]"].map(String::from));
        }
        if let Some(url) = callback.and_then(|c| url::Url::parse(c).ok()) {
            let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
            match url.port() {
                Some(port) => exact.push(format!("{host}:{port}")),
                None => exact.push(host),
            }
        }
        let (with_port, any_port): (Vec<String>, Vec<String>) = extra
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .partition(|h| h.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) && !h.ends_with(']'));
        exact.extend(with_port);
        AllowedHosts { exact, any_port }
    }

    /// The callback URLs a browser can reach this app's `/oauth-callback` at, over `http`, by the
    /// names it answers to (an `allowedHosts` entry without a port: on the app's `port`, or none):
    /// what the sandbox registers for its consumers.
    pub fn callback_urls(&self, port: u16) -> Vec<String> {
        let any_port = self.any_port.iter().flat_map(|h| [h.clone(), format!("{h}:{port}")]);
        self.exact.iter().cloned().chain(any_port).map(|host| format!("http://{host}/oauth-callback")).collect()
    }

    /// True when `host` (a `Host` header value) is one of them.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        let name = match host.rsplit_once(':') {
            Some((name, port)) if !host.ends_with(']') && port.parse::<u16>().is_ok() => name,
            _ => host.as_str(),
        };
        self.exact.contains(&host) || self.any_port.iter().any(|h| h == name)
    }
}

/// The protections, as one hand-written tower layer (one future per request, headers from a
/// prebuilt map, the credential checks only on credential routes). Every request passes here,
/// once: a `Host` the app does not answer to gets 421 (except `/healthcheck`, which monitors
/// reach by any name and which shows nothing), a request target over [`MAX_URI_BYTES`] 414,
/// headers over [`MAX_HEADER_BYTES`] 431 (hyper's own, larger limits stop anything bigger), a
/// credential-taking POST from another site 403. Every response leaves with the
/// [`security_headers`], `Cache-Control: no-store` where it takes or shows a credential, and, if
/// it is an error without a page, the HTML error page in the site's layout.
#[derive(Clone)]
pub struct ProtectLayer(Arc<Shared>);

struct Shared {
    hosts: AllowedHosts,
    headers: HeaderMap,
    layout: Layout,
}

impl ProtectLayer {
    /// The layer for an app answering to `hosts`, its error pages drawn in `layout`.
    pub fn new(hosts: AllowedHosts, layout: Layout) -> ProtectLayer {
        let headers = security_headers().into_iter().collect();
        ProtectLayer(Arc::new(Shared { hosts, headers, layout }))
    }
}

impl<S> Layer<S> for ProtectLayer {
    type Service = Protect<S>;

    fn layer(&self, inner: S) -> Protect<S> {
        Protect { inner, shared: self.0.clone() }
    }
}

/// See [`ProtectLayer`].
#[derive(Clone)]
pub struct Protect<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Service<Request> for Protect<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let path = request.uri().path();
        let no_store = shows_or_takes_credentials(path);
        let refusal = self.shared.refusal(&request);
        let shared = self.shared.clone();
        let inner = match refusal {
            Some(_) => None,
            None => {
                // The service that was made ready handles this request; a clone waits for the next.
                let clone = self.inner.clone();
                Some(std::mem::replace(&mut self.inner, clone).call(request))
            }
        };
        Box::pin(async move {
            let response = match (refusal, inner) {
                (Some(refusal), _) => refusal,
                (None, Some(inner)) => inner.await?,
                (None, None) => unreachable!("either refused or passed on"),
            };
            Ok(shared.finish(response, no_store).await)
        })
    }
}

impl Shared {
    /// The refusal this request gets before it reaches a handler, if any.
    fn refusal(&self, request: &Request) -> Option<Response> {
        let path = request.uri().path();
        let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
        if path != "/healthcheck" && !self.hosts.allows(host) {
            tracing::warn!("request for another host refused");
            return Some(AppError::MisdirectedHost.into_response());
        }
        if request.uri().path_and_query().map_or(0, |p| p.as_str().len()) > MAX_URI_BYTES {
            return Some(StatusCode::URI_TOO_LONG.into_response());
        }
        if !headers_fit(request.headers()) {
            return Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE.into_response());
        }
        if takes_credentials(request.method(), path) && is_cross_site(request.headers()) {
            tracing::warn!("cross-site credential post refused");
            return Some(AppError::CrossSite.into_response());
        }
        None
    }

    /// The response as it leaves: its error page, the security headers, `no-store`.
    async fn finish(&self, response: Response, no_store: bool) -> Response {
        let status = response.status();
        let mut response = if status.is_client_error() || status.is_server_error() {
            render_error_page(&self.layout, response).await
        } else {
            response
        };
        let headers = response.headers_mut();
        for (name, value) in &self.headers {
            if !headers.contains_key(name) {
                headers.insert(name, value.clone());
            }
        }
        if no_store {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        response
    }
}

/// True when a browser says this request comes from another site.
///
/// `Sec-Fetch-Site`, which browsers set themselves, decides when present: only `same-origin` and
/// `none` (typed or bookmarked) are at home; `same-site` is another port or subdomain, another
/// app on this machine, so it is foreign too. (It must come first: under `Referrer-Policy: no-referrer`, which this app
/// sends, Chromium posts same-origin forms with `Origin: null`.) Without it, an `Origin` whose host
/// and port differ from the request's `Host`, or `Origin: null`, is foreign. Requests with neither
/// header (curl, scripts) are not cross-site.
pub fn is_cross_site(headers: &HeaderMap) -> bool {
    let value = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    if let Some(site) = value(HeaderName::from_static("sec-fetch-site")) {
        return !(site.eq_ignore_ascii_case("same-origin") || site.eq_ignore_ascii_case("none"));
    }
    let Some(origin) = value(header::ORIGIN) else { return false };
    let origin_host = url::Url::parse(origin).ok().and_then(|url| {
        let host = url.host_str()?.to_owned();
        Some(match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host,
        })
    });
    match (origin_host, value(header::HOST)) {
        (Some(origin_host), Some(host)) => !origin_host.eq_ignore_ascii_case(host),
        (None, _) => true, // `null` or garbage
        (Some(_), None) => false,
    }
}

/// Paths that take a credential (a password, a code, a refresh token, the consumer's secret in
/// effect) through a browser POST.
pub fn takes_credentials(method: &Method, path: &str) -> bool {
    method == Method::POST
        && matches!(
            path,
            "/oauth-callback"
                | "/client-credentials"
                | "/refresh"
                | "/api-call"
                | "/revoke"
                | "/introspect"
                | "/device"
                | "/device/poll"
                | "/sandbox/site/oauth2/authorize"
        )
}

/// Pages that take a credential or show a token, and so must not be cached (RFC 6749 §5.1):
/// the start page's form, every grant's result page, the callback, the sandbox's OAuth pages.
pub fn shows_or_takes_credentials(path: &str) -> bool {
    matches!(
        path,
        "/" | "/oauth-callback"
            | "/authorize"
            | "/client-credentials"
            | "/refresh"
            | "/api-call"
            | "/revoke"
            | "/introspect"
            | "/device"
            | "/device/poll"
    ) || path.starts_with("/sandbox/site/oauth2/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn same_origin_and_header_less_requests_are_not_cross_site() {
        assert!(!is_cross_site(&headers(&[])));
        assert!(!is_cross_site(&headers(&[("host", "localhost:3000"), ("origin", "http://localhost:3000")])));
        assert!(!is_cross_site(&headers(&[("sec-fetch-site", "same-origin")])));
        // What Chromium sends for a same-origin form post under Referrer-Policy: no-referrer.
        assert!(!is_cross_site(&headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "null"),
            ("sec-fetch-site", "same-origin")
        ])));
    }

    #[test]
    fn foreign_null_and_cross_site_requests_are_cross_site() {
        assert!(is_cross_site(&headers(&[("host", "localhost:3000"), ("origin", "https://evil.example")])));
        assert!(is_cross_site(&headers(&[("host", "localhost:3000"), ("origin", "http://localhost:3001")])));
        assert!(is_cross_site(&headers(&[("host", "localhost:3000"), ("origin", "null")])));
        assert!(is_cross_site(&headers(&[("sec-fetch-site", "cross-site")])));
        // Another local web app on another port is "same-site", not same-origin.
        assert!(is_cross_site(&headers(&[
            ("host", "localhost:3000"),
            ("origin", "http://localhost:3001"),
            ("sec-fetch-site", "same-site")
        ])));
    }

    #[test]
    fn only_loopback_names_on_the_port_the_callback_and_the_operators_hosts_are_allowed() {
        let hosts = AllowedHosts::new(
            "127.0.0.1:3000".parse().unwrap(),
            Some("https://app.example/oauth-callback"),
            &["lan-box".into()],
        );
        for host in ["localhost:3000", "127.0.0.1:3000", "[::1]:3000", "LOCALHOST:3000", "app.example", "lan-box:8080"]
        {
            assert!(hosts.allows(host), "{host}");
        }
        for host in ["evil.example:3000", "localhost:3001", "127.0.0.1", "", "app.example:3000", "[::1]"] {
            assert!(!hosts.allows(host), "{host}");
        }
    }
}
