//! A Rust port of Atlassian's *Bitbucket Cloud Resource Owner Grant Sample App*.
//!
//! The modules, one per concern:
//! - [`token`]: the OAuth 2.0 token requests (copy this file into your own project);
//! - [`bitbucket`]: the sample REST calls (`GET /2.0/user` and a few more);
//! - [`exchange`]: each step's HTTP exchange, recorded with secrets masked, as `curl` and Rust;
//! - [`settings`]: `config.json` and environment variables, validated at start-up;
//! - [`web`]: the router (every route in [`web::app`]), handlers and middleware;
//! - [`pages`]: the askama templates and the values they display;
//! - [`error`]: the web layer's error type and its HTML pages;
//! - [`diagnosis`]: what each known Bitbucket answer means, and the fix;
//! - [`security`]: security headers, request limits, cross-site refusal, failed-attempt limits;
//! - [`sandbox`]: the built-in Bitbucket emulator.

pub mod bitbucket;
pub mod diagnosis;
pub mod error;
pub mod exchange;
pub mod pages;
pub mod sandbox;
pub mod security;
pub mod settings;
pub mod token;
pub mod web;

pub use web::{AppState, app, serve};

/// 32 random bytes from the OS-seeded generator, URL-safe base64: for tokens, codes and `state`.
pub fn random_token() -> String {
    use base64::Engine;
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM: the signal to stop accepting and finish up.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received: finishing requests in flight");
}
