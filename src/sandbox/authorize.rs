//! `GET, POST /site/oauth2/authorize`: Bitbucket's authorization page, where the user approves the
//! consumer and is sent back to its callback URL with a code (RFC 6749 §4.1.1, §4.1.2).

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{Consumer, DEMO_SCOPES, DEMO_USERNAME, Sandbox, consumer};

#[derive(Default, Deserialize)]
pub(super) struct AuthorizeParams {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    response_type: String,
    #[serde(default)]
    state: Option<String>,
    /// `grant` or `deny` (the consent form only).
    #[serde(default)]
    decision: String,
}

/// `templates/sandbox_authorize.html`: the sandbox's consent page, or its error page.
#[derive(Template)]
#[template(path = "sandbox_authorize.html")]
struct ConsentTemplate<'a> {
    consumer: Option<&'a Consumer>,
    error: Option<String>,
    client_id: &'a str,
    state: &'a str,
    user: &'a str,
    scopes: Vec<&'a str>,
}

fn consent_response(status: StatusCode, page: ConsentTemplate<'_>) -> Response {
    match page.render() {
        Ok(html) => (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Checks an authorization request; on failure, Bitbucket shows an HTML page (it cannot redirect
/// back to a client it does not trust).
fn check_authorize(params: &AuthorizeParams) -> Result<&'static Consumer, String> {
    let consumer = consumer(&params.client_id).ok_or_else(|| format!("Invalid client_id: {:?}", params.client_id))?;
    if params.response_type != "code" {
        return Err(format!("Unsupported response_type: {:?}; use response_type=code", params.response_type));
    }
    if !consumer.has_callback {
        return Err("No callback uri defined for the OAuth client.".into());
    }
    Ok(consumer)
}

fn consent_error(params: &AuthorizeParams, error: String) -> Response {
    let page = ConsentTemplate {
        consumer: None,
        error: Some(error),
        client_id: &params.client_id,
        state: "",
        user: DEMO_USERNAME,
        scopes: Vec::new(),
    };
    consent_response(StatusCode::BAD_REQUEST, page)
}

/// `GET /site/oauth2/authorize`: the consent page. The sandbox's user is always signed in as `demo`.
pub(super) async fn consent_page(Query(params): Query<AuthorizeParams>) -> Response {
    match check_authorize(&params) {
        Ok(consumer) => consent_response(
            StatusCode::OK,
            ConsentTemplate {
                consumer: Some(consumer),
                error: None,
                client_id: consumer.key,
                state: params.state.as_deref().unwrap_or(""),
                user: DEMO_USERNAME,
                scopes: DEMO_SCOPES.split_whitespace().collect(),
            },
        ),
        Err(error) => consent_error(&params, error),
    }
}

/// `POST /site/oauth2/authorize`: Grant or Deny, then back to the consumer's callback URL with
/// `code` and `state`, or `error=access_denied` (RFC 6749 §4.1.2).
pub(super) async fn consent_decision(State(sandbox): State<Arc<Sandbox>>, body: Bytes) -> Response {
    let params: AuthorizeParams = match serde_urlencoded::from_bytes(&body) {
        Ok(params) => params,
        Err(_) => {
            return consent_error(&AuthorizeParams::default(), "Malformed consent form".into());
        }
    };
    let consumer = match check_authorize(&params) {
        Ok(consumer) => consumer,
        Err(error) => return consent_error(&params, error),
    };
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if params.decision == "grant" {
        query.append_pair("code", &sandbox.issue_code(consumer.key));
    } else {
        query.append_pair("error", "access_denied");
        query.append_pair("error_description", "The user denied access.");
    }
    if let Some(state) = &params.state {
        query.append_pair("state", state);
    }
    Redirect::to(&format!("{}?{}", sandbox.options.callback_url, query.finish())).into_response()
}
