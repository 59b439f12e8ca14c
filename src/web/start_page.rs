//! `GET /`, the start page (rendered once, at start-up), `GET /healthcheck`, and the start page
//! again with a message when a form could not be used.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::AppState;
use super::error::AppError;
use super::protect::{MAX_HEADER_BYTES, security_headers};
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
/// [`HealthcheckLayer`] before it gets here, with the same bytes.)
pub(super) async fn healthcheck() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], HEALTHCHECK_BODY)
}

/// Answers `GET /healthcheck` at once, outside every other layer: the same status, headers (the
/// security headers included) and body as the route, without the work the other pages need (a
/// trace span, the protections' future, the request timeout, the router). Health probes come
/// often, so that work is what the benchmark measured as the gap to a bare hyper server. Anything
/// else, including a probe with oversized headers, goes through the app as usual.
#[derive(Clone, Copy, Default)]
pub struct HealthcheckLayer;

impl<S> tower::Layer<S> for HealthcheckLayer {
    type Service = Healthcheck<S>;

    fn layer(&self, inner: S) -> Healthcheck<S> {
        Healthcheck { inner }
    }
}

/// See [`HealthcheckLayer`].
#[derive(Clone)]
pub struct Healthcheck<S> {
    inner: S,
}

impl<S> tower::Service<Request> for Healthcheck<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = HealthcheckFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let header_bytes = || request.headers().iter().map(|(n, v)| n.as_str().len() + v.len()).sum::<usize>();
        if request.method() == Method::GET
            && request.uri().path() == "/healthcheck"
            && request.uri().query().is_none()
            && header_bytes() <= MAX_HEADER_BYTES
        {
            let mut response = ([(header::CONTENT_TYPE, "application/json")], HEALTHCHECK_BODY).into_response();
            response.headers_mut().extend(security_headers());
            return HealthcheckFuture::Ready { response: Some(response) };
        }
        HealthcheckFuture::Inner { future: self.inner.call(request) }
    }
}

pin_project_lite::pin_project! {
    /// The answer of [`Healthcheck`]: ready at once, or the app's.
    #[project = HealthcheckProjection]
    pub enum HealthcheckFuture<F> {
        /// A probe, answered.
        Ready { response: Option<Response> },
        /// Anything else.
        Inner { #[pin] future: F },
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for HealthcheckFuture<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            HealthcheckProjection::Ready { response } => {
                Poll::Ready(Ok(response.take().expect("polled after completion")))
            }
            HealthcheckProjection::Inner { future } => future.poll(cx),
        }
    }
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
