//! The build's floor: the user's stack (axum, askama, reqwest on rustls with ring, tokio,
//! tower-http, tracing, serde) doing the least an app on it does: one page from one askama
//! template, filled from one JSON call made with reqwest. Built, never run, by `bench/run.sh`,
//! which compares the app's clean debug build with this crate's.
//!
//! ```sh
//! USER_URL=http://127.0.0.1:3000/sandbox/api/2.0/user cargo run -- 127.0.0.1:4005
//! ```

use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Html;
use axum::routing::get;
use serde::Deserialize;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

#[derive(Template)]
#[template(path = "page.html")]
struct Page<'a> {
    title: &'a str,
    name: Option<String>,
}

#[derive(Deserialize)]
struct User {
    display_name: Option<String>,
}

#[derive(Clone)]
struct AppState {
    http: reqwest::Client,
    user_url: String,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt().with_max_level(tracing::Level::INFO).init();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client");
    let user_url = std::env::var("USER_URL").unwrap_or_else(|_| "http://127.0.0.1:3000/sandbox/api/2.0/user".into());
    let app = Router::new()
        .route("/", get(page))
        .nest_service("/static", ServeDir::new("static"))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(RequestBodyLimitLayer::new(16 * 1024))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
        .layer(TraceLayer::new_for_http())
        .with_state(AppState { http, user_url });
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:4005".into());
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    tracing::info!("listening on http://{addr}");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .expect("serve");
}

/// `GET /`: one JSON call, one rendered page.
async fn page(State(state): State<AppState>) -> Result<Html<String>, (StatusCode, String)> {
    let bad_gateway = |e: reqwest::Error| (StatusCode::BAD_GATEWAY, e.to_string());
    let user: User = state
        .http
        .get(&state.user_url)
        .bearer_auth("token")
        .send()
        .await
        .map_err(bad_gateway)?
        .error_for_status()
        .map_err(bad_gateway)?
        .json()
        .await
        .map_err(bad_gateway)?;
    let page = Page { title: "Floor", name: user.display_name };
    page.render().map(Html).map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}
