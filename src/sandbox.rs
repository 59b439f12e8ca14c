//! The built-in Bitbucket sandbox: an emulator of Bitbucket Cloud's OAuth 2.0 endpoints and of a
//! few REST API calls, answering with the bodies and statuses that bitbucket.org uses in 2026
//! (the README's "The sandbox" section sums them up).
//!
//! It lets every flow run offline, with no account: the app serves it under `/sandbox` and, in
//! sandbox mode, sends its token requests and API calls there over real HTTP, exactly as it would
//! to bitbucket.org. Routes, relative to where it is mounted:
//!
//! | route                               | emulates                                          |
//! |-------------------------------------|---------------------------------------------------|
//! | `GET, POST /site/oauth2/authorize`  | the consent page (Grant / Deny)                   |
//! | `POST /site/oauth2/access_token`    | the token endpoint: all four grants               |
//! | `GET /api/2.0/user`                 | `https://api.bitbucket.org/2.0/user`              |
//! | `GET /api/2.0/user/emails`          | `https://api.bitbucket.org/2.0/user/emails`       |
//! | `GET /api/2.0/user/workspaces`      | `https://api.bitbucket.org/2.0/user/workspaces`   |
//! | `GET /api/2.0/repositories`, …      | removed in 2026: 410                              |
//!
//! State (codes and tokens) lives in memory, capped at [`MAX_ISSUED`] entries of each kind, and is
//! lost on restart.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use askama::Template;
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Value, json};

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
pub const MAX_ISSUED: usize = 100_000;
/// Scopes every sandbox consumer is granted.
pub const DEMO_SCOPES: &str = "account email repository";

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
}

/// The sandbox's consumers: one that works for every grant, and two that show what goes wrong.
pub const CONSUMERS: [Consumer; 3] = [
    Consumer {
        key: SANDBOX_CONSUMER_KEY,
        secret: SANDBOX_CONSUMER_SECRET,
        private: true,
        has_callback: true,
        name: "Sandbox demo consumer",
    },
    Consumer {
        key: "sandbox-public-key",
        secret: "sandbox-public-secret",
        private: false,
        has_callback: true,
        name: "Sandbox public consumer",
    },
    Consumer {
        key: "sandbox-nocallback-key",
        secret: "sandbox-nocallback-secret",
        private: true,
        has_callback: false,
        name: "Sandbox consumer without a callback URL",
    },
];

fn consumer(key: &str) -> Option<&'static Consumer> {
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
    /// Where the consent page sends the browser back: the consumers' callback URL. The app uses
    /// the path alone, so the browser stays on the origin it started from.
    pub callback_url: String,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            password_grant: true,
            access_token_lifetime: BITBUCKET_EXPIRES_IN,
            code_lifetime: Duration::from_secs(300),
            callback_url: "/oauth-callback".into(),
        }
    }
}

/// The emulator's state: its options and what it has issued.
#[derive(Debug, Default)]
pub struct Sandbox {
    options: SandboxOptions,
    issued: Mutex<Issued>,
}

#[derive(Debug, Default)]
struct Issued {
    codes: Store,
    access: Store,
    refresh: Store,
}

/// What a code or token stands for.
#[derive(Clone, Debug)]
struct Grant {
    username: String,
    consumer: &'static str,
    scopes: String,
    expires_at: Instant,
}

/// Codes or tokens by value, at most [`MAX_ISSUED`]: past that, the oldest issued are forgotten
/// first, so the newest always work (a load test that issues millions keeps working).
#[derive(Debug, Default)]
struct Store {
    by_value: HashMap<String, Grant>,
    /// Values in the order they were issued; some may have been redeemed since.
    order: VecDeque<String>,
}

impl Store {
    fn insert(&mut self, value: String, grant: Grant) {
        while self.order.len() >= MAX_ISSUED {
            if let Some(oldest) = self.order.pop_front() {
                self.by_value.remove(&oldest);
            }
        }
        self.order.push_back(value.clone());
        self.by_value.insert(value, grant);
    }

    fn get(&self, value: &str) -> Option<&Grant> {
        self.by_value.get(value)
    }

    fn remove(&mut self, value: &str) -> Option<Grant> {
        self.by_value.remove(value)
    }
}

impl Sandbox {
    /// A sandbox with the given options.
    pub fn new(options: SandboxOptions) -> Arc<Sandbox> {
        Arc::new(Sandbox { options, issued: Mutex::default() })
    }

    fn issued(&self) -> std::sync::MutexGuard<'_, Issued> {
        self.issued.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Issues a token response; `with_refresh` is false for client credentials (Bitbucket 2026).
    fn issue(&self, username: &str, consumer: &'static str, grant_type: &str, with_refresh: bool) -> Value {
        let now = Instant::now();
        let access_token = crate::random_token();
        let grant = Grant {
            username: username.to_owned(),
            consumer,
            scopes: DEMO_SCOPES.to_owned(),
            expires_at: now + self.options.access_token_lifetime,
        };
        let mut body = json!({
            "access_token": access_token,
            "scope": DEMO_SCOPES,
            "expires_in": self.options.access_token_lifetime.as_secs(),
            "token_type": "bearer",
            "state": grant_type,
        });
        let mut issued = self.issued();
        if with_refresh {
            let refresh_token = crate::random_token();
            // Refresh tokens expire after three months unused.
            let refresh = Grant { expires_at: now + Duration::from_secs(90 * 24 * 3600), ..grant.clone() };
            issued.refresh.insert(refresh_token.clone(), refresh);
            body["refresh_token"] = Value::String(refresh_token);
        }
        issued.access.insert(access_token, grant);
        body
    }

    fn issue_code(&self, consumer: &'static str) -> String {
        let code = crate::random_token();
        let grant = Grant {
            username: DEMO_USERNAME.to_owned(),
            consumer,
            scopes: DEMO_SCOPES.to_owned(),
            expires_at: Instant::now() + self.options.code_lifetime,
        };
        self.issued().codes.insert(code.clone(), grant);
        code
    }

    /// Takes a code or refresh token out (single use), if it is live and the consumer's.
    fn redeem(&self, which: fn(&mut Issued) -> &mut Store, value: &str, consumer: &str) -> Option<Grant> {
        let mut issued = self.issued();
        let grant = which(&mut issued).remove(value)?;
        (grant.consumer == consumer && grant.expires_at > Instant::now()).then_some(grant)
    }

    fn lookup_access(&self, token: &str) -> Option<Grant> {
        self.issued().access.get(token).cloned()
    }
}

/// The sandbox on its own, under `/sandbox`, as a separate process serves it (`--sandbox-only`, the
/// example, the benchmark). Its consent page sends the browser back to the original app's callback
/// URL, `http://localhost:3000/oauth-callback`.
pub fn standalone(options: SandboxOptions) -> Router {
    let options = SandboxOptions { callback_url: "http://localhost:3000/oauth-callback".into(), ..options };
    Router::new().nest("/sandbox", router(Sandbox::new(options)))
}

/// The sandbox's routes, to be nested where it is served (the app uses `/sandbox`).
pub fn router<S: Clone + Send + Sync + 'static>(sandbox: Arc<Sandbox>) -> Router<S> {
    Router::new()
        .route("/site/oauth2/authorize", get(consent_page).post(consent_decision))
        .route("/site/oauth2/access_token", post(access_token))
        .route("/api/2.0/user", get(user))
        .route("/api/2.0/user/emails", get(emails))
        .route("/api/2.0/user/workspaces", get(workspaces))
        .route("/api/2.0/repositories", get(removed))
        .route("/api/2.0/workspaces", get(removed))
        .route("/api/2.0/user/permissions/workspaces", get(removed))
        .route("/api/2.0/user/permissions/repositories", get(removed))
        .with_state(sandbox)
}

/// A refusal, written the way Bitbucket writes it.
#[derive(Debug)]
enum Refusal {
    /// The token endpoint's shape: `{"error_description": …, "error": …}`.
    OAuth { status: StatusCode, error: &'static str, description: String },
    /// The REST API's shape: `{"type": "error", "error": {"message": …, "detail": …}}`.
    Api { status: StatusCode, message: &'static str, detail: Option<Value> },
}

impl Refusal {
    fn oauth(status: StatusCode, error: &'static str, description: impl Into<String>) -> Refusal {
        Refusal::OAuth { status, error, description: description.into() }
    }

    fn api(status: StatusCode, message: &'static str) -> Refusal {
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
        }
    }
}

/// Checks HTTP Basic client authentication against the sandbox's consumers.
fn authenticate_client(headers: &HeaderMap) -> Result<&'static Consumer, Refusal> {
    let unauthenticated = || {
        Refusal::oauth(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "Requests must be authenticated using OAuth client credentials",
        )
    };
    let (scheme, encoded) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .ok_or_else(unauthenticated)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(unauthenticated());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    decoded
        .as_deref()
        .and_then(|pair| pair.split_once(':'))
        .and_then(|(key, secret)| consumer(key).filter(|c| c.secret == secret))
        .ok_or_else(|| {
            Refusal::oauth(StatusCode::BAD_REQUEST, "unauthorized_client", "Invalid OAuth client credentials")
        })
}

/// `POST /site/oauth2/access_token`: the four grants bitbucket.org has known.
async fn access_token(
    State(sandbox): State<Arc<Sandbox>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, Refusal> {
    let consumer = authenticate_client(&headers)?;
    // The first value of a repeated field counts.
    let mut form: HashMap<String, String> = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(&body).into_owned() {
        form.entry(name).or_insert(value);
    }
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    match field("grant_type") {
        "password" => {
            let valid = field("username") == DEMO_USERNAME && field("password") == DEMO_PASSWORD;
            if sandbox.options.password_grant && valid {
                Ok(Json(sandbox.issue(DEMO_USERNAME, consumer.key, "password", true)))
            } else {
                // What bitbucket.org answered to a wrong password, and to every password since 2022.
                Err(Refusal::oauth(
                    StatusCode::UNAUTHORIZED,
                    "invalid_request",
                    "Invalid resource owner username/password",
                ))
            }
        }
        "authorization_code" => {
            if !consumer.has_callback {
                return Err(Refusal::oauth(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "No callback uri defined for the OAuth client.",
                ));
            }
            let grant = sandbox.redeem(|issued| &mut issued.codes, field("code"), consumer.key).ok_or_else(|| {
                Refusal::oauth(StatusCode::BAD_REQUEST, "invalid_grant", "Invalid authorization code")
            })?;
            Ok(Json(sandbox.issue(&grant.username, consumer.key, "authorization_code", true)))
        }
        "refresh_token" => {
            // Rotation: the refresh token is taken out here, and a new one comes with the answer.
            let grant = sandbox
                .redeem(|issued| &mut issued.refresh, field("refresh_token"), consumer.key)
                .ok_or_else(|| Refusal::oauth(StatusCode::BAD_REQUEST, "invalid_request", "Invalid refresh_token"))?;
            Ok(Json(sandbox.issue(&grant.username, consumer.key, "refresh_token", true)))
        }
        "client_credentials" if !consumer.private => Err(Refusal::oauth(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Cannot use client_credentials with a consumer marked as \"public\". Calls for auto generated \
             consumers should use urn:bitbucket:oauth2:jwt instead.",
        )),
        // The token acts as the consumer's owner; since 2026 there is no refresh token.
        "client_credentials" => Ok(Json(sandbox.issue(DEMO_USERNAME, consumer.key, "client_credentials", false))),
        "" => Err(Refusal::oauth(StatusCode::BAD_REQUEST, "invalid_grant", "Unsupported grant type: None")),
        other => {
            Err(Refusal::oauth(StatusCode::BAD_REQUEST, "invalid_grant", format!("Unsupported grant type: {other}")))
        }
    }
}

/// The query of `GET /site/oauth2/authorize`, and the form of the consent page's buttons.
#[derive(Default, Deserialize)]
struct AuthorizeParams {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    response_type: String,
    #[serde(default)]
    state: Option<String>,
    /// `grant` or `deny` (the consent form only).
    #[serde(default)]
    decision: String,
}

/// `templates/sandbox_authorize.html`: the sandbox's consent page, or its error page.
#[derive(Template)]
#[template(path = "sandbox_authorize.html")]
struct ConsentTemplate<'a> {
    consumer: Option<&'a Consumer>,
    error: Option<String>,
    client_id: &'a str,
    state: &'a str,
    user: &'a str,
    scopes: Vec<&'a str>,
}

fn consent_response(status: StatusCode, page: ConsentTemplate<'_>) -> Response {
    match page.render() {
        Ok(html) => (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Checks an authorization request; on failure, Bitbucket shows an HTML page (it cannot redirect
/// back to a client it does not trust).
fn check_authorize(params: &AuthorizeParams) -> Result<&'static Consumer, String> {
    let consumer = consumer(&params.client_id).ok_or_else(|| format!("Invalid client_id: {:?}", params.client_id))?;
    if params.response_type != "code" {
        return Err(format!("Unsupported response_type: {:?}; use response_type=code", params.response_type));
    }
    if !consumer.has_callback {
        return Err("No callback uri defined for the OAuth client.".into());
    }
    Ok(consumer)
}

fn consent_error(params: &AuthorizeParams, error: String) -> Response {
    let page = ConsentTemplate {
        consumer: None,
        error: Some(error),
        client_id: &params.client_id,
        state: "",
        user: DEMO_USERNAME,
        scopes: Vec::new(),
    };
    consent_response(StatusCode::BAD_REQUEST, page)
}

/// `GET /site/oauth2/authorize`: the consent page. The sandbox's user is always signed in as `demo`.
async fn consent_page(Query(params): Query<AuthorizeParams>) -> Response {
    match check_authorize(&params) {
        Ok(consumer) => consent_response(
            StatusCode::OK,
            ConsentTemplate {
                consumer: Some(consumer),
                error: None,
                client_id: consumer.key,
                state: params.state.as_deref().unwrap_or(""),
                user: DEMO_USERNAME,
                scopes: DEMO_SCOPES.split_whitespace().collect(),
            },
        ),
        Err(error) => consent_error(&params, error),
    }
}

/// `POST /site/oauth2/authorize`: Grant or Deny, then back to the consumer's callback URL with
/// `code` and `state`, or `error=access_denied` (RFC 6749 §4.1.2).
async fn consent_decision(State(sandbox): State<Arc<Sandbox>>, body: Bytes) -> Response {
    let params: AuthorizeParams = match serde_urlencoded::from_bytes(&body) {
        Ok(params) => params,
        Err(_) => {
            return consent_error(&AuthorizeParams::default(), "Malformed consent form".into());
        }
    };
    let consumer = match check_authorize(&params) {
        Ok(consumer) => consumer,
        Err(error) => return consent_error(&params, error),
    };
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if params.decision == "grant" {
        query.append_pair("code", &sandbox.issue_code(consumer.key));
    } else {
        query.append_pair("error", "access_denied");
        query.append_pair("error_description", "The user denied access.");
    }
    if let Some(state) = &params.state {
        query.append_pair("state", state);
    }
    Redirect::to(&format!("{}?{}", sandbox.options.callback_url, query.finish())).into_response()
}

/// Checks `Authorization: Bearer …` (the only place Bitbucket accepts a token since 2026).
fn authenticate_bearer(sandbox: &Sandbox, headers: &HeaderMap) -> Result<Grant, Refusal> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(|| Refusal::api(StatusCode::UNAUTHORIZED, "Authentication required."))?;
    match sandbox.lookup_access(token) {
        None => Err(Refusal::api(StatusCode::UNAUTHORIZED, "Invalid access token.")),
        Some(grant) if grant.expires_at <= Instant::now() => {
            Err(Refusal::api(StatusCode::UNAUTHORIZED, "Access token expired."))
        }
        Some(grant) => Ok(grant),
    }
}

/// The demo user's account, as `GET /2.0/user` shows it.
fn profile(username: &str) -> Value {
    json!({
        "type": "user",
        "username": username,
        "display_name": "Demo User",
        "account_id": "557058:00000000-0000-4000-8000-00000000demo",
        "uuid": "{d3b07384-d9a0-4c9b-8f6e-1d2a3b4c5d6e}",
        "nickname": username,
        "created_on": "2019-02-19T10:36:46.361566-08:00",
        "account_status": "active",
        "is_staff": false,
        "has_2fa_enabled": null,
        "links": {
            "self": {"href": "/sandbox/api/2.0/user"},
            "html": {"href": "/sandbox/"},
            "avatar": {"href": "/static/sandbox-avatar.svg"},
        },
    })
}

/// `GET /2.0/user`
async fn user(State(sandbox): State<Arc<Sandbox>>, headers: HeaderMap) -> Result<Json<Value>, Refusal> {
    let grant = authenticate_bearer(&sandbox, &headers)?;
    Ok(Json(profile(&grant.username)))
}

fn page(values: Vec<Value>) -> Json<Value> {
    Json(json!({"pagelen": 10, "page": 1, "size": values.len(), "values": values}))
}

/// Refuses a call the token's scopes do not cover, as Bitbucket does.
fn require_scope(grant: &Grant, scope: &str) -> Result<(), Refusal> {
    if grant.scopes.split_whitespace().any(|s| s == scope) {
        return Ok(());
    }
    let granted: Vec<&str> = grant.scopes.split_whitespace().collect();
    Err(Refusal::Api {
        status: StatusCode::FORBIDDEN,
        message: "Your credentials lack one or more required privilege scopes.",
        detail: Some(json!({"required": [scope], "granted": granted})),
    })
}

/// `GET /2.0/user/emails`
async fn emails(State(sandbox): State<Arc<Sandbox>>, headers: HeaderMap) -> Result<Json<Value>, Refusal> {
    let grant = authenticate_bearer(&sandbox, &headers)?;
    require_scope(&grant, "email")?;
    Ok(page(vec![json!({
        "type": "email", "email": format!("{}@example.com", grant.username),
        "is_primary": true, "is_confirmed": true,
    })]))
}

/// `GET /2.0/user/workspaces`
async fn workspaces(State(sandbox): State<Arc<Sandbox>>, headers: HeaderMap) -> Result<Json<Value>, Refusal> {
    let grant = authenticate_bearer(&sandbox, &headers)?;
    require_scope(&grant, "account")?;
    Ok(page(vec![json!({
        "type": "workspace_access", "administrator": true,
        "workspace": {"type": "workspace", "slug": "demo-workspace", "name": "Demo Workspace",
            "uuid": "{5f2c1e7a-0b9d-4e8f-a1c3-7d6e5f4a3b2c}"},
    })]))
}

/// Endpoints Bitbucket removed in 2026 (CHANGE-2770) answer 410 Gone.
async fn removed() -> Refusal {
    Refusal::api(
        StatusCode::GONE,
        "This API is no longer available. Use /2.0/user/workspaces, then /2.0/repositories/{workspace}.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> Grant {
        Grant {
            username: "demo".into(),
            consumer: SANDBOX_CONSUMER_KEY,
            scopes: String::new(),
            expires_at: Instant::now(),
        }
    }

    #[test]
    fn a_full_store_forgets_the_oldest_first_and_keeps_the_newest() {
        let mut store = Store::default();
        for i in 0..MAX_ISSUED + 10 {
            store.insert(i.to_string(), grant());
        }
        assert!(store.get("0").is_none());
        assert!(store.get("9").is_none());
        assert!(store.get("10").is_some());
        assert!(store.get(&(MAX_ISSUED + 9).to_string()).is_some());
        assert!(store.by_value.len() <= MAX_ISSUED && store.order.len() <= MAX_ISSUED);
    }
}
