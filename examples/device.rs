//! A command-line tool as it should get a token in 2026: the device authorization grant (RFC 8628),
//! not a password. It prints a code and a URL, you approve in any browser, it polls, it prints the
//! token. The same `src/token.rs` as the web app.
//!
//! ```sh
//! cargo run --example device                 # offline: the built-in standard server
//! cargo run --example device -- --ci         # ...and approve in it by itself, as a browser would (CI)
//! BITBUCKET_SANDBOX=false OAUTH_ISSUER=https://auth.example.com OAUTH_CLIENT_ID=my-cli \
//! OAUTH_CLIENT_AUTH=none cargo run --example device   # a real server
//! ```
//!
//! It reads `config.json` and the same environment variables as the app. In sandbox mode (the
//! shipped default) it starts the built-in standard server on a free loopback port, since the
//! Bitbucket sandbox, like bitbucket.org, has no device flow, and uses its public client
//! `standard-device-client`: a tool on someone's machine cannot keep a secret, so it has none.
//! The instructions go to stderr; the token response, as JSON, to stdout.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bitbucket_password_grant::authorization_server::{self, AuthorizationServer};
use bitbucket_password_grant::settings::{SandboxServer, Settings};
use bitbucket_password_grant::standard_sandbox::{self, StandardOptions, StandardSandbox};
use bitbucket_password_grant::{server, token};
use clap::Parser;
use secrecy::ExposeSecret;

/// Get an OAuth 2.0 access token with the device authorization grant (RFC 8628).
#[derive(Parser)]
struct Args {
    /// The config file (as the app's).
    #[arg(long, default_value = "config.json")]
    config: PathBuf,
    /// Approve the sign-in by itself at the built-in standard server's verification page, as a
    /// browser would: for CI, where nobody is there to type the code.
    #[arg(long)]
    ci: bool,
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
    let mut settings = Settings::load(&args.config, |name| std::env::var(name).ok()).map_err(|e| e.to_string())?;
    bitbucket_password_grant::install_tls_provider();
    let http =
        token::http_client(settings.upstream.connect_timeout, settings.upstream.timeout).map_err(|e| e.to_string())?;

    // Where the device flow happens: the built-in standard server in sandbox mode, else the
    // server the settings describe, found as the app finds it.
    let built_in = settings.sandbox;
    let issuer = if built_in {
        settings.sandbox_server = SandboxServer::Standard;
        let issuer = start_built_in_server().await?;
        eprintln!("(sandbox mode: the built-in standard server, issuer {issuer})");
        Some(issuer)
    } else {
        settings.issuer.clone()
    };
    if args.ci && !built_in {
        return Err("--ci approves at the built-in standard server only: run it in sandbox mode".into());
    }
    let discovered = match &issuer {
        Some(issuer) => Some(authorization_server::discover(&http, issuer).await.map_err(|e| e.to_string())?),
        None => None,
    };
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let server = AuthorizationServer::from_settings(&settings, address, discovered).map_err(|e| e.to_string())?;
    let Some(device_endpoint) = server.device_authorization.as_ref().map(|e| e.url.clone()) else {
        return Err(format!(
            "{} has no device authorization endpoint (set deviceAuthorizationUrl if it has one)",
            server.name()
        ));
    };

    // The part to copy: a public client, the device authorization request, then the polling.
    let (client_id, client_secret, auth) = if built_in {
        (standard_sandbox::DEVICE_CLIENT_ID.to_owned(), String::new(), token::ClientAuth::None)
    } else {
        let secret = settings.consumer_secret.expose_secret().to_owned();
        (settings.consumer_key.clone(), secret, server.client_auth)
    };
    let client = token::ClientCredentials { client_id: &client_id, client_secret: &client_secret, auth };
    let scope = if settings.scope.is_empty() { "openid profile offline_access" } else { settings.scope.as_str() };
    let device = token::device_authorization(&http, &device_endpoint, &client, Some(scope))
        .await
        .map_err(|e| e.describe("the device authorization request"))?;
    eprintln!("To sign in, open {} in a browser and enter the code {}", device.verification_uri, device.user_code);
    if let Some(complete) = &device.verification_uri_complete {
        eprintln!("(or open {complete})");
    }
    if args.ci {
        let page = device.verification_uri_complete.clone().unwrap_or_else(|| device.verification_uri.clone());
        let user_code = device.user_code.clone();
        tokio::spawn(async move {
            if let Err(problem) = approve_like_a_browser(&page, &user_code).await {
                eprintln!("--ci: could not approve: {problem}");
            }
        });
    }
    let token = token::poll_device_token(&http, &server.token.url, &client, &device, tokio::time::sleep, |answer| {
        eprintln!("waiting: {}", answer.error)
    })
    .await
    .map_err(|e| e.to_string())?;
    eprintln!(
        "approved: a {} token{}",
        token.token_type,
        if token.refresh_token.is_some() { " and a refresh token" } else { "" }
    );
    serde_json::to_string_pretty(&token).map_err(|e| e.to_string())
}

/// Serves the built-in standard server on a free loopback port; returns its issuer.
async fn start_built_in_server() -> Result<url::Url, String> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| e.to_string())?;
    let issuer = format!("http://{}/sandbox/oidc", listener.local_addr().map_err(|e| e.to_string())?);
    let sandbox = StandardSandbox::new(StandardOptions::new(&issuer));
    let app = standard_sandbox::standalone(sandbox);
    tokio::spawn(server::serve(listener, app, server::Limits::default(), std::future::pending(), None));
    url::Url::parse(&issuer).map_err(|e| e.to_string())
}

/// What a person does at the built-in server's verification page, done by HTTP: the code (already
/// in `verification_uri_complete`), the sign-in as demo / demo, then Grant. Each page's form is
/// read off its HTML and posted with its hidden fields, and a cookie kept, as a browser would.
async fn approve_like_a_browser(page_url: &str, user_code: &str) -> Result<(), String> {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let http =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().map_err(|e| e.to_string())?;
    let mut cookie = String::new();
    let mut html =
        http.get(page_url).send().await.map_err(|e| e.to_string())?.text().await.map_err(|e| e.to_string())?;
    let steps: [&[(&str, &str)]; 3] =
        [&[("user_code", user_code)], &[("username", "demo"), ("password", "demo")], &[("decision", "grant")]];
    for extra in steps {
        let (action, mut fields) = form_of(&html).ok_or_else(|| format!("no form on the page:\n{html}"))?;
        for (name, value) in extra {
            if html.contains(&format!("name=\"{name}\"")) {
                fields.retain(|(k, _)| k != name);
                fields.push(((*name).to_owned(), (*value).to_owned()));
            }
        }
        let target = url::Url::parse(page_url).and_then(|u| u.join(&action)).map_err(|e| e.to_string())?;
        let mut request = http.post(target).form(&fields);
        if !cookie.is_empty() {
            request = request.header(reqwest::header::COOKIE, &cookie);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        if let Some(set) = response.headers().get(reqwest::header::SET_COOKIE).and_then(|v| v.to_str().ok()) {
            cookie = set.split(';').next().unwrap_or("").to_owned();
        }
        html = response.text().await.map_err(|e| e.to_string())?;
        if !html.contains("<form") {
            return Ok(());
        }
    }
    Ok(())
}

/// The first form of `html`: its action and its hidden fields.
fn form_of(html: &str) -> Option<(String, Vec<(String, String)>)> {
    let form = &html[html.find("<form")?..];
    let form = &form[..form.find("</form>").unwrap_or(form.len())];
    let attribute = |tag: &str, name: &str| -> Option<String> {
        let marker = format!("{name}=\"");
        let start = tag[..tag.find('>').unwrap_or(tag.len())].find(&marker)? + marker.len();
        Some(tag[start..].split('"').next()?.replace("&amp;", "&").replace("&#38;", "&"))
    };
    let action = attribute(form, "action").unwrap_or_default();
    let fields = form
        .split("<input")
        .skip(1)
        .filter(|input| attribute(input, "type").as_deref() == Some("hidden"))
        .filter_map(|input| Some((attribute(input, "name")?, attribute(input, "value").unwrap_or_default())))
        .collect();
    Some((action, fields))
}
