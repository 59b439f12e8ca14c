//! The password grant from a script: the same `src/token.rs` as the web app, used outside it.
//!
//! ```sh
//! cargo run --example password_grant -- --username demo            # asks for the password
//! BB_PASSWORD=demo cargo run --example password_grant -- --username demo
//! ```
//!
//! It reads `config.json` and the same environment variables as the app. In sandbox mode (the
//! shipped default) it starts the built-in Bitbucket sandbox on a free loopback port first, so it
//! works offline; otherwise it asks `{bitbucketUrl}/site/oauth2/access_token`. It prints the token
//! response as JSON on stdout; on failure, one line on stderr and exit status 1.

use std::path::PathBuf;
use std::process::ExitCode;

use bitbucket_password_grant::sandbox;
use bitbucket_password_grant::settings::{Settings, join};
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
    let password = match std::env::var("BB_PASSWORD") {
        Ok(password) => SecretString::from(password),
        Err(_) => rpassword::prompt_password(format!("Password for {}: ", args.username))
            .map(SecretString::from)
            .map_err(|e| format!("cannot read the password: {e}"))?,
    };

    let token_url = if settings.sandbox {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        let emulator = sandbox::standalone(settings.sandbox_options.clone());
        tokio::spawn(async move { axum::serve(listener, emulator).await });
        eprintln!("(sandbox mode: using the built-in Bitbucket sandbox at http://{address}/sandbox)");
        format!("http://{address}/sandbox/site/oauth2/access_token")
    } else {
        join(&settings.bitbucket_url, "/site/oauth2/access_token")
    };

    // The part to copy: one client, the consumer's credentials, one call.
    let http =
        token::http_client(settings.upstream.connect_timeout, settings.upstream.timeout).map_err(|e| e.to_string())?;
    let client = token::ClientCredentials {
        client_id: &settings.consumer_key,
        client_secret: settings.consumer_secret.expose_secret(),
    };
    let token = token::password_grant(&http, &token_url, &client, &args.username, password.expose_secret())
        .await
        .map_err(|e| e.to_string())?;
    serde_json::to_string_pretty(&token).map_err(|e| e.to_string())
}
