//! The errors an authorization server sends the browser back with, instead of a code (RFC 6749
//! §4.1.2.1), explained with the fix a user can make: most are a setting on one side or the other,
//! which starting the sign-in again cannot cure.

use axum::http::StatusCode;

use super::Explanation;
use crate::authorization_server::AuthorizationServer;

/// What the app sent that the server may have objected to: for the advice.
#[derive(Clone, Copy, Debug)]
pub struct Sent<'a> {
    /// The scopes asked for, if any.
    pub scope: Option<&'a str>,
    /// A PKCE challenge was sent.
    pub pkce: bool,
    /// The `redirect_uri`.
    pub redirect_uri: &'a str,
}

/// Explains `error` (with its `error_description`) from the callback's query string. The status is
/// 502 where a setting must change, 503 where the server is temporarily unavailable.
pub fn authorization_error(
    error: &str,
    description: Option<&str>,
    server: &AuthorizationServer,
    sent: Sent<'_>,
) -> Explanation {
    let client = server.client_word();
    let said = match description {
        Some(description) => format!("with error={error} and the description \"{description}\""),
        None => format!("with error={error} and no description"),
    };
    let answered = format!(
        "{} sent the browser back to /oauth-callback {said} instead of a code (RFC 6749 §4.1.2.1).",
        capitalised(&server.name())
    );
    let about = |word: &str| description.is_some_and(|d| d.to_ascii_lowercase().contains(word));
    let scope = sent.scope.map_or("no scope".to_owned(), |s| format!("scope={s}"));
    let (status, title, summary, fix) = match error {
        "invalid_request" if (about("code_challenge") || about("pkce")) && !sent.pkce => (
            StatusCode::BAD_GATEWAY,
            "The server requires PKCE".to_owned(),
            format!("{answered} The request carried no PKCE challenge, and this server requires one (RFC 7636)."),
            "Set pkce to true in config.json (or OAUTH_PKCE=true), restart the app, and sign in again.".to_owned(),
        ),
        "invalid_request" if about("redirect") => (
            StatusCode::BAD_GATEWAY,
            "The server does not accept this redirect_uri".to_owned(),
            format!("{answered} The app sent redirect_uri={}.", sent.redirect_uri),
            format!(
                "Register {} exactly as a redirect URI of the {client} at the server, or set callbackUrl \
                 (OAUTH_CALLBACK_URL) to one that is registered; then sign in again.",
                sent.redirect_uri
            ),
        ),
        "invalid_request" => (
            StatusCode::BAD_GATEWAY,
            "The server refused the authorization request".to_owned(),
            format!(
                "{answered} invalid_request means a parameter is missing, repeated or malformed. The app sent \
                 client_id, response_type=code, state, redirect_uri={}, {scope}{}.",
                sent.redirect_uri,
                if sent.pkce { " and a PKCE challenge (S256)" } else { ", without PKCE" }
            ),
            "The description names the parameter. The settings behind them: callbackUrl (the redirect_uri, which \
             must be registered for this client), scope (OAUTH_SCOPE), pkce (OAUTH_PKCE). Change the one it \
             names, restart, and sign in again."
                .to_owned(),
        ),
        "unauthorized_client" => (
            StatusCode::BAD_GATEWAY,
            format!("This {client} may not use the authorization code grant"),
            format!("{answered} The server does not let this {client} ask for an authorization code."),
            format!(
                "At the server, allow the grant type authorization_code (and the response type code) for this \
                 {client}; or use a grant it is allowed."
            ),
        ),
        "unsupported_response_type" => (
            StatusCode::BAD_GATEWAY,
            "The server does not issue codes here".to_owned(),
            format!("{answered} It will not answer response_type=code for this {client}."),
            format!("At the server, allow the response type code for this {client}."),
        ),
        "invalid_scope" => (
            StatusCode::BAD_GATEWAY,
            "The server does not grant the scopes asked for".to_owned(),
            format!("{answered} The app asked for {scope}: a scope in it is unknown, malformed, or not allowed."),
            format!(
                "Set scope in config.json (or OAUTH_SCOPE) to scopes this server offers this {client}, restart the \
                 app, and sign in again; or allow the scope for the {client} at the server."
            ),
        ),
        "temporarily_unavailable" => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The authorization server is busy".to_owned(),
            format!("{answered} It is overloaded or under maintenance."),
            "Wait a moment, then start the sign-in again from the start page.".to_owned(),
        ),
        "server_error" => (
            StatusCode::BAD_GATEWAY,
            "The authorization server failed".to_owned(),
            format!("{answered} Something went wrong on its side."),
            "Try again later; if it persists, the server's log says why.".to_owned(),
        ),
        _ => (
            StatusCode::BAD_GATEWAY,
            "The authorization server reported an error".to_owned(),
            answered.clone(),
            "Its description says what it objected to; the settings behind the request are callbackUrl, scope \
             and pkce."
                .to_owned(),
        ),
    };
    let page = Explanation::new(status, &title, &summary, &fix).detail("error", error);
    match description {
        Some(description) => page.detail("error_description", description),
        None => page,
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorization_server::Kind;

    #[test]
    fn a_missing_pkce_challenge_names_the_setting_not_a_restart() {
        let base = url::Url::parse("https://auth.example").unwrap();
        let server = AuthorizationServer::bitbucket(Kind::Standard, &base, String::new(), base.clone());
        let sent = Sent { scope: Some("openid"), pkce: false, redirect_uri: "http://localhost:3000/oauth-callback" };
        let page = authorization_error("invalid_request", Some("code_challenge required"), &server, sent);
        assert_eq!(page.title, "The server requires PKCE");
        assert!(page.fix.contains("OAUTH_PKCE"), "{}", page.fix);
        let page = authorization_error("invalid_scope", None, &server, sent);
        assert!(page.fix.contains("OAUTH_SCOPE") && page.summary.contains("scope=openid"), "{page:?}");
        assert!(!format!("{page:?}").contains("Bitbucket"));
    }
}
