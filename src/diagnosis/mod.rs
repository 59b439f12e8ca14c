//! Plain-words explanations, with the fix, for every answer Bitbucket is known to give
//! (`shared/BITBUCKET.md` in the project's notes), and for their RFC 6749 equivalents on other
//! servers. Each explanation names the grant, the endpoint and the status; none shows a secret
//! (the values passed in have already been scrubbed).

use axum::http::StatusCode;

use crate::authorization_server::{AuthorizationServer, Found};
use crate::grant::Grant;
use crate::token::{ClientAuth, OAuthError, TokenError};

mod api;
mod authorization;
mod tls;

pub use api::{ApiDiagnosis, api_failure};
pub use authorization::{Sent, authorization_error};
use tls::{TLS_FIX, tls_problem};

/// The callback URL a consumer needs for this app's authorization code grant.
pub const CALLBACK_URL: &str = "http://localhost:3000/oauth-callback";

/// An answer explained for a person: what happened, what to do, the facts behind it, and the HTTP
/// status the app answers with. The web layer shows it as a page.
#[derive(Clone, Debug)]
pub struct Explanation {
    /// The status of the page that shows it.
    pub status: StatusCode,
    /// A short heading.
    pub title: String,
    /// What happened, in plain words.
    pub summary: String,
    /// What to do about it.
    pub fix: String,
    /// Facts worth showing: label and value (status, error code, endpoint, …).
    pub details: Vec<(String, String)>,
}

impl Explanation {
    /// An explanation with no details yet.
    pub fn new(status: StatusCode, title: &str, summary: &str, fix: &str) -> Explanation {
        Explanation { status, title: title.into(), summary: summary.into(), fix: fix.into(), details: Vec::new() }
    }

    /// Adds a labelled fact.
    pub fn detail(mut self, label: &str, value: impl Into<String>) -> Explanation {
        self.details.push((label.into(), value.into()));
        self
    }
}

fn oauth_details(page: Explanation, error: &OAuthError) -> Explanation {
    let page = page.detail("error", error.error.clone());
    match &error.error_description {
        Some(description) => page.detail("error_description", description.clone()),
        None => page,
    }
}

/// The page for a token request that did not produce a token.
pub fn token_failure(grant: Grant, endpoint: &str, error: &TokenError, server: &AuthorizationServer) -> Explanation {
    let status = match error {
        TokenError::Refused(e) => Some(e.status),
        TokenError::UnexpectedResponse { status, .. } => Some(*status),
        TokenError::NoResponse { .. } => None,
    };
    let request = format!("The {} request (grant_type={}) to {endpoint}", grant.name(), grant.grant_type());
    let answered = match status {
        Some(status) => format!("{request} was answered with HTTP {status}."),
        None => format!("{request} got no answer."),
    };
    let page = match error {
        TokenError::Refused(e) => refused(grant, e, server, &answered),
        TokenError::UnexpectedResponse { status: status @ (400 | 401 | 403), excerpt, .. }
            if excerpt.trim().is_empty() =>
        {
            no_reason(grant, *status, server, &answered)
        }
        TokenError::UnexpectedResponse { status, problem, excerpt } => {
            unexpected(*status, problem, server, &answered).detail("Start of the answer", excerpt.clone())
        }
        TokenError::NoResponse { timed_out: true, message, .. } => Explanation::new(
            StatusCode::GATEWAY_TIMEOUT,
            "The token endpoint is too slow",
            &format!("{answered} It did not answer in time, so the request was given up."),
            "Try again later. If the server is known to be slow, raise timeoutSeconds in config.json.",
        )
        .detail("What happened", message.clone()),
        TokenError::NoResponse { connect: true, message, .. } if tls_problem(message).is_some() => Explanation::new(
            StatusCode::BAD_GATEWAY,
            "The token endpoint's TLS connection was refused",
            &format!(
                "{answered} A connection was made, but {}, so the app stopped before sending anything.",
                tls_problem(message).unwrap_or_default()
            ),
            &format!("{TLS_FIX} Check the token endpoint ({}).", server.token_setting()),
        )
        .detail("What happened", message.clone()),
        TokenError::NoResponse { message, .. } => Explanation::new(
            StatusCode::BAD_GATEWAY,
            "The token endpoint cannot be reached",
            &format!("{answered} No connection could be made, or it broke before the answer was complete."),
            &format!("Check that the server is up, and the token endpoint ({}).", server.token_setting()),
        )
        .detail("What happened", message.clone()),
    };
    let page = page.detail("Grant", format!("{} (grant_type={})", grant.name(), grant.grant_type()));
    let page = page.detail("Token endpoint", format!("POST {endpoint}"));
    match status {
        Some(status) => page.detail("HTTP status from the token endpoint", status.to_string()),
        None => page,
    }
}

/// An empty 400, 401 or 403: the server said no and gave no reason.
fn no_reason(grant: Grant, status: u16, server: &AuthorizationServer, answered: &str) -> Explanation {
    let scope_hint = if grant == Grant::RefreshToken {
        String::new()
    } else {
        format!(
            " A scope: the app sent {} (set scope in config.json or OAUTH_SCOPE to what the server offers).",
            server_scope_words(server)
        )
    };
    Explanation::new(
        if status == 400 { StatusCode::BAD_GATEWAY } else { StatusCode::FORBIDDEN },
        "The token endpoint refused without a reason",
        &format!(
            "{answered} The answer had no body, so the server gave no OAuth error code to go by (RFC 6749 §5.2 \
             asks for one). The usual causes:{scope_hint} The client authentication method: the app sent its \
             credentials {} (clientAuth: basic or post). The grant itself: the client may not be allowed to \
             use grant_type={} on this server.",
            client_auth_words(server),
            grant.grant_type()
        ),
        "Check those three in the server's settings for this client, and its log, which usually says which one.",
    )
}

fn server_scope_words(_server: &AuthorizationServer) -> &'static str {
    "the scopes in its settings, if any"
}

fn client_auth_words(server: &AuthorizationServer) -> &'static str {
    match server.client_auth {
        ClientAuth::Basic => "as HTTP Basic",
        ClientAuth::Post => "as client_id and client_secret in the form body",
        ClientAuth::None => "as client_id alone in the form body (a public client, no secret)",
    }
}

fn refused(grant: Grant, e: &OAuthError, server: &AuthorizationServer, answered: &str) -> Explanation {
    let description = e.error_description.as_deref().unwrap_or("");
    let bitbucket = server.is_bitbucket();
    let client = server.client_word();
    let page = if e.status == 429 {
        rate_limited(answered, e.error_description.as_deref())
    } else if e.error == "invalid_client" || (bitbucket && e.error == "unauthorized_client") {
        // RFC 6749 §5.2: invalid_client is a failed client authentication. Bitbucket answers a
        // wrong consumer key or secret with unauthorized_client instead (shared/BITBUCKET.md).
        let fix = if bitbucket {
            format!(
                "Operator: check {} against the consumer's settings in Bitbucket, then restart the app.",
                server.credentials_setting()
            )
        } else {
            format!(
                "Operator: check {} against the client registered at {}, and how it must authenticate there: \
                 its token endpoint authentication method, client_secret_basic or client_secret_post, is \
                 clientAuth basic or post here (OAUTH_CLIENT_AUTH). Then restart the app.",
                server.credentials_setting(),
                server.name()
            )
        };
        Explanation::new(
            StatusCode::BAD_GATEWAY,
            &format!("The authorization server refused this app's {client}"),
            &format!(
                "{answered} It did not accept the client credentials this app sent (the {client}'s id and \
                 secret, {}), so it never looked at the rest of the request.",
                client_auth_words(server)
            ),
            &fix,
        )
    } else if e.error == "unauthorized_client" {
        Explanation::new(
            StatusCode::BAD_GATEWAY,
            &format!("This client may not use the {}", grant.name()),
            &format!(
                "{answered} It answered unauthorized_client (RFC 6749 §5.2): the client authenticated, but the \
                 server does not allow it to use grant_type={}. Nothing is wrong with {}.",
                grant.grant_type(),
                match grant {
                    Grant::Password => "the username or the password",
                    Grant::AuthorizationCode => "the code",
                    Grant::RefreshToken => "the refresh token",
                    Grant::ClientCredentials => "the request",
                    Grant::DeviceCode => "the device code",
                }
            ),
            &format!(
                "Operator: at {}, allow the grant type {} for this client (its registered grant types), or use \
                 a grant it is allowed{}.",
                server.name(),
                grant.grant_type(),
                offered_grants(server)
            ),
        )
    } else if description.contains("marked as \"public\"") {
        Explanation::new(
            StatusCode::BAD_GATEWAY,
            "Client credentials need a private consumer",
            &format!(
                "{answered} Bitbucket lets only a consumer marked private use the client credentials grant, \
                 because the token acts as the consumer's owner; this consumer is public."
            ),
            "In Bitbucket, open Workspace settings → OAuth consumers, edit this consumer and tick \
             \"This is a private consumer\"; or use the authorization code grant instead.",
        )
    } else if description.contains("No callback uri defined") {
        Explanation::new(
            StatusCode::BAD_GATEWAY,
            "The consumer has no callback URL",
            &format!(
                "{answered} The authorization code grant sends the browser back to the consumer's callback \
                 URL, and this consumer has none."
            ),
            &format!(
                "In Bitbucket, edit the consumer and set its callback URL to {CALLBACK_URL}, the address \
                 where this app receives the code."
            ),
        )
    } else if e.error == "unsupported_grant_type"
        || description.starts_with("Unsupported grant type")
        || (server.lacks_grant(grant.grant_type()) && e.status < 500)
    {
        Explanation::new(
            StatusCode::BAD_GATEWAY,
            &format!("The authorization server does not offer the {}", grant.name()),
            &format!("{answered} It does not support grant_type={}.", grant.grant_type()),
            &format!(
                "Use a grant this server offers{}, point the app at a server that offers this one, or use the \
                 built-in sandbox (\"sandbox\": true in config.json).",
                offered_grants(server)
            ),
        )
    } else if e.error == "invalid_scope" {
        Explanation::new(
            StatusCode::BAD_GATEWAY,
            "The server does not grant the scopes asked for",
            &format!(
                "{answered} It answered invalid_scope (RFC 6749 §5.2): a scope in the request is unknown to it, \
                 malformed, or more than this client may have."
            ),
            "Set scope in config.json (or OAUTH_SCOPE) to scopes this server offers and allows this client, then \
             restart; or allow the scope for the client at the server.",
        )
    } else if e.status >= 500 {
        Explanation::new(
            StatusCode::BAD_GATEWAY,
            "The token endpoint failed",
            &format!("{answered} That is a server error on its side."),
            "Try again later.",
        )
    } else {
        refused_for_grant(grant, e, server, answered)
    };
    oauth_details(page, e)
}

/// ", its metadata lists: …" when the server's metadata says which grants it offers.
fn offered_grants(server: &AuthorizationServer) -> String {
    match &server.grant_types_supported {
        Some(grants) => format!(" (its metadata lists: {})", grants.join(", ")),
        None => String::new(),
    }
}

/// A refusal that is about the grant itself: the password, the code, the refresh token; and a
/// request the server found malformed (`invalid_request`).
fn refused_for_grant(grant: Grant, e: &OAuthError, server: &AuthorizationServer, answered: &str) -> Explanation {
    let sandbox = server.is_sandbox();
    let bitbucket = server.is_bitbucket();
    let said = match &e.error_description {
        Some(description) => format!("It answered {}: \"{description}\".", e.error),
        None => format!("It answered {}, with no description.", e.error),
    };
    match grant {
        Grant::Password if server.password_refusal_is_removal(e) => {
            let who = if sandbox {
                "The sandbox is imitating bitbucket.org here, because sandboxPasswordGrant is false in \
                 config.json. "
            } else {
                ""
            };
            Explanation::new(
                StatusCode::FORBIDDEN,
                "bitbucket.org no longer accepts the password grant",
                &format!(
                    "{answered} {who}Bitbucket stopped accepting grant_type=password on 2022-03-01 (for \
                     accounts created after 2021-09-13, earlier still), and it never worked for accounts \
                     with two-step verification or single sign-on. It answers every password this way, \
                     right or wrong, so the message about the username and password is misleading."
                ),
                "Use the authorization code grant (\"Sign in with Bitbucket\" on the start page), or the \
                 client credentials grant with a private consumer. For scripts, Bitbucket's replacement for \
                 passwords is a scoped API token, sent as HTTP Basic email:token (that is not OAuth).",
            )
        }
        Grant::Password if bitbucket => Explanation::new(
            StatusCode::FORBIDDEN,
            "The authorization server refused these credentials",
            &format!("{answered} It did not accept the username and password, so no access token was issued."),
            if sandbox {
                "Check the username and password and try again. Accounts with two-step verification or single \
                 sign-on cannot use this grant at all: there is nowhere to type the second factor, and Bitbucket \
                 answered them exactly as it answers a wrong password. In the sandbox, demo-2fa is such an \
                 account: use \"Sign in with Bitbucket\" for it, which asks for the code on the authorization \
                 server's page."
            } else {
                "Check the username and password and try again. Accounts with two-step verification or single \
                 sign-on cannot use this grant at all."
            },
        ),
        Grant::Password => {
            let code = if e.error == "invalid_grant" {
                "invalid_grant is RFC 6749 §5.2's answer to a wrong username or password.".to_owned()
            } else {
                format!(
                    "RFC 6749 §5.2 names a wrong username or password invalid_grant; this server says {} \
                     instead, which some servers use for wrong credentials too: its description tells which.",
                    e.error
                )
            };
            Explanation::new(
                StatusCode::FORBIDDEN,
                "The authorization server refused these credentials",
                &format!("{answered} {said} {code} No access token was issued."),
                "Check the username and password and try again. An account with two-step verification or single \
                 sign-on cannot use this grant at all (there is nowhere to type the second factor): use the \
                 authorization code grant for it.",
            )
        }
        Grant::AuthorizationCode if e.error == "invalid_request" && !bitbucket => Explanation::new(
            StatusCode::BAD_GATEWAY,
            "The server found the code exchange incomplete",
            &format!(
                "{answered} {said} invalid_request (RFC 6749 §5.2) means the request lacks a parameter the server \
                 wants, or repeats one. The app sent the code, the redirect_uri of the authorization request \
                 and, with PKCE on, the code_verifier."
            ),
            "The description names what is missing. The usual settings: callbackUrl (OAUTH_CALLBACK_URL), the \
             redirect_uri, which must equal one registered for the client at the server; pkce (OAUTH_PKCE), \
             which the server may require.",
        ),
        Grant::AuthorizationCode => Explanation::new(
            StatusCode::BAD_REQUEST,
            "The authorization code was refused",
            &format!(
                "{answered} {said} A code can be exchanged once, within minutes, by the {} it was issued to, \
                 with the same redirect_uri as the authorization request and, when a PKCE challenge was sent, \
                 the matching code_verifier. Reloading the callback page replays a used code.",
                server.client_word()
            ),
            "Start the sign-in again from the start page.",
        ),
        Grant::RefreshToken if !bitbucket => Explanation::new(
            StatusCode::BAD_REQUEST,
            "The refresh token was refused",
            &format!(
                "{answered} {said} The server no longer accepts this refresh token: it expired, was revoked (on \
                 many servers revoking any token of a sign-in revokes them all), or was replaced by a newer one \
                 if the server rotates refresh tokens."
            ),
            "Keep the newest refresh token the server gave. To recover, sign in again to get a fresh pair.",
        ),
        Grant::RefreshToken => Explanation::new(
            StatusCode::BAD_REQUEST,
            "The refresh token was refused",
            &format!(
                "{answered} Since May 2026 Bitbucket rotates refresh tokens: each one works once, and the \
                 answer carries its replacement. A refresh token also dies after three months unused, or \
                 when the user revokes the consumer."
            ),
            "Always keep the newest refresh token. To recover, sign in again to get a fresh pair.",
        ),
        Grant::DeviceCode if e.error == "access_denied" => Explanation::new(
            StatusCode::FORBIDDEN,
            "The sign-in on the other device was declined",
            &format!(
                "{answered} {said} The user pressed Deny at the verification page (or the server refused), so the \
                 device code will never bring a token (RFC 8628 §3.5)."
            ),
            "Start the device flow again from the start page if that was a mistake.",
        ),
        Grant::DeviceCode if e.error == "expired_token" => Explanation::new(
            StatusCode::BAD_REQUEST,
            "The device code expired",
            &format!(
                "{answered} {said} Nobody approved the sign-in at the verification page before the codes expired \
                 (expires_in), so the server stopped accepting this device code (RFC 8628 §3.5)."
            ),
            "Start the device flow again, and enter the new code at the verification page in time.",
        ),
        Grant::DeviceCode => Explanation::new(
            StatusCode::BAD_GATEWAY,
            "The authorization server refused the device code",
            &format!("{answered} {said} RFC 8628 §3.5 lists the answers a poll may get; this one ends the flow."),
            "Start the device flow again from the start page; if it recurs, check that this client may use the \
             device authorization grant at the server.",
        ),
        Grant::ClientCredentials => Explanation::new(
            StatusCode::BAD_GATEWAY,
            "The authorization server refused the client credentials grant",
            &format!("{answered} {said} It did not issue a token to this {}.", server.client_word()),
            if bitbucket {
                "Check that the consumer is private and has the permissions (scopes) the app needs."
            } else {
                "Check that this client may use the client credentials grant at the server, and the scopes it asks \
                 for (scope, OAUTH_SCOPE)."
            },
        ),
    }
}

/// The token endpoint's `429`. It is not the API's hourly rate limit: a token endpoint that says
/// "too many requests" is most often limiting failed sign-ins or client authentications, and its
/// own words (when it sends any) say which. Its status stays `429`, so the app's own limit on
/// password attempts counts it: the app cannot tell it from a refused password.
fn rate_limited(answered: &str, reason: Option<&str>) -> Explanation {
    let reason = match reason.filter(|r| !r.is_empty()) {
        Some(reason) => format!(" It gave this reason: \"{reason}\""),
        None => " It gave no reason; token endpoints usually limit failed sign-ins or client \
                  authentications per address or account."
            .to_owned(),
    };
    Explanation::new(
        StatusCode::TOO_MANY_REQUESTS,
        "The authorization server refused more attempts for now",
        &format!("{answered} HTTP 429 means too many requests: the server limits how often this may be tried.{reason}"),
        "Wait before trying again (the Retry-After header, if sent, says how long).",
    )
}

fn unexpected(status: u16, problem: &str, server: &AuthorizationServer, answered: &str) -> Explanation {
    let setting = server.token_setting();
    let page = if status == 429 {
        rate_limited(answered, None)
    } else if status == 410 {
        Explanation::new(
            StatusCode::BAD_GATEWAY,
            "This endpoint has been removed",
            &format!("{answered} HTTP 410 Gone: the server removed this address for good."),
            &if server.is_bitbucket() {
                "Check bitbucketUrl; Bitbucket's token endpoint is /site/oauth2/access_token.".to_owned()
            } else {
                format!("Check the token endpoint ({setting}).")
            },
        )
    } else if problem.contains("HTML page") {
        let who = if server.is_bitbucket() {
            "Bitbucket does this when the client is not authenticated with HTTP Basic, and any server does it"
        } else {
            "A server does this"
        };
        Explanation::new(
            StatusCode::BAD_GATEWAY,
            "The token endpoint answered with an HTML page",
            &format!(
                "{answered} It sent a web page where OAuth 2.0 specifies JSON. {who} when the URL leads to a \
                 web page (a login, an error or a maintenance page) rather than its token endpoint."
            ),
            &if server.token.found == Found::BitbucketDefaults {
                "Check that bitbucketUrl points at the authorization server itself (the token URL is \
                 {bitbucketUrl}/site/oauth2/access_token); the details show the start of the page."
                    .to_owned()
            } else {
                format!("Check the token endpoint ({setting}); the details show the start of the page.")
            },
        )
    } else {
        Explanation::new(
            StatusCode::BAD_GATEWAY,
            "The token endpoint gave an answer that is not a token",
            &format!("{answered} It is not the JSON token response that OAuth 2.0 specifies."),
            &format!(
                "Check that the token endpoint ({setting}) is an OAuth 2.0 authorization server's; the details \
                 show what came back."
            ),
        )
    };
    page.detail("Problem", problem.to_owned())
}

/// The page for a revocation request the server did not accept.
pub fn revocation_failure(endpoint: &str, error: &TokenError, server: &AuthorizationServer) -> Explanation {
    let (status, title) = match error {
        TokenError::NoResponse { timed_out: true, .. } => {
            (StatusCode::GATEWAY_TIMEOUT, "The revocation endpoint is too slow")
        }
        TokenError::NoResponse { .. } => (StatusCode::BAD_GATEWAY, "The revocation endpoint cannot be reached"),
        _ => (StatusCode::BAD_GATEWAY, "The server did not revoke the token"),
    };
    let page = Explanation::new(
        status,
        title,
        &format!(
            "The revocation request (RFC 7009) to {endpoint} failed: {}. RFC 7009 §2.2 has the server answer \
             200 for any token, valid or not, so a refusal is about the request itself: most often the client's \
             authentication (the app sent its credentials {}).",
            error.describe("the revocation request"),
            client_auth_words(server)
        ),
        &format!("Check {} and clientAuth, and the server's log.", server.credentials_setting()),
    )
    .detail("Revocation endpoint", format!("POST {endpoint}"));
    match error {
        TokenError::Refused(e) => oauth_details(page, e),
        _ => page,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorization_server::Kind;

    fn refusal(status: u16, error: &str, description: &str) -> TokenError {
        TokenError::Refused(OAuthError {
            status,
            error: error.into(),
            error_description: Some(description.into()),
            error_uri: None,
        })
    }

    fn server(kind: Kind) -> AuthorizationServer {
        let base = url::Url::parse("https://auth.example").unwrap();
        let mut server = AuthorizationServer::bitbucket(kind, &base, String::new(), base.clone());
        if kind == Kind::Standard {
            (server.bitbucket_api, server.user, server.authorize) = (None, None, None);
        }
        server
    }

    fn bitbucket() -> AuthorizationServer {
        server(Kind::BitbucketOrg)
    }

    #[test]
    fn every_explanation_names_the_grant_the_endpoint_and_the_status() {
        let page = token_failure(
            Grant::Password,
            "https://bitbucket.org/site/oauth2/access_token",
            &refusal(401, "invalid_request", "Invalid resource owner username/password"),
            &bitbucket(),
        );
        assert_eq!(page.status, StatusCode::FORBIDDEN);
        assert!(page.summary.contains("password grant"), "{}", page.summary);
        assert!(page.summary.contains("https://bitbucket.org/site/oauth2/access_token"));
        assert!(page.summary.contains("HTTP 401"));
        assert!(page.summary.contains("2022-03-01"));
    }

    #[test]
    fn bitbucket_answer_means_removal_except_from_a_sandbox_that_takes_passwords() {
        let answer = refusal(401, "invalid_request", "Invalid resource owner username/password");
        let elsewhere = &server(Kind::BitbucketPaths);
        let standard = &server(Kind::Standard);
        let open_sandbox = &server(Kind::Sandbox { password_grant: true });
        let closed_sandbox = &server(Kind::Sandbox { password_grant: false });
        let title = |server| token_failure(Grant::Password, "u", &answer, server).title;
        assert_eq!(title(elsewhere), "bitbucket.org no longer accepts the password grant");
        assert_eq!(title(closed_sandbox), "bitbucket.org no longer accepts the password grant");
        assert_eq!(title(open_sandbox), "The authorization server refused these credentials");
        // A standard server's refusal is its own, even in Bitbucket's words.
        assert_eq!(title(standard), "The authorization server refused these credentials");
        let wrong = refusal(400, "invalid_grant", "Bad credentials");
        assert_eq!(
            token_failure(Grant::Password, "u", &wrong, elsewhere).title,
            "The authorization server refused these credentials"
        );
    }

    #[test]
    fn every_token_endpoint_error_code_gets_its_own_diagnosis_for_a_standard_server() {
        let standard = &server(Kind::Standard);
        let page = |grant, code: &str| token_failure(grant, "u", &refusal(400, code, "d"), standard);
        let cases = [
            (Grant::Password, "invalid_request", "refused these credentials"),
            (Grant::Password, "invalid_grant", "refused these credentials"),
            (Grant::Password, "invalid_client", "refused this app's client"),
            (Grant::Password, "unauthorized_client", "This client may not use the password grant"),
            (Grant::Password, "unsupported_grant_type", "does not offer the password grant"),
            (Grant::Password, "invalid_scope", "does not grant the scopes"),
            (Grant::AuthorizationCode, "invalid_request", "code exchange incomplete"),
            (Grant::AuthorizationCode, "invalid_grant", "authorization code was refused"),
            (Grant::RefreshToken, "invalid_grant", "refresh token was refused"),
            (Grant::ClientCredentials, "unauthorized_client", "may not use the client credentials grant"),
        ];
        for (grant, code, title) in cases {
            let page = page(grant, code);
            assert!(page.title.contains(title), "{grant:?} {code}: {}", page.title);
            let text = format!("{} {} {}", page.title, page.summary, page.fix);
            assert!(!text.contains("Bitbucket") && !text.contains("consumer's settings"), "{code}: {text}");
        }
        let unauthorized = page(Grant::Password, "unauthorized_client");
        assert!(!unauthorized.summary.contains("never looked"), "{}", unauthorized.summary);
        assert!(unauthorized.fix.contains("allow the grant type password"), "{}", unauthorized.fix);
    }

    #[test]
    fn public_consumer_and_missing_callback_are_recognised() {
        let public =
            refusal(400, "invalid_grant", "Cannot use client_credentials with a consumer marked as \"public\". x");
        let page = token_failure(Grant::ClientCredentials, "u", &public, &bitbucket());
        assert_eq!(page.title, "Client credentials need a private consumer");
        let no_callback = refusal(400, "invalid_request", "No callback uri defined for the OAuth client.");
        let page = token_failure(Grant::AuthorizationCode, "u", &no_callback, &bitbucket());
        assert!(page.fix.contains(CALLBACK_URL));
    }
}
