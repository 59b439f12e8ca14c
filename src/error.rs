//! The web layer's one error type, and the page each error becomes.
//!
//! A handler returns `Result<_, AppError>`. [`AppError`]'s `IntoResponse` sets the status and
//! attaches an [`ErrorPage`] (what happened, what to do, the details) to the response; the
//! `render_error_pages` middleware in [`crate::web`] turns it into HTML in the site's layout.
//! Server-side failures are logged with their cause; secrets never reach the page or the log,
//! because the values put in an `AppError` have already been scrubbed (see [`Scrubber`]).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::diagnosis::{self, Grant, Upstream};
use crate::exchange::Exchange;
use crate::token::{OAuthError, TokenError};

/// Every way a request can fail after its input was accepted.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A token request that produced no token: 400/403 (the grant was refused), 502 (the consumer
    /// was refused, or the answer was unusable) or 504 (too slow). See [`diagnosis::token_failure`].
    #[error("{} at {endpoint}: {error}", grant.name())]
    Token {
        /// Which grant was asked for.
        grant: Grant,
        /// The token URL.
        endpoint: String,
        /// What went wrong (already scrubbed of secrets).
        error: TokenError,
        /// What the app knows about the server.
        upstream: Upstream,
        /// The request and its answer, secrets masked, to show on the page.
        exchange: Option<Box<Exchange>>,
    },
    /// 400 or 403: the browser came back to `/oauth-callback` with something wrong.
    #[error("authorization callback: {0:?}")]
    Callback(CallbackProblem),
    /// 403: a credential-taking POST from another site's page.
    #[error("cross-site request refused")]
    CrossSite,
    /// 429: too many failed credential attempts from this client; retry after so many seconds.
    #[error("too many failed attempts; retry after {0} s")]
    TooManyAttempts(u64),
    /// 400: a form that is not what the app's own pages send.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    /// 500: a template failed to render (a bug).
    #[error("rendering a page failed: {0}")]
    Render(#[from] askama::Error),
}

/// What can be wrong when the browser returns to `GET /oauth-callback`.
#[derive(Debug)]
pub enum CallbackProblem {
    /// 403: the user pressed Deny (`error=access_denied`).
    Denied,
    /// 400: another `error` from the authorization server (RFC 6749 §4.1.2.1).
    Error { error: String, description: Option<String> },
    /// 400: no `code`, `state` or `error` at all: someone opened the address directly.
    Empty,
    /// 400: no `state` parameter.
    NoState,
    /// 400: no state cookie: the sign-in did not start in this browser, or long ago.
    NoCookie,
    /// 400: the state does not match the cookie's: possibly a forged request.
    StateMismatch,
    /// 400: the sign-in took longer than the state's lifetime.
    Expired,
    /// 400: `state` was right but `code` is missing.
    NoCode,
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
    /// The HTTP exchange that failed, if there was one.
    pub exchange: Option<Exchange>,
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
            exchange: None,
        }
    }

    /// Adds a labelled fact.
    pub fn detail(mut self, label: &str, value: impl Into<String>) -> ErrorPage {
        self.details.push((label.into(), value.into()));
        self
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
            408 => ("Request timed out", "The request took too long to arrive or to be handled.", "Try again."),
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
            414 => (
                "Address too long",
                "The address (path and query) is longer than this app accepts.",
                "Use the links on the start page.",
            ),
            431 => (
                "Request headers too large",
                "The request's headers are larger than this app accepts.",
                "Send fewer or smaller headers.",
            ),
            400..=499 => {
                ("Bad request", "The request could not be understood.", "Go back to the start page and try again.")
            }
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
            AppError::Token { grant, endpoint, error, upstream, exchange } => ErrorPage {
                exchange: exchange.as_deref().cloned(),
                ..diagnosis::token_failure(*grant, endpoint, error, *upstream)
            },
            AppError::Callback(problem) => callback_page(problem),
            AppError::CrossSite => ErrorPage::new(
                StatusCode::FORBIDDEN,
                "Cross-site request refused",
                "This form was posted from another site's page (the browser said so in its Origin or \
                 Sec-Fetch-Site header). Credentials are only taken from this app's own pages, so that another \
                 site cannot make your browser sign in or spend your tokens.",
                "Open the start page of this app and use its form.",
            ),
            AppError::TooManyAttempts(seconds) => ErrorPage::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many failed attempts",
                "Several usernames and passwords from this address were refused within a minute. To resist \
                 password guessing (RFC 6749 §4.3.2 asks for it), further attempts are refused for a while. \
                 Successful sign-ins do not count.",
                &format!("Wait {seconds} seconds, then try again."),
            ),
            AppError::BadRequest(message) => ErrorPage::new(
                StatusCode::BAD_REQUEST,
                "Bad request",
                message,
                "Go back to the start page and use its buttons.",
            ),
            AppError::Render(_) => ErrorPage::for_status(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}

fn callback_page(problem: &CallbackProblem) -> ErrorPage {
    let again = "Start again from the start page with \"Sign in with Bitbucket\".";
    let bad = |title: &str, explanation: &str| ErrorPage::new(StatusCode::BAD_REQUEST, title, explanation, again);
    match problem {
        CallbackProblem::Denied => ErrorPage::new(
            StatusCode::FORBIDDEN,
            "Access was denied",
            "The authorization server sent the browser back with error=access_denied: the user chose not to \
             grant this app access, so there is no code to exchange.",
            "That is the user's call. To try again, use \"Sign in with Bitbucket\" and choose Grant.",
        ),
        CallbackProblem::Error { error, description } => {
            let page = bad(
                "The authorization server reported an error",
                "The browser came back to /oauth-callback with an error instead of a code (RFC 6749 §4.1.2.1).",
            )
            .detail("error", error.clone());
            match description {
                Some(description) => page.detail("error_description", description.clone()),
                None => page,
            }
        }
        CallbackProblem::Empty => bad(
            "Nothing to do here yet",
            "GET /oauth-callback is where the authorization server sends the browser back with ?code=…&state=…. \
             This request had neither. (POST /oauth-callback is the password form.)",
        ),
        CallbackProblem::NoState => bad(
            "The state parameter is missing",
            "The callback came without state, so the app cannot tell that it answers a sign-in this browser \
             started. It was refused to prevent cross-site request forgery (RFC 6749 §10.12).",
        ),
        CallbackProblem::NoCookie => bad(
            "No sign-in is in progress in this browser",
            "The callback's state must match the one the app stored in a short-lived cookie when the sign-in \
             started, and this browser has no such cookie: the sign-in began elsewhere, cookies are blocked, \
             or it expired.",
        ),
        CallbackProblem::StateMismatch => bad(
            "The state does not match",
            "The state in the callback differs from the one this browser was given when the sign-in started. \
             That is what a forged callback looks like (RFC 6749 §10.12), so the code was not used.",
        ),
        CallbackProblem::Expired => bad(
            "The sign-in took too long",
            "The state given when the sign-in started has expired (it lasts minutes, not hours).",
        ),
        CallbackProblem::NoCode => {
            bad("The code is missing", "The callback's state is right, but it carries no code to exchange for a token.")
        }
    }
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
        if let AppError::TooManyAttempts(seconds) = self {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response.extensions_mut().insert(page);
        response
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
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.secret(password).secret(&encoded)
    }

    /// The text with every secret replaced.
    pub fn scrub(&self, text: &str) -> String {
        self.needles.iter().fold(text.to_owned(), |text, needle| text.replace(needle, "[redacted]"))
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
            TokenError::NoResponse { timed_out, connect, message } => {
                TokenError::NoResponse { timed_out, connect, message: self.scrub(&message) }
            }
            TokenError::UnexpectedResponse { status, problem, excerpt } => {
                TokenError::UnexpectedResponse { status, problem: self.scrub(&problem), excerpt: self.scrub(&excerpt) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubber_removes_plain_url_encoded_and_basic_forms() {
        let scrubber = Scrubber::default().secret("p@ss word").basic_pair("key", "consumer-secret");
        let text = "echo: p@ss word / p%40ss+word / a2V5OmNvbnN1bWVyLXNlY3JldA== / consumer-secret";
        let clean = scrubber.scrub(text);
        assert_eq!(clean, "echo: [redacted] / [redacted] / [redacted] / [redacted]");
    }

    #[test]
    fn callback_problems_are_4xx() {
        for problem in [
            CallbackProblem::Denied,
            CallbackProblem::Empty,
            CallbackProblem::NoState,
            CallbackProblem::NoCookie,
            CallbackProblem::StateMismatch,
            CallbackProblem::Expired,
            CallbackProblem::NoCode,
        ] {
            assert!(AppError::Callback(problem).page().status.is_client_error());
        }
    }
}
