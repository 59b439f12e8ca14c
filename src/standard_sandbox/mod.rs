//! The built-in standard server: an OAuth 2.0 authorization server and OpenID Connect provider
//! that serves what the specifications say, strictly, so that a learner can read a standard server
//! offline (`docs/standard-sandbox.md` sums it up). Where the Bitbucket sandbox ([`crate::sandbox`])
//! is faithful to bitbucket.org, this one is faithful to the RFCs.
//!
//! It is a small app of its own, one file per endpoint, and imports nothing from the web layer.
//! Build it with [`StandardSandbox::new`], then serve [`router`] at the path of its issuer and
//! [`well_known_router`] at the origin's root ([`standalone`] does both, for a process of its own). Routes, relative to where [`router`] is mounted:
//!
//! | route                                   | file                     | specification                      |
//! |-----------------------------------------|--------------------------|------------------------------------|
//! | `GET /.well-known/openid-configuration` | [`discovery`]            | OpenID Connect Discovery 1.0 §4    |
//! | `GET, POST /authorize`                  | [`authorize`]            | RFC 6749 §4.1, RFC 7636, OIDC §3.1 |
//! | `POST /token`                           | [`token_endpoint`]       | RFC 6749 §3.2, §4, §6; RFC 8628 §3.4 |
//! | `GET /jwks`                             | [`keys`]                 | RFC 7517                           |
//! | `GET, POST /userinfo`                   | [`userinfo`]             | OIDC Core §5.3, RFC 6750           |
//! | `POST /revoke`                          | [`revocation`]           | RFC 7009                           |
//! | `POST /introspect`                      | [`introspection`]        | RFC 7662                           |
//! | `POST /device_authorization`            | [`device`]               | RFC 8628 §3.1                      |
//! | `GET, POST /device`                     | [`device`]               | RFC 8628 §3.3 (the verification page) |
//!
//! and, from [`well_known_router`], `GET /.well-known/oauth-authorization-server{issuer path}`
//! (RFC 8414 §3.1).
//!
//! Access tokens are JWTs (RFC 9068) and `id_token`s too, signed ES256 with a P-256 key generated
//! at start ([`keys`]). What it has issued lives in memory ([`store`]), bounded, so revocation and
//! introspection work on JWTs too (by `jti`); all of it is lost on restart.

mod authorize;
mod clients;
mod device;
mod discovery;
mod introspection;
mod keys;
mod limits;
mod pages;
mod revocation;
mod store;
mod token_endpoint;
mod tokens;
mod userinfo;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

pub use clients::{CLIENTS, Client, ClientAuthentication};

/// The confidential client allowed every grant.
pub const STANDARD_CLIENT_ID: &str = "standard-client";
/// Its secret. Public: it opens nothing outside the built-in server.
pub const STANDARD_CLIENT_SECRET: &str = "standard-secret";
/// The public client of the device flow (`token_endpoint_auth_method` `none`): the device
/// authorization grant and refresh only.
pub const DEVICE_CLIENT_ID: &str = "standard-device-client";
/// A confidential client allowed every grant but the password grant (the diagnosis lesson of
/// `unauthorized_client`).
pub const NO_PASSWORD_CLIENT_ID: &str = "standard-no-password-client";
/// Its secret.
pub const NO_PASSWORD_CLIENT_SECRET: &str = "standard-no-password-secret";

/// The resource owner's user name.
pub const DEMO_USERNAME: &str = "demo";
/// Their password.
pub const DEMO_PASSWORD: &str = "demo";
/// Their subject identifier (`sub`): stable, never reassigned, unlike a user name.
pub const DEMO_SUBJECT: &str = "demo-user-0001";
/// Their `name` claim.
pub const DEMO_NAME: &str = "Demo User";
/// Their `email` claim (verified).
pub const DEMO_EMAIL: &str = "demo@example.com";

/// The scopes it knows (`scopes_supported`).
pub const SCOPES_SUPPORTED: [&str; 4] = ["openid", "profile", "email", "offline_access"];
/// At most this many codes, access tokens, refresh tokens and device codes are kept, each; past
/// it, the oldest go. Every entry is small (its strings are checked against what is registered),
/// under 1 KiB: a few tens of MiB at most in all.
pub const MAX_ISSUED: usize = 20_000;
/// Failed client secrets a minute per client, failed passwords a minute per account, wrong user
/// codes a minute per address; past it, `429` until the minute is over.
pub const FAILURES_PER_MINUTE: u32 = 5;

/// How the server behaves. Only `issuer` has no default: it is where the caller serves
/// [`router`], known once it listens.
#[derive(Clone, Debug)]
pub struct StandardOptions {
    /// The issuer identifier (RFC 8414 §2): `http://HOST:PORT/sandbox/oidc` when the app mounts
    /// [`router`] at `/sandbox/oidc`. Every URL in the documents and redirects derives from it.
    pub issuer: String,
    /// Accept the resource owner password credentials grant (legacy: RFC 9700 §2.4 says it MUST
    /// NOT be used; on by default so that it can be watched). Off, it is unsupported and absent
    /// from the metadata.
    pub password_grant: bool,
    /// Rotate refresh tokens: each use returns a new one and the old one is refused from then on.
    pub rotate_refresh_tokens: bool,
    /// Lifetime of access tokens and `id_token`s.
    pub access_token_lifetime: Duration,
    /// Lifetime of refresh tokens.
    pub refresh_token_lifetime: Duration,
    /// Lifetime of authorization codes.
    pub code_lifetime: Duration,
    /// The polling interval of the device authorization grant (RFC 8628 §3.2; announced in whole
    /// seconds, at least 1). Tests shorten it below a second.
    pub device_interval: Duration,
    /// Lifetime of a device code and its user code (RFC 8628 §3.2 `expires_in`).
    pub device_code_lifetime: Duration,
    /// The redirect URIs registered for the confidential clients, compared as exact strings (RFC
    /// 9700 §4.1.3); one of `http://127.0.0.1/…` or `http://[::1]/…` (no port) admits any port
    /// (RFC 8252 §7.3).
    pub redirect_uris: Vec<String>,
}

impl StandardOptions {
    /// The defaults, for a server whose issuer is `issuer`.
    pub fn new(issuer: impl Into<String>) -> StandardOptions {
        StandardOptions { issuer: issuer.into(), ..StandardOptions::default() }
    }
}

impl Default for StandardOptions {
    /// The defaults, with the issuer `http://localhost:3000/sandbox/oidc` (set your own).
    fn default() -> Self {
        StandardOptions {
            issuer: "http://localhost:3000/sandbox/oidc".into(),
            password_grant: true,
            rotate_refresh_tokens: true,
            access_token_lifetime: Duration::from_secs(3600),
            refresh_token_lifetime: Duration::from_secs(30 * 24 * 3600),
            code_lifetime: Duration::from_secs(60),
            device_interval: Duration::from_secs(5),
            device_code_lifetime: Duration::from_secs(600),
            redirect_uris: vec![
                "http://localhost:3000/oauth-callback".into(),
                "http://127.0.0.1/oauth-callback".into(),
                "http://[::1]/oauth-callback".into(),
            ],
        }
    }
}

/// The server's state: its options, its signing key and what it has issued.
pub struct StandardSandbox {
    options: StandardOptions,
    /// The issuer without a trailing slash, and its path alone (for forms and routes).
    issuer: String,
    issuer_path: String,
    keys: keys::SigningKey,
    issued: Mutex<store::Issued>,
    tickets: pages::Tickets,
    /// Failed client secrets per client, failed passwords per account.
    failures: limits::FailureLimiter,
    /// Wrong user codes per address, on the verification page.
    user_code_attempts: crate::attempts::AttemptLimiter,
}

impl std::fmt::Debug for StandardSandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StandardSandbox").field("options", &self.options).finish_non_exhaustive()
    }
}

impl StandardSandbox {
    /// A server with the given options and a new signing key.
    pub fn new(options: StandardOptions) -> Arc<StandardSandbox> {
        let issuer = options.issuer.trim_end_matches('/').to_owned();
        let issuer_path =
            url::Url::parse(&issuer).map(|url| url.path().trim_end_matches('/').to_owned()).unwrap_or_default();
        Arc::new(StandardSandbox {
            issuer,
            issuer_path,
            keys: keys::SigningKey::generate(),
            issued: Mutex::default(),
            tickets: pages::Tickets::default(),
            failures: limits::FailureLimiter::new(FAILURES_PER_MINUTE),
            user_code_attempts: crate::attempts::AttemptLimiter::new(FAILURES_PER_MINUTE),
            options,
        })
    }

    /// The options it was built with.
    pub fn options(&self) -> &StandardOptions {
        &self.options
    }

    /// The issuer identifier, without a trailing slash.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The URL of one of its endpoints: the issuer and `path`.
    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// The audience of its access tokens: the resource they are for, its userinfo endpoint.
    fn audience(&self) -> String {
        self.endpoint("/userinfo")
    }

    fn issued(&self) -> MutexGuard<'_, store::Issued> {
        self.issued.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The server's routes, to be nested at the issuer's path (the app uses `/sandbox/oidc`).
pub fn router<S: Clone + Send + Sync + 'static>(sandbox: Arc<StandardSandbox>) -> Router<S> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery::openid_configuration))
        .route("/authorize", get(authorize::authorize_get).post(authorize::authorize_post))
        .route("/token", post(token_endpoint::token))
        .route("/jwks", get(keys::jwks))
        .route("/userinfo", get(userinfo::userinfo).post(userinfo::userinfo))
        .route("/revoke", post(revocation::revoke))
        .route("/introspect", post(introspection::introspect))
        .route("/device_authorization", post(device::device_authorization))
        .route("/device", get(device::verification_get).post(device::verification_post))
        .with_state(sandbox)
}

/// The RFC 8414 metadata document at the origin's root, where §3.1 puts it: the issuer's path
/// inserted after `/.well-known/oauth-authorization-server`. Merge it into the root router.
pub fn well_known_router<S: Clone + Send + Sync + 'static>(sandbox: Arc<StandardSandbox>) -> Router<S> {
    let path = format!("/.well-known/oauth-authorization-server{}", sandbox.issuer_path);
    Router::new().route(&path, get(discovery::authorization_server_metadata)).with_state(sandbox)
}

/// The server alone, as a process of its own serves it: [`router`] nested at the issuer's path
/// and [`well_known_router`] at the root (`examples/standard_server.rs`, the tests).
pub fn standalone(sandbox: Arc<StandardSandbox>) -> Router {
    let well_known = well_known_router(sandbox.clone());
    let routes = if sandbox.issuer_path.is_empty() {
        router(sandbox)
    } else {
        let path = sandbox.issuer_path.clone();
        Router::new().nest(&path, router(sandbox))
    };
    routes.merge(well_known)
}

/// Seconds since 1970, for JWT claims.
fn now_unix() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A JSON answer of the token, revocation, introspection or device authorization endpoint, which
/// must never be cached (RFC 6749 §5.1, RFC 8628 §3.2).
fn no_store_json(status: StatusCode, body: &Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// An error answer of the token endpoint and its kin (RFC 6749 §5.2): `error` and
/// `error_description`, `no-store`, and the status the error calls for.
#[derive(Debug)]
pub(crate) struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    /// `Retry-After`, in seconds, for a refusal after too many failures.
    retry_after: Option<u64>,
}

impl OAuthError {
    fn new(error: &'static str, description: impl Into<String>) -> OAuthError {
        OAuthError { status: StatusCode::BAD_REQUEST, error, description: description.into(), retry_after: None }
    }

    /// `invalid_request`: a parameter missing, repeated, or malformed.
    fn invalid_request(description: impl Into<String>) -> OAuthError {
        OAuthError::new("invalid_request", description)
    }

    /// `invalid_grant`: a code, refresh token, device code or password that is not good.
    fn invalid_grant(description: impl Into<String>) -> OAuthError {
        OAuthError::new("invalid_grant", description)
    }

    /// `invalid_client`: 401 with `WWW-Authenticate: Basic` (RFC 6749 §5.2).
    fn invalid_client(description: impl Into<String>) -> OAuthError {
        OAuthError { status: StatusCode::UNAUTHORIZED, ..OAuthError::new("invalid_client", description) }
    }

    /// Too many failures: `429` with `Retry-After`, and the error code of what failed.
    fn too_many(error: &'static str, retry_after: u64) -> OAuthError {
        OAuthError {
            status: StatusCode::TOO_MANY_REQUESTS,
            retry_after: Some(retry_after),
            ..OAuthError::new(error, format!("Too many failed attempts; retry after {retry_after} seconds."))
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "error_description": self.description});
        let mut response = no_store_json(self.status, &body);
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"standard-sandbox\""));
        }
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// A form body (`application/x-www-form-urlencoded`) as RFC 6749 §3.2 wants it: of that media
/// type, and with no parameter repeated (§3.1, §3.2). Empty values count as absent.
#[derive(Debug, Default)]
pub(crate) struct Form(std::collections::HashMap<String, String>);

impl Form {
    fn parse(headers: &axum::http::HeaderMap, body: &[u8]) -> Result<Form, OAuthError> {
        let media_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let essence = media_type.split(';').next().unwrap_or("").trim();
        if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(OAuthError::invalid_request("The body must be application/x-www-form-urlencoded."));
        }
        let mut form = std::collections::HashMap::new();
        for (name, value) in url::form_urlencoded::parse(body).into_owned() {
            if form.insert(name.clone(), value).is_some() {
                return Err(OAuthError::invalid_request(format!("The parameter {name} is repeated.")));
            }
        }
        Ok(Form(form))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| OAuthError::invalid_request(format!("The parameter {name} is missing.")))
    }
}

/// Checks a requested `scope` against [`SCOPES_SUPPORTED`]: the scopes, deduplicated and in the
/// order they were asked for, or `invalid_scope`.
fn parse_scope(scope: &str) -> Result<Vec<&'static str>, String> {
    let mut scopes = Vec::new();
    for asked in scope.split(' ').filter(|s| !s.is_empty()) {
        let known = SCOPES_SUPPORTED
            .iter()
            .find(|s| **s == asked)
            .ok_or_else(|| format!("Unknown scope {asked:?}; this server knows {}.", SCOPES_SUPPORTED.join(" ")))?;
        if !scopes.contains(known) {
            scopes.push(*known);
        }
    }
    Ok(scopes)
}
