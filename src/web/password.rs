//! `POST /oauth-callback`: the Resource Owner Password Credentials grant (RFC 6749 §4.3), the
//! grant this app is about. Its steps, in order: read the form, check the failed-attempt limit,
//! send the username and password with the client's credentials to the token endpoint, forget
//! the password, and show the token with a sample API call.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tracing::Instrument;

use super::AppState;
use super::error::AppError;
use super::form::{FormProblem, StrictForm};
use super::result::{Issued, show_token};
use super::start_page::form_error;
use crate::exchange::Field;
use crate::grant::Grant;

/// The password form. Both fields are optional here so that a missing one gets our message.
#[derive(Deserialize)]
pub struct PasswordForm {
    username: Option<String>,
    password: Option<SecretString>,
    /// The sandbox case chosen on the start page.
    case: Option<String>,
}

/// `POST /oauth-callback`: the Resource Owner Password Credentials grant, then the sample call.
pub(super) async fn password_grant(
    state: State<AppState>,
    peer: ConnectInfo<SocketAddr>,
    form: Result<StrictForm<PasswordForm>, FormProblem>,
) -> Result<Response, AppError> {
    steps(state, peer, form).instrument(tracing::info_span!("password_grant", username = tracing::field::Empty)).await
}

/// The grant's steps, in order, inside the `password_grant` span.
async fn steps(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    form: Result<StrictForm<PasswordForm>, FormProblem>,
) -> Result<Response, AppError> {
    let form = match form {
        Ok(StrictForm(form)) => form,
        Err(FormProblem::TooLarge) => return Ok(StatusCode::PAYLOAD_TOO_LARGE.into_response()),
        Err(problem) => return form_error(&state, "", problem.describe()),
    };
    // The attempt counts from now, so guesses sent in parallel are counted before any is answered.
    let attempt = state.0.attempts.begin(peer.ip()).map_err(AppError::TooManyAttempts)?;
    let username = form.username.as_deref().unwrap_or("").trim().to_owned();
    let Some(password) = form.password.filter(|p| !p.expose_secret().trim().is_empty()) else {
        let message = if username.is_empty() { "Enter a username and a password." } else { "Enter a password." };
        attempt.not_counted();
        return form_error(&state, &username, message);
    };
    if username.is_empty() {
        attempt.not_counted();
        return form_error(&state, "", "Enter a username.");
    }
    if username.chars().any(char::is_control) {
        attempt.not_counted();
        return form_error(&state, "", "The username must not contain control characters such as line breaks.");
    }
    tracing::Span::current().record("username", username.as_str());

    let mut fields = vec![
        Field::plain("grant_type", "password"),
        Field::plain("username", &username),
        Field::password(password.expose_secret()),
    ];
    fields.extend(state.scope().map(|scope| Field::plain("scope", scope)));
    let case = state.case(form.case.as_deref());
    let scrubber = state.scrubber(case).secret(password.expose_secret());
    let result = state.request_token(case, Grant::Password, &fields, &scrubber).await;
    // The password has done its job: forget it (SecretString zeroes its memory on drop).
    drop(password);
    // Only refusals of the user's credentials count toward the limit, not upstream failures.
    match &result {
        Ok(_) => attempt.succeeded(),
        Err(error) if !error.status().is_client_error() => attempt.not_counted(),
        Err(_) => drop(attempt),
    }
    // A refused password: the page offers the form again (not where the grant is gone for good).
    let retry = !state.0.server.refuses_password_grant();
    let (exchange, token) = result.map_err(|error| if retry { error.with_retry(&username) } else { error })?;
    show_token(&state, Issued { case, grant: Grant::Password, token, exchange }, None, None, scrubber).await
}
