//! `POST /token`: the token endpoint (RFC 6749 §3.2), for five grants: the authorization code
//! (§4.1.3, with PKCE, RFC 7636 §4.5), refresh (§6), client credentials (§4.4), the device code
//! (RFC 8628 §3.4), and the resource owner password credentials grant (§4.3), which is **legacy**:
//! RFC 9700 §2.4 says it MUST NOT be used; it is here, on by default, so that it can be watched
//! next to what replaced it ([`super::StandardOptions::password_grant`] turns it off).
//!
//! The client authenticates first (RFC 6749 §2.3), then the grant is checked. Every answer is JSON
//! with `Cache-Control: no-store` and `Pragma: no-cache`; errors are §5.2's.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::clients::{AUTHORIZATION_CODE, CLIENT_CREDENTIALS, Client, DEVICE_CODE, PASSWORD, REFRESH_TOKEN};
use super::pages::SignInProblem;
use super::store::DeviceStatus;
use super::tokens::{Issue, Owner};
use super::{Form, OAuthError, StandardSandbox, no_store_json, now_unix, parse_scope};

/// `POST /token`.
pub(super) async fn token(State(sandbox): State<Arc<StandardSandbox>>, headers: HeaderMap, body: Bytes) -> Response {
    match sandbox.token_request(&headers, &body) {
        Ok(answer) => no_store_json(StatusCode::OK, &answer),
        Err(error) => error.into_response(),
    }
}

/// Whether `verifier` is a PKCE `code_verifier`: 43 to 128 unreserved characters (RFC 7636 §4.1).
fn is_code_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The scopes a grant asks for: `scope` checked against what the server knows, or `default`.
fn requested_scopes(form: &Form, default: &[&'static str]) -> Result<Vec<&'static str>, OAuthError> {
    match form.get("scope").map(parse_scope) {
        None => Ok(default.to_vec()),
        Some(Ok(scopes)) => Ok(scopes),
        Some(Err(description)) => Err(OAuthError::new("invalid_scope", description)),
    }
}

/// Scopes for a user's tokens: a refresh token only with `offline_access`, and only for a client
/// allowed to refresh.
fn refresh_scopes<'a>(client: &Client, scopes: &'a [&'static str]) -> Option<&'a [&'static str]> {
    (scopes.contains(&"offline_access") && client.allows(REFRESH_TOKEN)).then_some(scopes)
}

impl StandardSandbox {
    fn token_request(&self, headers: &HeaderMap, body: &[u8]) -> Result<Value, OAuthError> {
        let form = Form::parse(headers, body)?;
        let client = self.authenticate_client(headers, &form, true)?;
        let grant_type = form.require("grant_type")?;
        if !self.grant_types_supported().contains(&grant_type) {
            return Err(OAuthError::new(
                "unsupported_grant_type",
                format!("This server does not support the grant type {grant_type:?}."),
            ));
        }
        if !client.allows(grant_type) {
            return Err(OAuthError::new(
                "unauthorized_client",
                format!("The client {} may not use the grant type {grant_type}.", client.id),
            ));
        }
        match grant_type {
            AUTHORIZATION_CODE => self.authorization_code_grant(client, &form),
            REFRESH_TOKEN => self.refresh_token_grant(client, &form),
            CLIENT_CREDENTIALS => self.client_credentials_grant(client, &form),
            PASSWORD => self.password_grant(client, &form),
            DEVICE_CODE => self.device_code_grant(client, &form),
            _ => unreachable!("grant_types_supported lists only these"),
        }
    }

    /// RFC 6749 §4.1.3 and RFC 7636 §4.6. A code is single use; a second use revokes every token
    /// issued from it (§4.1.2).
    fn authorization_code_grant(&self, client: &'static Client, form: &Form) -> Result<Value, OAuthError> {
        let code = form.require("code")?;
        let redirect_uri = form.require("redirect_uri")?;
        let verifier = form.require("code_verifier")?;
        if !is_code_verifier(verifier) {
            return Err(OAuthError::invalid_request("code_verifier must be 43 to 128 unreserved characters."));
        }
        let record = {
            let mut issued = self.issued();
            let Some(record) = issued.codes.get_mut(code).filter(|r| r.client_id == client.id) else {
                return Err(OAuthError::invalid_grant("The authorization code is unknown, or not this client's."));
            };
            if record.used {
                let grant_id = record.grant_id.clone();
                issued.revoke_grant(&grant_id);
                return Err(OAuthError::invalid_grant(
                    "The authorization code was used already; the tokens issued from it are revoked.",
                ));
            }
            record.used = true;
            record.clone()
        };
        if record.expires_at <= Instant::now() {
            return Err(OAuthError::invalid_grant("The authorization code has expired."));
        }
        if record.redirect_uri != redirect_uri {
            return Err(OAuthError::invalid_grant("redirect_uri differs from the authorization request's."));
        }
        if crate::pkce::challenge(verifier) != record.code_challenge {
            return Err(OAuthError::invalid_grant("The code_verifier does not match the code_challenge."));
        }
        Ok(self.issue(Issue {
            client_id: client.id,
            owner: Owner::User {
                username: record.username,
                auth_time: record.auth_time,
                nonce: record.nonce.as_deref(),
            },
            scopes: &record.scopes,
            grant_id: Some(&record.grant_id),
            refresh: refresh_scopes(client, &record.scopes),
        }))
    }

    /// RFC 6749 §6. With rotation, the refresh token is spent and a new one comes back; a spent
    /// one used again revokes the whole grant (RFC 9700 §4.14.2).
    fn refresh_token_grant(&self, client: &'static Client, form: &Form) -> Result<Value, OAuthError> {
        let value = form.require("refresh_token")?;
        let record = {
            let mut issued = self.issued();
            let Some(record) = issued.refresh.get_mut(value).filter(|r| r.client_id == client.id) else {
                return Err(OAuthError::invalid_grant("The refresh token is unknown, revoked, or not this client's."));
            };
            if record.used {
                let grant_id = record.grant_id.clone();
                issued.revoke_grant(&grant_id);
                return Err(OAuthError::invalid_grant(
                    "The refresh token was rotated out already; every token of its grant is revoked.",
                ));
            }
            if record.exp <= now_unix() {
                return Err(OAuthError::invalid_grant("The refresh token has expired."));
            }
            let record = record.clone();
            // Checked before the token is spent, so a bad scope does not cost the client its token.
            let scopes = requested_scopes(form, &record.scopes)?;
            if let Some(extra) = scopes.iter().find(|s| !record.scopes.contains(s)) {
                return Err(OAuthError::new(
                    "invalid_scope",
                    format!("The scope {extra} was not granted with this refresh token."),
                ));
            }
            if self.options.rotate_refresh_tokens
                && let Some(spent) = issued.refresh.get_mut(value)
            {
                spent.used = true;
            }
            (record, scopes)
        };
        let (record, scopes) = record;
        let rotate = self.options.rotate_refresh_tokens;
        Ok(self.issue(Issue {
            client_id: client.id,
            owner: Owner::User { username: record.username, auth_time: record.auth_time, nonce: None },
            scopes: &scopes,
            grant_id: Some(&record.grant_id),
            refresh: rotate.then_some(record.scopes.as_slice()),
        }))
    }

    /// RFC 6749 §4.4: tokens for the client itself (`sub` is its id), no refresh token. There is no
    /// user, so `openid` and `offline_access` are left out of what is granted (§3.3 lets a server
    /// grant less than asked, and say so in `scope`).
    fn client_credentials_grant(&self, client: &'static Client, form: &Form) -> Result<Value, OAuthError> {
        let scopes: Vec<&'static str> =
            requested_scopes(form, &[])?.into_iter().filter(|s| !matches!(*s, "openid" | "offline_access")).collect();
        Ok(self.issue(Issue {
            client_id: client.id,
            owner: Owner::Client,
            scopes: &scopes,
            grant_id: None,
            refresh: None,
        }))
    }

    /// RFC 6749 §4.3, **legacy**: the client sees the user's password. Failed passwords are
    /// limited per account (§4.3.2 asks for protection against brute force).
    fn password_grant(&self, client: &'static Client, form: &Form) -> Result<Value, OAuthError> {
        let username = form.require("username")?;
        let password = form.require("password")?;
        let scopes = requested_scopes(form, &["openid"])?;
        let username = self.check_password(username, password).map_err(|problem| match problem {
            SignInProblem::Wrong => OAuthError::invalid_grant("Invalid resource owner credentials."),
            SignInProblem::TooMany(seconds) => OAuthError::too_many("invalid_grant", seconds),
        })?;
        let grant_id = crate::random_token();
        Ok(self.issue(Issue {
            client_id: client.id,
            owner: Owner::User { username, auth_time: now_unix(), nonce: None },
            scopes: &scopes,
            grant_id: Some(&grant_id),
            refresh: refresh_scopes(client, &scopes),
        }))
    }

    /// RFC 8628 §3.4, §3.5: `authorization_pending` until the user decides, `slow_down` (and the
    /// interval raised by 5 s) when polled sooner than the interval, `access_denied`,
    /// `expired_token`; tokens once, after approval.
    fn device_code_grant(&self, client: &'static Client, form: &Form) -> Result<Value, OAuthError> {
        let device_code = form.require("device_code")?;
        let now = Instant::now();
        let (username, auth_time, scopes) = {
            let mut issued = self.issued();
            let Some(grant) = issued.devices.get_mut(device_code).filter(|g| g.client_id == client.id) else {
                return Err(OAuthError::invalid_grant("The device code is unknown, or not this client's."));
            };
            if grant.expires_at <= now {
                return Err(OAuthError::new("expired_token", "The device code has expired; start again."));
            }
            let too_soon = grant.last_poll.is_some_and(|last| now.duration_since(last) < grant.interval);
            grant.last_poll = Some(now);
            if too_soon {
                grant.interval += std::time::Duration::from_secs(5);
                return Err(OAuthError::new(
                    "slow_down",
                    format!("Polled too soon; wait at least {} seconds between polls.", grant.interval.as_secs()),
                ));
            }
            match grant.status {
                DeviceStatus::Pending => {
                    return Err(OAuthError::new("authorization_pending", "The user has not decided yet."));
                }
                DeviceStatus::Denied => return Err(OAuthError::new("access_denied", "The user denied access.")),
                DeviceStatus::Redeemed => {
                    return Err(OAuthError::invalid_grant("The device code was exchanged already."));
                }
                DeviceStatus::Approved { username, auth_time } => {
                    grant.status = DeviceStatus::Redeemed;
                    (username, auth_time, grant.scopes.clone())
                }
            }
        };
        let grant_id = crate::random_token();
        Ok(self.issue(Issue {
            client_id: client.id,
            owner: Owner::User { username, auth_time, nonce: None },
            scopes: &scopes,
            grant_id: Some(&grant_id),
            refresh: refresh_scopes(client, &scopes),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::is_code_verifier;

    #[test]
    fn code_verifiers_are_43_to_128_unreserved_characters() {
        assert!(is_code_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
        assert!(is_code_verifier(&"a.~_-".repeat(26)[..128]));
        assert!(!is_code_verifier(&"a".repeat(42)));
        assert!(!is_code_verifier(&"a".repeat(129)));
        assert!(!is_code_verifier(&format!("{}+", "a".repeat(43))));
    }
}
