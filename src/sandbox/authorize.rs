//! `GET, POST /site/oauth2/authorize`: Bitbucket's authorization page. The user signs in *here*,
//! at the authorization server (with a second step for `demo-2fa`), then approves the consumer, and
//! is sent back to its callback URL with a code (RFC 6749 §4.1.1, §4.1.2). The app never sees the
//! password typed on this page: that is the grant's whole point.
//!
//! The page is one form that walks through three steps, without a session: `sign-in` (username and
//! password), `two-step` (the code, for `demo-2fa`), `consent` (Grant or Deny). A successful
//! sign-in gets a short-lived ticket, carried by the next forms instead of the password.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use askama::Template;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::limits::CODE_TRIES;
use super::redirect_uri::is_registered;
use super::{Consumer, DEMO_PASSWORD, DEMO_USERNAME, Sandbox, TWO_STEP_CODE, TWO_STEP_USERNAME, consumer};

/// How long a sign-in ticket lasts, from the password to the consent.
const TICKET_LIFETIME: Duration = Duration::from_secs(600);
/// At most this many tickets are kept; past it the oldest go.
const MAX_TICKETS: usize = 10_000;

/// A signed-in user between the sign-in and the consent.
#[derive(Debug)]
struct Ticket {
    user: &'static str,
    /// The second step is done (or the account has none).
    verified: bool,
    /// Wrong two-step codes so far.
    wrong_codes: u32,
    expires: Instant,
}

/// The live tickets, by value.
#[derive(Debug, Default)]
pub(crate) struct Tickets(Mutex<HashMap<String, Ticket>>);

/// What a two-step code did to its ticket.
enum CodeTry {
    /// The right code: the ticket is spent, the user may consent (a new ticket).
    Right(&'static str),
    /// A wrong code; the ticket has tries left.
    Wrong(&'static str),
    /// A wrong code, the last of [`CODE_TRIES`]: the ticket is spent.
    Spent,
    /// No such ticket (or it ran out).
    Unknown,
}

impl Tickets {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Ticket>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn issue(&self, user: &'static str, verified: bool) -> String {
        let ticket = crate::random_token();
        let mut tickets = self.lock();
        let now = Instant::now();
        tickets.retain(|_, t| t.expires > now);
        if tickets.len() >= MAX_TICKETS
            && let Some(oldest) = tickets.iter().min_by_key(|(_, t)| t.expires).map(|(k, _)| k.clone())
        {
            tickets.remove(&oldest);
        }
        tickets.insert(ticket.clone(), Ticket { user, verified, wrong_codes: 0, expires: now + TICKET_LIFETIME });
        ticket
    }

    /// A two-step code tried on `ticket`: right, or one more wrong one (the last spends it).
    fn try_code(&self, ticket: &str, right: bool) -> CodeTry {
        let mut tickets = self.lock();
        let Some(found) = tickets.get_mut(ticket).filter(|t| t.expires > Instant::now()) else {
            return CodeTry::Unknown;
        };
        let user = found.user;
        if right {
            tickets.remove(ticket);
            return CodeTry::Right(user);
        }
        found.wrong_codes += 1;
        if found.wrong_codes >= CODE_TRIES {
            tickets.remove(ticket);
            return CodeTry::Spent;
        }
        CodeTry::Wrong(user)
    }

    /// Takes a live ticket out: its user, and whether the second step is done.
    fn take(&self, ticket: &str) -> Option<(&'static str, bool)> {
        let found = self.lock().remove(ticket)?;
        (found.expires > Instant::now()).then_some((found.user, found.verified))
    }
}

#[derive(Default, Deserialize)]
pub(super) struct AuthorizeParams {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    response_type: String,
    #[serde(default)]
    state: Option<String>,
    /// Where to send the browser back: one of the consumer's registered callback URLs.
    #[serde(default)]
    redirect_uri: Option<String>,
    /// PKCE (RFC 7636): the S256 challenge the code exchange must answer.
    #[serde(default)]
    code_challenge: Option<String>,
    #[serde(default)]
    code_challenge_method: Option<String>,
    /// Scopes asked for (shown; the sandbox grants the consumer's own).
    #[serde(default)]
    scope: Option<String>,
    /// Which form was posted: `sign-in`, `two-step` or `consent`.
    #[serde(default)]
    step: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    /// The two-step verification code.
    #[serde(default)]
    otp: String,
    /// The sign-in ticket, after the password.
    #[serde(default)]
    ticket: String,
    /// `grant` or `deny` (the consent form only).
    #[serde(default)]
    decision: String,
}

/// Which step the page shows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    SignIn,
    Verify,
    Consent,
}

/// `templates/sandbox_authorize.html`: the sandbox's sign-in, two-step or consent page, or its
/// error page.
#[derive(Template)]
#[template(path = "sandbox_authorize.html")]
struct AuthorizeTemplate<'a> {
    step: Step,
    consumer: Option<&'a Consumer>,
    /// A request that cannot be served (an HTML page, as Bitbucket shows).
    error: Option<String>,
    /// A sign-in or code that was wrong: the same step again with this message.
    problem: Option<&'static str>,
    /// A limit was reached: the seconds to wait.
    retry_after: Option<u64>,
    /// The signed-in user, from the consent step on.
    user: Option<String>,
    ticket: String,
    username: String,
    scopes: Vec<&'a str>,
    /// The authorization request, carried through every form.
    carried: Vec<(&'static str, &'a str)>,
}

impl<'a> AuthorizeTemplate<'a> {
    fn new(step: Step, consumer: &'a Consumer, params: &'a AuthorizeParams) -> Self {
        AuthorizeTemplate {
            step,
            consumer: Some(consumer),
            error: None,
            problem: None,
            retry_after: None,
            user: None,
            ticket: String::new(),
            username: String::new(),
            scopes: consumer.scopes.split_whitespace().collect(),
            carried: [
                ("client_id", Some(&params.client_id)),
                ("response_type", Some(&params.response_type)),
                ("state", params.state.as_ref()),
                ("redirect_uri", params.redirect_uri.as_ref()),
                ("code_challenge", params.code_challenge.as_ref()),
                ("code_challenge_method", params.code_challenge_method.as_ref()),
                ("scope", params.scope.as_ref()),
            ]
            .into_iter()
            .filter_map(|(name, value)| Some((name, value?.as_str())))
            .collect(),
        }
    }

    fn respond(&self, status: StatusCode) -> Response {
        match self.render() {
            Ok(html) => (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        }
    }
}

/// Why an authorization request cannot be served.
enum Invalid {
    /// The client or its `redirect_uri` cannot be trusted: the sandbox's own page says why (`400`),
    /// and nothing is sent anywhere (RFC 6749 §4.1.2.1).
    Page(String),
    /// The `redirect_uri` is a registered one but the request is malformed: back there with
    /// `error=invalid_request` (RFC 6749 §4.1.2.1, RFC 7636 §4.4.1).
    Redirect(String),
}

/// Checks an authorization request: the client, then its `redirect_uri` (a registered one, compared
/// as a string; see [`super::redirect_uri`]), then its PKCE parameters.
fn check_authorize(sandbox: &Sandbox, params: &AuthorizeParams) -> Result<&'static Consumer, Invalid> {
    let consumer = consumer(&params.client_id)
        .ok_or_else(|| Invalid::Page(format!("Invalid client_id: {:?}", params.client_id)))?;
    if params.response_type != "code" {
        return Err(Invalid::Page(format!(
            "Unsupported response_type: {:?}; use response_type=code",
            params.response_type
        )));
    }
    if !consumer.has_callback {
        return Err(Invalid::Page("No callback uri defined for the OAuth client.".into()));
    }
    if let Some(uri) = &params.redirect_uri
        && !is_registered(uri, &sandbox.options.redirect_uris)
    {
        return Err(Invalid::Page(format!(
            "Invalid redirect_uri {uri:?}: it is not one of the consumer's registered callback URLs (compared \
             exactly, as a string; only a loopback IP literal such as 127.0.0.1 may have any port)."
        )));
    }
    check_pkce(params).map_err(|problem| Invalid::Redirect(problem.into()))?;
    Ok(consumer)
}

/// RFC 7636 §4.2, §4.3: a `code_challenge` is asked for with the `S256` method (the sandbox, like
/// Bitbucket, takes no `plain`), and is the 43 characters of a base64url-encoded SHA-256 hash.
fn check_pkce(params: &AuthorizeParams) -> Result<(), &'static str> {
    match (params.code_challenge.as_deref(), params.code_challenge_method.as_deref()) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err("code_challenge_method was sent without a code_challenge (RFC 7636 §4.3)."),
        (Some(_), method) if method != Some("S256") => Err("Unsupported code_challenge_method; use S256."),
        (Some(challenge), _) if !is_s256_challenge(challenge) => {
            Err("An S256 code_challenge is 43 characters of base64url (RFC 7636 §4.2).")
        }
        _ => Ok(()),
    }
}

fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43 && challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Sends the browser back to the client's (registered) callback URL with `pairs` and the `state`.
fn back_to_client(sandbox: &Sandbox, params: &AuthorizeParams, pairs: &[(&str, &str)]) -> Response {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.extend_pairs(pairs);
    if let Some(state) = &params.state {
        query.append_pair("state", state);
    }
    let callback = params.redirect_uri.as_deref().unwrap_or(&sandbox.options.callback_url);
    Redirect::to(&format!("{callback}?{}", query.finish())).into_response()
}

fn refuse(sandbox: &Sandbox, params: &AuthorizeParams, invalid: Invalid) -> Response {
    match invalid {
        Invalid::Page(error) => request_error(error),
        Invalid::Redirect(description) => {
            back_to_client(sandbox, params, &[("error", "invalid_request"), ("error_description", &description)])
        }
    }
}

fn request_error(error: String) -> Response {
    let page = AuthorizeTemplate {
        step: Step::SignIn,
        consumer: None,
        error: Some(error),
        problem: None,
        retry_after: None,
        user: None,
        ticket: String::new(),
        username: String::new(),
        scopes: Vec::new(),
        carried: Vec::new(),
    };
    page.respond(StatusCode::BAD_REQUEST)
}

/// `GET /site/oauth2/authorize`: the sign-in page of the authorization server.
pub(super) async fn sign_in_page(
    State(sandbox): State<Arc<Sandbox>>,
    Query(params): Query<AuthorizeParams>,
) -> Response {
    match check_authorize(&sandbox, &params) {
        Ok(consumer) => AuthorizeTemplate::new(Step::SignIn, consumer, &params).respond(StatusCode::OK),
        Err(invalid) => refuse(&sandbox, &params, invalid),
    }
}

/// `POST /site/oauth2/authorize`: the next step of the page (see the module's documentation);
/// after the consent, back to the consumer's callback URL with `code` and `state`, or with
/// `error=access_denied` (RFC 6749 §4.1.2).
pub(super) async fn next_step(
    State(sandbox): State<Arc<Sandbox>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    let Ok(params) = serde_urlencoded::from_bytes::<AuthorizeParams>(&body) else {
        return request_error("Malformed form".into());
    };
    let consumer = match check_authorize(&sandbox, &params) {
        Ok(consumer) => consumer,
        Err(invalid) => return refuse(&sandbox, &params, invalid),
    };
    let page = |step| AuthorizeTemplate::new(step, consumer, &params);
    match params.step.as_str() {
        "sign-in" => {
            // The same limits on password guesses as the token endpoint's: the browser is here itself.
            let username = params.username.trim();
            let attempt = match sandbox.limits.begin_sign_in(peer.ip(), username) {
                Ok(attempt) => attempt,
                Err(limited) => {
                    let mut again = page(Step::SignIn);
                    again.problem = Some(limited.cause);
                    again.retry_after = Some(limited.retry_after);
                    let mut response = again.respond(StatusCode::TOO_MANY_REQUESTS);
                    response.headers_mut().insert(header::RETRY_AFTER, limited.retry_after.into());
                    return response;
                }
            };
            if !matches!(username, DEMO_USERNAME | TWO_STEP_USERNAME) || params.password != DEMO_PASSWORD {
                drop(attempt);
                let mut again = page(Step::SignIn);
                again.problem = Some("Incorrect username or password.");
                again.username = username.to_owned();
                return again.respond(StatusCode::OK);
            }
            attempt.succeeded();
            let two_step = username == TWO_STEP_USERNAME;
            let user = if two_step { TWO_STEP_USERNAME } else { DEMO_USERNAME };
            let mut next = page(if two_step { Step::Verify } else { Step::Consent });
            next.ticket = sandbox.tickets.issue(user, !two_step);
            next.user = Some(user.to_owned());
            next.respond(StatusCode::OK)
        }
        "two-step" => match sandbox.tickets.try_code(&params.ticket, params.otp.trim() == TWO_STEP_CODE) {
            CodeTry::Right(user) => {
                let mut next = page(Step::Consent);
                next.ticket = sandbox.tickets.issue(user, true);
                next.user = Some(user.to_owned());
                next.respond(StatusCode::OK)
            }
            CodeTry::Wrong(user) => {
                let mut again = page(Step::Verify);
                again.problem = Some("That code is not right.");
                again.ticket = params.ticket.clone();
                again.user = Some(user.to_owned());
                again.respond(StatusCode::OK)
            }
            CodeTry::Spent => {
                let mut again = page(Step::SignIn);
                again.problem = Some("Too many wrong codes: this sign-in is spent. Sign in again.");
                again.respond(StatusCode::OK)
            }
            CodeTry::Unknown => page(Step::SignIn).respond(StatusCode::OK),
        },
        "consent" => match sandbox.tickets.take(&params.ticket) {
            Some((user, true)) if params.decision == "grant" => {
                let code =
                    sandbox.issue_code(consumer.key, user, params.redirect_uri.clone(), params.code_challenge.clone());
                back_to_client(&sandbox, &params, &[("code", &code)])
            }
            Some((_, true)) => back_to_client(
                &sandbox,
                &params,
                &[("error", "access_denied"), ("error_description", "The user denied access.")],
            ),
            // Not signed in (or the ticket ran out): back to the start.
            _ => page(Step::SignIn).respond(StatusCode::OK),
        },
        _ => page(Step::SignIn).respond(StatusCode::OK),
    }
}
