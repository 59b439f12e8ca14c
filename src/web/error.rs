//! The web layer's one error type, and the page each error becomes.
//!
//! A handler returns `Result<_, AppError>`. [`AppError`]'s `IntoResponse` sets the status and
//! attaches an [`ErrorPage`] (what happened, what to do, the details) to the response; the
//! [`render_error_page`], called by the protections layer for every error response, turns it into HTML in the site's layout. The words come from
//! [`crate::diagnosis`] as plain [`Explanation`]s. Server-side failures are logged with their cause;
//! secrets never reach the page or the log, because the values put in an `AppError` have already
//! been scrubbed (see [`crate::secrets::Scrubber`]).

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::views::Layout;
use crate::authorization_server::Role;
use crate::diagnosis::Explanation;
use crate::exchange::Exchange;
use crate::grant::Grant;
use crate::token::TokenError;

/// Every way a request can fail after its input was accepted.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A token request that produced no token: 400/403 (the grant was refused), 502 (the consumer
    /// was refused, or the answer was unusable) or 504 (too slow). See [`crate::diagnosis::token_failure`].
    #[error("{} at {endpoint}: {error}", grant.name())]
    Token {
        /// Which grant was asked for.
        grant: Grant,
        /// The token URL.
        endpoint: String,
        /// What went wrong (already scrubbed of secrets).
        error: Box<TokenError>,
        /// What it means, for the page (from [`crate::diagnosis::token_failure`]).
        explanation: Box<Explanation>,
        /// The request and its answer, secrets masked, to show on the page.
        exchange: Option<Box<Exchange>>,
        /// For a refused password: the username, to offer the form again with it.
        retry_username: Option<String>,
    },
    /// 502 (or 504): the server did not revoke the token. See [`crate::diagnosis::revocation_failure`].
    #[error("revocation: {}", explanation.summary)]
    Revocation {
        /// What it means, for the page.
        explanation: Box<Explanation>,
        /// The revocation request and its answer, secrets masked.
        exchange: Box<Exchange>,
    },
    /// 400 or 403: the browser came back to `/oauth-callback` with something wrong.
    #[error("authorization callback: {0:?}")]
    Callback(CallbackProblem),
    /// 503: the app is shutting down and finishing the requests it has.
    #[error("shutting down")]
    ShuttingDown,
    /// 421: a `Host` this app does not answer to (DNS rebinding, or a misdirected request).
    #[error("request for another host refused")]
    MisdirectedHost,
    /// 403: a credential-taking POST from another site's page.
    #[error("cross-site request refused")]
    CrossSite,
    /// 429: too many failed credential attempts from this client; retry after so many seconds.
    #[error("too many failed attempts; retry after {0} s")]
    TooManyAttempts(u64),
    /// 404: the server lacks the endpoint this needs (a standard server without an authorization or
    /// revocation endpoint); the page names the setting that adds it.
    #[error("the server has no {}", .0.name())]
    Absent(Role),
    /// The status the explanation carries: an answer explained by [`crate::diagnosis`], such as an
    /// error the authorization server sent the browser back with (RFC 6749 §4.1.2.1).
    #[error("{}", .0.title)]
    Explained(Box<Explanation>),
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
    /// 403: `error=access_denied`: the user pressed Deny, or the server granted nothing.
    Denied {
        /// The server's `error_description`, if it gave one.
        description: Option<String>,
        /// The scopes the app asked for, if any.
        scope: Option<String>,
    },
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
    /// 400: this state was used already (a reload of the callback, or a replay).
    Replayed,
    /// 400: `state` was right but `code` is missing.
    NoCode,
}

/// The content of an error page: the explanation, and the exchange that failed, if there was one.
#[derive(Clone, Debug)]
pub struct ErrorPage {
    /// What happened, what to do, the facts, the status.
    pub explanation: Explanation,
    /// The HTTP exchange that failed, if there was one.
    pub exchange: Option<Exchange>,
    /// A refused password: the form again, with this username.
    pub retry_username: Option<String>,
}

/// `templates/error.html`: any error, in the site's layout.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorTemplate<'a> {
    pub layout: &'a Layout,
    pub page: &'a ErrorPage,
}

impl From<Explanation> for ErrorPage {
    fn from(explanation: Explanation) -> ErrorPage {
        ErrorPage { explanation, exchange: None, retry_username: None }
    }
}

impl ErrorPage {
    /// The page shown for a bare status, such as a 404 from the router.
    pub fn for_status(status: StatusCode) -> Explanation {
        let (title, explanation, advice) = match status.as_u16() {
            404 => (
                "Page not found",
                "There is no page at this address.",
                "Go back to the start page; its last section lists every address of this app.",
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
        Explanation::new(status, title, explanation, advice)
    }
}

impl AppError {
    /// The same error, offering the password form again with `username` when it is the
    /// authorization server refusing the credentials (a 4xx, not a server failure).
    pub fn with_retry(mut self, username: &str) -> AppError {
        if let AppError::Token { explanation, retry_username, .. } = &mut self
            && explanation.status.is_client_error()
        {
            *retry_username = Some(username.to_owned());
        }
        self
    }

    /// The page this error becomes.
    pub fn page(&self) -> ErrorPage {
        let explanation = match self {
            AppError::Token { explanation, exchange, retry_username, .. } => {
                return ErrorPage {
                    explanation: (**explanation).clone(),
                    exchange: exchange.as_deref().cloned(),
                    retry_username: retry_username.clone(),
                };
            }
            AppError::Revocation { explanation, exchange } => {
                return ErrorPage {
                    explanation: (**explanation).clone(),
                    exchange: Some((**exchange).clone()),
                    retry_username: None,
                };
            }
            AppError::Callback(problem) => callback_page(problem),
            AppError::ShuttingDown => Explanation::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "The app is shutting down",
                "It was asked to stop, and is finishing the requests it already had before it exits.",
                "Start it again (cargo run), then reload this page.",
            ),
            AppError::MisdirectedHost => Explanation::new(
                StatusCode::MISDIRECTED_REQUEST,
                "This address is not served here",
                "The request named a host (in its Host header) that this app does not answer to. It answers \
                 to localhost, 127.0.0.1 and [::1] on its own port, the host of its callback URL, and the hosts \
                 its operator allows. Refusing other names stops a web page from reaching it through a DNS name \
                 of its own (DNS rebinding).",
                "Open the app at http://localhost and its port, or add this host to allowedHosts (ALLOWED_HOSTS).",
            ),
            AppError::CrossSite => Explanation::new(
                StatusCode::FORBIDDEN,
                "Cross-site request refused",
                "This form was posted from another site's page (the browser said so in its Origin or \
                 Sec-Fetch-Site header). Credentials are only taken from this app's own pages, so that another \
                 site cannot make your browser sign in or spend your tokens.",
                "Open the start page of this app and use its form.",
            ),
            AppError::TooManyAttempts(seconds) => Explanation::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many failed attempts",
                "Several usernames and passwords from this address were refused within a minute (a refusal \
                 counts too when the authorization server would not check them because of its own limit: \
                 this app cannot tell that from a wrong password). To resist password guessing (RFC 6749 \
                 §4.3.2 asks for it), further attempts are refused by this app for a while, without asking \
                 the server. Successful sign-ins do not count.",
                &format!("Wait {seconds} seconds, then try again."),
            ),
            AppError::Absent(role) => Explanation::new(
                StatusCode::NOT_FOUND,
                &format!("This server has no {}", role.name().to_lowercase()),
                &format!(
                    "Neither the settings nor the server's metadata name one, so there is {}. The app never borrows \
                     an endpoint from another server.",
                    role.without()
                ),
                &format!("If the server has one, set {} and restart the app.", role.setting()),
            ),
            AppError::Explained(explanation) => (**explanation).clone(),
            AppError::BadRequest(message) => Explanation::new(
                StatusCode::BAD_REQUEST,
                "Bad request",
                message,
                "Go back to the start page and use its buttons.",
            ),
            AppError::Render(_) => ErrorPage::for_status(StatusCode::INTERNAL_SERVER_ERROR),
        };
        explanation.into()
    }

    /// The status of the page this error becomes.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Token { explanation, .. } | AppError::Revocation { explanation, .. } => explanation.status,
            other => other.page().explanation.status,
        }
    }
}

fn callback_page(problem: &CallbackProblem) -> Explanation {
    let again = "Start again from the start page's sign-in button.";
    let bad = |title: &str, explanation: &str| Explanation::new(StatusCode::BAD_REQUEST, title, explanation, again);
    match problem {
        CallbackProblem::Denied { description: Some(description), .. } => Explanation::new(
            StatusCode::FORBIDDEN,
            "Access was denied",
            "The authorization server sent the browser back with error=access_denied instead of a code, so \
             there is nothing to exchange. Its description says why.",
            "If you pressed Deny, that was your call; to try again, start the sign-in again and grant access.",
        )
        .detail("error", "access_denied")
        .detail("error_description", description.clone()),
        CallbackProblem::Denied { description: None, scope } => {
            let asked = match scope {
                Some(scope) => format!("The app asked for scope={scope}."),
                None => "The app asked for no scope at all (scope is empty in the settings).".to_owned(),
            };
            Explanation::new(
                StatusCode::FORBIDDEN,
                "Access was denied: the server granted nothing",
                &format!(
                    "The authorization server sent the browser back with error=access_denied and no \
                     description. That happens when the user presses Deny, but also when the server will not \
                     grant any of the scopes asked for: an OpenID Connect server, for one, grants nothing to a \
                     request without scope=openid. {asked}"
                ),
                "If you did not press Deny, set the scopes this server offers (scope in config.json or \
                 OAUTH_SCOPE, such as \"openid profile email\"), restart, and sign in again.",
            )
            .detail("error", "access_denied")
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
             started, and this browser has no such cookie: the sign-in began elsewhere (another browser, or another \
             instance of this app), cookies are blocked, or it expired.",
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
        CallbackProblem::Replayed => bad(
            "This sign-in has already been completed",
            "The callback came with a state this app has already seen. A state, like the code beside it, works \
             once: reloading the callback page (or going back to it) sends both again, and a replayed callback \
             is refused so that a stolen one cannot be used either.",
        ),
        CallbackProblem::NoCode => {
            bad("The code is missing", "The callback's state is right, but it carries no code to exchange for a token.")
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let page = self.page();
        let status = page.explanation.status;
        if status.is_server_error() {
            tracing::error!(error = %self, status = status.as_u16(), "request failed");
        } else {
            tracing::info!(error = %self, status = status.as_u16(), "request refused");
        }
        let mut response = status.into_response();
        if let AppError::TooManyAttempts(seconds) = self {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response.extensions_mut().insert(page);
        response
    }
}

/// Renders every error response as an HTML page in the site's layout: the [`ErrorPage`] an
/// [`AppError`] attached, or a page for the bare status (404 from the router, 405, 413, …)
/// when the body is not already HTML or JSON.
pub(super) async fn render_error_page(layout: &Layout, response: Response) -> Response {
    let status = response.status();
    let page = match response.extensions().get::<ErrorPage>() {
        Some(page) => page.clone(),
        None => {
            let content_type = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
            if content_type.is_some_and(|t| t.starts_with("text/html") || t.contains("json")) {
                return response;
            }
            ErrorPage::for_status(status).into()
        }
    };
    let (mut parts, body) = response.into_parts();
    if status.is_server_error() && parts.extensions.get::<ErrorPage>().is_none() {
        // A framework-made 5xx: keep its text for the operator (it never holds a credential).
        let text = axum::body::to_bytes(body, 2048).await.unwrap_or_default();
        tracing::error!(status = status.as_u16(), body = %String::from_utf8_lossy(&text), "internal error");
    }
    let html = ErrorTemplate { layout, page: &page }
        .render()
        .unwrap_or_else(|_| format!("<!doctype html><title>{status}</title><h1>{status}</h1>"));
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    Response::from_parts(parts, axum::body::Body::from(html))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_problems_are_4xx() {
        for problem in [
            CallbackProblem::Denied { description: None, scope: None },
            CallbackProblem::Empty,
            CallbackProblem::NoState,
            CallbackProblem::NoCookie,
            CallbackProblem::StateMismatch,
            CallbackProblem::Expired,
            CallbackProblem::Replayed,
            CallbackProblem::NoCode,
        ] {
            assert!(AppError::Callback(problem).status().is_client_error());
        }
    }
}
