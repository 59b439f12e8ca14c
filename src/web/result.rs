//! The result page every grant ends on: the token, the exchange that produced it, and the sample
//! API call made with it.

use askama::Template;
use axum::response::{Html, IntoResponse, Response};

use super::AppState;
use super::error::AppError;
use super::views::{ResultTemplate, TokenView};
use crate::bitbucket::SampleCall;
use crate::exchange::Exchange;
use crate::grant::Grant;
use crate::secrets::Scrubber;
use crate::token::TokenResponse;

/// The result page for any grant: the token, then the sample API call made with it.
pub(super) async fn show_token(
    state: &AppState,
    grant: Grant,
    token: TokenResponse,
    token_exchange: Exchange,
    previous: Option<TokenView>,
    scrubber: Scrubber,
) -> Result<Response, AppError> {
    tracing::info!(grant = grant.grant_type(), token_type = %token.token_type, expires_in = ?token.expires_in, "access token issued");
    let scrubber = match &token.refresh_token {
        Some(refresh) => scrubber.secret(&token.access_token).secret(refresh),
        None => scrubber.secret(&token.access_token),
    };
    let api = state.call_api(SampleCall::User, &token.access_token, token.refresh_token.is_some(), &scrubber).await;
    let page = ResultTemplate {
        layout: &state.0.layout,
        grant,
        token: TokenView::new(&token),
        previous,
        token_exchange,
        api,
        calls: state.0.layout.calls.clone(),
    };
    Ok(Html(page.render()?).into_response())
}
