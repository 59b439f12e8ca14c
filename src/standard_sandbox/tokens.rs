//! Issuing tokens and reading them back: access tokens as JWTs (RFC 9068), `id_token`s (OpenID
//! Connect Core §2), refresh tokens (opaque); and the check of an access token that the userinfo
//! and introspection endpoints make (signature, type, issuer, audience, expiry, and not revoked).

use serde_json::{Value, json};

use super::store::{AccessToken, RefreshToken};
use super::{DEMO_SUBJECT, StandardSandbox, now_unix};

/// Who an access token is for: a user, or the client itself (client credentials).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Owner<'a> {
    User { username: &'static str, auth_time: u64, nonce: Option<&'a str> },
    Client,
}

/// What one grant gives: tokens for `client_id`, with `scopes`.
pub(crate) struct Issue<'a> {
    pub(crate) client_id: &'static str,
    pub(crate) owner: Owner<'a>,
    pub(crate) scopes: &'a [&'static str],
    /// The authorization the tokens come from (for revoking them together).
    pub(crate) grant_id: Option<&'a str>,
    /// A refresh token comes too, with these scopes (the user consented to `offline_access`; on
    /// a refresh, the scopes of the refresh token it replaces, RFC 6749 §6).
    pub(crate) refresh: Option<&'a [&'static str]>,
}

/// The subject identifier of a user (only the demo user exists).
pub(crate) fn subject_of(_username: &str) -> &'static str {
    DEMO_SUBJECT
}

impl StandardSandbox {
    /// The token response (RFC 6749 §5.1): an access token, `Bearer`, its lifetime and scope;
    /// an `id_token` when `openid` is granted to a user; a refresh token when asked.
    pub(crate) fn issue(&self, issue: Issue<'_>) -> Value {
        let now = now_unix();
        let lifetime = self.options.access_token_lifetime.as_secs().max(1);
        let scope = issue.scopes.join(" ");
        let jti = crate::random_token();
        let (subject, username) = match issue.owner {
            Owner::User { username, .. } => (subject_of(username).to_owned(), Some(username)),
            Owner::Client => (issue.client_id.to_owned(), None),
        };
        // RFC 9068 §2.2.
        let mut claims = json!({
            "iss": self.issuer,
            "sub": subject,
            "aud": self.audience(),
            "exp": now + lifetime,
            "iat": now,
            "jti": jti,
            "client_id": issue.client_id,
        });
        if !scope.is_empty() {
            claims["scope"] = json!(scope);
        }
        if let Owner::User { auth_time, .. } = issue.owner {
            claims["auth_time"] = json!(auth_time);
        }
        let access_token = self.keys.sign("at+jwt", &claims);
        let mut body = json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": lifetime,
        });
        if !scope.is_empty() {
            body["scope"] = json!(scope);
        }
        if let Owner::User { username, auth_time, nonce } = issue.owner
            && issue.scopes.contains(&"openid")
        {
            // OpenID Connect Core §2; `aud` is the client.
            let mut id_claims = json!({
                "iss": self.issuer,
                "sub": subject_of(username),
                "aud": issue.client_id,
                "exp": now + lifetime,
                "iat": now,
                "auth_time": auth_time,
            });
            if let Some(nonce) = nonce {
                id_claims["nonce"] = json!(nonce);
            }
            body["id_token"] = json!(self.keys.sign("JWT", &id_claims));
        }
        let mut issued = self.issued();
        if let (Some(refresh_scopes), Owner::User { username, auth_time, .. }, Some(grant_id)) =
            (issue.refresh, issue.owner, issue.grant_id)
        {
            let refresh_token = crate::random_token();
            let record = RefreshToken {
                client_id: issue.client_id,
                username,
                scopes: refresh_scopes.to_vec(),
                auth_time,
                iat: now,
                exp: now + self.options.refresh_token_lifetime.as_secs(),
                grant_id: grant_id.to_owned(),
                used: false,
            };
            issued.refresh.insert(refresh_token.clone(), record);
            body["refresh_token"] = json!(refresh_token);
        }
        let record = AccessToken {
            client_id: issue.client_id,
            subject,
            username,
            scope,
            iat: now,
            exp: now + lifetime,
            grant_id: issue.grant_id.map(str::to_owned),
        };
        issued.access.insert(jti, record);
        body
    }

    /// The record of a live access token: a JWT this server signed, of type `at+jwt`, for its
    /// audience, not expired, and still in the store (not revoked). Its `jti` comes with it.
    pub(crate) fn live_access_token(&self, token: &str) -> Option<(String, AccessToken)> {
        let claims = self.keys.verify("at+jwt", token)?;
        if claims["iss"] != self.issuer.as_str() || claims["aud"] != self.audience().as_str() {
            return None;
        }
        let exp = claims["exp"].as_u64()?;
        if exp <= now_unix() {
            return None;
        }
        let jti = claims["jti"].as_str()?;
        let record = self.issued().access.get(jti).cloned()?;
        Some((jti.to_owned(), record))
    }
}
