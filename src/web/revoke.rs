//! `POST /revoke`: token revocation (RFC 7009), offered when the server has a revocation endpoint.
//! Its steps: send the access token to the revocation endpoint with the client's credentials, then
//! call the API with the same token again, to show the server now refuses it.

use askama::Template;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tracing::Instrument;

use super::AppState;
use super::error::AppError;
use super::form::{FormProblem, StrictForm, is_sendable_token};
use super::views::RevokeTemplate;
use crate::authorization_server::Role;
use crate::bitbucket::SampleCall;
use crate::diagnosis;
use crate::exchange::{self, Field};

/// The result page's "Revoke this token" button.
#[derive(Deserialize)]
pub struct RevokeForm {
    access_token: Option<SecretString>,
    /// The sandbox case the result page is running.
    case: Option<String>,
}

/// `POST /revoke`: revokes the access token, then calls the API with it once more.
pub(super) async fn revoke(
    state: State<AppState>,
    form: Result<StrictForm<RevokeForm>, FormProblem>,
) -> Result<Response, AppError> {
    steps(state, form).instrument(tracing::info_span!("revocation")).await
}

/// The grant's steps, in order, inside the `revocation` span.
async fn steps(
    State(state): State<AppState>,
    form: Result<StrictForm<RevokeForm>, FormProblem>,
) -> Result<Response, AppError> {
    let Some(endpoint) = state.0.server.revocation.as_ref().map(|e| e.url.clone()) else {
        return Err(AppError::Absent(Role::Revocation));
    };
    let Ok(StrictForm(form)) = form else {
        return Err(AppError::BadRequest("The revocation form could not be read."));
    };
    let Some(access_token) = form.access_token.filter(|t| !t.expose_secret().is_empty()) else {
        return Err(AppError::BadRequest("The revocation form carried no access token."));
    };
    let token = access_token.expose_secret();
    if !is_sendable_token(token) {
        return Err(AppError::BadRequest("An access token is printable ASCII without spaces; this one is not."));
    }
    let case = state.case(form.case.as_deref());
    let scrubber = state.scrubber(case).secret(token);
    let fields = [Field::secret("token", token), Field::plain("token_type_hint", "access_token")];
    let (revocation, result) = exchange::revocation_request(
        &state.0.http,
        &endpoint,
        &state.client(case),
        state.0.server.snippet_names(),
        &fields,
        state.relay().as_ref(),
    )
    .await;
    if let Err(error) = result {
        let error = scrubber.token_error(error);
        let explanation = diagnosis::revocation_failure(&endpoint, &error, &state.0.server);
        return Err(AppError::Revocation { explanation: Box::new(explanation), exchange: Box::new(revocation) });
    }
    let api = state.call_api(SampleCall::User, token, false, &scrubber).await;
    let introspection = state.introspect(case, token, &scrubber).await;
    let page = RevokeTemplate { layout: &state.0.layout, revocation, api, introspection };
    Ok(Html(page.render()?).into_response())
}
