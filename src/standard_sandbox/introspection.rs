//! `POST /introspect`: token introspection (RFC 7662). The client authenticates (§2.1); the answer
//! is `{"active": false}` for any token that is unknown, expired, revoked or malformed (§2.2), and
//! for an active one what it stands for: `scope`, `client_id`, `username`, `token_type`, `exp`,
//! `iat`, `sub`, `aud`, `iss`, `jti` (a refresh token has no `token_type`, `aud` or `jti`). Access
//! tokens are JWTs, but introspection still asks the store, so a revoked one is inactive although
//! its signature is good.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::tokens::subject_of;
use super::{Form, OAuthError, StandardSandbox, no_store_json, now_unix};

/// `POST /introspect`.
pub(super) async fn introspect(
    State(sandbox): State<Arc<StandardSandbox>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match sandbox.introspect(&headers, &body) {
        Ok(answer) => no_store_json(StatusCode::OK, &answer),
        Err(error) => error.into_response(),
    }
}

impl StandardSandbox {
    fn introspect(&self, headers: &HeaderMap, body: &[u8]) -> Result<Value, OAuthError> {
        let form = Form::parse(headers, body)?;
        self.authenticate_client(headers, &form, false)?;
        let token = form.require("token")?;
        if let Some((jti, record)) = self.live_access_token(token) {
            let mut answer = json!({
                "active": true,
                "client_id": record.client_id,
                "token_type": "Bearer",
                "exp": record.exp,
                "iat": record.iat,
                "sub": record.subject,
                "aud": self.audience(),
                "iss": self.issuer,
                "jti": jti,
            });
            if !record.scope.is_empty() {
                answer["scope"] = json!(record.scope);
            }
            if let Some(username) = record.username {
                answer["username"] = json!(username);
            }
            return Ok(answer);
        }
        let issued = self.issued();
        match issued.refresh.get(token).filter(|r| !r.used && r.exp > now_unix()) {
            Some(record) => Ok(json!({
                "active": true,
                "scope": record.scopes.join(" "),
                "client_id": record.client_id,
                "username": record.username,
                "exp": record.exp,
                "iat": record.iat,
                "sub": subject_of(record.username),
                "iss": self.issuer,
            })),
            None => Ok(json!({"active": false})),
        }
    }
}
