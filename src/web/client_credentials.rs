//! `POST /client-credentials`: the client credentials grant (RFC 6749 §4.4). The client asks for a
//! token for itself, with only its own credentials; no user takes part.

use axum::extract::State;
use axum::response::Response;

use super::AppState;
use super::error::AppError;
use super::result::show_token;
use crate::exchange::Field;
use crate::grant::Grant;

/// `POST /client-credentials`: a token for the consumer itself (its owner's account).
#[tracing::instrument(name = "client_credentials_grant", skip_all)]
pub(super) async fn client_credentials(State(state): State<AppState>) -> Result<Response, AppError> {
    let scrubber = state.scrubber();
    let mut fields = vec![Field::plain("grant_type", "client_credentials")];
    fields.extend(state.scope().map(|scope| Field::plain("scope", scope)));
    let (exchange, token) = state.request_token(Grant::ClientCredentials, &fields, &scrubber).await?;
    show_token(&state, Grant::ClientCredentials, token, exchange, None, scrubber).await
}
