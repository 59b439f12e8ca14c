//! `POST /introspect`: token introspection (RFC 7662), offered when the server has an
//! introspection endpoint: "Is this token still active?", asked with the client's credentials,
//! before and after revocation.

use askama::Template;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tracing::Instrument;

use super::AppState;
use super::error::AppError;
use super::form::{FormProblem, StrictForm, is_sendable_token};
use super::views::{IntrospectionFragment, IntrospectionStep, IntrospectionTemplate};
use crate::authorization_server::Role;
use crate::exchange::{self, Field};
use crate::secrets::Scrubber;

/// The result page's "Is this token still active?" button.
#[derive(Deserialize)]
pub struct IntrospectForm {
    access_token: Option<SecretString>,
    /// The sandbox case the result page is running.
    case: Option<String>,
}

/// `POST /introspect`: asks the server whether the access token is active. With `X-Fragment: 1`
/// (the page's script) it answers with the step alone, to be added to the page.
pub(super) async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<StrictForm<IntrospectForm>, FormProblem>,
) -> Result<Response, AppError> {
    async move {
        let Ok(StrictForm(form)) = form else {
            return Err(AppError::BadRequest("The introspection form could not be read."));
        };
        let Some(access_token) = form.access_token.filter(|t| is_sendable_token(t.expose_secret())) else {
            return Err(AppError::BadRequest("The introspection form carried no usable access token."));
        };
        let case = state.case(form.case.as_deref());
        let scrubber = state.scrubber(case).secret(access_token.expose_secret());
        let Some(step) = state.introspect(case, access_token.expose_secret(), &scrubber).await else {
            return Err(AppError::Absent(Role::Introspection));
        };
        let html = if headers.get("x-fragment").is_some_and(|v| v == "1") {
            IntrospectionFragment { step: &step }.render()?
        } else {
            IntrospectionTemplate { layout: &state.0.layout, step: &step }.render()?
        };
        Ok(Html(html).into_response())
    }
    .instrument(tracing::info_span!("introspection"))
    .await
}

impl AppState {
    /// Introspects `token` at the server's introspection endpoint, recording the exchange; `None`
    /// when the server has none.
    pub(super) async fn introspect(
        &self,
        case: super::cases::SandboxCase,
        token: &str,
        scrubber: &Scrubber,
    ) -> Option<IntrospectionStep> {
        let server = &self.0.server;
        let endpoint = server.introspection.as_ref()?;
        let fields = [Field::secret("token", token), Field::plain("token_type_hint", "access_token")];
        let (exchange, result) = exchange::introspection_request(
            &self.0.http,
            &endpoint.url,
            &self.client(case),
            server.snippet_names(),
            &fields,
        )
        .await;
        Some(match result {
            Ok(answer) => IntrospectionStep {
                exchange,
                active: Some(answer.active),
                claims: (!answer.claims.is_empty())
                    .then(|| scrubber.scrub(&crate::bitbucket::pretty(&serde_json::Value::Object(answer.claims)))),
                problem: None,
            },
            Err(error) => IntrospectionStep {
                exchange,
                active: None,
                claims: None,
                problem: Some(scrubber.scrub(&error.describe("the introspection request"))),
            },
        })
    }
}
