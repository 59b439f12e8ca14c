//! `POST /api-call`: one of the sample API calls again, with the token the result page holds.

use askama::Template;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::AppState;
use super::error::AppError;
use super::form::{FormProblem, StrictForm, is_sendable_token};
use super::views::{ApiCallTemplate, ApiStepFragment};
use crate::bitbucket::SampleCall;

/// The result page's "call the API again" buttons.
#[derive(Deserialize)]
pub struct ApiCallForm {
    access_token: Option<SecretString>,
    call: Option<String>,
    /// The sandbox case the result page is running.
    case: Option<String>,
}

/// `POST /api-call`: one of the sample calls again, with the same token. With `X-Fragment: 1`
/// (the page's script) it answers with the exchange alone, to be added to the page.
#[tracing::instrument(name = "api_call", skip_all)]
pub(super) async fn api_call(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    form: Result<StrictForm<ApiCallForm>, FormProblem>,
) -> Result<Response, AppError> {
    let Ok(StrictForm(form)) = form else {
        return Err(AppError::BadRequest("The API call form could not be read."));
    };
    let offered = form.call.as_deref().and_then(SampleCall::from_path).filter(|c| state.0.layout.calls.contains(c));
    let Some(call) = offered else {
        return Err(AppError::BadRequest("That is not one of the sample calls this page offers."));
    };
    let Some(access_token) = form.access_token.filter(|t| !t.expose_secret().is_empty()) else {
        return Err(AppError::BadRequest("The API call form carried no access token."));
    };
    if !is_sendable_token(access_token.expose_secret()) {
        return Err(AppError::BadRequest("An access token is printable ASCII without spaces; this one is not."));
    }
    let case = state.case(form.case.as_deref());
    let scrubber = state.scrubber(case).secret(access_token.expose_secret());
    let api = state.call_api(call, access_token.expose_secret(), false, &scrubber).await;
    let html = if headers.get("x-fragment").is_some_and(|v| v == "1") {
        ApiStepFragment { api: &api }.render()?
    } else {
        ApiCallTemplate { layout: &state.0.layout, api: &api }.render()?
    };
    Ok(Html(html).into_response())
}
