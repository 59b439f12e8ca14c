//! `GET /`, the start page (rendered once, at start-up), `GET /healthcheck`, and the start page
//! again with a message when a form could not be used.

use std::sync::LazyLock;

use askama::Template;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use http_body_util::Full;

use super::AppState;
use super::error::AppError;
use super::protect::{headers_fit, security_headers};
use super::views::IndexTemplate;

/// The JSON `/healthcheck` answers: built at compile time, so the check costs nothing.
pub const HEALTHCHECK_BODY: &str = concat!(
    r#"{"status":"ok","name":""#,
    env!("CARGO_PKG_NAME"),
    r#"","version":""#,
    env!("CARGO_PKG_VERSION"),
    r#""}"#
);

/// `GET /`: the start page.
pub(super) async fn index(State(state): State<AppState>) -> Html<Bytes> {
    Html(state.0.index_html.clone())
}

/// `GET /healthcheck`: is the app alive? Makes no upstream call. (A probe is normally answered by
/// [`healthcheck_shortcut`] before it gets here, with the same bytes.)
pub(super) async fn healthcheck() -> Response {
    healthcheck_response().map(Body::new)
}

/// The health answer, headers and all (the protections layer sets the security headers again on
/// the route: the same values).
fn healthcheck_response() -> axum::http::Response<Full<Bytes>> {
    static HEADERS: LazyLock<HeaderMap> = LazyLock::new(|| {
        let mut headers = HeaderMap::with_capacity(8);
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.extend(security_headers());
        headers
    });
    let mut response = axum::http::Response::new(Full::new(Bytes::from_static(HEALTHCHECK_BODY.as_bytes())));
    *response.headers_mut() = HEADERS.clone();
    response
}

/// Answers `GET /healthcheck` in the listener, before every layer of the app: the same status,
/// headers (the security headers included) and body as the route, without the work the other
/// pages need (the body boxed for axum, `ConnectInfo`, a trace span, the protections' future, the
/// request timeout, the router). Health probes come often, so that work is what the benchmark
/// measured as the gap to a bare hyper server. Anything else, including a probe with a query or
/// oversized headers, goes through the app as usual (`None`).
pub fn healthcheck_shortcut(
    request: &hyper::Request<hyper::body::Incoming>,
) -> Option<axum::http::Response<Full<Bytes>>> {
    let probe = request.uri().path() == "/healthcheck"
        && request.method() == Method::GET
        && request.uri().query().is_none()
        && headers_fit(request.headers());
    probe.then(healthcheck_response)
}

/// The start page again, with a message and the username that was typed (never the password).
pub(super) fn form_error(state: &AppState, username: &str, message: &str) -> Result<Response, AppError> {
    tracing::info!(problem = message, "form refused");
    let mut page = IndexTemplate::new(&state.0.layout);
    page.form_error = Some(message.to_owned());
    page.username = username.to_owned();
    Ok((StatusCode::BAD_REQUEST, Html(page.render()?)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthcheck_body_is_json_with_status_name_and_version() {
        let json: serde_json::Value = serde_json::from_str(HEALTHCHECK_BODY).unwrap();
        assert_eq!(json["status"], "ok");
        assert_eq!(json["name"], env!("CARGO_PKG_NAME"));
        assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    }
}
