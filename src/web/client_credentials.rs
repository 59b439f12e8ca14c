//! `POST /client-credentials`: the client credentials grant (RFC 6749 §4.4). The client asks for a
//! token for itself, with only its own credentials; no user takes part.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use tracing::Instrument;

use super::AppState;
use super::error::AppError;
use super::result::{Issued, show_token};
use crate::exchange::Field;
use crate::grant::Grant;

/// `POST /client-credentials`: a token for the consumer itself (its owner's account).
pub(super) async fn client_credentials(state: State<AppState>, body: Bytes) -> Result<Response, AppError> {
    steps(state, body).instrument(tracing::info_span!("client_credentials_grant")).await
}

/// The grant's steps, in order, inside the `client_credentials_grant` span.
async fn steps(State(state): State<AppState>, body: Bytes) -> Result<Response, AppError> {
    // The form's only field, the sandbox case, is optional: read leniently.
    let case = url::form_urlencoded::parse(&body).find(|(k, _)| k == "case").map(|(_, v)| v.into_owned());
    let case = state.case(case.as_deref());
    let scrubber = state.scrubber(case);
    let mut fields = vec![Field::plain("grant_type", "client_credentials")];
    fields.extend(state.scope().map(|scope| Field::plain("scope", scope)));
    let (exchange, token) = state.request_token(case, Grant::ClientCredentials, &fields, &scrubber).await?;
    show_token(&state, Issued { case, grant: Grant::ClientCredentials, token, exchange }, None, None, scrubber).await
}
