//! `POST /revoke`: token revocation (RFC 7009). The client authenticates; the answer is `200` for
//! any token, known or not (§2.2), so that it tells nothing. A token is revoked only if it was
//! issued to that client; revoking a refresh token revokes every token of its grant (§2.1).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{Form, OAuthError, StandardSandbox};

/// `POST /revoke`.
pub(super) async fn revoke(State(sandbox): State<Arc<StandardSandbox>>, headers: HeaderMap, body: Bytes) -> Response {
    match sandbox.revoke(&headers, &body) {
        Ok(()) => (StatusCode::OK, [(header::CACHE_CONTROL, "no-store"), (header::PRAGMA, "no-cache")]).into_response(),
        Err(error) => error.into_response(),
    }
}

impl StandardSandbox {
    fn revoke(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), OAuthError> {
        let form = Form::parse(headers, body)?;
        let client = self.authenticate_client(headers, &form, false)?;
        let token = form.require("token")?;
        // `token_type_hint` is a hint only (§2.1): both kinds are looked for.
        if let Some((jti, record)) = self.live_access_token(token) {
            if record.client_id == client.id {
                self.issued().access.remove(&jti);
            }
            return Ok(());
        }
        let mut issued = self.issued();
        let grant = issued.refresh.get(token).filter(|r| r.client_id == client.id).map(|r| r.grant_id.clone());
        if let Some(grant_id) = grant {
            issued.revoke_grant(&grant_id);
        }
        Ok(())
    }
}
