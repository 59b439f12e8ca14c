//! HTTP: the shared state and the router (every route in [`app`]). Each grant or action has a file
//! of its own, read top to bottom as the steps of that grant:
//!
//! | file                      | routes                                                     |
//! |---------------------------|------------------------------------------------------------|
//! | [`start_page`]            | `GET /`, `GET /healthcheck`                                |
//! | [`password`]              | `POST /oauth-callback` (the password grant)                |
//! | [`authorization_code`]    | `GET /authorize`, `GET /oauth-callback?code=…&state=…`     |
//! | [`client_credentials`]    | `POST /client-credentials`                                 |
//! | [`refresh`]               | `POST /refresh`                                            |
//! | [`api_call`]              | `POST /api-call`                                           |
//! | [`revoke`]                | `POST /revoke` (RFC 7009)                                  |
//!
//! Beside them: [`result`] (the page every grant ends on), [`views`] (templates and what they
//! show), [`error`] (the one error type and the error pages), [`protect`] (headers, limits,
//! cross-site refusal, the failed-attempt limit).

pub mod api_call;
pub mod authorization_code;
pub mod cases;
pub mod client_credentials;
pub mod device;
pub mod error;
pub mod form;
pub mod introspect;
pub mod password;
pub mod protect;
pub mod refresh;
pub mod result;
pub mod revoke;
pub mod start_page;
pub mod state_cookie;
pub mod views;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::ExposeSecret;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::services::ServeDir;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::attempts::AttemptLimiter;
use crate::authorization_server::{self, AuthorizationServer};
use crate::bitbucket::SampleCall;
use crate::diagnosis;
use crate::exchange::{self, Exchange, Field};
use crate::grant::Grant;
use crate::sandbox::{self, Sandbox};
use crate::secrets::Scrubber;
use crate::server;
use crate::settings::{SandboxServer, Settings, join};
use crate::standard_sandbox;
use crate::token::{self, ClientCredentials, TokenResponse};
use cases::SandboxCase;
use error::AppError;
use protect::MAX_BODY_BYTES;
pub use start_page::HEALTHCHECK_BODY;
use state_cookie::CookieKey;
use views::{ApiStep, IndexTemplate, Layout};

pub use state_cookie::STATE_COOKIE;

/// Shared by every request: cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

struct Inner {
    settings: Settings,
    /// The scopes asked for (space-separated; empty: none).
    scope: String,
    /// The one HTTP client: timeouts on, redirects off, connections pooled.
    http: reqwest::Client,
    /// The authorization server and API the tokens come from and go to.
    server: AuthorizationServer,
    /// The `redirect_uri` of the authorization code grant; `None` in sandbox mode without a
    /// `callbackUrl`, where the callback is on whichever of this app's origins the browser uses.
    callback_url: Option<String>,
    /// The emulator, in sandbox mode.
    sandbox: Option<Arc<Sandbox>>,
    /// Password attempts per client, for the 429 limit.
    attempts: AttemptLimiter,
    /// Signs the state cookie: random per process, or derived from `cookieSecret` so that
    /// instances behind one address verify each other's cookies (no session store).
    cookie_key: CookieKey,
    layout: Layout,
    /// The start page with an empty form, rendered once.
    index_html: Bytes,
    /// States already used: each works once.
    used_states: authorization_code::UsedStates,
    /// The `Host` values the app answers to.
    allowed_hosts: protect::AllowedHosts,
    /// When each device code may poll next (RFC 8628 §3.5).
    device_pace: device::DevicePace,
    /// Requests in flight outside the sandbox: at shutdown the listener keeps accepting (the app's
    /// own calls to its sandbox) until they are done.
    busy: Arc<AtomicUsize>,
    /// Set at shutdown (sandbox mode): new requests of users get 503 while the app drains.
    draining: Arc<AtomicBool>,
}

impl AppState {
    /// Builds the state for a server listening on `local_addr`. In sandbox mode the upstream URLs
    /// point back at this server's own `/sandbox` routes; with an `issuer`, the endpoints are
    /// discovered first (a failure names the metadata URL and the problem).
    pub async fn new(
        settings: Settings,
        local_addr: SocketAddr,
    ) -> Result<AppState, Box<dyn std::error::Error + Send + Sync>> {
        crate::install_tls_provider();
        let http = token::http_client(settings.upstream.connect_timeout, settings.upstream.timeout)?;
        let standard_sandbox = settings.sandbox && settings.sandbox_server == SandboxServer::Standard;
        let discovered = match (&settings.issuer, settings.sandbox) {
            (_, true) if standard_sandbox => {
                let issuer = start_standard_sandbox(&settings, local_addr).await?;
                Some(authorization_server::discover(&http, &issuer).await?)
            }
            (Some(issuer), false) => Some(authorization_server::discover(&http, issuer).await?),
            _ => None,
        };
        let server = AuthorizationServer::from_settings(&settings, local_addr, discovered)?;
        if !settings.sandbox && settings.sandbox_server == SandboxServer::Standard {
            tracing::warn!(
                "sandboxServer is standard, but sandbox is false: the configured server is used, not a built-in one"
            );
        }
        for note in server.discovery.iter().flat_map(|d| &d.notes) {
            tracing::warn!("discovery: {note}");
        }
        if server.kind == authorization_server::Kind::Standard
            && (settings.bitbucket_url.as_str() != "https://bitbucket.org/"
                || settings.api_url.as_str() != "https://api.bitbucket.org/")
        {
            tracing::warn!("bitbucketUrl and apiUrl are not used: the server is known by its issuer or endpoints");
        }
        let callback_url = match (&settings.callback_url, settings.sandbox) {
            (Some(url), _) => Some(url.to_string()),
            (None, true) => None,
            (None, false) => Some(format!("http://localhost:{}/oauth-callback", local_addr.port())),
        };
        // The built-in standard server's client asks for every scope it offers, unless told otherwise.
        let scope = match (standard_sandbox, settings.scope.is_empty()) {
            (true, true) => standard_sandbox::SCOPES_SUPPORTED.join(" "),
            _ => settings.scope.clone(),
        };
        // The state cookie's key: from cookieSecret when instances share one, else random per
        // process. Never from a secret that ships in the repository (the sandbox's is public).
        let cookie_key = settings.cookie_secret.as_ref().map_or_else(CookieKey::random, CookieKey::from_secret);
        let settings_state_lifetime = settings.state_lifetime;
        let layout = Layout::new(&server, &settings.config_path);
        let allowed_hosts = protect::AllowedHosts::new(local_addr, callback_url.as_deref(), &settings.allowed_hosts);
        // The sandbox's consumers are registered with this app's callback URLs: its configured one,
        // or the callback on each origin the app answers to (and the loopback ones, any port).
        let sandbox = (settings.sandbox && !standard_sandbox).then(|| {
            let mut options = settings.sandbox_options.clone();
            options.redirect_uris.extend(allowed_hosts.callback_urls(local_addr.port()));
            options.redirect_uris.extend(callback_url.clone());
            Sandbox::new(options)
        });
        let index_html = Bytes::from(IndexTemplate::new(&layout).render()?);
        let attempts = AttemptLimiter::new(settings.failed_attempts_per_minute);
        Ok(AppState(Arc::new(Inner {
            attempts,
            scope,
            settings,
            http,
            server,
            callback_url,
            sandbox,
            cookie_key,
            layout,
            index_html,
            busy: Arc::default(),
            draining: Arc::default(),
            allowed_hosts,
            device_pace: device::DevicePace::default(),
            used_states: authorization_code::UsedStates::new(settings_state_lifetime),
        })))
    }

    /// A one-line description of where tokens come from, for the start-up log.
    pub fn mode(&self) -> String {
        self.0.server.describe()
    }

    /// The address a person should open: the callback's origin, so the sign-in's cookie and the
    /// callback share one (`http://localhost:3000`).
    pub fn address_to_open(&self, local_addr: SocketAddr) -> String {
        match &self.0.callback_url {
            Some(url) => url::Url::parse(url).map(|u| u.origin().ascii_serialization()).unwrap_or_default(),
            None => format!("http://localhost:{}", local_addr.port()),
        }
    }

    /// The client credentials for `case`: a sandbox case's own consumer, or the configured one.
    fn client(&self, case: SandboxCase) -> ClientCredentials<'_> {
        let (client_id, client_secret) = match case.consumer() {
            Some(consumer) => (consumer.key, consumer.secret),
            // The built-in standard server's own client: public values, like the sandbox's.
            None if self.0.server.built_in => {
                (standard_sandbox::STANDARD_CLIENT_ID, standard_sandbox::STANDARD_CLIENT_SECRET)
            }
            None => (self.0.settings.consumer_key.as_str(), self.0.settings.consumer_secret.expose_secret()),
        };
        ClientCredentials { client_id, client_secret, auth: self.0.server.client_auth }
    }

    /// The sandbox case a form or query names; always the demo outside sandbox mode.
    fn case(&self, param: Option<&str>) -> SandboxCase {
        if self.0.sandbox.is_some() { SandboxCase::from_param(param) } else { SandboxCase::Demo }
    }

    /// True when the scopes ask for `openid`: an OpenID Connect sign-in, which sends a `nonce`.
    fn asks_openid(&self) -> bool {
        self.scope().is_some_and(|scope| scope.split(' ').any(|s| s == "openid"))
    }

    /// The scopes to ask for, if any are set.
    fn scope(&self) -> Option<&str> {
        Some(self.0.scope.as_str()).filter(|s| !s.is_empty())
    }

    /// A scrubber that knows the consumer secret for `case` (and its Basic-auth form).
    fn scrubber(&self, case: SandboxCase) -> Scrubber {
        let client = self.client(case);
        Scrubber::default().basic_pair(client.client_id, client.client_secret)
    }

    /// Sends a token request (recording it) and turns a failure into the error that explains it,
    /// scrubbed of every secret `scrubber` knows.
    async fn request_token(
        &self,
        case: SandboxCase,
        grant: Grant,
        fields: &[Field<'_>],
        scrubber: &Scrubber,
    ) -> Result<(Exchange, TokenResponse), AppError> {
        let server = &self.0.server;
        let (exchange, result) = exchange::token_request(
            &self.0.http,
            &server.token.url,
            &self.client(case),
            server.snippet_names(),
            grant,
            fields,
            self.relay().as_ref(),
        )
        .await;
        match result {
            Ok(token) => Ok((exchange, token)),
            Err(error) => {
                let error = scrubber.token_error(error);
                let explanation = diagnosis::token_failure(grant, &server.token.url, &error, server);
                Err(AppError::Token {
                    grant,
                    endpoint: server.token.url.clone(),
                    error: Box::new(error),
                    explanation: Box::new(explanation),
                    exchange: Some(Box::new(exchange)),
                    retry_username: None,
                })
            }
        }
    }

    /// Makes one of the sample API calls (recording it) and explains a failure. The token goes
    /// only where the server's description says: Bitbucket's API, or the user call the user
    /// configured or the issuing server named. `None`: the server has no such call.
    async fn call_api(
        &self,
        call: SampleCall,
        access_token: &str,
        can_refresh: bool,
        scrubber: &Scrubber,
    ) -> Option<ApiStep> {
        let server = &self.0.server;
        let url = match (call, &server.bitbucket_api) {
            (SampleCall::User, _) => server.user.as_ref()?.url.clone(),
            (_, Some(api)) => join(api, call.path()),
            (_, None) => return None,
        };
        Some(self.call_api_at(url, call == SampleCall::User, access_token, can_refresh, scrubber).await)
    }

    /// In sandbox mode, the header that tells the sandbox whose request this is: the address of
    /// the user the handler serves (see [`remember_end_user`]), with the sandbox's key.
    fn relay(&self) -> Option<exchange::Relay> {
        let sandbox = self.0.sandbox.as_ref()?;
        END_USER.try_with(|end_user| sandbox.relay_header(*end_user)).ok()
    }

    /// Calls `GET {url}` with the token (recording it) and explains a failure; `names_the_user`
    /// says the answer is an account to show.
    async fn call_api_at(
        &self,
        url: String,
        names_the_user: bool,
        access_token: &str,
        can_refresh: bool,
        scrubber: &Scrubber,
    ) -> ApiStep {
        let (exchange, result) = exchange::api_call(&self.0.http, &url, access_token, self.relay().as_ref()).await;
        let (json, problem) = match result {
            Ok(json) => (Some(json), None),
            Err(error) => {
                tracing::warn!(error = %scrubber.scrub(&error.to_string()), "the API call failed");
                let mut diagnosis = diagnosis::api_failure(&format!("GET {url}"), &error, can_refresh, &self.0.server);
                diagnosis.summary = scrubber.scrub(&diagnosis.summary);
                diagnosis.advice = scrubber.scrub(&diagnosis.advice);
                for (_, value) in &mut diagnosis.details {
                    *value = scrubber.scrub(value);
                }
                (None, Some(diagnosis))
            }
        };
        // Whatever else the page knows to be secret (typed into the explorer's path, or echoed back)
        // is scrubbed from every text the step shows.
        let exchange = exchange.map_text(|text| scrubber.scrub(text));
        let mut step = ApiStep::new(names_the_user, self.0.server.is_bitbucket(), exchange, json, problem);
        step.json = step.json.map(|json| scrubber.scrub(&json));
        step
    }
}

/// Starts the built-in standard server on a loopback port of its own, as a separate server would
/// run, and returns its issuer: the app then discovers it over HTTP like any other. It serves
/// until the process ends (the app's own calls to it may outlast the app's listener at shutdown).
async fn start_standard_sandbox(settings: &Settings, local_addr: SocketAddr) -> std::io::Result<url::Url> {
    let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
    let issuer = format!("http://{}/sandbox/oidc", listener.local_addr()?);
    let mut options = standard_sandbox::StandardOptions::new(&issuer);
    options.password_grant = settings.sandbox_options.password_grant;
    // The app's callback on the name people open it by; loopback IP literals match any port.
    options.redirect_uris.push(format!("http://localhost:{}/oauth-callback", local_addr.port()));
    let standard = standard_sandbox::StandardSandbox::new(options);
    let router = standard_sandbox::standalone(standard)
        .nest_service("/static", ServeDir::new(&settings.static_dir))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES));
    tokio::spawn(server::serve(listener, router, server::Limits::default(), std::future::pending(), None));
    Ok(url::Url::parse(&issuer).expect("a valid issuer"))
}

/// Every route of the app, in one place.
pub fn app(state: AppState) -> Router {
    let mut router = Router::new()
        .route("/", get(start_page::index))
        .route("/healthcheck", get(start_page::healthcheck))
        // GET: the authorization server sends the browser back here. POST: the password form.
        .route("/oauth-callback", get(authorization_code::authorization_callback).post(password::password_grant))
        .route("/authorize", get(authorization_code::start_authorization))
        .route("/client-credentials", post(client_credentials::client_credentials))
        .route("/refresh", post(refresh::refresh))
        .route("/api-call", post(api_call::api_call))
        .route("/revoke", post(revoke::revoke))
        .route("/introspect", post(introspect::introspect))
        .route("/device", post(device::start_device))
        .route("/device/poll", post(device::poll_device))
        .nest_service("/static", ServeDir::new(&state.0.settings.static_dir));
    if let Some(sandbox) = &state.0.sandbox {
        router = router
            .layer(middleware::from_fn(remember_end_user))
            .layer(middleware::from_fn_with_state((state.0.busy.clone(), state.0.draining.clone()), count_busy))
            .nest("/sandbox", sandbox::router(sandbox.clone()));
    }
    // Listed innermost first: the last layer sees the request first and the response last.
    router
        .fallback(not_found)
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, state.0.settings.request_timeout))
        .layer(protect::ProtectLayer::new(state.0.allowed_hosts.clone(), state.0.layout.clone()))
        .layer(
            TraceLayer::new_for_http()
                // Method and path only: never the query string (it can hold a code), a header or a body.
                // Health probes are logged at debug level: at the default level they cost nothing.
                .make_span_with(|request: &Request| {
                    if request.uri().path() == "/healthcheck" {
                        tracing::debug_span!("request", method = %request.method(), path = %request.uri().path())
                    } else {
                        tracing::info_span!("request", method = %request.method(), path = %request.uri().path())
                    }
                })
                .on_request(())
                .on_response(|response: &Response, latency: std::time::Duration, span: &tracing::Span| {
                    // A span that is off (a health probe at the default level) logs nothing.
                    if !span.is_disabled() {
                        tracing::info!(status = response.status().as_u16(), ?latency, "finished processing request");
                    }
                }),
        )
        .with_state(state)
}

async fn not_found() -> StatusCode {
    StatusCode::NOT_FOUND
}

tokio::task_local! {
    /// The address of the user whose request the app is serving (sandbox mode): the app's calls
    /// to its sandbox come from the app's own address, and say whose they are (see `relay`).
    static END_USER: std::net::IpAddr;
}

/// Remembers the caller's address while the app serves its request, for [`AppState::relay`].
async fn remember_end_user(request: Request, next: Next) -> Response {
    match request.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>() {
        Some(axum::extract::ConnectInfo(peer)) => END_USER.scope(peer.ip(), next.run(request)).await,
        None => next.run(request).await,
    }
}

/// Counts the requests in flight that are not the sandbox's own (see [`Inner::busy`]); once
/// shutdown has begun, refuses new ones with 503 so that the count only goes down.
async fn count_busy(
    State((busy, draining)): State<(Arc<AtomicUsize>, Arc<AtomicBool>)>,
    request: Request,
    next: Next,
) -> Response {
    if draining.load(Ordering::Acquire) && request.uri().path() != "/healthcheck" {
        return AppError::ShuttingDown.into_response();
    }
    struct Done(Arc<AtomicUsize>);
    impl Drop for Done {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::AcqRel);
        }
    }
    busy.fetch_add(1, Ordering::AcqRel);
    let _done = Done(busy);
    next.run(request).await
}

/// Runs the app on `listener` until `shutdown` completes, then finishes requests in flight (in
/// sandbox mode, serving the app's own calls to the sandbox until they are done).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.0.settings.server;
    let drain = state.0.sandbox.is_some().then(|| server::Drain {
        busy: state.0.busy.clone(),
        draining: state.0.draining.clone(),
        internal_prefix: "/sandbox/",
    });
    // Health probes are answered in the listener, by a shortcut with the route's very bytes.
    server::serve_with(listener, app(state), limits, shutdown, drain, Some(start_page::healthcheck_shortcut)).await
}
