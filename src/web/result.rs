//! The result page every grant ends on: the token, the exchange that produced it, and the sample
//! API call made with it.

use askama::Template;
use axum::response::{Html, IntoResponse, Response};

use super::AppState;
use super::cases::SandboxCase;
use super::error::AppError;
use super::views::{AuthorizationSteps, ResultTemplate, TokenView};
use crate::bitbucket::SampleCall;
use crate::exchange::Exchange;
use crate::grant::Grant;
use crate::secrets::Scrubber;
use crate::token::TokenResponse;

/// What a grant produced: the token, and the exchange that brought it.
pub(super) struct Issued {
    /// The sandbox case that ran.
    pub case: SandboxCase,
    /// The grant used.
    pub grant: Grant,
    /// The token response.
    pub token: TokenResponse,
    /// The token request and its answer, as recorded.
    pub exchange: Exchange,
}

/// The result page for any grant: the token, then the sample API call made with it. Before the
/// token request, the authorization code grant shows its front channel (`authorization`); after a
/// refresh, the tokens it replaced (`previous`).
pub(super) async fn show_token(
    state: &AppState,
    issued: Issued,
    authorization: Option<AuthorizationSteps>,
    previous: Option<TokenView>,
    scrubber: Scrubber,
) -> Result<Response, AppError> {
    let Issued { case, grant, token, exchange: token_exchange } = issued;
    tracing::info!(grant = grant.grant_type(), token_type = %token.token_type, expires_in = ?token.expires_in, "access token issued");
    let scrubber = match &token.refresh_token {
        Some(refresh) => scrubber.secret(&token.access_token).secret(refresh),
        None => scrubber.secret(&token.access_token),
    };
    let api = state.call_api(SampleCall::User, &token.access_token, token.refresh_token.is_some(), &scrubber).await;
    let page = ResultTemplate {
        layout: &state.0.layout,
        grant,
        case: (state.0.sandbox.is_some()).then_some(case),
        token: TokenView::new(&token),
        previous,
        authorization,
        token_exchange,
        api,
        calls: state.0.layout.calls.clone(),
    };
    Ok(Html(page.render()?).into_response())
}
