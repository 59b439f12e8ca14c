//! `POST /site/oauth2/access_token`: Bitbucket's token endpoint, for the four grants it has known.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::Value;

use super::{Consumer, DEMO_PASSWORD, DEMO_USERNAME, Refusal, Sandbox, consumer};

/// Checks HTTP Basic client authentication against the sandbox's consumers. Wrong secrets of a
/// known consumer are limited per consumer and end-user address ([`super::limits`]).
fn authenticate_client(sandbox: &Sandbox, end_user: IpAddr, headers: &HeaderMap) -> Result<&'static Consumer, Refusal> {
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
    let invalid = || Refusal::oauth(StatusCode::BAD_REQUEST, "unauthorized_client", "Invalid OAuth client credentials");
    // RFC 6749 §2.3.1: the id and the secret are form-urlencoded before they are joined with `:`.
    let (key, secret) = decoded
        .as_deref()
        .and_then(|pair| pair.split_once(':'))
        .and_then(|(key, secret)| Some((form_decode(key)?, form_decode(secret)?)))
        .ok_or_else(invalid)?;
    let consumer = consumer(&key).ok_or_else(invalid)?;
    let attempt = sandbox.limits.begin_client_secret(consumer.key, end_user).map_err(Refusal::TooManyAttempts)?;
    if consumer.secret != secret {
        return Err(invalid());
    }
    attempt.succeeded();
    Ok(consumer)
}

/// RFC 7636 §4.1: `code-verifier = 43*128unreserved`.
fn is_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// `application/x-www-form-urlencoded` decoding of one value: `+` is a space, `%XX` a byte; a `%`
/// without two hex digits, or bytes that are not UTF-8, make it unreadable.
fn form_decode(value: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(value.len());
    let mut rest = value.bytes();
    while let Some(byte) = rest.next() {
        bytes.push(match byte {
            b'+' => b' ',
            b'%' => {
                let hex = [rest.next()?, rest.next()?];
                u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?
            }
            other => other,
        });
    }
    String::from_utf8(bytes).ok()
}

/// `POST /site/oauth2/access_token`: the four grants bitbucket.org has known. Every answer,
/// token or error, carries `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1, §5.2).
pub(super) async fn access_token(
    state: State<Arc<Sandbox>>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut response = grant(state, peer, headers, body).await.into_response();
    let answer_headers = response.headers_mut();
    answer_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    answer_headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// The grant the token request asks for, or Bitbucket's refusal.
async fn grant(
    State(sandbox): State<Arc<Sandbox>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, Refusal> {
    let end_user = sandbox.limits.end_user(peer, &headers);
    let consumer = authenticate_client(&sandbox, end_user, &headers)?;
    // The first value of a repeated field counts.
    let mut form: HashMap<String, String> = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(&body).into_owned() {
        form.entry(name).or_insert(value);
    }
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    match field("grant_type") {
        "password" => {
            // Counted before the password is looked at, per end user and per account.
            let attempt =
                sandbox.limits.begin_sign_in(end_user, field("username")).map_err(Refusal::TooManyAttempts)?;
            let valid = field("username") == DEMO_USERNAME && field("password") == DEMO_PASSWORD;
            if sandbox.options.password_grant && valid {
                attempt.succeeded();
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
            // RFC 6749 §4.1.3: the same redirect_uri as the authorization request, if it had one.
            if grant.redirect_uri.as_deref().is_some_and(|uri| uri != field("redirect_uri")) {
                return Err(Refusal::oauth(StatusCode::BAD_REQUEST, "invalid_grant", "Invalid redirect_uri"));
            }
            // RFC 7636 §4.1, §4.6: a verifier of 43 to 128 unreserved characters, which must hash to
            // the challenge sent with the authorization request.
            if let Some(challenge) = &grant.pkce_challenge {
                let verifier = field("code_verifier");
                if !is_verifier(verifier) {
                    return Err(Refusal::oauth(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~ (RFC 7636 §4.1)",
                    ));
                }
                if crate::pkce::challenge(verifier) != *challenge {
                    return Err(Refusal::oauth(StatusCode::BAD_REQUEST, "invalid_grant", "Invalid code_verifier"));
                }
            }
            Ok(Json(sandbox.issue(grant.username, consumer.key, "authorization_code", true)))
        }
        "refresh_token" => {
            // Rotation: the refresh token is taken out here, and a new one comes with the answer.
            let grant = sandbox
                .redeem(|issued| &mut issued.refresh, field("refresh_token"), consumer.key)
                .ok_or_else(|| Refusal::oauth(StatusCode::BAD_REQUEST, "invalid_request", "Invalid refresh_token"))?;
            Ok(Json(sandbox.issue(grant.username, consumer.key, "refresh_token", true)))
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

#[cfg(test)]
mod tests {
    use super::form_decode;

    #[test]
    fn client_credentials_are_form_decoded() {
        assert_eq!(form_decode("sandbox%2Dconsumer%2dkey").as_deref(), Some("sandbox-consumer-key"));
        assert_eq!(form_decode("a+b%20c").as_deref(), Some("a b c"));
        assert_eq!(form_decode("plain-value").as_deref(), Some("plain-value"));
        assert_eq!(form_decode("bad%2"), None);
        assert_eq!(form_decode("bad%zz"), None);
        assert_eq!(form_decode("%ff"), None);
    }
}
