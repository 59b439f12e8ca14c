//! The built-in Bitbucket sandbox: an emulator of Bitbucket Cloud's token endpoint and of a few
//! REST API calls, answering with the bodies and statuses that bitbucket.org uses
//! (`shared/BITBUCKET.md` in the project's notes; the README sums them up).
//!
//! It lets the whole flow run offline, with no account: the app serves it under `/sandbox` and,
//! in sandbox mode, sends its token request and API call there over real HTTP, exactly as it
//! would to bitbucket.org. Routes, relative to where it is mounted:
//!
//! | route                          | emulates                                        |
//! |--------------------------------|-------------------------------------------------|
//! | `POST /site/oauth2/access_token` | `https://bitbucket.org/site/oauth2/access_token` |
//! | `GET /api/2.0/user`            | `https://api.bitbucket.org/2.0/user`            |
//! | `GET /api/2.0/user/emails`     | `https://api.bitbucket.org/2.0/user/emails`     |
//! | `GET /api/2.0/user/workspaces` | `https://api.bitbucket.org/2.0/user/workspaces` |
//! | `GET /api/2.0/repositories`, `/api/2.0/workspaces` | removed in 2026: 410  |
//!
//! State (issued tokens) lives in memory, capped at [`MAX_ISSUED`] entries, and is lost on
//! restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use rand::Rng;
use serde_json::{Value, json};

use crate::settings::{SANDBOX_CONSUMER_KEY, SANDBOX_CONSUMER_SECRET};

/// The sandbox's resource owner.
pub const DEMO_USERNAME: &str = "demo";
/// The demo user's password.
pub const DEMO_PASSWORD: &str = "demo";
/// Bitbucket's access-token lifetime: two hours.
pub const BITBUCKET_EXPIRES_IN: Duration = Duration::from_secs(7200);
/// At most this many live tokens are kept; past it, the oldest are forgotten.
pub const MAX_ISSUED: usize = 100_000;
/// Scopes the demo consumer is granted.
pub const DEMO_SCOPES: &str = "account email repository";

/// How the sandbox behaves. [`SandboxOptions::default`] is Bitbucket's behaviour.
#[derive(Clone, Debug)]
pub struct SandboxOptions {
    /// Lifetime of an access token (Bitbucket: 7200 s). Tests shorten it to see expiry.
    pub access_token_lifetime: Duration,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            access_token_lifetime: BITBUCKET_EXPIRES_IN,
        }
    }
}

/// The emulator's state: its options and the tokens it has issued.
#[derive(Debug, Default)]
pub struct Sandbox {
    options: SandboxOptions,
    issued: Mutex<Issued>,
}

#[derive(Debug, Default)]
struct Issued {
    access: HashMap<String, Grant>,
    refresh: HashMap<String, Grant>,
}

/// What a token stands for.
#[derive(Clone, Debug)]
struct Grant {
    username: String,
    scopes: String,
    expires_at: Instant,
}

impl Sandbox {
    /// A sandbox with the given options.
    pub fn new(options: SandboxOptions) -> Arc<Sandbox> {
        Arc::new(Sandbox {
            options,
            issued: Mutex::default(),
        })
    }

    fn issue(&self, username: &str, scopes: &str, grant_type: &str) -> Value {
        let access_token = random_token();
        let refresh_token = random_token();
        let now = Instant::now();
        let grant = Grant {
            username: username.to_owned(),
            scopes: scopes.to_owned(),
            expires_at: now + self.options.access_token_lifetime,
        };
        let mut issued = self.issued.lock().expect("sandbox state poisoned");
        if issued.access.len() >= MAX_ISSUED {
            issued.access.retain(|_, g| g.expires_at > now);
            if issued.access.len() >= MAX_ISSUED {
                issued.access.clear();
            }
        }
        if issued.refresh.len() >= MAX_ISSUED {
            issued.refresh.clear();
        }
        issued.access.insert(access_token.clone(), grant.clone());
        issued.refresh.insert(refresh_token.clone(), grant);
        json!({
            "access_token": access_token,
            "scope": scopes,
            "expires_in": self.options.access_token_lifetime.as_secs(),
            "refresh_token": refresh_token,
            "token_type": "bearer",
            "state": grant_type,
        })
    }

    fn lookup_access(&self, token: &str) -> Option<Grant> {
        self.issued
            .lock()
            .expect("sandbox state poisoned")
            .access
            .get(token)
            .cloned()
    }
}

/// The sandbox's routes, to be nested where it is served (the app uses `/sandbox`).
pub fn router<S: Clone + Send + Sync + 'static>(sandbox: Arc<Sandbox>) -> Router<S> {
    Router::new()
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

fn random_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A refusal, written the way Bitbucket writes it.
#[derive(Debug)]
enum Refusal {
    /// The token endpoint's shape: `{"error_description": …, "error": …}`.
    OAuth {
        status: StatusCode,
        error: &'static str,
        description: String,
    },
    /// The REST API's shape: `{"type": "error", "error": {"message": …, "detail": …}}`.
    Api {
        status: StatusCode,
        message: &'static str,
        detail: Option<Value>,
    },
}

impl Refusal {
    fn oauth(status: StatusCode, error: &'static str, description: impl Into<String>) -> Refusal {
        Refusal::OAuth {
            status,
            error,
            description: description.into(),
        }
    }

    fn api(status: StatusCode, message: &'static str) -> Refusal {
        Refusal::Api {
            status,
            message,
            detail: None,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::OAuth {
                status,
                error,
                description,
            } => (
                status,
                Json(json!({"error_description": description, "error": error})),
            )
                .into_response(),
            Refusal::Api {
                status,
                message,
                detail,
            } => {
                let mut error = json!({"message": message});
                if let Some(detail) = detail {
                    error["detail"] = detail;
                }
                (status, Json(json!({"type": "error", "error": error}))).into_response()
            }
        }
    }
}

/// Checks HTTP Basic client authentication against the demo consumer.
fn authenticate_client(headers: &HeaderMap) -> Result<(), Refusal> {
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
    let valid = decoded
        .as_deref()
        .and_then(|pair| pair.split_once(':'))
        .is_some_and(|(key, secret)| {
            key == SANDBOX_CONSUMER_KEY && secret == SANDBOX_CONSUMER_SECRET
        });
    if valid {
        Ok(())
    } else {
        Err(Refusal::oauth(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "Invalid OAuth client credentials",
        ))
    }
}

/// `POST /site/oauth2/access_token`
async fn access_token(
    State(sandbox): State<Arc<Sandbox>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, Refusal> {
    authenticate_client(&headers)?;
    // The first value of a repeated field counts.
    let mut form: HashMap<String, String> = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(&body).into_owned() {
        form.entry(name).or_insert(value);
    }
    let field = |name: &str| form.get(name).map(String::as_str);
    match field("grant_type") {
        Some("password") => {
            if field("username") == Some(DEMO_USERNAME) && field("password") == Some(DEMO_PASSWORD)
            {
                Ok(Json(sandbox.issue(DEMO_USERNAME, DEMO_SCOPES, "password")))
            } else {
                Err(Refusal::oauth(
                    StatusCode::UNAUTHORIZED,
                    "invalid_request",
                    "Invalid resource owner username/password",
                ))
            }
        }
        other => Err(Refusal::oauth(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            format!("Unsupported grant type: {}", other.unwrap_or("None")),
        )),
    }
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
        None => Err(Refusal::api(
            StatusCode::UNAUTHORIZED,
            "Invalid access token.",
        )),
        Some(grant) if grant.expires_at <= Instant::now() => Err(Refusal::api(
            StatusCode::UNAUTHORIZED,
            "Access token expired.",
        )),
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
async fn user(
    State(sandbox): State<Arc<Sandbox>>,
    headers: HeaderMap,
) -> Result<Json<Value>, Refusal> {
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
async fn emails(
    State(sandbox): State<Arc<Sandbox>>,
    headers: HeaderMap,
) -> Result<Json<Value>, Refusal> {
    let grant = authenticate_bearer(&sandbox, &headers)?;
    require_scope(&grant, "email")?;
    Ok(page(vec![json!({
        "type": "email", "email": format!("{}@example.com", grant.username),
        "is_primary": true, "is_confirmed": true,
    })]))
}

/// `GET /2.0/user/workspaces`
async fn workspaces(
    State(sandbox): State<Arc<Sandbox>>,
    headers: HeaderMap,
) -> Result<Json<Value>, Refusal> {
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
