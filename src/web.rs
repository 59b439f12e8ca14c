//! HTTP: the shared state, the router (every route in [`app`]), the handlers and the middleware
//! that turns every error response into an HTML page.

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, map_response_with_state};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tower_http::services::ServeDir;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::bitbucket;
use crate::error::{AppError, ErrorPage, Scrubber, describe_api_error};
use crate::pages::{ErrorTemplate, IndexTemplate, Layout, ResultTemplate, TokenView};
use crate::sandbox::{self, Sandbox, SandboxOptions};
use crate::settings::{Settings, join};
use crate::token::{self, ClientCredentials};

/// The JSON `/healthcheck` answers: built at compile time, so the check costs nothing.
pub const HEALTHCHECK_BODY: &str = concat!(
    r#"{"status":"ok","name":""#,
    env!("CARGO_PKG_NAME"),
    r#"","version":""#,
    env!("CARGO_PKG_VERSION"),
    r#""}"#
);

/// Shared by every request: cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    settings: Settings,
    /// The one HTTP client: timeouts on, redirects off, connections pooled.
    http: reqwest::Client,
    /// Where the token request goes.
    token_url: String,
    /// Base of the REST API.
    api_url: url::Url,
    /// The emulator, in sandbox mode.
    sandbox: Option<Arc<Sandbox>>,
    layout: Layout,
    /// The start page with an empty form, rendered once.
    index_html: String,
}

impl AppState {
    /// Builds the state for a server listening on `local_addr`. In sandbox mode the upstream URLs
    /// point back at this server's own `/sandbox` routes.
    pub fn new(
        settings: Settings,
        local_addr: SocketAddr,
        sandbox_options: SandboxOptions,
    ) -> Result<AppState, Box<dyn std::error::Error + Send + Sync>> {
        let http =
            token::http_client(settings.upstream.connect_timeout, settings.upstream.timeout)?;
        let (bitbucket_url, api_url, sandbox) = if settings.sandbox {
            let base = format!("http://{}/sandbox", loopback(local_addr));
            let bitbucket_url = url::Url::parse(&base)?;
            let api_url = url::Url::parse(&format!("{base}/api"))?;
            (bitbucket_url, api_url, Some(Sandbox::new(sandbox_options)))
        } else {
            (
                settings.bitbucket_url.clone(),
                settings.api_url.clone(),
                None,
            )
        };
        let token_url = join(&bitbucket_url, "/site/oauth2/access_token");
        let layout = Layout {
            sandbox: settings.sandbox,
            token_url: token_url.clone(),
            api_url: join(&api_url, "/2.0/user"),
            config_path: settings.config_path.display().to_string(),
        };
        let index_html = IndexTemplate::new(&layout).render()?;
        Ok(AppState(Arc::new(Inner {
            settings,
            http,
            token_url,
            api_url,
            sandbox,
            layout,
            index_html,
        })))
    }

    /// A one-line description of where tokens come from, for the start-up log.
    pub fn mode(&self) -> String {
        if self.0.settings.sandbox {
            format!(
                "sandbox (built-in Bitbucket emulator, token endpoint {})",
                self.0.token_url
            )
        } else {
            format!(
                "authorization server {}, API {}",
                self.0.token_url, self.0.api_url
            )
        }
    }
}

/// The address this server can reach itself at: a wildcard bind becomes loopback.
fn loopback(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(a) if a.ip().is_unspecified() => {
            SocketAddr::from(([127, 0, 0, 1], a.port()))
        }
        SocketAddr::V6(a) if a.ip().is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, a.port()))
        }
        other => other,
    }
}

/// Every route of the app, in one place.
pub fn app(state: AppState) -> Router {
    let mut router = Router::new()
        .route("/", get(index))
        .route("/healthcheck", get(healthcheck))
        .route("/oauth-callback", post(password_grant))
        .nest_service("/static", ServeDir::new(&state.0.settings.static_dir));
    if let Some(sandbox) = &state.0.sandbox {
        router = router.nest("/sandbox", sandbox::router(sandbox.clone()));
    }
    router
        .fallback(not_found)
        .layer(map_response_with_state(state.clone(), render_error_pages))
        .layer(
            TraceLayer::new_for_http()
                // Method and path only: never the query string, a header or a body.
                .make_span_with(|request: &Request| {
                    tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
                })
                .on_request(())
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(middleware::from_fn(no_store_on_credential_pages))
        .with_state(state)
}

/// `GET /`: the start page.
async fn index(State(state): State<AppState>) -> Html<String> {
    Html(state.0.index_html.clone())
}

/// `GET /healthcheck`: is the app alive? Makes no upstream call.
async fn healthcheck() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        HEALTHCHECK_BODY,
    )
}

async fn not_found() -> StatusCode {
    StatusCode::NOT_FOUND
}

/// The password form. Both fields are optional here so that a missing one gets our message.
#[derive(Deserialize)]
pub struct PasswordForm {
    username: Option<String>,
    password: Option<SecretString>,
}

/// `POST /oauth-callback`: the Resource Owner Password Credentials grant, then the sample call.
#[tracing::instrument(name = "password_grant", skip_all, fields(username = tracing::field::Empty))]
async fn password_grant(
    State(state): State<AppState>,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> Result<Response, AppError> {
    let form = match form {
        Ok(Form(form)) => form,
        Err(rejection) => return form_error(&state, "", &describe_rejection(&rejection)),
    };
    let username = form.username.as_deref().unwrap_or("").trim().to_owned();
    let Some(password) = form
        .password
        .filter(|p| !p.expose_secret().trim().is_empty())
    else {
        let message = if username.is_empty() {
            "Enter a username and a password."
        } else {
            "Enter a password."
        };
        return form_error(&state, &username, message);
    };
    if username.is_empty() {
        return form_error(&state, "", "Enter a username.");
    }
    if username.chars().any(char::is_control) {
        return form_error(
            &state,
            "",
            "The username must not contain control characters such as line breaks.",
        );
    }
    tracing::Span::current().record("username", username.as_str());

    let settings = &state.0.settings;
    let secret = settings.consumer_secret.expose_secret();
    let client = ClientCredentials {
        client_id: &settings.consumer_key,
        client_secret: secret,
    };
    let result = token::password_grant(
        &state.0.http,
        &state.0.token_url,
        &client,
        &username,
        password.expose_secret(),
    )
    .await;
    let scrubber = Scrubber::default()
        .basic_pair(&settings.consumer_key, secret)
        .secret(password.expose_secret());
    // The password has done its job: forget it (SecretString zeroes its memory on drop).
    drop(password);
    let token = result
        .map_err(|e| AppError::from_token_error(&state.0.token_url, scrubber.token_error(e)))?;
    tracing::info!(token_type = %token.token_type, expires_in = ?token.expires_in, "access token issued");

    let profile =
        bitbucket::current_user(&state.0.http, &state.0.api_url, &token.access_token).await;
    let scrubber = scrubber.secret(&token.access_token);
    let (profile, api_error) = match profile {
        Ok(profile) => (Some(profile), None),
        Err(error) => {
            tracing::warn!(error = %scrubber.scrub(&error.to_string()), "sample API call failed");
            let (summary, details) = describe_api_error(&error);
            let details = details
                .into_iter()
                .map(|(k, v)| (k, scrubber.scrub(&v)))
                .collect();
            (None, Some((scrubber.scrub(&summary), details)))
        }
    };
    let page = ResultTemplate {
        layout: &state.0.layout,
        token: TokenView::new(&token),
        profile,
        api_error,
        api_call: join(&state.0.api_url, "/2.0/user"),
    };
    Ok(Html(page.render()?).into_response())
}

/// The start page again, with a message and the username that was typed (never the password).
fn form_error(state: &AppState, username: &str, message: &str) -> Result<Response, AppError> {
    tracing::info!(problem = message, "form refused");
    let mut page = IndexTemplate::new(&state.0.layout);
    page.form_error = Some(message.to_owned());
    page.username = username.to_owned();
    Ok((StatusCode::BAD_REQUEST, Html(page.render()?)).into_response())
}

/// Says in plain words why axum could not read the form.
fn describe_rejection(rejection: &FormRejection) -> String {
    match rejection {
        FormRejection::InvalidFormContentType(_) => {
            "The form must be sent as application/x-www-form-urlencoded, as the form below does."
                .into()
        }
        FormRejection::FailedToDeserializeForm(_)
        | FormRejection::FailedToDeserializeFormBody(_) => {
            "The form could not be read: each field (username, password) must appear once, \
             as valid UTF-8 and valid percent-encoding."
                .into()
        }
        _ => "The form could not be read.".into(),
    }
}

/// Renders every error response as an HTML page in the site's layout: the [`ErrorPage`] an
/// [`AppError`] attached, or a page for the bare status (404 from the router, 405, 413, …)
/// when the body is not already HTML or JSON.
async fn render_error_pages(State(state): State<AppState>, response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let page = match response.extensions().get::<ErrorPage>() {
        Some(page) => page.clone(),
        None => {
            let content_type = response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            if content_type.is_some_and(|t| t.starts_with("text/html") || t.contains("json")) {
                return response;
            }
            ErrorPage::for_status(status)
        }
    };
    let (mut parts, _) = response.into_parts();
    let html = ErrorTemplate {
        layout: &state.0.layout,
        page: &page,
    }
    .render()
    .unwrap_or_else(|_| format!("<!doctype html><title>{status}</title><h1>{status}</h1>"));
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    Response::from_parts(parts, axum::body::Body::from(html))
}

/// Pages that take a credential or show a token must not be cached (RFC 6749 §5.1).
async fn no_store_on_credential_pages(request: Request, next: middleware::Next) -> Response {
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).await;
    if path == "/"
        || path.starts_with("/oauth-callback")
        || path.starts_with("/sandbox/site/oauth2")
    {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Runs the app on `listener` until `shutdown` completes, then finishes requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
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

    #[test]
    fn wildcard_binds_are_reached_through_loopback() {
        assert_eq!(
            loopback("0.0.0.0:3000".parse().unwrap()).to_string(),
            "127.0.0.1:3000"
        );
        assert_eq!(
            loopback("[::]:3000".parse().unwrap()).to_string(),
            "[::1]:3000"
        );
        assert_eq!(
            loopback("127.0.0.1:80".parse().unwrap()).to_string(),
            "127.0.0.1:80"
        );
    }
}
