//! The password grant from a script: the same `src/token.rs` as the web app, used outside it.
//!
//! ```sh
//! cargo run --example password_grant -- --username demo            # asks for the password
//! BB_PASSWORD=demo cargo run --example password_grant -- --username demo
//! ```
//!
//! It reads `config.json` and the same environment variables as the app (`issuer` discovery,
//! `tokenUrl`, `scope`, `clientAuth` included). In sandbox mode (the shipped default) it starts the
//! built-in Bitbucket sandbox on a free loopback port first, so it works offline. It prints the
//! token response as JSON on stdout; on failure, one line on stderr and exit status 1.

use std::path::PathBuf;
use std::process::ExitCode;

use bitbucket_password_grant::authorization_server::{self, AuthorizationServer};
use bitbucket_password_grant::sandbox;
use bitbucket_password_grant::settings::Settings;
use bitbucket_password_grant::token;
use clap::Parser;
use secrecy::{ExposeSecret, SecretString};

/// Get an OAuth 2.0 access token with the Resource Owner Password Credentials grant.
#[derive(Parser)]
struct Args {
    /// The resource owner's username (in the sandbox: demo).
    #[arg(long)]
    username: String,
    /// The config file (consumerKey, consumerSecret, bitbucketUrl, sandbox).
    #[arg(long, default_value = "config.json")]
    config: PathBuf,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<String, String> {
    let settings = Settings::load(&args.config, |name| std::env::var(name).ok()).map_err(|e| e.to_string())?;
    // BB_PASSWORD, as the original app's README names it; OAUTH_PASSWORD, as the page's snippets
    // name it for a server other than Bitbucket.
    let password = match std::env::var("BB_PASSWORD").or_else(|_| std::env::var("OAUTH_PASSWORD")) {
        Ok(password) => SecretString::from(password),
        Err(_) if !std::io::IsTerminal::is_terminal(&std::io::stdin()) => {
            return Err("no terminal to ask for the password on: set BB_PASSWORD (or OAUTH_PASSWORD)".into());
        }
        Err(_) => rpassword::prompt_password(format!("Password for {}: ", args.username))
            .map(SecretString::from)
            .map_err(|e| format!("cannot read the password ({e}); set BB_PASSWORD instead"))?,
    };
    bitbucket_password_grant::install_tls_provider();
    let http =
        token::http_client(settings.upstream.connect_timeout, settings.upstream.timeout).map_err(|e| e.to_string())?;

    let mut address = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    if settings.sandbox {
        let listener = tokio::net::TcpListener::bind(address).await.map_err(|e| e.to_string())?;
        address = listener.local_addr().map_err(|e| e.to_string())?;
        let emulator = sandbox::standalone(settings.sandbox_options.clone());
        let limits = bitbucket_password_grant::server::Limits::default();
        tokio::spawn(bitbucket_password_grant::server::serve(listener, emulator, limits, std::future::pending(), None));
        eprintln!("(sandbox mode: using the built-in Bitbucket sandbox at http://{address}/sandbox)");
    }
    let discovered = match (&settings.issuer, settings.sandbox) {
        (Some(issuer), false) => Some(authorization_server::discover(&http, issuer).await.map_err(|e| e.to_string())?),
        _ => None,
    };
    let server = AuthorizationServer::from_settings(&settings, address, discovered).map_err(|e| e.to_string())?;

    // The part to copy: one client, the consumer's credentials, one call.
    let client = token::ClientCredentials {
        client_id: &settings.consumer_key,
        client_secret: settings.consumer_secret.expose_secret(),
        auth: server.client_auth,
    };
    let scope = Some(settings.scope.as_str()).filter(|s| !s.is_empty());
    let token =
        token::password_grant(&http, &server.token.url, &client, &args.username, password.expose_secret(), scope)
            .await
            .map_err(|e| e.to_string())?;
    serde_json::to_string_pretty(&token).map_err(|e| e.to_string())
}
