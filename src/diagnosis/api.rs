//! A failed API call explained for the result page, where the token is still shown: Bitbucket's
//! errors, RFC 6750's `invalid_token` and `insufficient_scope`, and calls that never completed.

use serde_json::Value;

use super::tls::{TLS_FIX, tls_problem};
use crate::authorization_server::AuthorizationServer;
use crate::bitbucket::ApiError;
use crate::token::TokenError;

/// An API failure explained, for the result page (the token is still shown).
#[derive(Clone, Debug)]
pub struct ApiDiagnosis {
    /// What happened.
    pub summary: String,
    /// What to do.
    pub advice: String,
    /// Label and value pairs.
    pub details: Vec<(String, String)>,
}

/// Explains a failed API call. `can_refresh` says whether a refresh token is at hand.
pub fn api_failure(call: &str, error: &ApiError, can_refresh: bool, server: &AuthorizationServer) -> ApiDiagnosis {
    let bitbucket = server.is_bitbucket();
    let renew = if can_refresh {
        "Use \"Refresh the access token\" below to get a new one without signing in again."
    } else {
        "Get a new token: this grant gave no refresh token."
    };
    let mut details = vec![("Call".to_owned(), call.to_owned())];
    let (summary, advice) = match error {
        ApiError::Status { status, message, detail } => {
            details.push(("HTTP status".into(), status.to_string()));
            details.push(("message".into(), message.clone()));
            if let Some(detail) = detail {
                details.push(("detail".into(), crate::bitbucket::pretty(detail)));
            }
            match status {
                401 if message.contains("expired") && bitbucket => (
                    format!(
                        "{call} was answered with HTTP 401: the access token has expired (Bitbucket's last two hours)."
                    ),
                    renew.to_owned(),
                ),
                401 if message.contains("expired") => {
                    (format!("{call} was answered with HTTP 401: the access token has expired."), renew.to_owned())
                }
                401 if bitbucket => (
                    format!("{call} was answered with HTTP 401: the API did not accept the access token."),
                    format!("Since 2026 Bitbucket accepts tokens only in the Authorization: Bearer header. {renew}"),
                ),
                401 => (
                    format!("{call} was answered with HTTP 401: the API did not accept the access token."),
                    renew.to_owned(),
                ),
                403 => {
                    let list = |key: &str| scope_list(detail.as_ref(), key);
                    match (list("required"), list("granted")) {
                        (Some(required), Some(granted)) if bitbucket => (
                            format!(
                                "{call} was answered with HTTP 403: the token lacks a scope. Required: {required}; \
                                 granted: {granted}."
                            ),
                            "Add the missing permissions to the consumer in Bitbucket (Workspace settings → OAuth \
                             consumers → Edit), then get a new token: scopes are fixed when a token is issued."
                                .to_owned(),
                        ),
                        _ => (
                            format!("{call} was answered with HTTP 403: {message}"),
                            format!(
                                "Check the {}'s permissions (scopes) and the account's access.",
                                server.client_word()
                            ),
                        ),
                    }
                }
                429 if !bitbucket => (
                    format!("{call} was answered with HTTP 429: the rate limit was reached."),
                    "Wait (the Retry-After header, if sent, says how long), then try again.".to_owned(),
                ),
                429 => (
                    format!("{call} was answered with HTTP 429: the rate limit was reached."),
                    "Bitbucket allows about 1,000 requests an hour per consumer (rolling). Wait, then try again."
                        .to_owned(),
                ),
                410 if bitbucket => (
                    format!(
                        "{call} was answered with HTTP 410: Bitbucket removed this endpoint in 2026 (CHANGE-2770)."
                    ),
                    "Use GET /2.0/user/workspaces, then /2.0/repositories/{workspace}.".to_owned(),
                ),
                _ => (format!("{call} was answered with HTTP {status}: {message}"), "Try again later.".to_owned()),
            }
        }
        ApiError::Bearer { status, error, description, scope } => {
            details.push(("HTTP status".into(), status.to_string()));
            details.push(("error".into(), error.clone()));
            if let Some(description) = description {
                details.push(("error_description".into(), description.clone()));
            }
            if let Some(scope) = scope {
                details.push(("scope needed".into(), scope.clone()));
            }
            bearer_failure(call, *status, error, scope.as_deref(), renew, server)
        }
        ApiError::Transport(TokenError::NoResponse { connect: true, message, .. })
            if tls_problem(message).is_some() =>
        {
            details.push(("What happened".into(), message.clone()));
            let problem = tls_problem(message).unwrap_or_default();
            (
                format!("{call}: {problem}, so the token was not sent."),
                format!("{TLS_FIX} Check {}.", server.user_setting()),
            )
        }
        ApiError::Transport(TokenError::NoResponse { timed_out, message, .. }) => {
            details.push(("What happened".into(), message.clone()));
            let what = if *timed_out { "did not answer in time" } else { "could not be reached" };
            (format!("{call}: the API {what}."), format!("Check {} and try again later.", server.user_setting()))
        }
        ApiError::Transport(TokenError::UnexpectedResponse { status, problem, excerpt }) => {
            details.push(("HTTP status".into(), status.to_string()));
            details.push(("Start of the answer".into(), excerpt.clone()));
            (
                format!("{call} gave an answer that could not be understood: {problem}."),
                format!("Check that {} points at an API that answers JSON.", server.user_setting()),
            )
        }
        ApiError::Transport(TokenError::Refused(e)) => {
            (format!("{call} was refused: {}", e.error), "Try again later.".to_owned())
        }
    };
    ApiDiagnosis { summary, advice, details }
}

/// An RFC 6750 §3.1 refusal explained: the token is invalid, or lacks a scope.
fn bearer_failure(
    call: &str,
    status: u16,
    error: &str,
    scope: Option<&str>,
    renew: &str,
    server: &AuthorizationServer,
) -> (String, String) {
    let answered = format!("{call} was answered with HTTP {status} and the OAuth error {error} (RFC 6750 §3.1)");
    let needed = scope.map(|s| format!(" It needs the scope: {s}.")).unwrap_or_default();
    match error {
        "insufficient_scope" => (
            format!("{answered}: the token is valid, but was not granted the scope this call needs.{needed}"),
            "Ask for that scope: set scope in config.json (or OAUTH_SCOPE), for instance \"openid profile email\" \
             on an OpenID Connect server, restart, and get a new token (scopes are fixed when a token is issued). \
             A client credentials token speaks for no user, so a call about the user may refuse it whatever its scopes."
                .to_owned(),
        ),
        "invalid_token" => {
            let hint = if server.revocation.is_some() { " (or was revoked)" } else { "" };
            (
                format!(
                    "{answered}: the API does not accept this token. It expired{hint}, is malformed, or is not \
                     meant for this API: a user-info endpoint refuses a token that speaks for no user, such as a \
                     client credentials token.{needed}"
                ),
                renew.to_owned(),
            )
        }
        _ => (format!("{answered}.{needed}"), renew.to_owned()),
    }
}

fn scope_list(detail: Option<&Value>, key: &str) -> Option<String> {
    let values = detail?.get(key)?.as_array()?;
    let names: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
    Some(if names.is_empty() { "none".into() } else { names.join(", ") })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorization_server::Kind;

    fn bitbucket() -> AuthorizationServer {
        let base = url::Url::parse("https://auth.example").unwrap();
        AuthorizationServer::bitbucket(Kind::BitbucketOrg, &base, String::new(), base.clone())
    }

    #[test]
    fn missing_scopes_list_required_and_granted() {
        let error = ApiError::Status {
            status: 403,
            message: "Your credentials lack one or more required privilege scopes.".into(),
            detail: Some(serde_json::json!({"required": ["account"], "granted": ["repository"]})),
        };
        let diagnosis = api_failure("GET /2.0/user", &error, true, &bitbucket());
        assert!(diagnosis.summary.contains("Required: account; granted: repository"), "{}", diagnosis.summary);
    }
}
