//! Calling Bitbucket's REST API from a script in 2026: a scoped **API token**, sent as HTTP Basic
//! `email:api_token`. This is what replaced app passwords (they stopped working on 2026-07-28);
//! it is not OAuth, and there is no token request: the API token goes straight on the API call.
//!
//! ```sh
//! cargo run --example api_token                       # sandbox: the demo e-mail and API token
//! BITBUCKET_EMAIL=you@example.com BITBUCKET_API_TOKEN=… BITBUCKET_SANDBOX=false \
//!   cargo run --example api_token                     # bitbucket.org
//! ```
//!
//! It reads `config.json` like the app. In sandbox mode (the shipped default) it starts the
//! built-in sandbox on a free loopback port, whose demo API token is public. It prints
//! `GET {apiUrl}/2.0/user` as JSON on stdout; on failure, one line on stderr and exit status 1.

use std::process::ExitCode;

use bitbucket_password_grant::sandbox::{self, DEMO_API_TOKEN, DEMO_EMAIL};
use bitbucket_password_grant::server::{self, Limits};
use bitbucket_password_grant::settings::{Settings, join};
use bitbucket_password_grant::token;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
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

async fn run() -> Result<String, String> {
    let settings =
        Settings::load("config.json".as_ref(), |name| std::env::var(name).ok()).map_err(|e| e.to_string())?;
    let (api_url, email, api_token) = if settings.sandbox {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        let emulator = sandbox::standalone(settings.sandbox_options.clone());
        tokio::spawn(server::serve(listener, emulator, Limits::default(), std::future::pending(), None));
        eprintln!("(sandbox mode: the built-in Bitbucket sandbox at http://{address}/sandbox, demo API token)");
        let email = std::env::var("BITBUCKET_EMAIL").unwrap_or_else(|_| DEMO_EMAIL.into());
        let api_token = std::env::var("BITBUCKET_API_TOKEN").unwrap_or_else(|_| DEMO_API_TOKEN.into());
        (format!("http://{address}/sandbox/api"), email, api_token)
    } else {
        let need = |name: &str| std::env::var(name).map_err(|_| format!("set {name} (see the example's header)"));
        (settings.api_url.to_string(), need("BITBUCKET_EMAIL")?, need("BITBUCKET_API_TOKEN")?)
    };

    // The part to copy: one client, one call, the API token as HTTP Basic email:token.
    bitbucket_password_grant::install_tls_provider();
    let http =
        token::http_client(settings.upstream.connect_timeout, settings.upstream.timeout).map_err(|e| e.to_string())?;
    let url = join(&url::Url::parse(&api_url).map_err(|e| e.to_string())?, "/2.0/user");
    let response = http
        .get(&url)
        .basic_auth(&email, Some(&api_token))
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = response.status();
    let body = response.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("GET {url} answered HTTP {status}: {}", body.chars().take(200).collect::<String>()));
    }
    let json: serde_json::Value = serde_json::from_str(&body).map_err(|e| format!("not JSON: {e}"))?;
    serde_json::to_string_pretty(&json).map_err(|e| e.to_string())
}
