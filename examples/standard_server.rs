//! The built-in standard OAuth 2.0 / OpenID Connect server on its own, for client libraries to be
//! tested against (`tests/clients/`), or to read with curl.
//!
//! ```sh
//! cargo run --example standard_server                  # a free port
//! cargo run --example standard_server -- --port 9000
//! curl -s http://127.0.0.1:9000/sandbox/oidc/.well-known/openid-configuration
//! ```
//!
//! It listens on `127.0.0.1`, serves the server under `/sandbox/oidc` (its issuer), the RFC 8414
//! document at `/.well-known/oauth-authorization-server/sandbox/oidc`, and `static/` (the pages'
//! stylesheet) when run from the project's root; once it listens it prints exactly one line,
//! `READY http://127.0.0.1:PORT/sandbox/oidc`, the issuer. Clients, users and options:
//! `docs/standard-sandbox.md`.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use bitbucket_password_grant::server::{self, Limits};
use bitbucket_password_grant::shutdown_signal;
use bitbucket_password_grant::standard_sandbox::{self, StandardOptions, StandardSandbox};
use clap::Parser;

/// Serve the built-in standard OAuth 2.0 / OpenID Connect server alone.
#[derive(Parser)]
struct Args {
    /// The port on 127.0.0.1 (0: a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Refuse the (legacy) resource owner password credentials grant.
    #[arg(long)]
    no_password_grant: bool,
    /// Keep refresh tokens valid across refreshes instead of rotating them.
    #[arg(long)]
    no_refresh_rotation: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let shutdown = shutdown_signal();
    let listener = match tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port))).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("error: cannot listen on 127.0.0.1:{}: {error}", args.port);
            return ExitCode::FAILURE;
        }
    };
    let port = listener.local_addr().map_or(args.port, |a| a.port());
    let issuer = format!("http://127.0.0.1:{port}/sandbox/oidc");
    let options = StandardOptions {
        password_grant: !args.no_password_grant,
        rotate_refresh_tokens: !args.no_refresh_rotation,
        ..StandardOptions::new(&issuer)
    };
    let mut app = standard_sandbox::standalone(StandardSandbox::new(options));
    if std::path::Path::new("static").is_dir() {
        app = app.nest_service("/static", tower_http::services::ServeDir::new("static"));
    }
    println!("READY {issuer}");
    let _ = std::io::stdout().flush();
    match server::serve(listener, app, Limits::default(), shutdown, None).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: server failed: {error}");
            ExitCode::FAILURE
        }
    }
}
