//! A Rust port of Atlassian's *Bitbucket Cloud Resource Owner Grant Sample App*.
//!
//! The modules, one per concern (dependencies point down this list, never up):
//! - [`web`]: the router (every route in [`web::app`]), a file per grant or action, the error
//!   pages, the page views and the protections;
//! - [`sandbox`]: the built-in Bitbucket emulator, an app of its own (imports nothing from `web`);
//! - [`standard_sandbox`]: the built-in standard OAuth 2.0 / OpenID Connect server, an app of its
//!   own beside it;
//! - [`diagnosis`]: what each answer from the server means, and the fix, as plain explanations;
//! - [`exchange`]: each step's HTTP exchange, recorded with secrets masked, as `curl` and Rust;
//! - [`authorization_server`]: the one description of the server the app talks to;
//! - [`settings`]: `config.json` and environment variables, validated at start-up;
//! - [`bitbucket`]: the sample REST calls (`GET /2.0/user` and a few more);
//! - [`secrets`]: masking and scrubbing of secrets on display;
//! - [`server`]: the HTTP/1.1 listener, with its timeouts, connection limit and shutdown deadline;
//! - [`grant`]: the grants of RFC 6749, named once;
//! - [`jwt`]: what a JWT access token or `id_token` says (decoded for display, not verified);
//! - [`attempts`]: the limit on password attempts per client (the app's and the sandbox's);
//! - [`token`]: the OAuth 2.0 token requests (copy this file into your own project).

pub mod attempts;
pub mod authorization_server;
pub mod bitbucket;
pub mod diagnosis;
pub mod exchange;
pub mod grant;
pub mod jwt;
pub mod pkce;
pub mod sandbox;
pub mod secrets;
pub mod server;
pub mod settings;
pub mod standard_sandbox;
pub mod token;
pub mod web;

pub use web::{AppState, app, serve};

/// Makes rustls's `ring` provider the process's TLS crypto provider (reqwest is built without one,
/// to keep the build light). Call it before building an HTTP client; calling it again is harmless.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// 32 random bytes from the operating system, URL-safe base64: for tokens, codes and `state`.
pub fn random_token() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("the operating system's random source is readable");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM: the signal to stop accepting and finish up.
///
/// The handlers are registered when this is *called*, not when the future is first polled: call
/// it before serving. Registered lazily (as a future spawned by the server would be), a SIGTERM
/// sent just after the first response could land before the handler subscribes and be lost, and
/// the process would never stop (the benchmark's start-up measurement hit this 1 time in 20).
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let (mut interrupt, mut terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        (signal(SignalKind::interrupt()).ok(), signal(SignalKind::terminate()).ok())
    };
    async move {
        #[cfg(unix)]
        {
            tokio::select! {
                () = received(interrupt.as_mut()) => {},
                () = received(terminate.as_mut()) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutdown signal received: finishing requests in flight");
    }
}

/// Completes when `signal` arrives; never, if it could not be registered.
#[cfg(unix)]
async fn received(signal: Option<&mut tokio::signal::unix::Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::time::Duration;

    /// The signal is sent before the future is ever polled, as a supervisor may send it right after
    /// the server's first answer. Registered lazily, SIGTERM's default action would kill this test
    /// process; registered when called, the future completes.
    #[tokio::test]
    async fn signal_handlers_are_registered_when_called_not_when_polled() {
        let shutdown = super::shutdown_signal();
        // SAFETY: raise(3) with a valid signal number.
        assert_eq!(unsafe { libc::raise(libc::SIGTERM) }, 0);
        tokio::time::timeout(Duration::from_secs(5), shutdown).await.expect("SIGTERM was caught");
    }
}
