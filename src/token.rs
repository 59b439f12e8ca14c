//! # OAuth 2.0 token requests, ready to copy into your own project
//!
//! This file asks an OAuth 2.0 authorization server for an access token (RFC 6749 §4 and §6).
//! It depends only on `std`, [`reqwest`], [`serde`] and [`serde_json`], so you can copy it into
//! your own crate as `token.rs` and use it as it is:
//!
//! ```toml
//! reqwest = { version = "0.13", features = ["form"] }
//! serde = { version = "1", features = ["derive"] }
//! serde_json = "1"
//! ```
//!
//! One function per grant, all sharing one request and one error type:
//!
//! | grant (RFC 6749)                           | function                       |
//! |--------------------------------------------|--------------------------------|
//! | resource owner password credentials (§4.3) | [`password_grant`]             |
//! | authorization code (§4.1)                  | [`authorization_code_grant`]   |
//! | client credentials (§4.4)                  | [`client_credentials_grant`]   |
//! | refreshing an access token (§6)            | [`refresh_token_grant`]        |
//! | device authorization (RFC 8628)            | [`device_authorization`], then [`poll_device_token`] |
//! | revoking a token (RFC 7009)                | [`revoke_token`]               |
//! | is this token still active? (RFC 7662)     | [`introspect_token`]           |
//!
//! Each one sends `POST {token_url}` with the client (Bitbucket calls it the *consumer*)
//! authenticated by HTTP Basic `client_id:client_secret`, each form-urlencoded first as RFC 6749
//! §2.3.1 asks ([`ClientCredentials::basic_authorization`]) (or, for servers that want it, with
//! both in the form body: [`ClientAuth`]), and a form body such as
//! `grant_type=password&username=…&password=…&scope=…`. It returns the parsed [`TokenResponse`], or a
//! [`TokenError`] that tells apart the three ways a token request fails:
//!
//! * [`TokenError::Refused`]: the authorization server answered with an OAuth error
//!   (`invalid_grant`, `unauthorized_client`, …, RFC 6749 §5.2);
//! * [`TokenError::NoResponse`]: the request never completed (could not connect, timed out);
//! * [`TokenError::UnexpectedResponse`]: an answer came, but it was not a token response
//!   (an HTML page, malformed JSON, a redirect, a body too large, …).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! # use bitbucket_password_grant::token;
//!
//! // Build one client for the whole program: timeouts on, redirects off (see `http_client`).
//! let http = token::http_client(Duration::from_secs(5), Duration::from_secs(10))?;
//! let client = token::ClientCredentials::basic("my-key", "my-secret");
//! let token = token::password_grant(
//!     &http,
//!     "https://auth.example.com/oauth/token",
//!     &client,
//!     "alice",
//!     "correct horse battery staple",
//!     Some("profile email"), // the scopes to ask for; None lets the server decide
//! )
//! .await?;
//! // Use it as `Authorization: Bearer <access_token>` on API calls.
//! println!("{} token, expires in {:?} s", token.token_type, token.expires_in);
//! # Ok(()) }
//! ```
//!
//! A program that runs longer than a token lives holds it in a [`TokenKeeper`] and asks it for the
//! access token before each API call: the keeper refreshes the token shortly before it expires, with
//! one request however many tasks ask at once, and keeps the newest refresh token (servers that
//! rotate them, as Bitbucket does since 2026, refuse the old one). Its [`RefreshError`] says when
//! refreshing cannot work any more and the user must sign in again (a new grant).
//!
//! ```no_run
//! # use bitbucket_password_grant::token;
//! # async fn demo(http: reqwest::Client, client: token::ClientCredentials<'_>, token: token::TokenResponse)
//! # -> Result<(), Box<dyn std::error::Error>> {
//! # use std::time::Duration;
//! let url = "https://auth.example.com/oauth/token";
//! // `token` came from a grant, as above. Refresh it when it has less than a minute to live.
//! let keeper = token::TokenKeeper::new(http.clone(), url, &client, Duration::from_secs(60), token);
//! let access_token = keeper.access_token().await?; // before each API call
//! http.get("https://api.example.com/user").bearer_auth(access_token).send().await?;
//! # Ok(()) }
//! ```
//!
//! Things this file takes care of, so your code does not have to:
//! * `Debug` on [`TokenResponse`], [`ClientCredentials`] and [`TokenKeeper`] never prints a token
//!   or secret, so a stray `{:?}` in a log line leaks nothing;
//! * the response body is read up to [`MAX_TOKEN_RESPONSE_BYTES`] and no further;
//! * a redirect from the token endpoint is reported, never followed (a token request must not
//!   be replayed, with its credentials, to another host);
//! * both `scope` (RFC 6749) and `scopes` (Bitbucket until 2026) are understood.

use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The most a token response may weigh. Real ones are well under 4 KiB.
pub const MAX_TOKEN_RESPONSE_BYTES: usize = 64 * 1024;

/// How many characters of an unexpected answer an error keeps, to show what came back.
pub const EXCERPT_CHARS: usize = 200;

/// How the client proves who it is to the token endpoint (RFC 6749 §2.3.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic `client_id:client_secret`: what RFC 6749 asks every server to accept, and the
    /// only way Bitbucket accepts (`client_secret_basic` in server metadata).
    #[default]
    Basic,
    /// `client_id` and `client_secret` as form fields in the body (`client_secret_post`), for
    /// servers that accept only that.
    Post,
    /// `client_id` alone in the body, no secret (`none`): a *public* client, such as a
    /// command-line tool that cannot keep a secret (RFC 6749 §2.1), using the device flow.
    None,
}

/// The client's (consumer's) own credentials (RFC 6749 §2.3.1). In Bitbucket these are the
/// consumer's *key* and *secret*.
#[derive(Clone, Copy)]
pub struct ClientCredentials<'a> {
    /// The client identifier; Bitbucket's consumer *key*.
    pub client_id: &'a str,
    /// The client secret; Bitbucket's consumer *secret*.
    pub client_secret: &'a str,
    /// How they are sent.
    pub auth: ClientAuth,
}

impl<'a> ClientCredentials<'a> {
    /// Credentials sent as HTTP Basic, the default.
    pub fn basic(client_id: &'a str, client_secret: &'a str) -> Self {
        ClientCredentials { client_id, client_secret, auth: ClientAuth::Basic }
    }
}

impl ClientCredentials<'_> {
    /// The `Authorization` header value for HTTP Basic client authentication, as RFC 6749 §2.3.1
    /// defines it: the client id and the secret are each encoded with the
    /// `application/x-www-form-urlencoded` algorithm (Appendix B) *before* they are joined with `:`
    /// and base64-encoded. A server decodes them the same way, so a secret holding `+`, `%`, `:`,
    /// `/` or a space arrives intact; sent raw, such a secret is refused (`invalid_client`) by every
    /// server that follows the RFC. (Alphanumeric ids and secrets, such as Bitbucket's, are
    /// unchanged by the encoding.)
    ///
    /// Every byte but `A-Z a-z 0-9 - . _ ~` is percent-encoded, a space as `%20`: form decoders read
    /// `%20` as a space, while a `+` would be read as a plus by servers that only percent-decode.
    ///
    /// ```
    /// # use bitbucket_password_grant::token;
    /// let client = token::ClientCredentials::basic("my client", "s3cr+t%2F:/ x");
    /// // base64("my%20client:s3cr%2Bt%252F%3A%2F%20x")
    /// assert_eq!(client.basic_authorization(), "Basic bXklMjBjbGllbnQ6czNjciUyQnQlMjUyRiUzQSUyRiUyMHg=");
    /// let plain = token::ClientCredentials::basic("key", "secret");
    /// assert_eq!(plain.basic_authorization(), "Basic a2V5OnNlY3JldA=="); // base64("key:secret")
    /// ```
    pub fn basic_authorization(&self) -> String {
        let pair = format!("{}:{}", form_encode(self.client_id), form_encode(self.client_secret));
        format!("Basic {}", base64(pair.as_bytes()))
    }
}

/// `value` with every byte but `A-Z a-z 0-9 - . _ ~` percent-encoded (RFC 6749 Appendix B).
fn form_encode(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// Standard base64 with padding (RFC 4648 §4), as HTTP Basic uses it.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl fmt::Debug for ClientCredentials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("auth", &self.auth)
            .finish()
    }
}

/// A successful token response (RFC 6749 §5.1).
///
/// Bitbucket's looks like
/// `{"access_token": "…", "scopes": "repository account", "expires_in": 7200,
/// "refresh_token": "…", "token_type": "bearer", "state": "password"}`;
/// since May 2026 it says `scope` instead of `scopes`.
#[derive(Clone, Deserialize, Serialize)]
pub struct TokenResponse {
    /// The access token: send it as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// How to use the token; `bearer` (any case, RFC 6749 §5.1 says it is case-insensitive).
    pub token_type: String,
    /// Lifetime of the access token in seconds, if the server says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
    /// A token that gets a new access token later without the password (RFC 6749 §6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Granted scopes, space-separated (RFC 6749 §3.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Bitbucket's name for `scope` until May 2026.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<String>,
    /// Bitbucket only: the grant type that was used (this is *not* the CSRF `state`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// OpenID Connect only: a JWT about the signed-in user, for the client (not for APIs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// When the response arrived (set by [`parse_token_response`]), to tell when it expires. It is
    /// not part of the JSON: a token read back from JSON has `None` here, so its expiry is unknown.
    #[serde(skip)]
    pub received_at: Option<Instant>,
}

impl TokenResponse {
    /// The granted scopes as a list, from `scope` or, failing that, `scopes`.
    ///
    /// ```
    /// # use bitbucket_password_grant::token;
    /// let t: token::TokenResponse = serde_json::from_str(
    ///     r#"{"access_token":"a","token_type":"bearer","scopes":"repository account"}"#,
    /// ).unwrap();
    /// assert_eq!(t.granted_scopes(), ["repository", "account"]);
    /// ```
    pub fn granted_scopes(&self) -> Vec<&str> {
        self.scope.as_deref().or(self.scopes.as_deref()).map(|s| s.split_whitespace().collect()).unwrap_or_default()
    }

    /// True when the token is a Bearer token (RFC 6750), whatever its case.
    pub fn is_bearer(&self) -> bool {
        self.token_type.eq_ignore_ascii_case("bearer")
    }

    /// The moment the access token expires: `received_at + expires_in`, or `None` when either is
    /// unknown.
    ///
    /// ```
    /// # use bitbucket_password_grant::token;
    /// use std::time::{Duration, Instant};
    /// let json = r#"{"access_token":"a","token_type":"bearer","expires_in":7200}"#;
    /// let mut t: token::TokenResponse = serde_json::from_str(json).unwrap();
    /// assert_eq!(t.expires_at(), None); // read from JSON, not received: when is unknown
    /// let now = Instant::now();
    /// t.received_at = Some(now); // what `parse_token_response` sets
    /// assert_eq!(t.expires_at(), Some(now + Duration::from_secs(7200)));
    /// ```
    pub fn expires_at(&self) -> Option<Instant> {
        self.received_at?.checked_add(Duration::from_secs(self.expires_in?))
    }

    /// "Refresh now?": true when the access token expires within `margin` from now (or has
    /// expired). A token whose expiry is unknown is never due: use it until the API answers 401.
    ///
    /// ```
    /// # use bitbucket_password_grant::token;
    /// use std::time::{Duration, Instant};
    /// let json = r#"{"access_token":"a","token_type":"bearer","expires_in":7200}"#;
    /// let mut t: token::TokenResponse = serde_json::from_str(json).unwrap();
    /// t.received_at = Some(Instant::now());
    /// assert!(!t.is_due(Duration::from_secs(60))); // two hours left
    /// assert!(t.is_due(Duration::from_secs(7200))); // expires within the margin
    /// ```
    pub fn is_due(&self, margin: Duration) -> bool {
        let expires_at = self.expires_at();
        expires_at.is_some_and(|at| Instant::now().checked_add(margin).is_none_or(|soon| soon >= at))
    }
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"[redacted]")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "[redacted]"))
            .field("id_token", &self.id_token.as_ref().map(|_| "[redacted]"))
            .field("scope", &self.scope.as_ref().or(self.scopes.as_ref()))
            .finish()
    }
}

/// An OAuth error answer from the authorization server (RFC 6749 §5.2).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct OAuthError {
    /// The HTTP status of the answer, e.g. 400 or 401.
    #[serde(skip)]
    pub status: u16,
    /// The error code: `invalid_request`, `invalid_client`, `invalid_grant`,
    /// `unauthorized_client`, `unsupported_grant_type` or `invalid_scope`.
    pub error: String,
    /// A human-readable explanation, if the server gave one.
    #[serde(default)]
    pub error_description: Option<String>,
    /// A page about the error, if the server gave one.
    #[serde(default)]
    pub error_uri: Option<String>,
}

/// Why a token request did not produce a token.
#[derive(Clone, Debug)]
pub enum TokenError {
    /// The authorization server refused: it answered with an OAuth error.
    Refused(OAuthError),
    /// The request did not complete: no answer came back.
    NoResponse {
        /// True when the request ran out of time (connect or total timeout).
        timed_out: bool,
        /// True when no connection could be made at all.
        connect: bool,
        /// What went wrong, from the HTTP client and the operating system.
        message: String,
    },
    /// An answer came back, but it was not a token response.
    UnexpectedResponse {
        /// The HTTP status of the answer.
        status: u16,
        /// What was wrong with it, in a few words.
        problem: String,
        /// The start of the body (at most [`EXCERPT_CHARS`] characters).
        excerpt: String,
    },
}

impl TokenError {
    /// The error in a sentence about `request` ("the revocation request", "the API call"): the
    /// same words as `Display`, which speaks of "the token request".
    ///
    /// ```
    /// # use bitbucket_password_grant::token::TokenError;
    /// let error = TokenError::NoResponse { timed_out: true, connect: false, message: "after 10 s".into() };
    /// assert_eq!(error.to_string(), "the token request timed out: after 10 s");
    /// assert_eq!(error.describe("the revocation request"), "the revocation request timed out: after 10 s");
    /// ```
    pub fn describe(&self, request: &str) -> String {
        match self {
            TokenError::Refused(e) => {
                let description = e.error_description.as_deref().map(|d| format!(": {d}")).unwrap_or_default();
                format!("the authorization server refused (HTTP {}): {}{description}", e.status, e.error)
            }
            TokenError::NoResponse { timed_out: true, message, .. } => format!("{request} timed out: {message}"),
            TokenError::NoResponse { message, .. } => format!("{request} did not complete: {message}"),
            TokenError::UnexpectedResponse { status, problem, .. } => {
                format!("unexpected answer to {request} (HTTP {status}): {problem}")
            }
        }
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe("the token request"))
    }
}

impl std::error::Error for TokenError {}

/// Builds the one HTTP client a program should share for token requests and API calls.
///
/// `connect` bounds making the connection, `total` the whole exchange. Redirects are turned off:
/// a token endpoint that redirects is misconfigured, and following it would send the client
/// credentials and the user's password to wherever it points.
///
/// Idle connections are kept for [`POOL_IDLE_TIMEOUT`] only. A server closes a keep-alive
/// connection it has not used for a while (Node.js and Apache after 5 s by default); a client
/// that keeps it longer may send its next request just as the server closes it, and gets
/// "connection closed before message completed" for a request the server never read. A token
/// request must not simply be sent again (an authorization code works once), so the client lets
/// such connections go first.
pub fn http_client(connect: Duration, total: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(connect)
        .timeout(total)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

/// How long [`http_client`] keeps an idle connection: under the shortest common server
/// keep-alive timeout (5 s).
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// Resource Owner Password Credentials grant (RFC 6749 §4.3): trades the user's username and
/// password for an access token in one request.
///
/// Sends `grant_type=password&username=…&password=…`, and `scope=…` when given (RFC 6749 §3.3:
/// many servers grant nothing useful without it; Bitbucket takes the consumer's scopes). Use the
/// password for this one request and then forget it; keep the access and refresh tokens instead.
///
/// ```no_run
/// # use bitbucket_password_grant::token;
/// # async fn demo(http: reqwest::Client) -> Result<(), token::TokenError> {
/// let client = token::ClientCredentials::basic("key", "secret");
/// let url = "https://bitbucket.org/site/oauth2/access_token";
/// let token = token::password_grant(&http, url, &client, "alice", "s3cret", None).await?;
/// assert!(token.is_bearer());
/// # Ok(()) }
/// ```
pub async fn password_grant(
    http: &reqwest::Client,
    token_url: &str,
    client: &ClientCredentials<'_>,
    username: &str,
    password: &str,
    scope: Option<&str>,
) -> Result<TokenResponse, TokenError> {
    let mut form = vec![("grant_type", "password"), ("username", username), ("password", password)];
    form.extend(scope.map(|scope| ("scope", scope)));
    request_token(http, token_url, client, &form).await
}

/// Authorization code grant (RFC 6749 §4.1.3): trades the `code` that the authorization server
/// sent to your callback URL for an access token.
///
/// Pass `redirect_uri` if you sent one in the authorization request: it must be the very same
/// string (RFC 6749 §4.1.3). Pass `code_verifier` if you sent a PKCE `code_challenge` (RFC 7636
/// §4.5): the server hashes it and compares, so a code stolen on its way back is useless.
///
/// ```no_run
/// # use bitbucket_password_grant::token;
/// # async fn demo(http: reqwest::Client, code: &str, verifier: &str) -> Result<(), token::TokenError> {
/// let client = token::ClientCredentials::basic("key", "secret");
/// let url = "https://auth.example.com/oauth/token";
/// let callback = Some("http://localhost:3000/oauth-callback");
/// let token = token::authorization_code_grant(&http, url, &client, code, callback, Some(verifier)).await?;
/// # Ok(()) }
/// ```
pub async fn authorization_code_grant(
    http: &reqwest::Client,
    token_url: &str,
    client: &ClientCredentials<'_>,
    code: &str,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
) -> Result<TokenResponse, TokenError> {
    let mut form = vec![("grant_type", "authorization_code"), ("code", code)];
    form.extend(redirect_uri.map(|uri| ("redirect_uri", uri)));
    form.extend(code_verifier.map(|verifier| ("code_verifier", verifier)));
    request_token(http, token_url, client, &form).await
}

/// Client credentials grant (RFC 6749 §4.4): a token for the client itself, with no user.
///
/// On Bitbucket the token acts as the consumer's owner, and the consumer must be *private*.
///
/// ```no_run
/// # use bitbucket_password_grant::token;
/// # async fn demo(http: reqwest::Client) -> Result<(), token::TokenError> {
/// let client = token::ClientCredentials::basic("key", "secret");
/// let url = "https://bitbucket.org/site/oauth2/access_token";
/// let token = token::client_credentials_grant(&http, url, &client, None).await?;
/// assert!(token.refresh_token.is_none()); // Bitbucket gives none for this grant
/// # Ok(()) }
/// ```
pub async fn client_credentials_grant(
    http: &reqwest::Client,
    token_url: &str,
    client: &ClientCredentials<'_>,
    scope: Option<&str>,
) -> Result<TokenResponse, TokenError> {
    let mut form = vec![("grant_type", "client_credentials")];
    form.extend(scope.map(|scope| ("scope", scope)));
    request_token(http, token_url, client, &form).await
}

/// Refreshing an access token (RFC 6749 §6).
///
/// Servers that *rotate* refresh tokens (Bitbucket since May 2026) return a new
/// `refresh_token` and reject the old one from then on: always keep the newest. Servers that do
/// not rotate send none, and the old one stays valid (RFC 6749 §6): keep it.
///
/// ```no_run
/// # use bitbucket_password_grant::token;
/// # async fn demo(http: reqwest::Client, old: token::TokenResponse) -> Result<(), token::TokenError> {
/// let client = token::ClientCredentials::basic("key", "secret");
/// let url = "https://bitbucket.org/site/oauth2/access_token";
/// let refresh = old.refresh_token.as_deref().expect("this grant gave a refresh token");
/// let mut new = token::refresh_token_grant(&http, url, &client, refresh).await?;
/// // No new refresh token in the answer: the one we have is still the one to use.
/// new.refresh_token = new.refresh_token.or(old.refresh_token);
/// # Ok(()) }
/// ```
pub async fn refresh_token_grant(
    http: &reqwest::Client,
    token_url: &str,
    client: &ClientCredentials<'_>,
    refresh_token: &str,
) -> Result<TokenResponse, TokenError> {
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh_token)];
    request_token(http, token_url, client, &form).await
}

/// Revokes a token (RFC 7009): the access token, or a refresh token (which, on most servers, also
/// ends the access tokens issued with it). `token_type_hint` is `access_token` or
/// `refresh_token`. The server answers 200 whether or not the token was still valid, so `Ok(())`
/// means "this token no longer works", not "it worked until now".
///
/// ```no_run
/// # use bitbucket_password_grant::token;
/// # async fn demo(http: reqwest::Client, t: token::TokenResponse) -> Result<(), token::TokenError> {
/// let client = token::ClientCredentials::basic("key", "secret");
/// let url = "https://auth.example.com/oauth/revoke";
/// token::revoke_token(&http, url, &client, &t.access_token, Some("access_token")).await?;
/// # Ok(()) }
/// ```
pub async fn revoke_token(
    http: &reqwest::Client,
    revocation_url: &str,
    client: &ClientCredentials<'_>,
    token: &str,
    token_type_hint: Option<&str>,
) -> Result<(), TokenError> {
    let mut form = vec![("token", token)];
    form.extend(token_type_hint.map(|hint| ("token_type_hint", hint)));
    let request = build_token_request(http, revocation_url, client, &form)?;
    let response = read_response(http.execute(request).await, MAX_TOKEN_RESPONSE_BYTES).await?;
    parse_revocation_response(&response)
}

/// The `grant_type` of the device authorization grant (RFC 8628 §3.4).
pub const DEVICE_CODE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The answer to a device authorization request (RFC 8628 §3.2): what to show the user, and the
/// `device_code` to poll with.
#[derive(Clone, Deserialize, Serialize)]
pub struct DeviceAuthorization {
    /// The code the device polls the token endpoint with. Secret: never show it.
    pub device_code: String,
    /// The code the user types at the verification URI, such as `WDJB-MJHT`.
    pub user_code: String,
    /// Where the user goes, on any device with a browser, to enter the `user_code`.
    #[serde(alias = "verification_url")]
    pub verification_uri: String,
    /// The same with the `user_code` in it, for a link or a QR code, when the server gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_uri_complete: Option<String>,
    /// Seconds until both codes expire.
    pub expires_in: u64,
    /// Seconds to wait between polls; 5 when the server does not say (RFC 8628 §3.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<u64>,
    /// When the answer arrived (set by [`device_authorization`]), to know when the codes expire.
    #[serde(skip)]
    pub received_at: Option<Instant>,
}

impl fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceAuthorization")
            .field("device_code", &"[redacted]")
            .field("user_code", &self.user_code)
            .field("verification_uri", &self.verification_uri)
            .field("verification_uri_complete", &self.verification_uri_complete)
            .field("expires_in", &self.expires_in)
            .field("interval", &self.interval)
            .finish()
    }
}

/// Device authorization grant, step 1 (RFC 8628 §3.1): asks for a `device_code` and a
/// `user_code`. Show the user the `user_code` and the `verification_uri` (or a link or QR code of
/// `verification_uri_complete`), then call [`poll_device_token`]. This is the grant for a program
/// without a browser, such as a command-line tool, where the password grant was once used.
///
/// ```no_run
/// # use bitbucket_password_grant::token;
/// # async fn demo(http: reqwest::Client) -> Result<(), token::TokenError> {
/// // A command-line tool is a public client: it has no secret to keep.
/// let client = token::ClientCredentials { client_id: "my-cli", client_secret: "", auth: token::ClientAuth::None };
/// let url = "https://auth.example.com/oauth/device_authorization";
/// let device = token::device_authorization(&http, url, &client, Some("openid profile")).await?;
/// println!("Open {} and enter {}", device.verification_uri, device.user_code);
/// # Ok(()) }
/// ```
pub async fn device_authorization(
    http: &reqwest::Client,
    device_authorization_url: &str,
    client: &ClientCredentials<'_>,
    scope: Option<&str>,
) -> Result<DeviceAuthorization, TokenError> {
    let form: Vec<(&str, &str)> = scope.map(|scope| ("scope", scope)).into_iter().collect();
    let request = build_token_request(http, device_authorization_url, client, &form)?;
    let response = read_response(http.execute(request).await, MAX_TOKEN_RESPONSE_BYTES).await?;
    parse_device_authorization_response(&response)
}

/// Reads a device authorization response (RFC 8628 §3.2), or the error it carries.
pub fn parse_device_authorization_response(response: &RawResponse) -> Result<DeviceAuthorization, TokenError> {
    let json = parse_json_answer(response, "a JSON device authorization response")?;
    let authorization: DeviceAuthorization = serde_json::from_value(json)
        .map_err(|e| response.unexpected(format!("JSON that is not a device authorization response ({e})")))?;
    Ok(DeviceAuthorization { received_at: Some(Instant::now()), ..authorization })
}

/// Device authorization grant, one poll (RFC 8628 §3.4): asks the token endpoint once whether the
/// user has approved. Until they do, the answer is the OAuth error `authorization_pending`; polled
/// too fast, `slow_down`; then the token, or `access_denied` or `expired_token`. Most programs want
/// [`poll_device_token`], which repeats this at the right pace.
///
/// ```no_run
/// # use bitbucket_password_grant::token;
/// # async fn demo(http: reqwest::Client, client: token::ClientCredentials<'_>, device: token::DeviceAuthorization) {
/// let url = "https://auth.example.com/oauth/token";
/// match token::device_token_request(&http, url, &client, &device.device_code).await {
///     Ok(token) => println!("approved: {} token", token.token_type),
///     Err(token::TokenError::Refused(e)) if e.error == "authorization_pending" => println!("not yet"),
///     Err(other) => eprintln!("{other}"),
/// }
/// # }
/// ```
pub async fn device_token_request(
    http: &reqwest::Client,
    token_url: &str,
    client: &ClientCredentials<'_>,
    device_code: &str,
) -> Result<TokenResponse, TokenError> {
    let form = [("grant_type", DEVICE_CODE_GRANT_TYPE), ("device_code", device_code)];
    request_token(http, token_url, client, &form).await
}

/// Device authorization grant, step 2 (RFC 8628 §3.4, §3.5): polls the token endpoint until the
/// user approves, waiting `interval` seconds between polls (5 when the server gave none), adding
/// 5 seconds each time the server answers `slow_down`, and giving up once the codes have expired
/// (`expires_in`). Returns the token, or the server's refusal (`access_denied` when the user
/// declined, `expired_token`), or [`TokenError::NoResponse`] with `timed_out` when the codes
/// expired before the user answered.
///
/// This file does not depend on an async runtime, so it takes the way to wait as `sleep`: pass
/// `tokio::time::sleep` (or your runtime's). `on_poll` is called with each poll's outcome while
/// it waits (to print "waiting…", say); pass `|_| {}` if you need nothing.
///
/// ```no_run
/// # use bitbucket_password_grant::token;
/// # async fn demo(http: reqwest::Client, client: token::ClientCredentials<'_>, device: token::DeviceAuthorization)
/// # -> Result<(), token::TokenError> {
/// let url = "https://auth.example.com/oauth/token";
/// let token = token::poll_device_token(&http, url, &client, &device, tokio::time::sleep, |pending| {
///     eprintln!("still waiting: {}", pending.error);
/// })
/// .await?;
/// println!("signed in: {} token", token.token_type);
/// # Ok(()) }
/// ```
pub async fn poll_device_token<S, F>(
    http: &reqwest::Client,
    token_url: &str,
    client: &ClientCredentials<'_>,
    device: &DeviceAuthorization,
    mut sleep: S,
    mut on_poll: impl FnMut(&OAuthError),
) -> Result<TokenResponse, TokenError>
where
    S: FnMut(Duration) -> F,
    F: std::future::Future<Output = ()>,
{
    let mut interval = Duration::from_secs(device.interval.unwrap_or(5));
    let received = device.received_at.unwrap_or_else(Instant::now);
    let expires_at = received + Duration::from_secs(device.expires_in);
    loop {
        if Instant::now() + interval >= expires_at {
            return Err(TokenError::NoResponse {
                timed_out: true,
                connect: false,
                message: format!(
                    "the device code expired (expires_in was {} s) before the user approved; no further poll was sent",
                    device.expires_in
                ),
            });
        }
        sleep(interval).await;
        match device_token_request(http, token_url, client, &device.device_code).await {
            Err(TokenError::Refused(pending)) if pending.error == "authorization_pending" => on_poll(&pending),
            Err(TokenError::Refused(slow)) if slow.error == "slow_down" => {
                // RFC 8628 §3.5: from now on, wait 5 seconds longer between polls.
                interval += Duration::from_secs(5);
                on_poll(&slow);
            }
            outcome => return outcome,
        }
    }
}

/// What an introspection endpoint says about a token (RFC 7662 §2.2): `active`, and when it is,
/// what the server knows of it (`scope`, `client_id`, `username`, `exp`, `sub`, `aud`, …).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Introspection {
    /// True when the token is valid now: issued by this server, not expired, not revoked.
    pub active: bool,
    /// Every other member of the answer, as the server sent it.
    #[serde(flatten)]
    pub claims: serde_json::Map<String, serde_json::Value>,
}

/// Asks the server whether a token is still active (RFC 7662): the way a resource server, or a
/// client, checks an opaque token. The client authenticates as for a token request.
///
/// ```no_run
/// # use bitbucket_password_grant::token;
/// # async fn demo(http: reqwest::Client, t: token::TokenResponse) -> Result<(), token::TokenError> {
/// let client = token::ClientCredentials::basic("key", "secret");
/// let url = "https://auth.example.com/oauth/introspect";
/// let answer = token::introspect_token(&http, url, &client, &t.access_token, Some("access_token")).await?;
/// println!("active: {}, scope: {:?}", answer.active, answer.claims.get("scope"));
/// # Ok(()) }
/// ```
pub async fn introspect_token(
    http: &reqwest::Client,
    introspection_url: &str,
    client: &ClientCredentials<'_>,
    token: &str,
    token_type_hint: Option<&str>,
) -> Result<Introspection, TokenError> {
    let mut form = vec![("token", token)];
    form.extend(token_type_hint.map(|hint| ("token_type_hint", hint)));
    let request = build_token_request(http, introspection_url, client, &form)?;
    let response = read_response(http.execute(request).await, MAX_TOKEN_RESPONSE_BYTES).await?;
    parse_introspection_response(&response)
}

/// Reads an introspection response (RFC 7662 §2.2), or the error it carries.
pub fn parse_introspection_response(response: &RawResponse) -> Result<Introspection, TokenError> {
    let json = parse_json_answer(response, "a JSON introspection response")?;
    serde_json::from_value(json)
        .map_err(|e| response.unexpected(format!("JSON that is not an introspection response ({e})")))
}

/// Sends one token request and parses the answer: what every grant function above does.
///
/// It is the three steps below, in order; call them yourself if you want to see the request
/// and the raw answer too (this app does, to show the exchange on its result page).
pub async fn request_token(
    http: &reqwest::Client,
    token_url: &str,
    client: &ClientCredentials<'_>,
    form: &[(&str, &str)],
) -> Result<TokenResponse, TokenError> {
    let request = build_token_request(http, token_url, client, form)?;
    let response = read_response(http.execute(request).await, MAX_TOKEN_RESPONSE_BYTES).await?;
    parse_token_response(&response)
}

/// Step 1: the token request, not yet sent.
///
/// `POST {token_url}` with `Authorization: Basic base64(client_id:client_secret)`, each of the
/// two form-urlencoded first (see [`ClientCredentials::basic_authorization`]) (or, with
/// [`ClientAuth::Post`], `client_id` and `client_secret` added to the form), `Accept:
/// application/json` and the form as an `application/x-www-form-urlencoded` body.
pub fn build_token_request(
    http: &reqwest::Client,
    token_url: &str,
    client: &ClientCredentials<'_>,
    form: &[(&str, &str)],
) -> Result<reqwest::Request, TokenError> {
    let request = http.post(token_url).header(reqwest::header::ACCEPT, "application/json");
    let request = match client.auth {
        ClientAuth::Basic => request.header(reqwest::header::AUTHORIZATION, client.basic_authorization()).form(form),
        ClientAuth::Post => {
            let mut form = form.to_vec();
            form.extend([("client_id", client.client_id), ("client_secret", client.client_secret)]);
            request.form(&form)
        }
        ClientAuth::None => {
            let mut form = form.to_vec();
            form.push(("client_id", client.client_id));
            request.form(&form)
        }
    };
    request.build().map_err(|e| no_response(&e))
}

/// An HTTP answer read in full (up to a size limit): status, headers and body.
#[derive(Clone, Debug)]
pub struct RawResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The response headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body, at most the limit given to [`read_response`].
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The media type of the body, lower-case and without parameters: `application/json`.
    pub fn media_type(&self) -> Option<String> {
        let value = self.headers.get(reqwest::header::CONTENT_TYPE)?.to_str().ok()?;
        let media_type = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        Some(media_type)
    }

    /// True when the body says it is JSON (`application/json` or any `…+json`).
    pub fn is_json(&self) -> bool {
        self.media_type().is_some_and(|t| t == "application/json" || t.ends_with("+json"))
    }

    /// The first [`EXCERPT_CHARS`] characters of the body, for error messages.
    pub fn excerpt(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let mut excerpt: String = text.chars().take(EXCERPT_CHARS).collect();
        if text.chars().count() > EXCERPT_CHARS {
            excerpt.push('…');
        }
        excerpt
    }

    fn unexpected(&self, problem: impl Into<String>) -> TokenError {
        TokenError::UnexpectedResponse { status: self.status, problem: problem.into(), excerpt: self.excerpt() }
    }
}

/// Step 2: waits for the answer and reads its body, refusing bodies over `limit` bytes.
///
/// Takes the result of `reqwest::Client::execute` (or `RequestBuilder::send`) as it is, so
/// that a failure to send is classified here too. A body over the limit is not read further.
pub async fn read_response(sent: reqwest::Result<reqwest::Response>, limit: usize) -> Result<RawResponse, TokenError> {
    let mut response = sent.map_err(|e| no_response(&e))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let too_large = |body: Vec<u8>| TokenError::UnexpectedResponse {
        status,
        problem: format!("the answer is larger than {limit} bytes; it was not read to the end"),
        excerpt: RawResponse { status, headers: headers.clone(), body }.excerpt(),
    };
    if response.content_length().is_some_and(|length| length > limit as u64) {
        return Err(too_large(Vec::new()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| no_response(&e))? {
        if body.len() + chunk.len() > limit {
            body.extend_from_slice(&chunk[..limit - body.len()]);
            return Err(too_large(body));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(RawResponse { status, headers, body })
}

/// Step 3: turns the answer into a [`TokenResponse`] or the right [`TokenError`].
///
/// ```
/// # use bitbucket_password_grant::token;
/// use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
/// let mut headers = HeaderMap::new();
/// headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
/// let answer = token::RawResponse {
///     status: 400,
///     headers,
///     body: br#"{"error": "invalid_grant", "error_description": "Bad credentials"}"#.to_vec(),
/// };
/// match token::parse_token_response(&answer) {
///     Err(token::TokenError::Refused(e)) => assert_eq!(e.error, "invalid_grant"),
///     other => panic!("expected a refusal, got {other:?}"),
/// }
/// ```
pub fn parse_token_response(response: &RawResponse) -> Result<TokenResponse, TokenError> {
    let json = parse_json_answer(response, "a JSON token response")?;
    let token: TokenResponse = serde_json::from_value(json)
        .map_err(|e| response.unexpected(format!("JSON that is not a token response ({e})")))?;
    if token.access_token.is_empty() {
        return Err(response.unexpected("an empty access_token"));
    }
    Ok(TokenResponse { received_at: Some(Instant::now()), ..token })
}

/// The JSON of a successful answer from the authorization server, or why there is none: a
/// redirect, an empty or non-JSON body, or an OAuth error (RFC 6749 §5.2). `what` names the answer
/// expected, for the message ("a JSON token response").
fn parse_json_answer(response: &RawResponse, what: &str) -> Result<serde_json::Value, TokenError> {
    let status = response.status;
    if (300..400).contains(&status) {
        let location =
            response.headers.get(reqwest::header::LOCATION).and_then(|l| l.to_str().ok()).unwrap_or("nowhere");
        return Err(response.unexpected(format!(
            "a redirect (HTTP {status}) to {location}; redirects are not followed for token requests"
        )));
    }
    if response.body.iter().all(u8::is_ascii_whitespace) {
        return Err(response.unexpected(format!("an empty body where {what} was expected")));
    }
    if let Some(media_type) = response.media_type().filter(|_| !response.is_json()) {
        let body = if media_type == "text/html" { "an HTML page" } else { "a body" };
        return Err(
            response.unexpected(format!("HTTP {status} with {body} of type {media_type} where {what} was expected"))
        );
    }
    let json: serde_json::Value = serde_json::from_slice(&response.body)
        .map_err(|e| response.unexpected(format!("the body is not valid JSON ({e})")))?;
    if !(200..300).contains(&status) {
        return match serde_json::from_value::<OAuthError>(json) {
            Ok(error) => Err(TokenError::Refused(OAuthError { status, ..error })),
            Err(_) => Err(response.unexpected(format!("HTTP {status} without an OAuth error (no \"error\" field)"))),
        };
    }
    Ok(json)
}

/// Reads the answer to a revocation request (RFC 7009 §2.2): 200 is success, whatever the body;
/// anything else is an OAuth error or an unexpected answer.
pub fn parse_revocation_response(response: &RawResponse) -> Result<(), TokenError> {
    if response.status == 200 {
        return Ok(());
    }
    match serde_json::from_slice::<OAuthError>(&response.body) {
        Ok(error) => Err(TokenError::Refused(OAuthError { status: response.status, ..error })),
        Err(_) => Err(response.unexpected(format!("HTTP {} where 200 was expected", response.status))),
    }
}

/// Holds a token and hands out a valid access token, refreshing it shortly before it expires
/// (RFC 6749 §6): what Go's `oauth2.TokenSource` does.
///
/// Share one keeper (in an `Arc`) between all the tasks that call the API, and ask it for the
/// access token before each call. When the token is due (it expires within `margin`), the first
/// caller sends the refresh request and the others wait for its answer: one request however many
/// callers. The keeper keeps the newest refresh token, or the one it had when the answer brings
/// none (RFC 6749 §6). It owns copies of the client's id and secret, so it needs no lifetimes.
///
/// ```no_run
/// # use bitbucket_password_grant::token;
/// # async fn demo(http: reqwest::Client, first: token::TokenResponse) -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let url = "https://bitbucket.org/site/oauth2/access_token";
/// let client = token::ClientCredentials::basic("key", "secret");
/// // `first` came from a grant, e.g. `token::authorization_code_grant`. Refresh a minute early.
/// let keeper = Arc::new(token::TokenKeeper::new(http.clone(), url, &client, Duration::from_secs(60), first));
///
/// // Before each API call, in any task: an access token that is valid for a minute at least.
/// let access_token = keeper.access_token().await?;
/// let user = http.get("https://api.bitbucket.org/2.0/user").bearer_auth(access_token).send().await?;
/// # Ok(()) }
/// ```
pub struct TokenKeeper {
    http: reqwest::Client,
    token_url: String,
    client_id: String,
    client_secret: String,
    client_auth: ClientAuth,
    margin: Duration,
    state: Mutex<KeeperState>,
}

/// What a [`TokenKeeper`] holds, behind its lock (never held across an `.await`).
struct KeeperState {
    token: TokenResponse,
    /// A refresh request is on its way; callers that find the token due wait for its answer.
    refreshing: bool,
    /// The callers waiting for it, woken when it ends (see [`InFlight`]).
    waiters: Vec<Waker>,
    /// How many refreshes were started: the number of the latest one.
    started: u64,
    /// The number of the last refresh that finished (one dropped midway never finishes).
    finished: u64,
    /// How that last refresh failed, if it did.
    failure: Option<RefreshError>,
    /// How many refreshes succeeded.
    refreshes: u64,
}

/// What [`TokenKeeper::access_token`] does next, decided under the lock.
enum Next {
    Answer(Result<String, RefreshError>),
    Refresh(String),
}

impl TokenKeeper {
    /// A keeper of `token` (the answer to a grant), refreshed at `token_url` with the `client`'s
    /// credentials when it expires within `margin`. Keep the margin well under the token's
    /// lifetime (a minute for Bitbucket's two hours), or every call refreshes.
    ///
    /// ```no_run
    /// # use bitbucket_password_grant::token;
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// let http = token::http_client(Duration::from_secs(5), Duration::from_secs(10))?;
    /// let url = "https://bitbucket.org/site/oauth2/access_token";
    /// let client = token::ClientCredentials::basic("key", "secret");
    /// let first = token::password_grant(&http, url, &client, "alice", "s3cret", None).await?;
    /// let keeper = token::TokenKeeper::new(http, url, &client, Duration::from_secs(60), first);
    /// # Ok(()) }
    /// ```
    pub fn new(
        http: reqwest::Client,
        token_url: &str,
        client: &ClientCredentials<'_>,
        margin: Duration,
        token: TokenResponse,
    ) -> TokenKeeper {
        TokenKeeper {
            http,
            token_url: token_url.to_owned(),
            client_id: client.client_id.to_owned(),
            client_secret: client.client_secret.to_owned(),
            client_auth: client.auth,
            margin,
            state: Mutex::new(KeeperState {
                token,
                refreshing: false,
                waiters: Vec::new(),
                started: 0,
                finished: 0,
                failure: None,
                refreshes: 0,
            }),
        }
    }

    /// The access token to send as `Authorization: Bearer …`: the one held, if it is not due, or
    /// else a refreshed one. Concurrent callers share one refresh request and its outcome.
    ///
    /// Cancellation-safe: if the caller that is refreshing gives up (a timeout, a dropped task),
    /// the callers waiting for it carry on and one of them refreshes. (On a server that rotates
    /// refresh tokens, an answer lost that way may have used up the refresh token: the next
    /// refresh is then refused, and a new grant is needed.)
    ///
    /// ```no_run
    /// # use bitbucket_password_grant::token;
    /// # async fn demo(keeper: token::TokenKeeper, http: reqwest::Client) {
    /// match keeper.access_token().await {
    ///     Ok(access_token) => {
    ///         let _ = http.get("https://api.bitbucket.org/2.0/user").bearer_auth(access_token).send().await;
    ///     }
    ///     // No refresh token, or the server refused it: sign the user in again.
    ///     Err(token::RefreshError::NewGrantNeeded(refusal)) => eprintln!("please sign in again ({refusal:?})"),
    ///     // No answer, or not a token response: nothing changed, try again in a moment.
    ///     Err(token::RefreshError::Transient(error)) => eprintln!("will retry: {error}"),
    /// }
    /// # }
    /// ```
    pub async fn access_token(&self) -> Result<String, RefreshError> {
        let mut waited_for = None; // the number of the refresh this call waited for
        let next = std::future::poll_fn(|cx| {
            let mut state = self.lock();
            if !state.token.is_due(self.margin) {
                return Poll::Ready(Next::Answer(Ok(state.token.access_token.clone())));
            }
            if state.refreshing {
                waited_for = Some(state.started);
                if !state.waiters.iter().any(|waiter| waiter.will_wake(cx.waker())) {
                    state.waiters.push(cx.waker().clone());
                }
                return Poll::Pending;
            }
            // The refresh this call waited for has finished: its outcome is this call's too.
            if waited_for == Some(state.finished) {
                let outcome = match &state.failure {
                    None => Ok(state.token.access_token.clone()),
                    Some(failure) => Err(failure.clone()),
                };
                return Poll::Ready(Next::Answer(outcome));
            }
            // A refused refresh token stays refused: it is not sent again.
            if let Some(failure @ RefreshError::NewGrantNeeded(_)) = &state.failure {
                return Poll::Ready(Next::Answer(Err(failure.clone())));
            }
            let Some(refresh_token) = state.token.refresh_token.clone() else {
                return Poll::Ready(Next::Answer(Err(RefreshError::NewGrantNeeded(None))));
            };
            state.refreshing = true;
            state.started += 1;
            Poll::Ready(Next::Refresh(refresh_token))
        })
        .await;
        let refresh_token = match next {
            Next::Answer(answer) => return answer,
            Next::Refresh(refresh_token) => refresh_token,
        };

        // This call refreshes. Whether it finishes or is dropped at the `.await`, `in_flight`
        // ends the refresh and wakes the callers waiting for it.
        let in_flight = InFlight(&self.state);
        let client = ClientCredentials {
            client_id: &self.client_id,
            client_secret: &self.client_secret,
            auth: self.client_auth,
        };
        let result = refresh_token_grant(&self.http, &self.token_url, &client, &refresh_token).await;
        let outcome = {
            let mut state = self.lock();
            state.finished = state.started;
            match result {
                Ok(mut token) => {
                    // RFC 6749 §6: no refresh token in the answer means "keep using yours".
                    token.refresh_token = token.refresh_token.or(Some(refresh_token));
                    let access_token = token.access_token.clone();
                    state.token = token;
                    state.failure = None;
                    state.refreshes += 1;
                    Ok(access_token)
                }
                Err(error) => {
                    let failure = RefreshError::from_token_error(error);
                    state.failure = Some(failure.clone());
                    Err(failure)
                }
            }
        };
        drop(in_flight);
        outcome
    }

    /// A copy of the token held now, to show or to store. Its `Debug` hides the tokens; if you
    /// print one, print a few characters of it.
    ///
    /// ```no_run
    /// # use bitbucket_password_grant::token;
    /// # fn demo(keeper: token::TokenKeeper) {
    /// let token = keeper.token();
    /// println!("{token:?} expires at {:?}", token.expires_at());
    /// # }
    /// ```
    pub fn token(&self) -> TokenResponse {
        self.lock().token.clone()
    }

    /// How many refreshes have succeeded since the keeper was made.
    ///
    /// ```no_run
    /// # use bitbucket_password_grant::token;
    /// # async fn demo(keeper: token::TokenKeeper) -> Result<(), token::RefreshError> {
    /// let before = keeper.refreshes();
    /// let access_token = keeper.access_token().await?;
    /// if keeper.refreshes() > before {
    ///     println!("refreshed");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn refreshes(&self) -> u64 {
        self.lock().refreshes
    }

    fn lock(&self) -> MutexGuard<'_, KeeperState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for TokenKeeper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKeeper")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("margin", &self.margin)
            .field("token", &self.lock().token)
            .finish()
    }
}

/// A refresh on its way. Dropping it, when the refresh finished or when the future running it was
/// dropped midway, clears the flag and wakes the waiting callers (one of them then refreshes if
/// this refresh did not finish).
struct InFlight<'a>(&'a Mutex<KeeperState>);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let waiters = {
            let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            state.refreshing = false;
            std::mem::take(&mut state.waiters)
        };
        waiters.into_iter().for_each(Waker::wake);
    }
}

/// Why [`TokenKeeper::access_token`] has no access token to give.
///
/// ```
/// # use bitbucket_password_grant::token;
/// let error = token::RefreshError::NewGrantNeeded(None);
/// assert_eq!(error.to_string(), "no refresh token: a new grant is needed (sign in again)");
/// ```
#[derive(Clone, Debug)]
pub enum RefreshError {
    /// Refreshing cannot work: there is no refresh token (`None`), or the authorization server
    /// refused it (its OAuth error, HTTP 400 or 401: expired, revoked, already used where refresh
    /// tokens rotate, or `invalid_client`). Get a new grant: sign the user in again.
    NewGrantNeeded(Option<OAuthError>),
    /// The refresh did not complete: no answer, or an answer that was not a token response (an
    /// error page, a 5xx). The token held is unchanged: try again later.
    Transient(TokenError),
}

impl RefreshError {
    /// An OAuth error with HTTP 400 or 401 (RFC 6749 §5.2) is final; anything else may pass.
    fn from_token_error(error: TokenError) -> RefreshError {
        match error {
            TokenError::Refused(refusal) if refusal.status == 400 || refusal.status == 401 => {
                RefreshError::NewGrantNeeded(Some(refusal))
            }
            other => RefreshError::Transient(other),
        }
    }
}

impl fmt::Display for RefreshError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefreshError::NewGrantNeeded(None) => write!(f, "no refresh token: a new grant is needed (sign in again)"),
            RefreshError::NewGrantNeeded(Some(refusal)) => {
                write!(f, "the refresh token was refused (HTTP {}): {}", refusal.status, refusal.error)?;
                if let Some(description) = &refusal.error_description {
                    write!(f, ": {description}")?;
                }
                write!(f, "; a new grant is needed (sign in again)")
            }
            RefreshError::Transient(error) => write!(f, "the token could not be refreshed now (try again): {error}"),
        }
    }
}

impl std::error::Error for RefreshError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RefreshError::Transient(error) => Some(error),
            RefreshError::NewGrantNeeded(_) => None,
        }
    }
}

/// Describes a failed send: the HTTP client's message and the causes beneath it.
fn no_response(error: &reqwest::Error) -> TokenError {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    TokenError::NoResponse { timed_out: error.is_timeout(), connect: error.is_connect(), message }
}
