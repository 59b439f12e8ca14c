//! The authorization code grant (RFC 6749 §4.1), with PKCE (RFC 7636), in two requests:
//! `GET /authorize` sends the browser to the authorization server with a fresh `state`, the
//! `redirect_uri`, the scopes and a PKCE challenge; `GET /oauth-callback?code=…&state=…` checks
//! the state, exchanges the code (with the same `redirect_uri` and the PKCE verifier) for a token
//! and shows it.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tracing::Instrument;

use super::AppState;
use super::cases::SandboxCase;
use super::error::{AppError, CallbackProblem};
use super::result::{Issued, show_token};
use super::state_cookie::clear_cookie;
use super::views::AuthorizationSteps;
use crate::authorization_server::Role;
use crate::diagnosis;
use crate::exchange::Field;
use crate::grant::Grant;
use crate::pkce;
use crate::secrets::partial;

/// `GET /authorize`: starts the authorization code grant. Sends the browser to the authorization
/// server with a fresh `state` and PKCE challenge, the `redirect_uri` and the scopes; the state and
/// the PKCE verifier stay in a signed cookie for the callback to check and use.
///
/// Reached on another origin than the callback's (`127.0.0.1:3000` when the callback is
/// `http://localhost:3000/oauth-callback`), it first sends the browser to the callback's origin:
/// the cookie is set for the origin that answers, and must be there when the browser comes back.
pub(super) async fn start_authorization(
    State(state): State<AppState>,
    Query(start): Query<StartParams>,
    headers: HeaderMap,
) -> Response {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    if let Some(origin) = state.0.callback_url.as_deref().and_then(|callback| other_origin(callback, host)) {
        let query = start
            .case
            .map(|case| format!("?case={}", url::form_urlencoded::byte_serialize(case.as_bytes()).collect::<String>()));
        return Redirect::to(&format!("{origin}/authorize{}", query.unwrap_or_default())).into_response();
    }
    if state.0.server.authorize.is_none() {
        return AppError::Absent(Role::Authorize).into_response();
    }
    let case = state.case(start.case.as_deref());
    let csrf_state = crate::random_token();
    let verifier = if state.0.settings.pkce { pkce::new_verifier() } else { String::new() };
    let nonce = if state.asks_openid() { crate::random_token() } else { String::new() };
    let issued = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let value = format!("{csrf_state}.{issued}.{verifier}.{}.{nonce}", case.param());
    let cookie = state.0.cookie_key.set_cookie(&value, state.0.settings.state_lifetime);
    let request =
        AuthorizationRequest { state: &state, case, host, csrf_state: &csrf_state, verifier: &verifier, nonce: &nonce };
    ([(header::SET_COOKIE, cookie)], Redirect::to(&request.url())).into_response()
}

/// `GET /authorize?case=…`: the sandbox case to run, if any.
#[derive(Deserialize)]
pub struct StartParams {
    case: Option<String>,
}

/// The authorization request (RFC 6749 §4.1.1): built when the sign-in starts, and built again,
/// identically, on the callback to show it.
struct AuthorizationRequest<'a> {
    state: &'a AppState,
    case: SandboxCase,
    /// The `Host` the browser used: in sandbox mode the callback is on that origin.
    host: &'a str,
    csrf_state: &'a str,
    /// The PKCE verifier; empty when PKCE is off.
    verifier: &'a str,
    /// The OpenID Connect `nonce`; empty when the scope does not ask for `openid`.
    nonce: &'a str,
}

impl AuthorizationRequest<'_> {
    /// The `redirect_uri`: the configured callback, or (sandbox mode) this origin's.
    fn redirect_uri(&self) -> String {
        redirect_uri_for(self.state, self.host)
    }

    /// Each parameter, in order, with what it is for.
    fn parameters(&self) -> Vec<(&'static str, String, &'static str)> {
        let client = self.state.client(self.case);
        let mut parameters = vec![
            ("client_id", client.client_id.to_owned(), "who is asking: the consumer's key"),
            ("response_type", "code".to_owned(), "send back an authorization code (RFC 6749 §4.1.1)"),
            (
                "state",
                self.csrf_state.to_owned(),
                "a one-time random value, checked when the browser comes back (CSRF)",
            ),
            ("redirect_uri", self.redirect_uri(), "where to send the browser back; repeated on the code exchange"),
        ];
        if let Some(scope) = self.state.scope() {
            parameters.push(("scope", scope.to_owned(), "the access asked for"));
            if scope.split(' ').any(|s| s == "offline_access") {
                // OpenID Connect Core §11: a refresh token for offline access needs the user's consent.
                parameters.push(("prompt", "consent".to_owned(), "ask the user, as offline_access requires"));
            }
        }
        if !self.nonce.is_empty() {
            parameters.push((
                "nonce",
                self.nonce.to_owned(),
                "OpenID Connect: a one-time value the id_token must carry back, so an old one cannot be replayed",
            ));
        }
        if !self.verifier.is_empty() {
            parameters.push((
                "code_challenge",
                pkce::challenge(self.verifier),
                "PKCE: BASE64URL(SHA-256(code_verifier)); the verifier itself stays with the app",
            ));
            parameters.push(("code_challenge_method", pkce::METHOD.to_owned(), "the hash used (RFC 7636)"));
        }
        parameters
    }

    /// The URL the browser is sent to.
    fn url(&self) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value, _) in self.parameters() {
            query.append_pair(name, &value);
        }
        let authorize = self.state.0.server.authorize.as_ref().map_or("", |a| a.url.as_str());
        let separator = if authorize.contains('?') { '&' } else { '?' };
        format!("{authorize}{separator}{}", query.finish())
    }
}

/// The `redirect_uri` for a browser on `host`: the configured callback, or (sandbox mode) that
/// origin's.
fn redirect_uri_for(state: &AppState, host: &str) -> String {
    match &state.0.callback_url {
        Some(callback) => callback.clone(),
        None => format!("http://{host}/oauth-callback"),
    }
}

/// The page for an id_token whose `nonce` is not the one sent (OpenID Connect Core §3.1.3.7).
fn nonce_mismatch() -> crate::diagnosis::Explanation {
    crate::diagnosis::Explanation::new(
        axum::http::StatusCode::BAD_GATEWAY,
        "The id_token's nonce does not match",
        "The authorization request sent a one-time nonce, and the id_token that came back with the token does not \
         carry it (OpenID Connect Core §3.1.3.7). It may be an id_token issued for another sign-in, replayed, so the \
         token was not used.",
        "Start the sign-in again from the start page; if it happens again, the server does not return the nonce.",
    )
}

/// The callback's origin, when the request came to another one.
fn other_origin(callback: &str, host: &str) -> Option<String> {
    let callback = url::Url::parse(callback).ok()?;
    let callback_host = match (callback.host_str(), callback.port()) {
        (Some(name), Some(port)) => format!("{name}:{port}"),
        (Some(name), None) => name.to_owned(),
        (None, _) => return None,
    };
    (!callback_host.eq_ignore_ascii_case(host)).then(|| callback.origin().ascii_serialization())
}

/// The states already used on this instance, each kept until it would have expired anyway; at most
/// [`UsedStates::CAPACITY`], the oldest forgotten first. Per instance: instances behind one
/// address that share a `cookieSecret` do not share this list.
#[derive(Debug)]
pub struct UsedStates {
    lifetime: Duration,
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    states: HashSet<String>,
    /// When each was used, oldest first.
    order: VecDeque<(Instant, String)>,
}

impl UsedStates {
    /// The most states remembered (about 100 bytes each).
    pub const CAPACITY: usize = 100_000;

    /// Remembers used states for `lifetime` (the state's own lifetime).
    pub fn new(lifetime: Duration) -> UsedStates {
        UsedStates { lifetime, seen: Mutex::default() }
    }

    /// Whether `state` has been used (and is still remembered), without using it.
    pub fn seen(&self, state: &str) -> bool {
        self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).states.contains(state)
    }

    /// True the first time `state` is seen, false after.
    pub fn first_use(&self, state: &str) -> bool {
        let now = Instant::now();
        let mut guard = self.seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let Seen { states: set, order } = &mut *guard;
        while let Some((at, _)) = order.front() {
            if now.duration_since(*at) < self.lifetime && order.len() < Self::CAPACITY {
                break;
            }
            if let Some((_, old)) = order.pop_front() {
                set.remove(&old);
            }
        }
        if !set.insert(state.to_owned()) {
            return false;
        }
        order.push_back((now, state.to_owned()));
        true
    }
}

/// What the authorization server puts on the callback URL.
#[derive(Deserialize)]
pub struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /oauth-callback?code=…&state=…`: the end of the authorization code grant.
pub(super) async fn authorization_callback(
    state: State<AppState>,
    headers: HeaderMap,
    params: Result<Query<CallbackParams>, QueryRejection>,
) -> ([(header::HeaderName, HeaderValue); 1], Result<Response, AppError>) {
    steps(state, headers, params).instrument(tracing::info_span!("authorization_code_grant")).await
}

/// The grant's steps, in order, inside the `authorization_code_grant` span.
async fn steps(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<CallbackParams>, QueryRejection>,
) -> ([(header::HeaderName, HeaderValue); 1], Result<Response, AppError>) {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    // Whatever happens, the state is spent.
    let cookie = state.0.cookie_key.read(&headers);
    let result = match params {
        Ok(Query(params)) => finish_authorization(&state, host, cookie, params).await,
        Err(_) => Err(AppError::BadRequest("The callback's query string could not be read.")),
    };
    ([(header::SET_COOKIE, clear_cookie())], result)
}

async fn finish_authorization(
    state: &AppState,
    host: &str,
    cookie: Option<String>,
    params: CallbackParams,
) -> Result<Response, AppError> {
    let problem = |p| Err(AppError::Callback(p));
    if let Some(error) = params.error {
        let description = params.error_description;
        return if error == "access_denied" {
            problem(CallbackProblem::Denied { description, scope: state.scope().map(str::to_owned) })
        } else {
            let sent = diagnosis::Sent {
                scope: state.scope(),
                pkce: state.0.settings.pkce,
                redirect_uri: &redirect_uri_for(state, host),
            };
            let explanation = diagnosis::authorization_error(&error, description.as_deref(), &state.0.server, sent);
            Err(AppError::Explained(Box::new(explanation)))
        };
    }
    let Some(returned_state) = params.state else {
        return problem(if params.code.is_none() { CallbackProblem::Empty } else { CallbackProblem::NoState });
    };
    let Some(cookie) = cookie else {
        // A browser that reloads the callback has no cookie any more (the first visit spent it).
        let spent = state.0.used_states.seen(&returned_state);
        return problem(if spent { CallbackProblem::Replayed } else { CallbackProblem::NoCookie });
    };
    let mut parts = cookie.split('.');
    let (expected, issued, verifier) = (parts.next(), parts.next().unwrap_or("0"), parts.next().unwrap_or(""));
    let case = state.case(parts.next());
    let nonce = parts.next().unwrap_or("");
    if expected != Some(returned_state.as_str()) {
        return problem(CallbackProblem::StateMismatch);
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    if now.saturating_sub(issued.parse().unwrap_or(0)) >= state.0.settings.state_lifetime.as_secs() {
        return problem(CallbackProblem::Expired);
    }
    // Single use: a state seen once is spent, whatever came of it (a reload, or a replayed cookie).
    if !state.0.used_states.first_use(&returned_state) {
        return problem(CallbackProblem::Replayed);
    }
    let Some(code) = params.code.filter(|c| !c.is_empty()) else {
        return problem(CallbackProblem::NoCode);
    };
    let scrubber = state.scrubber(case).secret(&code).secret(verifier);
    let request = AuthorizationRequest { state, case, host, csrf_state: &returned_state, verifier, nonce };
    // The same redirect_uri as on the authorization request (RFC 6749 §4.1.3).
    let redirect_uri = request.redirect_uri();
    let mut fields = vec![
        Field::plain("grant_type", "authorization_code"),
        Field::secret("code", &code),
        Field::plain("redirect_uri", &redirect_uri),
    ];
    if !verifier.is_empty() {
        fields.push(Field::secret("code_verifier", verifier));
    }
    let (exchange, token) = state.request_token(case, Grant::AuthorizationCode, &fields, &scrubber).await?;
    let nonce_check = match (nonce.is_empty(), token.id_token.as_deref().map(crate::jwt::decode)) {
        (true, _) | (false, None) => None,
        (false, Some(Some(id_token))) if id_token.nonce.as_deref() == Some(nonce) => Some(format!(
            "The id_token carries the nonce this sign-in sent ({}): it was issued for this sign-in, not replayed.",
            partial(nonce)
        )),
        (false, Some(_)) => return Err(AppError::Explained(Box::new(nonce_mismatch()))),
    };
    let steps = AuthorizationSteps {
        request_url: request.url(),
        parameters: request.parameters().into_iter().map(|(n, v, m)| (n, v, m.to_owned())).collect(),
        callback: format!("{redirect_uri}?code={}&state={returned_state}", partial(&code)),
        state_check: format!(
            "The state that came back ({returned_state}) equals the one kept in this browser's signed cookie, \
             and it had not been used: the callback answers a sign-in this browser started."
        ),
        pkce: !verifier.is_empty(),
        nonce_check,
    };
    show_token(state, Issued { case, grant: Grant::AuthorizationCode, token, exchange }, Some(steps), None, scrubber)
        .await
}
