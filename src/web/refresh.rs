//! `POST /refresh`: refreshing an access token (RFC 6749 §6). The result page's button sends the
//! refresh token (and the access token it replaces, to show them side by side); the answer is a
//! new access token, shown like any other grant's, with the refresh token it came with: a new one
//! if the server rotates them, or the one in hand if it does not.

use axum::extract::State;
use axum::response::Response;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tracing::Instrument;

use super::AppState;
use super::error::AppError;
use super::form::{FormProblem, StrictForm, is_sendable_token};
use super::result::{Issued, show_token};
use super::views::TokenView;
use crate::exchange::Field;
use crate::grant::Grant;

/// The result page's refresh button: the refresh token, and the access token it replaces (for
/// the side-by-side view).
#[derive(Deserialize)]
pub struct RefreshForm {
    refresh_token: Option<SecretString>,
    access_token: Option<SecretString>,
    /// The sandbox case the result page is running.
    case: Option<String>,
}

/// `POST /refresh`: trades the refresh token for a new pair.
pub(super) async fn refresh(
    state: State<AppState>,
    form: Result<StrictForm<RefreshForm>, FormProblem>,
) -> Result<Response, AppError> {
    steps(state, form).instrument(tracing::info_span!("refresh_token_grant")).await
}

/// The grant's steps, in order, inside the `refresh_token_grant` span.
async fn steps(
    State(state): State<AppState>,
    form: Result<StrictForm<RefreshForm>, FormProblem>,
) -> Result<Response, AppError> {
    let Ok(StrictForm(form)) = form else {
        return Err(AppError::BadRequest("The refresh form could not be read."));
    };
    let Some(old_refresh) = form.refresh_token.filter(|t| !t.expose_secret().is_empty()) else {
        return Err(AppError::BadRequest("The refresh form carried no refresh token."));
    };
    let access_ok =
        form.access_token.as_ref().is_none_or(|t| t.expose_secret().is_empty() || is_sendable_token(t.expose_secret()));
    if !is_sendable_token(old_refresh.expose_secret()) || !access_ok {
        return Err(AppError::BadRequest("A token is printable ASCII without spaces; this one is not."));
    }
    let old_access = form.access_token.map(|t| t.expose_secret().to_owned()).unwrap_or_default();
    let case = state.case(form.case.as_deref());
    let scrubber = state.scrubber(case).secret(old_refresh.expose_secret()).secret(&old_access);
    let fields =
        [Field::plain("grant_type", "refresh_token"), Field::secret("refresh_token", old_refresh.expose_secret())];
    let (exchange, mut token) = state.request_token(case, Grant::RefreshToken, &fields, &scrubber).await?;
    // No refresh token in the answer: the server did not rotate it, and the old one stays valid
    // (RFC 6749 §6). Keep it, so the page can refresh again.
    if token.refresh_token.is_none() {
        token.refresh_token = Some(old_refresh.expose_secret().to_owned());
    }
    let previous = TokenView::previous(&old_access, old_refresh.expose_secret());
    show_token(&state, Issued { case, grant: Grant::RefreshToken, token, exchange }, None, Some(previous), scrubber)
        .await
}
