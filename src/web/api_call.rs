//! `POST /api-call`: one of the sample API calls again, with the token the result page holds, or
//! the explorer: `GET` of any path under the configured API base. The token goes only there: the
//! path is checked before anything is sent, and the URL it makes must stay on the API's origin
//! and under its base path (no SSRF), with the answer size-capped like every API answer.

use askama::Template;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tracing::Instrument;

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
    /// The explorer's path under the API's base, instead of `call`.
    path: Option<String>,
    /// The sandbox case the result page is running.
    case: Option<String>,
}

/// `POST /api-call`: one of the sample calls again, with the same token. With `X-Fragment: 1`
/// (the page's script) it answers with the exchange alone, to be added to the page.
pub(super) async fn api_call(
    state: State<AppState>,
    headers: axum::http::HeaderMap,
    form: Result<StrictForm<ApiCallForm>, FormProblem>,
) -> Result<Response, AppError> {
    steps(state, headers, form).instrument(tracing::info_span!("api_call")).await
}

/// The grant's steps, in order, inside the `api_call` span.
async fn steps(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    form: Result<StrictForm<ApiCallForm>, FormProblem>,
) -> Result<Response, AppError> {
    let Ok(StrictForm(form)) = form else {
        return Err(AppError::BadRequest("The API call form could not be read."));
    };
    let Some(access_token) = form.access_token.filter(|t| !t.expose_secret().is_empty()) else {
        return Err(AppError::BadRequest("The API call form carried no access token."));
    };
    if !is_sendable_token(access_token.expose_secret()) {
        return Err(AppError::BadRequest("An access token is printable ASCII without spaces; this one is not."));
    }
    let case = state.case(form.case.as_deref());
    let scrubber = state.scrubber(case).secret(access_token.expose_secret());
    let token = access_token.expose_secret();
    let api = match (form.call.as_deref(), form.path.as_deref()) {
        // The explorer: any path under the API's base, checked first.
        (None, Some(path)) => {
            let Some(api) = &state.0.server.bitbucket_api else {
                return Err(AppError::BadRequest("This server has no REST API base to explore."));
            };
            let url = explorer_url(api, path).map_err(AppError::BadRequest)?;
            state.call_api_at(url, false, token, false, &scrubber).await
        }
        (call, _) => {
            let offered = call.and_then(SampleCall::from_path).filter(|c| state.0.layout.calls.contains(c));
            let step = match offered {
                Some(call) => state.call_api(call, token, false, &scrubber).await,
                None => None,
            };
            step.ok_or(AppError::BadRequest("That is not one of the sample calls this page offers."))?
        }
    };
    let html = if headers.get("x-fragment").is_some_and(|v| v == "1") {
        ApiStepFragment { api: &api }.render()?
    } else {
        ApiCallTemplate { layout: &state.0.layout, api: &api }.render()?
    };
    Ok(Html(html).into_response())
}

/// The longest path the explorer accepts.
const MAX_EXPLORER_PATH: usize = 512;

/// The URL for the explorer's `path` under `api` (such as `https://api.bitbucket.org`), or why not.
/// The path must start with `/`; it may have a query; no `..`, no `//`, no backslash, no
/// percent-encoded dot, slash or backslash, no `@`, no fragment, no spaces or control characters.
/// And the URL it makes must still be on the API's origin and under its path.
pub(super) fn explorer_url(api: &url::Url, path: &str) -> Result<String, &'static str> {
    let refuse = "That path is not one the explorer sends the token to: it must start with / and stay under \
                  the API's base (no .., //, backslashes, encoded dots or slashes, @ or #).";
    if path.is_empty() || path.len() > MAX_EXPLORER_PATH || !path.starts_with('/') {
        return Err(refuse);
    }
    let lower = path.to_ascii_lowercase();
    let (before_query, _) = lower.split_once('?').unwrap_or((&lower, ""));
    let forbidden = ["..", "//", "\\", "%2e", "%2f", "%5c", "@", "#"];
    if forbidden.iter().any(|f| before_query.contains(f)) || lower.contains('#') {
        return Err(refuse);
    }
    if !path.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(refuse);
    }
    let url = crate::settings::join(api, path);
    let parsed = url::Url::parse(&url).map_err(|_| refuse)?;
    let base_path = api.path().trim_end_matches('/');
    let stays = parsed.origin() == api.origin()
        && parsed.path().starts_with(base_path)
        && parsed.username().is_empty()
        && parsed.password().is_none();
    // The URL as parsed (characters such as `"` or `{` percent-encoded): what goes on the wire.
    if stays { Ok(parsed.into()) } else { Err(refuse) }
}

#[cfg(test)]
mod tests {
    use super::explorer_url;

    #[test]
    fn the_explorer_stays_under_the_api_base() {
        let api = url::Url::parse("http://127.0.0.1:3000/sandbox/api").unwrap();
        assert_eq!(
            explorer_url(&api, "/2.0/user/workspaces?page=2").unwrap(),
            "http://127.0.0.1:3000/sandbox/api/2.0/user/workspaces?page=2"
        );
        for path in [
            "",
            "2.0/user",
            "/../../oauth-callback",
            "/2.0/%2e%2e/%2E%2E/x",
            "/2.0/..%2f..%2fx",
            "//evil.example/x",
            "/@evil.example",
            "/2.0\\..\\x",
            "/2.0/user#frag",
            "/2.0/user x",
            "/2.0/user\r\nX: 1",
        ] {
            assert!(explorer_url(&api, path).is_err(), "{path:?} was let through");
        }
        assert!(explorer_url(&api, &format!("/{}", "a".repeat(600))).is_err());
    }
}
