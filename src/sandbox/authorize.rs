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
    /// Where to send the browser back; must be a callback at `/oauth-callback`.
    #[serde(default)]
    redirect_uri: Option<String>,
    /// PKCE (RFC 7636): the S256 challenge the code exchange must answer.
    #[serde(default)]
    code_challenge: Option<String>,
    #[serde(default)]
    code_challenge_method: Option<String>,
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
    /// The rest of the authorization request, carried through the consent form.
    carried: Vec<(&'static str, &'a str)>,
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
    // The consumers' callback URL is this app's /oauth-callback, on whichever origin serves it; a
    // redirect_uri must match it, as Bitbucket's must extend the consumer's callback URL.
    if let Some(uri) = &params.redirect_uri {
        let callback = url::Url::parse(uri).ok().filter(|u| u.path() == "/oauth-callback" && u.query().is_none());
        if callback.is_none() {
            return Err(format!("Invalid redirect_uri {uri:?}: it does not match the consumer's callback URL."));
        }
    }
    if params.code_challenge.is_some() && params.code_challenge_method.as_deref() != Some("S256") {
        return Err("Unsupported code_challenge_method; use S256.".into());
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
        carried: Vec::new(),
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
                carried: [
                    ("redirect_uri", &params.redirect_uri),
                    ("code_challenge", &params.code_challenge),
                    ("code_challenge_method", &params.code_challenge_method),
                ]
                .into_iter()
                .filter_map(|(name, value)| Some((name, value.as_deref()?)))
                .collect(),
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
        let code = sandbox.issue_code(consumer.key, params.redirect_uri.clone(), params.code_challenge.clone());
        query.append_pair("code", &code);
    } else {
        query.append_pair("error", "access_denied");
        query.append_pair("error_description", "The user denied access.");
    }
    if let Some(state) = &params.state {
        query.append_pair("state", state);
    }
    let callback = params.redirect_uri.as_deref().unwrap_or(&sandbox.options.callback_url);
    Redirect::to(&format!("{callback}?{}", query.finish())).into_response()
}
