//! HTTP: the shared state, the router (every route in [`app`]), the handlers and the middleware
//! that turns every error response into an HTML page.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Form, FromRef, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, map_response_with_state};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::serve::{ListenerExt, TapIo};
use axum_extra::extract::cookie::{Cookie, Key, SameSite, SignedCookieJar};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::Digest;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::services::ServeDir;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::bitbucket::SampleCall;
use crate::diagnosis::{self, Grant, Upstream};
use crate::error::{AppError, CallbackProblem, ErrorPage, Scrubber};
use crate::exchange::{self, Exchange, Field};
use crate::pages::{
    ApiCallTemplate, ApiStep, ApiStepFragment, ErrorTemplate, IndexTemplate, Layout, ResultTemplate, TokenView,
};
use crate::sandbox::{self, Sandbox};
use crate::security::{self, FailedAttempts, MAX_BODY_BYTES};
use crate::settings::{Settings, join};
use crate::token::{self, ClientCredentials, TokenResponse};

/// The JSON `/healthcheck` answers: built at compile time, so the check costs nothing.
pub const HEALTHCHECK_BODY: &str = concat!(
    r#"{"status":"ok","name":""#,
    env!("CARGO_PKG_NAME"),
    r#"","version":""#,
    env!("CARGO_PKG_VERSION"),
    r#""}"#
);

/// The cookie that carries the authorization code grant's `state` between `/authorize` and the
/// callback: signed, HttpOnly, SameSite=Lax, sent only to `/oauth-callback`.
pub const STATE_COOKIE: &str = "oauth_state";

/// Shared by every request: cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    settings: Settings,
    /// The one HTTP client: timeouts on, redirects off, connections pooled.
    http: reqwest::Client,
    /// Where token requests go.
    token_url: String,
    /// Where the browser is sent to sign in (authorization code grant).
    authorize_url: String,
    /// Base of the REST API.
    api_url: url::Url,
    /// What the diagnosis needs to know about the server.
    upstream: Upstream,
    /// The emulator, in sandbox mode.
    sandbox: Option<Arc<Sandbox>>,
    /// Failed password attempts per client, for the 429 limit.
    failed_attempts: FailedAttempts,
    /// Signs the state cookie. Derived from the consumer secret, so every instance that shares the
    /// config verifies every other's cookies: no session store.
    cookie_key: Key,
    layout: Layout,
    /// The start page with an empty form, rendered once.
    index_html: Bytes,
}

impl FromRef<AppState> for Key {
    fn from_ref(state: &AppState) -> Key {
        state.0.cookie_key.clone()
    }
}

impl AppState {
    /// Builds the state for a server listening on `local_addr`. In sandbox mode the upstream URLs
    /// point back at this server's own `/sandbox` routes.
    pub fn new(
        settings: Settings,
        local_addr: SocketAddr,
    ) -> Result<AppState, Box<dyn std::error::Error + Send + Sync>> {
        let http = token::http_client(settings.upstream.connect_timeout, settings.upstream.timeout)?;
        let (bitbucket_url, api_url, sandbox) = if settings.sandbox {
            let base = format!("http://{}/sandbox", loopback(local_addr));
            let bitbucket_url = url::Url::parse(&base)?;
            let api_url = url::Url::parse(&format!("{base}/api"))?;
            (bitbucket_url, api_url, Some(Sandbox::new(settings.sandbox_options.clone())))
        } else {
            (settings.bitbucket_url.clone(), settings.api_url.clone(), None)
        };
        let token_url = join(&bitbucket_url, "/site/oauth2/access_token");
        // The browser follows this one: in sandbox mode a path, so it stays on the origin (and
        // with the cookies) it started from, be that localhost or 127.0.0.1.
        let authorize_url = if settings.sandbox {
            "/sandbox/site/oauth2/authorize".to_owned()
        } else {
            join(&bitbucket_url, "/site/oauth2/authorize")
        };
        let bitbucket_org = bitbucket_url.host_str() == Some("bitbucket.org");
        let upstream = Upstream {
            bitbucket_org,
            sandbox: settings.sandbox,
            sandbox_password_grant: settings.sandbox_options.password_grant,
        };
        let digest = sha2::Sha512::new()
            .chain_update(b"bitbucket-password-grant state cookie v1\0")
            .chain_update(settings.consumer_secret.expose_secret().as_bytes())
            .finalize();
        let cookie_key = Key::from(digest.as_slice());
        let layout = Layout {
            sandbox: settings.sandbox,
            token_url: token_url.clone(),
            api_url: join(&api_url, "/2.0/user"),
            config_path: settings.config_path.display().to_string(),
            password_grant_removed: upstream.refuses_password_grant(),
        };
        let index_html = Bytes::from(IndexTemplate::new(&layout).render()?);
        let failed_attempts = FailedAttempts::new(settings.failed_attempts_per_minute);
        Ok(AppState(Arc::new(Inner {
            failed_attempts,
            settings,
            http,
            token_url,
            authorize_url,
            api_url,
            upstream,
            sandbox,
            cookie_key,
            layout,
            index_html,
        })))
    }

    /// A one-line description of where tokens come from, for the start-up log.
    pub fn mode(&self) -> String {
        if self.0.settings.sandbox {
            format!("sandbox (built-in Bitbucket emulator, token endpoint {})", self.0.token_url)
        } else {
            format!("authorization server {}, API {}", self.0.token_url, self.0.api_url)
        }
    }

    fn client(&self) -> ClientCredentials<'_> {
        ClientCredentials {
            client_id: &self.0.settings.consumer_key,
            client_secret: self.0.settings.consumer_secret.expose_secret(),
        }
    }

    /// A scrubber that knows the consumer secret (and its Basic-auth form).
    fn scrubber(&self) -> Scrubber {
        Scrubber::default().basic_pair(&self.0.settings.consumer_key, self.0.settings.consumer_secret.expose_secret())
    }

    /// Sends a token request (recording it) and turns a failure into the error that explains it,
    /// scrubbed of every secret `scrubber` knows.
    async fn request_token(
        &self,
        grant: Grant,
        fields: &[Field<'_>],
        scrubber: &Scrubber,
    ) -> Result<(Exchange, TokenResponse), AppError> {
        let (exchange, result) =
            exchange::token_request(&self.0.http, &self.0.token_url, &self.client(), grant, fields).await;
        match result {
            Ok(token) => Ok((exchange, token)),
            Err(error) => Err(AppError::Token {
                grant,
                endpoint: self.0.token_url.clone(),
                error: scrubber.token_error(error),
                upstream: self.0.upstream,
                exchange: Some(Box::new(exchange)),
            }),
        }
    }

    /// Makes one of the sample API calls (recording it) and explains a failure.
    async fn call_api(&self, call: SampleCall, access_token: &str, can_refresh: bool, scrubber: &Scrubber) -> ApiStep {
        let url = join(&self.0.api_url, call.path());
        let (exchange, result) = exchange::api_call(&self.0.http, &url, access_token).await;
        let (json, problem) = match result {
            Ok(json) => (Some(json), None),
            Err(error) => {
                tracing::warn!(error = %scrubber.scrub(&error.to_string()), "sample API call failed");
                let mut diagnosis = diagnosis::api_failure(&format!("GET {url}"), &error, can_refresh);
                diagnosis.summary = scrubber.scrub(&diagnosis.summary);
                for (_, value) in &mut diagnosis.details {
                    *value = scrubber.scrub(value);
                }
                (None, Some(diagnosis))
            }
        };
        ApiStep::new(call, exchange, json, problem)
    }
}

/// The address this server can reach itself at: a wildcard bind becomes loopback.
fn loopback(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(a) if a.ip().is_unspecified() => SocketAddr::from(([127, 0, 0, 1], a.port())),
        SocketAddr::V6(a) if a.ip().is_unspecified() => SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, a.port())),
        other => other,
    }
}

/// Every route of the app, in one place.
pub fn app(state: AppState) -> Router {
    let mut router = Router::new()
        .route("/", get(index))
        .route("/healthcheck", get(healthcheck))
        // GET: the authorization server sends the browser back here. POST: the password form.
        .route("/oauth-callback", get(authorization_callback).post(password_grant))
        .route("/authorize", get(start_authorization))
        .route("/client-credentials", post(client_credentials))
        .route("/refresh", post(refresh))
        .route("/api-call", post(api_call))
        .nest_service("/static", ServeDir::new(&state.0.settings.static_dir));
    if let Some(sandbox) = &state.0.sandbox {
        router = router.nest("/sandbox", sandbox::router(sandbox.clone()));
    }
    // Listed innermost first: the last layer sees the request first and the response last.
    router
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, state.0.settings.request_timeout))
        .layer(middleware::from_fn(security::protect))
        .layer(map_response_with_state(state.clone(), render_error_pages))
        .layer(
            TraceLayer::new_for_http()
                // Method and path only: never the query string (it can hold a code), a header or a body.
                .make_span_with(|request: &Request| {
                    tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
                })
                .on_request(())
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .with_state(state)
}

/// `GET /`: the start page.
async fn index(State(state): State<AppState>) -> Html<Bytes> {
    Html(state.0.index_html.clone())
}

/// `GET /healthcheck`: is the app alive? Makes no upstream call.
async fn healthcheck() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], HEALTHCHECK_BODY)
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
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> Result<Response, AppError> {
    let form = match form {
        Ok(Form(form)) => form,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Ok(StatusCode::PAYLOAD_TOO_LARGE.into_response());
        }
        Err(rejection) => return form_error(&state, "", &describe_rejection(&rejection)),
    };
    if let Some(seconds) = state.0.failed_attempts.blocked(peer.ip()) {
        return Err(AppError::TooManyAttempts(seconds));
    }
    let username = form.username.as_deref().unwrap_or("").trim().to_owned();
    let Some(password) = form.password.filter(|p| !p.expose_secret().trim().is_empty()) else {
        let message = if username.is_empty() { "Enter a username and a password." } else { "Enter a password." };
        return form_error(&state, &username, message);
    };
    if username.is_empty() {
        return form_error(&state, "", "Enter a username.");
    }
    if username.chars().any(char::is_control) {
        return form_error(&state, "", "The username must not contain control characters such as line breaks.");
    }
    tracing::Span::current().record("username", username.as_str());

    let fields = [
        Field::plain("grant_type", "password"),
        Field::plain("username", &username),
        Field::password(password.expose_secret()),
    ];
    let scrubber = state.scrubber().secret(password.expose_secret());
    let result = state.request_token(Grant::Password, &fields, &scrubber).await;
    // The password has done its job: forget it (SecretString zeroes its memory on drop).
    drop(password);
    let (exchange, token) = result.inspect_err(|error| {
        // Only refusals of the user's credentials count toward the limit, not upstream failures.
        if error.page().status.is_client_error() {
            state.0.failed_attempts.record_failure(peer.ip());
        }
    })?;
    show_token(&state, Grant::Password, token, exchange, None, scrubber).await
}

/// `GET /authorize`: starts the authorization code grant. Sends the browser to the authorization
/// server with a fresh `state`, kept in a signed cookie for the callback to check.
async fn start_authorization(State(state): State<AppState>, jar: SignedCookieJar) -> (SignedCookieJar, Redirect) {
    let csrf_state = crate::random_token();
    let issued = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let cookie = Cookie::build((STATE_COOKIE, format!("{csrf_state}.{issued}")))
        .path("/oauth-callback")
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(time::Duration::seconds(state.0.settings.state_lifetime.as_secs() as i64));
    let mut url = state.0.authorize_url.clone();
    url.push('?');
    url.push_str(
        &url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &state.0.settings.consumer_key)
            .append_pair("response_type", "code")
            .append_pair("state", &csrf_state)
            .finish(),
    );
    (jar.add(cookie), Redirect::to(&url))
}

/// What the authorization server puts on the callback URL.
#[derive(Deserialize)]
pub struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /oauth-callback?code=…&state=…`: the end of the authorization code grant.
#[tracing::instrument(name = "authorization_code_grant", skip_all)]
async fn authorization_callback(
    State(state): State<AppState>,
    jar: SignedCookieJar,
    params: Result<Query<CallbackParams>, QueryRejection>,
) -> (SignedCookieJar, Result<Response, AppError>) {
    // Whatever happens, the state is spent.
    let cookie = jar.get(STATE_COOKIE);
    let jar = jar.remove(Cookie::build(STATE_COOKIE).path("/oauth-callback"));
    let result = match params {
        Ok(Query(params)) => finish_authorization(&state, cookie, params).await,
        Err(_) => Err(AppError::BadRequest("The callback's query string could not be read.")),
    };
    (jar, result)
}

async fn finish_authorization(
    state: &AppState,
    cookie: Option<Cookie<'static>>,
    params: CallbackParams,
) -> Result<Response, AppError> {
    let problem = |p| Err(AppError::Callback(p));
    if let Some(error) = params.error {
        return if error == "access_denied" {
            problem(CallbackProblem::Denied)
        } else {
            problem(CallbackProblem::Error { error, description: params.error_description })
        };
    }
    let Some(returned_state) = params.state else {
        return problem(if params.code.is_none() { CallbackProblem::Empty } else { CallbackProblem::NoState });
    };
    let Some(cookie) = cookie else {
        return problem(CallbackProblem::NoCookie);
    };
    let (expected, issued) = cookie.value().split_once('.').unwrap_or(("", "0"));
    if expected != returned_state {
        return problem(CallbackProblem::StateMismatch);
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    if now.saturating_sub(issued.parse().unwrap_or(0)) >= state.0.settings.state_lifetime.as_secs() {
        return problem(CallbackProblem::Expired);
    }
    let Some(code) = params.code.filter(|c| !c.is_empty()) else {
        return problem(CallbackProblem::NoCode);
    };
    let scrubber = state.scrubber().secret(&code);
    let fields = [Field::plain("grant_type", "authorization_code"), Field::secret("code", &code)];
    let (exchange, token) = state.request_token(Grant::AuthorizationCode, &fields, &scrubber).await?;
    show_token(state, Grant::AuthorizationCode, token, exchange, None, scrubber).await
}

/// `POST /client-credentials`: a token for the consumer itself (its owner's account).
#[tracing::instrument(name = "client_credentials_grant", skip_all)]
async fn client_credentials(State(state): State<AppState>) -> Result<Response, AppError> {
    let scrubber = state.scrubber();
    let fields = [Field::plain("grant_type", "client_credentials")];
    let (exchange, token) = state.request_token(Grant::ClientCredentials, &fields, &scrubber).await?;
    show_token(&state, Grant::ClientCredentials, token, exchange, None, scrubber).await
}

/// The result page's refresh button: the refresh token, and the access token it replaces (for
/// the side-by-side view).
#[derive(Deserialize)]
pub struct RefreshForm {
    refresh_token: Option<SecretString>,
    access_token: Option<SecretString>,
}

/// `POST /refresh`: trades the refresh token for a new pair.
#[tracing::instrument(name = "refresh_token_grant", skip_all)]
async fn refresh(
    State(state): State<AppState>,
    form: Result<Form<RefreshForm>, FormRejection>,
) -> Result<Response, AppError> {
    let Ok(Form(form)) = form else {
        return Err(AppError::BadRequest("The refresh form could not be read."));
    };
    let Some(old_refresh) = form.refresh_token.filter(|t| !t.expose_secret().is_empty()) else {
        return Err(AppError::BadRequest("The refresh form carried no refresh token."));
    };
    let old_access = form.access_token.map(|t| t.expose_secret().to_owned()).unwrap_or_default();
    let scrubber = state.scrubber().secret(old_refresh.expose_secret()).secret(&old_access);
    let fields =
        [Field::plain("grant_type", "refresh_token"), Field::secret("refresh_token", old_refresh.expose_secret())];
    let (exchange, token) = state.request_token(Grant::RefreshToken, &fields, &scrubber).await?;
    let previous = TokenView::previous(&old_access, old_refresh.expose_secret());
    show_token(&state, Grant::RefreshToken, token, exchange, Some(previous), scrubber).await
}

/// The result page for any grant: the token, then the sample API call made with it.
async fn show_token(
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
        calls: SampleCall::ALL,
    };
    Ok(Html(page.render()?).into_response())
}

/// The result page's "call the API again" buttons.
#[derive(Deserialize)]
pub struct ApiCallForm {
    access_token: Option<SecretString>,
    call: Option<String>,
}

/// `POST /api-call`: one of the sample calls again, with the same token. With `X-Fragment: 1`
/// (the page's script) it answers with the exchange alone, to be added to the page.
#[tracing::instrument(name = "api_call", skip_all)]
async fn api_call(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    form: Result<Form<ApiCallForm>, FormRejection>,
) -> Result<Response, AppError> {
    let Ok(Form(form)) = form else {
        return Err(AppError::BadRequest("The API call form could not be read."));
    };
    let Some(call) = form.call.as_deref().and_then(SampleCall::from_path) else {
        return Err(AppError::BadRequest("That is not one of the sample calls this page offers."));
    };
    let Some(access_token) = form.access_token.filter(|t| !t.expose_secret().is_empty()) else {
        return Err(AppError::BadRequest("The API call form carried no access token."));
    };
    let scrubber = state.scrubber().secret(access_token.expose_secret());
    let api = state.call_api(call, access_token.expose_secret(), false, &scrubber).await;
    let html = if headers.get("x-fragment").is_some_and(|v| v == "1") {
        ApiStepFragment { api: &api }.render()?
    } else {
        ApiCallTemplate { layout: &state.0.layout, api: &api }.render()?
    };
    Ok(Html(html).into_response())
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
            "The form must be sent as application/x-www-form-urlencoded, as the form below does.".into()
        }
        FormRejection::FailedToDeserializeForm(_) | FormRejection::FailedToDeserializeFormBody(_) => {
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
            let content_type = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
            if content_type.is_some_and(|t| t.starts_with("text/html") || t.contains("json")) {
                return response;
            }
            ErrorPage::for_status(status)
        }
    };
    let (mut parts, body) = response.into_parts();
    if status.is_server_error() && parts.extensions.get::<ErrorPage>().is_none() {
        // A framework-made 5xx: keep its text for the operator (it never holds a credential).
        let text = axum::body::to_bytes(body, 2048).await.unwrap_or_default();
        tracing::error!(status = status.as_u16(), body = %String::from_utf8_lossy(&text), "internal error");
    }
    let html = ErrorTemplate { layout: &state.0.layout, page: &page }
        .render()
        .unwrap_or_else(|_| format!("<!doctype html><title>{status}</title><h1>{status}</h1>"));
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    Response::from_parts(parts, axum::body::Body::from(html))
}

/// Runs the app on `listener` until `shutdown` completes, then finishes requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let service = app(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(without_nagle(listener), service).with_graceful_shutdown(shutdown).await
}

/// Accepted connections send each write at once (`TCP_NODELAY`). Without it, a response written in
/// two parts (headers, then a file's body, as `ServeDir` does) waits for the client's delayed ACK:
/// up to 40 ms per static file. (The benchmark found it: 859 stylesheet requests a second.)
pub fn without_nagle(
    listener: tokio::net::TcpListener,
) -> TapIo<tokio::net::TcpListener, fn(&mut tokio::net::TcpStream)> {
    fn set_nodelay(stream: &mut tokio::net::TcpStream) {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
    }
    listener.tap_io(set_nodelay as fn(&mut tokio::net::TcpStream))
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
        assert_eq!(loopback("0.0.0.0:3000".parse().unwrap()).to_string(), "127.0.0.1:3000");
        assert_eq!(loopback("[::]:3000".parse().unwrap()).to_string(), "[::1]:3000");
        assert_eq!(loopback("127.0.0.1:80".parse().unwrap()).to_string(), "127.0.0.1:80");
    }
}
