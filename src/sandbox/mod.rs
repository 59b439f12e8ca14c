//! The built-in Bitbucket sandbox: an emulator of Bitbucket Cloud's OAuth 2.0 endpoints and of a
//! few REST API calls, answering with the bodies and statuses that bitbucket.org uses in 2026
//! (`docs/sandbox.md` sums them up).
//!
//! It lets every flow run offline, with no account: the app serves it under `/sandbox` and, in
//! sandbox mode, sends its token requests and API calls there over real HTTP, exactly as it would
//! to bitbucket.org. It is a small app of its own, one file per emulated endpoint, and imports
//! nothing from the web layer. Routes, relative to where it is mounted:
//!
//! | route                               | file                 | emulates                                   |
//! |-------------------------------------|----------------------|--------------------------------------------|
//! | `GET, POST /site/oauth2/authorize`  | [`authorize`]        | the sign-in and consent page               |
//! | `POST /site/oauth2/access_token`    | [`token_endpoint`]   | the token endpoint: all four grants        |
//! | `GET /api/2.0/user`, …              | [`api`]              | `https://api.bitbucket.org/2.0/…`          |
//! | `GET /api/2.0/repositories`, …      | [`api`]              | removed in 2026: 410                       |
//! | (the authorization request)         | [`redirect_uri`]     | registered callback URLs, as strings       |
//! | (every guess)                       | [`limits`]           | limits on passwords, codes, secrets, tokens|
//!
//! State (codes and tokens) lives in memory ([`store`]), capped at [`MAX_ISSUED`] entries and about
//! [`MAX_STORE_BYTES`] of each kind, and is lost on restart.

mod api;
mod authorize;
pub mod limits;
pub mod redirect_uri;
pub mod store;
mod token_endpoint;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use store::{Grant, Issued, Store};

/// The sandbox's demo consumer (private, with a callback URL), shipped in `config.json`.
pub const SANDBOX_CONSUMER_KEY: &str = "sandbox-consumer-key";
/// The demo consumer's secret. It opens nothing outside the built-in sandbox.
pub const SANDBOX_CONSUMER_SECRET: &str = "sandbox-consumer-secret";
/// The sandbox's resource owner.
pub const DEMO_USERNAME: &str = "demo";
/// The demo user's password.
pub const DEMO_PASSWORD: &str = "demo";
/// Bitbucket's access-token lifetime: two hours.
pub const BITBUCKET_EXPIRES_IN: Duration = Duration::from_secs(7200);
/// At most this many codes, access tokens and refresh tokens are kept; past it, the oldest go.
pub const MAX_ISSUED: usize = 40_000;
/// About the most memory each of the sandbox's three stores (codes, access and refresh tokens) may
/// use; past it, the oldest entries go. Some 7,000 tokens: plenty for a person, and a load test's
/// tokens are used within milliseconds. (8 MiB kept the app in sandbox mode at 57 MiB after a
/// minute of 200 concurrent flows; the target is 32.)
pub const MAX_STORE_BYTES: usize = 2 * 1024 * 1024;
/// Scopes the sandbox's consumers are granted (all but `sandbox-no-email-key`).
pub const DEMO_SCOPES: &str = "account email repository";
/// The demo user's e-mail address: the user name of Bitbucket's API tokens.
pub const DEMO_EMAIL: &str = "demo@example.com";
/// The sandbox's demo API token (Bitbucket's replacement for app passwords, sent as HTTP Basic
/// `email:token` to the REST API). Public: it opens nothing outside the sandbox.
pub const DEMO_API_TOKEN: &str = "ATATT-sandbox-demo-api-token";
/// A second user, with two-step verification: the password grant never worked for such accounts.
pub const TWO_STEP_USERNAME: &str = "demo-2fa";
/// The code the sandbox's two-step verification asks `demo-2fa` for.
pub const TWO_STEP_CODE: &str = "246810";
/// The lifetime of `sandbox-short-lived-key`'s access tokens, unless the options say otherwise.
pub const SHORT_LIVED: Duration = Duration::from_secs(60);
/// API calls a minute `sandbox-rate-limited-key`'s tokens may make before `429`.
pub const RATE_LIMIT_PER_MINUTE: usize = 3;

/// An OAuth consumer the sandbox knows.
#[derive(Clone, Copy, Debug)]
pub struct Consumer {
    /// The key (`client_id`).
    pub key: &'static str,
    /// The secret.
    pub secret: &'static str,
    /// Private consumers may use the client credentials grant.
    pub private: bool,
    /// Whether a callback URL is set (the authorization code grant needs one).
    pub has_callback: bool,
    /// The name shown on the consent page.
    pub name: &'static str,
    /// The scopes its tokens carry.
    pub scopes: &'static str,
    /// Its access tokens live [`SandboxOptions::short_token_lifetime`], not Bitbucket's two hours.
    pub short_lived: bool,
    /// Its tokens may make at most [`RATE_LIMIT_PER_MINUTE`] API calls a minute.
    pub rate_limited: bool,
}

impl Consumer {
    const fn new(key: &'static str, secret: &'static str, name: &'static str) -> Consumer {
        Consumer {
            key,
            secret,
            name,
            private: true,
            has_callback: true,
            scopes: DEMO_SCOPES,
            short_lived: false,
            rate_limited: false,
        }
    }
}

/// The sandbox's consumers: one that works for every grant, and the others each show a lesson.
/// Their secrets are public: they open nothing outside the sandbox.
pub const CONSUMERS: [Consumer; 6] = [
    Consumer::new(SANDBOX_CONSUMER_KEY, SANDBOX_CONSUMER_SECRET, "Sandbox demo consumer"),
    Consumer {
        private: false,
        ..Consumer::new("sandbox-public-key", "sandbox-public-secret", "Sandbox public consumer")
    },
    Consumer {
        has_callback: false,
        ..Consumer::new(
            "sandbox-nocallback-key",
            "sandbox-nocallback-secret",
            "Sandbox consumer without a callback URL",
        )
    },
    Consumer {
        short_lived: true,
        ..Consumer::new(
            "sandbox-short-lived-key",
            "sandbox-short-lived-secret",
            "Sandbox consumer with 60-second tokens",
        )
    },
    Consumer {
        rate_limited: true,
        ..Consumer::new(
            "sandbox-rate-limited-key",
            "sandbox-rate-limited-secret",
            "Sandbox consumer with a tiny rate limit",
        )
    },
    Consumer {
        scopes: "account repository",
        ..Consumer::new("sandbox-no-email-key", "sandbox-no-email-secret", "Sandbox consumer without the email scope")
    },
];

/// The consumer with this key, if the sandbox knows it.
pub fn consumer(key: &str) -> Option<&'static Consumer> {
    CONSUMERS.iter().find(|c| c.key == key)
}

/// How the sandbox behaves. [`SandboxOptions::default`] is bitbucket.org's 2026 behaviour, except
/// that the password grant still works (see `password_grant`).
#[derive(Clone, Debug)]
pub struct SandboxOptions {
    /// Accept `grant_type=password` for the demo user. Off, it refuses every password grant with
    /// the answer bitbucket.org gives today. (`sandboxPasswordGrant` in `config.json`.)
    pub password_grant: bool,
    /// Lifetime of an access token (Bitbucket: 7200 s). Tests shorten it to see expiry.
    pub access_token_lifetime: Duration,
    /// Lifetime of an authorization code.
    pub code_lifetime: Duration,
    /// Where the consent page sends the browser back when the authorization request names no
    /// `redirect_uri`. The app uses the path alone, so the browser stays on the origin it started
    /// from.
    pub callback_url: String,
    /// The consumers' registered callback URLs: a `redirect_uri` must be one of them, compared as a
    /// string (see [`redirect_uri`]; `*` as the port of a loopback IP literal matches any port).
    /// The app adds its own callback URLs; the default holds the loopback ones.
    pub redirect_uris: Vec<String>,
    /// Failed attempts a minute (passwords per end-user address, consumer secrets and API tokens
    /// per end-user address and consumer or account) before the sandbox answers 429; an account
    /// takes [`limits::ACCOUNT_FACTOR`] times as many, from all addresses together.
    pub failed_attempts_per_minute: u32,
    /// The lifetime of the short-lived consumer's tokens ([`SHORT_LIVED`]; shorter in CI).
    pub short_token_lifetime: Duration,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            password_grant: true,
            access_token_lifetime: BITBUCKET_EXPIRES_IN,
            code_lifetime: Duration::from_secs(300),
            callback_url: "/oauth-callback".into(),
            redirect_uris: redirect_uri::LOOPBACK_CALLBACKS.iter().map(|uri| (*uri).to_owned()).collect(),
            failed_attempts_per_minute: 10,
            short_token_lifetime: SHORT_LIVED,
        }
    }
}

/// The emulator's state: its options and what it has issued.
#[derive(Debug)]
pub struct Sandbox {
    pub(crate) options: SandboxOptions,
    issued: Mutex<Issued>,
    /// Users signed in at the authorization page, between the password and the consent.
    pub(crate) tickets: authorize::Tickets,
    /// When the rate-limited consumer's recent API calls were made.
    pub(crate) api_calls: Mutex<std::collections::VecDeque<Instant>>,
    /// The limits on guessing passwords, codes, secrets and API tokens ([`limits`]).
    pub(crate) limits: limits::Limits,
}

impl Sandbox {
    /// A sandbox with the given options.
    pub fn new(options: SandboxOptions) -> Arc<Sandbox> {
        let limits = limits::Limits::new(options.failed_attempts_per_minute);
        Arc::new(Sandbox {
            options,
            issued: Mutex::default(),
            limits,
            tickets: authorize::Tickets::default(),
            api_calls: Mutex::default(),
        })
    }

    /// The header the app adds to its own requests to this sandbox, naming the end user whose
    /// request it is (see [`limits`]): the sandbox's limits then count that user, not the app.
    pub fn relay_header(&self, end_user: std::net::IpAddr) -> (axum::http::HeaderName, axum::http::HeaderValue) {
        self.limits.relay_header(end_user)
    }

    fn issued(&self) -> std::sync::MutexGuard<'_, Issued> {
        self.issued.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Issues a token response; `with_refresh` is false for client credentials (Bitbucket 2026).
    pub(crate) fn issue(
        &self,
        username: &'static str,
        consumer: &'static str,
        grant_type: &str,
        with_refresh: bool,
    ) -> Value {
        let now = Instant::now();
        let access_token = crate::random_token();
        let known = self::consumer(consumer);
        let scopes = known.map_or(DEMO_SCOPES, |c| c.scopes);
        let lifetime = match known {
            Some(c) if c.short_lived => self.options.short_token_lifetime,
            _ => self.options.access_token_lifetime,
        };
        let grant =
            Grant { username, consumer, scopes, expires_at: now + lifetime, redirect_uri: None, pkce_challenge: None };
        let mut body = json!({
            "access_token": access_token,
            "scope": scopes,
            "expires_in": lifetime.as_secs(),
            "token_type": "bearer",
            "state": grant_type,
        });
        let mut issued = self.issued();
        if with_refresh {
            let refresh_token = crate::random_token();
            // Refresh tokens expire after three months unused.
            let refresh = Grant { expires_at: now + Duration::from_secs(90 * 24 * 3600), ..grant.clone() };
            issued.refresh.insert(&refresh_token, refresh);
            body["refresh_token"] = Value::String(refresh_token);
        }
        issued.access.insert(&access_token, grant);
        body
    }

    pub(crate) fn issue_code(
        &self,
        consumer: &'static str,
        username: &'static str,
        redirect_uri: Option<String>,
        pkce_challenge: Option<String>,
    ) -> String {
        let code = crate::random_token();
        let grant = Grant {
            username,
            consumer,
            scopes: DEMO_SCOPES,
            expires_at: Instant::now() + self.options.code_lifetime,
            redirect_uri,
            pkce_challenge,
        };
        self.issued().codes.insert(&code, grant);
        code
    }

    /// Counts an API call by `consumer`; past [`RATE_LIMIT_PER_MINUTE`] a minute for the
    /// rate-limited consumer, `Err(seconds to wait)`, as Bitbucket answers `429`.
    pub(crate) fn count_api_call(&self, consumer: &str) -> Result<(), u64> {
        if !self::consumer(consumer).is_some_and(|c| c.rate_limited) {
            return Ok(());
        }
        let now = Instant::now();
        let window = Duration::from_secs(60);
        let mut calls = self.api_calls.lock().unwrap_or_else(|p| p.into_inner());
        while calls.front().is_some_and(|t| now.duration_since(*t) >= window) {
            calls.pop_front();
        }
        if calls.len() >= RATE_LIMIT_PER_MINUTE {
            let oldest = calls.front().copied().unwrap_or(now);
            return Err(window.saturating_sub(now.duration_since(oldest)).as_secs().max(1));
        }
        calls.push_back(now);
        Ok(())
    }

    /// Takes a code or refresh token out (single use), if it is live and the consumer's.
    pub(crate) fn redeem(&self, which: fn(&mut Issued) -> &mut Store, value: &str, consumer: &str) -> Option<Grant> {
        let mut issued = self.issued();
        let grant = which(&mut issued).remove(value)?;
        (grant.consumer == consumer && grant.expires_at > Instant::now()).then_some(grant)
    }

    pub(crate) fn lookup_access(&self, token: &str) -> Option<Grant> {
        self.issued().access.get(token).cloned()
    }
}

/// The sandbox on its own, under `/sandbox`, as a separate process serves it (`--sandbox-only`, the
/// example, the benchmark). Its consent page sends the browser back to the original app's callback
/// URL, `http://localhost:3000/oauth-callback`.
pub fn standalone(options: SandboxOptions) -> Router {
    let callback_url = "http://localhost:3000/oauth-callback".to_owned();
    let mut options = SandboxOptions { callback_url: callback_url.clone(), ..options };
    options.redirect_uris.push(callback_url);
    Router::new().nest("/sandbox", router(Sandbox::new(options)))
}

/// The sandbox's routes, to be nested where it is served (the app uses `/sandbox`).
pub fn router<S: Clone + Send + Sync + 'static>(sandbox: Arc<Sandbox>) -> Router<S> {
    Router::new()
        .route("/site/oauth2/authorize", get(authorize::sign_in_page).post(authorize::next_step))
        .route("/site/oauth2/access_token", post(token_endpoint::access_token))
        .route("/api/2.0/user", get(api::user))
        .route("/api/2.0/user/emails", get(api::emails))
        .route("/api/2.0/user/workspaces", get(api::workspaces))
        .route("/api/2.0/repositories", get(api::removed))
        .route("/api/2.0/workspaces", get(api::removed))
        .route("/api/2.0/user/permissions/workspaces", get(api::removed))
        .route("/api/2.0/user/permissions/repositories", get(api::removed))
        .with_state(sandbox)
}

/// The realm of the API's `WWW-Authenticate` challenges.
const API_REALM: &str = "api.bitbucket.org (sandbox)";

/// A refusal, written the way Bitbucket writes it.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// The token endpoint's shape: `{"error_description": …, "error": …}`.
    OAuth { status: StatusCode, error: &'static str, description: String },
    /// The REST API's shape: `{"type": "error", "error": {"message": …, "detail": …}}`.
    Api { status: StatusCode, message: &'static str, detail: Option<Value> },
    /// The API's `429`, with `Retry-After` in seconds and what was limited.
    RateLimited { retry_after: u64, message: &'static str },
    /// The token endpoint's `429` for too many failed attempts, with `Retry-After` in seconds.
    TooManyAttempts(limits::Limited),
    /// The API's `401`: Bitbucket's body, and the `WWW-Authenticate` challenge RFC 6750 §3 asks for
    /// (`Bearer realm=…`, with `error="invalid_token"` when a token was sent and is not good).
    Unauthenticated { message: &'static str, invalid_token: bool },
}

impl Refusal {
    pub(crate) fn oauth(status: StatusCode, error: &'static str, description: impl Into<String>) -> Refusal {
        Refusal::OAuth { status, error, description: description.into() }
    }

    pub(crate) fn api(status: StatusCode, message: &'static str) -> Refusal {
        Refusal::Api { status, message, detail: None }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::OAuth { status, error, description } => {
                (status, Json(json!({"error_description": description, "error": error}))).into_response()
            }
            Refusal::Api { status, message, detail } => {
                let mut error = json!({"message": message});
                if let Some(detail) = detail {
                    error["detail"] = detail;
                }
                (status, Json(json!({"type": "error", "error": error}))).into_response()
            }
            Refusal::Unauthenticated { message, invalid_token } => {
                let challenge = if invalid_token {
                    format!(r#"Bearer realm="{API_REALM}", error="invalid_token", error_description="{message}""#)
                } else {
                    format!(r#"Bearer realm="{API_REALM}""#)
                };
                let body = json!({"type": "error", "error": {"message": message}});
                (StatusCode::UNAUTHORIZED, [(axum::http::header::WWW_AUTHENTICATE, challenge)], Json(body))
                    .into_response()
            }
            Refusal::TooManyAttempts(limits::Limited { cause, retry_after }) => {
                let description = format!("{cause}; retry after {retry_after} seconds.");
                let body = json!({"error_description": description, "error": "invalid_request"});
                let retry_after = [(axum::http::header::RETRY_AFTER, retry_after.to_string())];
                (StatusCode::TOO_MANY_REQUESTS, retry_after, Json(body)).into_response()
            }
            Refusal::RateLimited { retry_after, message } => {
                let body = json!({"type": "error", "error": {"message": message}});
                let retry_after = [(axum::http::header::RETRY_AFTER, retry_after.to_string())];
                (StatusCode::TOO_MANY_REQUESTS, retry_after, Json(body)).into_response()
            }
        }
    }
}
