//! `GET /api/2.0/…`: a few calls of Bitbucket's REST API, with its Bearer check, its scope check
//! and its error bodies.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::{Value, json};

use super::store::Grant;
use super::{DEMO_API_TOKEN, DEMO_EMAIL, DEMO_SCOPES, DEMO_USERNAME, Refusal, Sandbox};

/// Checks `Authorization: Bearer …` (the only place Bitbucket accepts an OAuth token since 2026),
/// or `Authorization: Basic email:api_token`: Bitbucket's scoped API tokens, what scripts use
/// since app passwords stopped working (not OAuth).
fn authenticate_bearer(sandbox: &Sandbox, peer: SocketAddr, headers: &HeaderMap) -> Result<Grant, Refusal> {
    let (scheme, credentials) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .ok_or(Refusal::Unauthenticated { message: "Authentication required.", invalid_token: false })?;
    if scheme.eq_ignore_ascii_case("basic") {
        return api_token(sandbox, sandbox.limits.end_user(peer, headers), credentials.trim());
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Refusal::Unauthenticated { message: "Authentication required.", invalid_token: false });
    }
    let token = credentials.trim();
    match sandbox.lookup_access(token) {
        None => Err(Refusal::Unauthenticated { message: "Invalid access token.", invalid_token: true }),
        Some(grant) if grant.expires_at <= Instant::now() => {
            Err(Refusal::Unauthenticated { message: "Access token expired.", invalid_token: true })
        }
        Some(grant) => {
            sandbox.count_api_call(grant.consumer).map_err(|retry_after| Refusal::RateLimited {
                retry_after,
                message: "Rate limit for this resource has been exceeded",
            })?;
            Ok(grant)
        }
    }
}

/// HTTP Basic `email:api_token` with the sandbox's demo API token. Wrong tokens are limited per
/// e-mail and end-user address ([`super::limits`]).
fn api_token(sandbox: &Sandbox, end_user: IpAddr, encoded: &str) -> Result<Grant, Refusal> {
    use base64::Engine;
    let decoded =
        base64::engine::general_purpose::STANDARD.decode(encoded).ok().and_then(|b| String::from_utf8(b).ok());
    let Some((email, token)) = decoded.as_deref().and_then(|pair| pair.split_once(':')) else {
        return Err(Refusal::Unauthenticated { message: "Authentication required.", invalid_token: false });
    };
    let attempt = sandbox.limits.begin_api_token(email, end_user).map_err(|limited| Refusal::RateLimited {
        retry_after: limited.retry_after,
        message: "Too many wrong API tokens for this account from this address",
    })?;
    match (email, token) {
        (DEMO_EMAIL, DEMO_API_TOKEN) => Ok({
            attempt.succeeded();
            Grant {
                username: DEMO_USERNAME,
                consumer: "(API token)",
                scopes: DEMO_SCOPES,
                expires_at: Instant::now() + std::time::Duration::from_secs(3600),
                redirect_uri: None,
                pkce_challenge: None,
            }
        }),
        _ => Err(Refusal::Unauthenticated { message: "Invalid email or API token.", invalid_token: false }),
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
pub(super) async fn user(
    State(sandbox): State<Arc<Sandbox>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Json<Value>, Refusal> {
    let grant = authenticate_bearer(&sandbox, peer, &headers)?;
    Ok(Json(profile(grant.username)))
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
pub(super) async fn emails(
    State(sandbox): State<Arc<Sandbox>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Json<Value>, Refusal> {
    let grant = authenticate_bearer(&sandbox, peer, &headers)?;
    require_scope(&grant, "email")?;
    Ok(page(vec![json!({
        "type": "email", "email": format!("{}@example.com", grant.username),
        "is_primary": true, "is_confirmed": true,
    })]))
}

/// `GET /2.0/user/workspaces`
pub(super) async fn workspaces(
    State(sandbox): State<Arc<Sandbox>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Json<Value>, Refusal> {
    let grant = authenticate_bearer(&sandbox, peer, &headers)?;
    require_scope(&grant, "account")?;
    Ok(page(vec![json!({
        "type": "workspace_access", "administrator": true,
        "workspace": {"type": "workspace", "slug": "demo-workspace", "name": "Demo Workspace",
            "uuid": "{5f2c1e7a-0b9d-4e8f-a1c3-7d6e5f4a3b2c}"},
    })]))
}

/// Endpoints Bitbucket removed in 2026 (CHANGE-2770) answer 410 Gone.
pub(super) async fn removed() -> Refusal {
    Refusal::api(
        StatusCode::GONE,
        "This API is no longer available. Use /2.0/user/workspaces, then /2.0/repositories/{workspace}.",
    )
}
