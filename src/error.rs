//! The web layer's one error type, and the page each error becomes.
//!
//! A handler returns `Result<_, AppError>`. [`AppError`]'s `IntoResponse` sets the status and
//! attaches an [`ErrorPage`] (what happened, what to do, the details) to the response; the
//! `render_error_pages` middleware in [`crate::web`] turns it into HTML in the site's layout.
//! Server-side failures are logged with their cause; secrets never reach the page or the log,
//! because the values put in an `AppError` have already been scrubbed (see [`Scrubber`]).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::bitbucket::ApiError;
use crate::token::{OAuthError, TokenError};

/// Every way a request can fail after its input was accepted.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// 403: the authorization server refused the resource owner's username or password.
    #[error("the authorization server refused the user's credentials: {}", .0.error)]
    CredentialsRefused(OAuthError),
    /// 502: the authorization server refused the client (consumer key or secret).
    #[error("the authorization server refused the consumer: {}", .0.error)]
    ConsumerRefused(OAuthError),
    /// 502: the authorization server does not offer the password grant.
    #[error("the authorization server does not offer the grant: {}", .0.error)]
    GrantNotOffered(OAuthError),
    /// 502 (no answer, or an answer that is not a token response) or 504 (timed out).
    #[error("token endpoint {endpoint}: {error}")]
    TokenEndpoint {
        /// The token URL.
        endpoint: String,
        /// What went wrong.
        error: TokenError,
    },
    /// 500: a template failed to render (a bug).
    #[error("rendering a page failed: {0}")]
    Render(#[from] askama::Error),
}

/// The content of an error page: what the user reads.
#[derive(Clone, Debug)]
pub struct ErrorPage {
    /// The HTTP status of the page.
    pub status: StatusCode,
    /// A short heading.
    pub title: String,
    /// What happened, in plain words.
    pub explanation: String,
    /// What to do about it.
    pub advice: String,
    /// Facts worth showing: label and value (status, error code, endpoint, …).
    pub details: Vec<(String, String)>,
}

impl ErrorPage {
    /// A page with no details.
    pub fn new(status: StatusCode, title: &str, explanation: &str, advice: &str) -> ErrorPage {
        ErrorPage {
            status,
            title: title.into(),
            explanation: explanation.into(),
            advice: advice.into(),
            details: Vec::new(),
        }
    }

    fn detail(mut self, label: &str, value: impl Into<String>) -> ErrorPage {
        self.details.push((label.into(), value.into()));
        self
    }

    fn oauth_details(self, error: &OAuthError) -> ErrorPage {
        let page = self
            .detail(
                "HTTP status from the authorization server",
                error.status.to_string(),
            )
            .detail("error", error.error.clone());
        match &error.error_description {
            Some(description) => page.detail("error_description", description.clone()),
            None => page,
        }
    }

    /// The page shown for a bare status, such as a 404 from the router.
    pub fn for_status(status: StatusCode) -> ErrorPage {
        let (title, explanation, advice) = match status.as_u16() {
            404 => (
                "Page not found",
                "There is no page at this address.",
                "Go back to the start page; the app's pages are /, /healthcheck and /oauth-callback.",
            ),
            405 => (
                "Method not allowed",
                "This address exists, but not for this HTTP method.",
                "Use the form on the start page; the Allow header lists the methods that work here.",
            ),
            408 => (
                "Request timed out",
                "The request took too long to arrive or to be handled.",
                "Try again.",
            ),
            413 => (
                "Request too large",
                "The request body is larger than this app accepts.",
                "Usernames and passwords are short; send a smaller form.",
            ),
            415 => (
                "Unsupported content type",
                "The request body is not in a format this address accepts.",
                "Send the form as application/x-www-form-urlencoded, as the start page's form does.",
            ),
            431 => (
                "Request headers too large",
                "The request's headers are larger than this app accepts.",
                "Send fewer or smaller headers.",
            ),
            400..=499 => (
                "Bad request",
                "The request could not be understood.",
                "Go back to the start page and try again.",
            ),
            _ => (
                "Something went wrong",
                "The app failed to handle this request.",
                "Try again; if it keeps happening, the server's log says why.",
            ),
        };
        ErrorPage::new(status, title, explanation, advice)
    }
}

impl AppError {
    /// The page this error becomes.
    pub fn page(&self) -> ErrorPage {
        match self {
            AppError::CredentialsRefused(error) => ErrorPage::new(
                StatusCode::FORBIDDEN,
                "The authorization server refused these credentials",
                "The token endpoint did not accept the username and password, so no access token was issued.",
                "Check the username and password and try again. Accounts with two-step verification or \
                 single sign-on cannot use this grant at all.",
            )
            .oauth_details(error),
            AppError::ConsumerRefused(error) => ErrorPage::new(
                StatusCode::BAD_GATEWAY,
                "The authorization server refused this app's consumer",
                "The token endpoint did not accept the client credentials this app sent (the consumer key \
                 and secret), so it never looked at the username and password.",
                "Operator: check consumerKey and consumerSecret in config.json (or BITBUCKET_CONSUMER_KEY \
                 and BITBUCKET_CONSUMER_SECRET) against the consumer's settings, then restart the app.",
            )
            .oauth_details(error),
            AppError::GrantNotOffered(error) => ErrorPage::new(
                StatusCode::BAD_GATEWAY,
                "The authorization server does not offer the password grant",
                "The token endpoint answered that it does not support grant_type=password.",
                "Point the app at a server that offers the Resource Owner Password Credentials grant, or \
                 use the built-in sandbox (\"sandbox\": true in config.json).",
            )
            .oauth_details(error),
            AppError::TokenEndpoint { endpoint, error } => token_endpoint_page(endpoint, error),
            AppError::Render(_) => ErrorPage::for_status(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }

    /// Sorts a failed token request into the error that explains it.
    pub fn from_token_error(endpoint: &str, error: TokenError) -> AppError {
        match error {
            TokenError::Refused(e) if is_consumer_problem(&e) => AppError::ConsumerRefused(e),
            TokenError::Refused(e) if e.error == "unsupported_grant_type" => {
                AppError::GrantNotOffered(e)
            }
            TokenError::Refused(e) if e.status >= 500 => AppError::TokenEndpoint {
                endpoint: endpoint.into(),
                error: TokenError::UnexpectedResponse {
                    status: e.status,
                    problem: format!("a server error: {}", e.error),
                    excerpt: e.error_description.unwrap_or_default(),
                },
            },
            TokenError::Refused(e) => AppError::CredentialsRefused(e),
            other => AppError::TokenEndpoint {
                endpoint: endpoint.into(),
                error: other,
            },
        }
    }
}

/// `invalid_client` (RFC 6749) and `unauthorized_client` (Bitbucket's answer to a bad consumer)
/// are about the client, not the user.
fn is_consumer_problem(error: &OAuthError) -> bool {
    error.error == "invalid_client" || error.error == "unauthorized_client"
}

fn token_endpoint_page(endpoint: &str, error: &TokenError) -> ErrorPage {
    let page = match error {
        TokenError::NoResponse { timed_out: true, message, .. } => ErrorPage::new(
            StatusCode::GATEWAY_TIMEOUT,
            "The token endpoint is too slow",
            "The token endpoint did not answer in time, so the request was given up.",
            "Try again later. If the server is known to be slow, raise timeoutSeconds in config.json.",
        )
        .detail("What happened", message.clone()),
        TokenError::NoResponse { message, .. } => ErrorPage::new(
            StatusCode::BAD_GATEWAY,
            "The token endpoint cannot be reached",
            "The request for an access token never got an answer: no connection could be made or it broke.",
            "Check bitbucketUrl in config.json (or BITBUCKET_URL) and that the server is up.",
        )
        .detail("What happened", message.clone()),
        TokenError::UnexpectedResponse { status, problem, excerpt } => ErrorPage::new(
            StatusCode::BAD_GATEWAY,
            "The token endpoint gave an answer that is not a token",
            "The token endpoint answered, but not with the JSON token response that OAuth 2.0 specifies.",
            "Check that bitbucketUrl points at an OAuth 2.0 authorization server; the details show what came back.",
        )
        .detail("Problem", problem.clone())
        .detail("HTTP status from the token endpoint", status.to_string())
        .detail("Start of the answer", excerpt.clone()),
        TokenError::Refused(e) => ErrorPage::new(
            StatusCode::BAD_GATEWAY,
            "The token endpoint failed",
            "The token endpoint answered with a server error.",
            "Try again later.",
        )
        .oauth_details(e),
    };
    page.detail("Token endpoint", endpoint)
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let page = self.page();
        if page.status.is_server_error() {
            tracing::error!(error = %self, status = page.status.as_u16(), "request failed");
        } else {
            tracing::info!(error = %self, status = page.status.as_u16(), "request refused");
        }
        let mut response = page.status.into_response();
        response.extensions_mut().insert(page);
        response
    }
}

/// How an API failure is shown on the result page, after a token was obtained.
pub fn describe_api_error(error: &ApiError) -> (String, Vec<(String, String)>) {
    match error {
        ApiError::Status {
            status,
            message,
            detail,
        } => {
            let mut details = vec![
                ("HTTP status".into(), status.to_string()),
                ("message".into(), message.clone()),
            ];
            if let Some(detail) = detail {
                details.push(("detail".into(), detail.clone()));
            }
            (
                format!("The API refused the call (HTTP {status}): {message}"),
                details,
            )
        }
        ApiError::Transport(TokenError::NoResponse {
            timed_out: true,
            message,
            ..
        }) => (
            "The API did not answer in time.".into(),
            vec![("What happened".into(), message.clone())],
        ),
        ApiError::Transport(TokenError::NoResponse { message, .. }) => (
            "The API cannot be reached.".into(),
            vec![("What happened".into(), message.clone())],
        ),
        ApiError::Transport(TokenError::UnexpectedResponse {
            status,
            problem,
            excerpt,
        }) => (
            format!("The API gave an answer that could not be understood: {problem}"),
            vec![
                ("HTTP status".into(), status.to_string()),
                ("Start of the answer".into(), excerpt.clone()),
            ],
        ),
        ApiError::Transport(TokenError::Refused(e)) => {
            (format!("The API refused the call: {}", e.error), Vec::new())
        }
    }
}

/// Removes secrets from text that came from elsewhere (an upstream's answer), before it is
/// shown or logged: each secret, and its URL-encoded and Basic-auth forms, becomes `[redacted]`.
#[derive(Default)]
pub struct Scrubber {
    needles: Vec<String>,
}

impl Scrubber {
    /// Adds a secret to remove (empty and very short values are ignored: they would match anywhere).
    pub fn secret(mut self, secret: &str) -> Scrubber {
        if secret.len() >= 3 {
            self.needles.push(secret.to_owned());
            let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
            if encoded != secret {
                self.needles.push(encoded);
            }
        }
        self
    }

    /// Adds a Basic-auth pair: the pair's base64 form is a secret too.
    pub fn basic_pair(self, user: &str, password: &str) -> Scrubber {
        use base64::Engine;
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.secret(password).secret(&encoded)
    }

    /// The text with every secret replaced.
    pub fn scrub(&self, text: &str) -> String {
        self.needles.iter().fold(text.to_owned(), |text, needle| {
            text.replace(needle, "[redacted]")
        })
    }

    /// A token error with every text field scrubbed.
    pub fn token_error(&self, error: TokenError) -> TokenError {
        match error {
            TokenError::Refused(e) => TokenError::Refused(OAuthError {
                error: self.scrub(&e.error),
                error_description: e.error_description.map(|d| self.scrub(&d)),
                error_uri: e.error_uri.map(|u| self.scrub(&u)),
                status: e.status,
            }),
            TokenError::NoResponse {
                timed_out,
                connect,
                message,
            } => TokenError::NoResponse {
                timed_out,
                connect,
                message: self.scrub(&message),
            },
            TokenError::UnexpectedResponse {
                status,
                problem,
                excerpt,
            } => TokenError::UnexpectedResponse {
                status,
                problem: self.scrub(&problem),
                excerpt: self.scrub(&excerpt),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubber_removes_plain_url_encoded_and_basic_forms() {
        let scrubber = Scrubber::default()
            .secret("p@ss word")
            .basic_pair("key", "consumer-secret");
        let text = "echo: p@ss word / p%40ss+word / a2V5OmNvbnN1bWVyLXNlY3JldA== / consumer-secret";
        let clean = scrubber.scrub(text);
        assert_eq!(
            clean,
            "echo: [redacted] / [redacted] / [redacted] / [redacted]"
        );
    }

    fn refused(status: u16, error: &str) -> TokenError {
        TokenError::Refused(OAuthError {
            status,
            error: error.into(),
            error_description: None,
            error_uri: None,
        })
    }

    #[test]
    fn refusals_are_sorted_by_who_was_refused() {
        let status = |e| AppError::from_token_error("u", e).page().status.as_u16();
        assert_eq!(status(refused(400, "unauthorized_client")), 502);
        assert_eq!(status(refused(401, "invalid_client")), 502);
        assert_eq!(status(refused(400, "unsupported_grant_type")), 502);
        assert_eq!(status(refused(401, "invalid_request")), 403);
        assert_eq!(status(refused(400, "invalid_grant")), 403);
        assert_eq!(status(refused(503, "temporarily_unavailable")), 502);
    }

    #[test]
    fn timeouts_are_504_and_other_failures_502() {
        let no_response = |timed_out| TokenError::NoResponse {
            timed_out,
            connect: false,
            message: "x".into(),
        };
        assert_eq!(
            AppError::from_token_error("u", no_response(true))
                .page()
                .status,
            StatusCode::GATEWAY_TIMEOUT
        );
        assert_eq!(
            AppError::from_token_error("u", no_response(false))
                .page()
                .status,
            StatusCode::BAD_GATEWAY
        );
    }
}
