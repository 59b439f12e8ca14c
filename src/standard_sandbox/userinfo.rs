//! `GET, POST /userinfo`: the UserInfo endpoint (OpenID Connect Core §5.3), a protected resource
//! that takes the access token in the `Authorization: Bearer` header only (RFC 6750 §2.1: a token
//! in the query or the body is not looked at). Errors are RFC 6750 §3's: `401` with
//! `WWW-Authenticate: Bearer` (and `error="invalid_token"` for a token that is not good), `403`
//! `insufficient_scope` without `openid`. The claims follow the scopes granted (§5.4).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{DEMO_EMAIL, DEMO_NAME, StandardSandbox};

/// A refusal with its `WWW-Authenticate` challenge.
fn challenge(status: StatusCode, value: &str) -> Response {
    let mut response = status.into_response();
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The Bearer token of the `Authorization` header, if there is one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// `GET, POST /userinfo`.
pub(super) async fn userinfo(State(sandbox): State<Arc<StandardSandbox>>, headers: HeaderMap) -> Response {
    let realm = "realm=\"standard-sandbox\"";
    let Some(token) = bearer(&headers) else {
        // RFC 6750 §3.1: no credentials, no error code.
        return challenge(StatusCode::UNAUTHORIZED, &format!("Bearer {realm}"));
    };
    let Some((_, record)) = sandbox.live_access_token(token) else {
        return challenge(
            StatusCode::UNAUTHORIZED,
            &format!(
                "Bearer {realm}, error=\"invalid_token\", error_description=\"The access token is invalid, expired or revoked\""
            ),
        );
    };
    let scopes: Vec<&str> = record.scope.split(' ').collect();
    let Some(username) = record.username.filter(|_| scopes.contains(&"openid")) else {
        return challenge(
            StatusCode::FORBIDDEN,
            &format!("Bearer {realm}, error=\"insufficient_scope\", scope=\"openid\""),
        );
    };
    let mut claims = json!({"sub": record.subject});
    if scopes.contains(&"profile") {
        claims["name"] = json!(DEMO_NAME);
        claims["preferred_username"] = json!(username);
    }
    if scopes.contains(&"email") {
        claims["email"] = json!(DEMO_EMAIL);
        claims["email_verified"] = json!(true);
    }
    ([(header::CACHE_CONTROL, "no-store")], Json(claims)).into_response()
}
