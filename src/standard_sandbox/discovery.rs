//! The metadata documents: RFC 8414 (`/.well-known/oauth-authorization-server{issuer path}` at the
//! origin's root) and OpenID Connect Discovery 1.0 (`{issuer}/.well-known/openid-configuration`).
//! Both say the same: every endpoint and every capability this server has, and nothing it lacks
//! (no `registration_endpoint`: its clients are fixed).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::clients::{AUTHORIZATION_CODE, CLIENT_CREDENTIALS, DEVICE_CODE, PASSWORD, REFRESH_TOKEN};
use super::{SCOPES_SUPPORTED, StandardSandbox};

impl StandardSandbox {
    /// The grant types it accepts (the password grant only while [`super::StandardOptions::password_grant`]).
    pub(crate) fn grant_types_supported(&self) -> Vec<&'static str> {
        let mut grants = vec![AUTHORIZATION_CODE, REFRESH_TOKEN, CLIENT_CREDENTIALS, DEVICE_CODE];
        if self.options.password_grant {
            grants.push(PASSWORD);
        }
        grants
    }

    /// The metadata, as both documents serve it.
    pub fn metadata(&self) -> Value {
        let client_auth = ["client_secret_basic", "client_secret_post"];
        json!({
            "issuer": self.issuer,
            "authorization_endpoint": self.endpoint("/authorize"),
            "token_endpoint": self.endpoint("/token"),
            "userinfo_endpoint": self.endpoint("/userinfo"),
            "jwks_uri": self.endpoint("/jwks"),
            "revocation_endpoint": self.endpoint("/revoke"),
            "introspection_endpoint": self.endpoint("/introspect"),
            "device_authorization_endpoint": self.endpoint("/device_authorization"),
            "scopes_supported": SCOPES_SUPPORTED,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": self.grant_types_supported(),
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "revocation_endpoint_auth_methods_supported": client_auth,
            "introspection_endpoint_auth_methods_supported": client_auth,
            "code_challenge_methods_supported": ["S256"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "claims_supported": [
                "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce",
                "name", "preferred_username", "email", "email_verified"
            ],
            "prompt_values_supported": ["none", "login", "consent"],
            "authorization_response_iss_parameter_supported": true,
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
        })
    }
}

/// `GET {issuer}/.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §4).
pub(super) async fn openid_configuration(State(sandbox): State<Arc<StandardSandbox>>) -> Json<Value> {
    Json(sandbox.metadata())
}

/// `GET /.well-known/oauth-authorization-server{issuer path}` (RFC 8414 §3).
pub(super) async fn authorization_server_metadata(State(sandbox): State<Arc<StandardSandbox>>) -> Json<Value> {
    Json(sandbox.metadata())
}
