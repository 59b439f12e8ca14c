//! `GET /`, the start page (rendered once, at start-up), `GET /healthcheck`, and the start page
//! again with a message when a form could not be used.

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::AppState;
use super::error::AppError;
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

/// `GET /healthcheck`: is the app alive? Makes no upstream call.
pub(super) async fn healthcheck() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], HEALTHCHECK_BODY)
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
