//! What the sign-in, consent and verification pages share: the sign-in tickets (a signed-in user
//! between the password and the consent, without a session cookie), the password check with its
//! limit, the scope descriptions, the error page, and the headers of every page (`no-store`, a
//! strict Content-Security-Policy: this origin's stylesheet only, no script).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::{DEMO_PASSWORD, DEMO_USERNAME, StandardSandbox, now_unix};

/// How long a sign-in ticket lasts, from the password to the consent.
const TICKET_LIFETIME: Duration = Duration::from_secs(600);
/// At most this many tickets are kept; past it the oldest go.
const MAX_TICKETS: usize = 10_000;

/// A signed-in user, between the sign-in and the consent.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SignedIn {
    pub(crate) username: &'static str,
    /// When they typed their password (the `auth_time` claim).
    pub(crate) auth_time: u64,
}

/// Sign-in tickets: ticket → (user, expiry).
#[derive(Debug, Default)]
pub(crate) struct Tickets(Mutex<HashMap<String, (SignedIn, Instant)>>);

impl Tickets {
    pub(crate) fn issue(&self, user: SignedIn) -> String {
        let ticket = crate::random_token();
        let mut tickets = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        tickets.retain(|_, (_, expires)| *expires > now);
        if tickets.len() >= MAX_TICKETS
            && let Some(oldest) = tickets.iter().min_by_key(|(_, (_, e))| *e).map(|(k, _)| k.clone())
        {
            tickets.remove(&oldest);
        }
        tickets.insert(ticket.clone(), (user, now + TICKET_LIFETIME));
        ticket
    }

    /// Takes a ticket out (single use), if it is live.
    pub(crate) fn take(&self, ticket: &str) -> Option<SignedIn> {
        let mut tickets = self.0.lock().unwrap_or_else(|p| p.into_inner());
        tickets.remove(ticket).filter(|(_, expires)| *expires > Instant::now()).map(|(user, _)| user)
    }
}

/// Why a sign-in failed.
pub(crate) enum SignInProblem {
    Wrong,
    /// Too many failed passwords for this account: seconds to wait.
    TooMany(u64),
}

impl SignInProblem {
    pub(crate) fn message(&self) -> String {
        match self {
            SignInProblem::Wrong => "Incorrect username or password.".into(),
            SignInProblem::TooMany(seconds) => {
                format!("Too many failed sign-ins for this account; try again in {seconds} seconds.")
            }
        }
    }
}

impl StandardSandbox {
    /// Checks a user name and password, counting failures per account (only existing accounts:
    /// an unknown name fails anyway).
    pub(crate) fn check_password(&self, username: &str, password: &str) -> Result<&'static str, SignInProblem> {
        if username != DEMO_USERNAME {
            return Err(SignInProblem::Wrong);
        }
        self.failures.check(DEMO_USERNAME).map_err(SignInProblem::TooMany)?;
        if password == DEMO_PASSWORD {
            Ok(DEMO_USERNAME)
        } else {
            self.failures.failed(DEMO_USERNAME);
            Err(SignInProblem::Wrong)
        }
    }

    /// Signs a user in: a ticket for the consent step.
    pub(crate) fn sign_in(&self, username: &'static str) -> String {
        self.tickets.issue(SignedIn { username, auth_time: now_unix() })
    }

    /// The path of one of its pages on its own origin, for a form's `action`.
    pub(crate) fn page_path(&self, path: &str) -> String {
        format!("{}{path}", self.issuer_path)
    }
}

/// A scope as the consent page explains it.
pub(crate) struct ScopeView {
    pub(crate) name: &'static str,
    pub(crate) meaning: &'static str,
}

pub(crate) fn scope_views(scopes: &[&'static str]) -> Vec<ScopeView> {
    scopes
        .iter()
        .map(|name| ScopeView {
            name,
            meaning: match *name {
                "openid" => "sign you in: your subject identifier, in an ID token",
                "profile" => "your name and user name",
                "email" => "your e-mail address",
                "offline_access" => "keep access while you are away: a refresh token",
                _ => "",
            },
        })
        .collect()
}

/// `templates/standard_sandbox_error.html`: a request that cannot be served.
#[derive(Template)]
#[template(path = "standard_sandbox_error.html")]
pub(crate) struct ErrorPage<'a> {
    pub(crate) status: u16,
    pub(crate) title: &'a str,
    pub(crate) message: String,
}

impl ErrorPage<'_> {
    pub(crate) fn respond(&self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        respond_html(status, self.render(), None)
    }
}

/// An HTML page with `no-store` and a strict CSP; `form_target`: an origin the page's form may
/// end at besides its own (the client's redirect URI, after the consent).
pub(crate) fn respond_html(status: StatusCode, html: askama::Result<String>, form_target: Option<&str>) -> Response {
    let Ok(html) = html else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let form_action = match form_target {
        Some(origin) => format!("'self' {origin}"),
        None => "'self'".to_owned(),
    };
    let policy = format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action {form_action}; \
         base-uri 'none'; frame-ancestors 'none'"
    );
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(policy) = HeaderValue::from_str(&policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}
