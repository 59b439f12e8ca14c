//! The authorization code grant (RFC 6749 §4.1), in two requests: `GET /authorize` sends the
//! browser to the authorization server with a fresh `state`; `GET /oauth-callback?code=…&state=…`
//! checks the state, exchanges the code for a token and shows it.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{Redirect, Response};
use axum_extra::extract::cookie::{Cookie, SameSite, SignedCookieJar};
use serde::Deserialize;

use super::error::{AppError, CallbackProblem};
use super::result::show_token;
use super::{AppState, STATE_COOKIE};
use crate::exchange::Field;
use crate::grant::Grant;

/// `GET /authorize`: starts the authorization code grant. Sends the browser to the authorization
/// server with a fresh `state`, kept in a signed cookie for the callback to check.
pub(super) async fn start_authorization(
    State(state): State<AppState>,
    jar: SignedCookieJar,
) -> (SignedCookieJar, Redirect) {
    let csrf_state = crate::random_token();
    let issued = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let cookie = Cookie::build((STATE_COOKIE, format!("{csrf_state}.{issued}")))
        .path("/oauth-callback")
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(time::Duration::seconds(state.0.settings.state_lifetime.as_secs() as i64));
    let mut url = state.0.server.authorize_url.clone();
    url.push('?');
    url.push_str(
        &url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &state.0.settings.consumer_key)
            .append_pair("response_type", "code")
            .append_pair("state", &csrf_state)
            .finish(),
    );
    (jar.add(cookie), Redirect::to(&url))
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
#[tracing::instrument(name = "authorization_code_grant", skip_all)]
pub(super) async fn authorization_callback(
    State(state): State<AppState>,
    jar: SignedCookieJar,
    params: Result<Query<CallbackParams>, QueryRejection>,
) -> (SignedCookieJar, Result<Response, AppError>) {
    // Whatever happens, the state is spent.
    let cookie = jar.get(STATE_COOKIE);
    let jar = jar.remove(Cookie::build(STATE_COOKIE).path("/oauth-callback"));
    let result = match params {
        Ok(Query(params)) => finish_authorization(&state, cookie, params).await,
        Err(_) => Err(AppError::BadRequest("The callback's query string could not be read.")),
    };
    (jar, result)
}

async fn finish_authorization(
    state: &AppState,
    cookie: Option<Cookie<'static>>,
    params: CallbackParams,
) -> Result<Response, AppError> {
    let problem = |p| Err(AppError::Callback(p));
    if let Some(error) = params.error {
        return if error == "access_denied" {
            problem(CallbackProblem::Denied)
        } else {
            problem(CallbackProblem::Error { error, description: params.error_description })
        };
    }
    let Some(returned_state) = params.state else {
        return problem(if params.code.is_none() { CallbackProblem::Empty } else { CallbackProblem::NoState });
    };
    let Some(cookie) = cookie else {
        return problem(CallbackProblem::NoCookie);
    };
    let (expected, issued) = cookie.value().split_once('.').unwrap_or(("", "0"));
    if expected != returned_state {
        return problem(CallbackProblem::StateMismatch);
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    if now.saturating_sub(issued.parse().unwrap_or(0)) >= state.0.settings.state_lifetime.as_secs() {
        return problem(CallbackProblem::Expired);
    }
    let Some(code) = params.code.filter(|c| !c.is_empty()) else {
        return problem(CallbackProblem::NoCode);
    };
    let scrubber = state.scrubber().secret(&code);
    let fields = [Field::plain("grant_type", "authorization_code"), Field::secret("code", &code)];
    let (exchange, token) = state.request_token(Grant::AuthorizationCode, &fields, &scrubber).await?;
    show_token(state, Grant::AuthorizationCode, token, exchange, None, scrubber).await
}
