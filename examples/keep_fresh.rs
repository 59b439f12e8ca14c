//! A token that stays fresh in your own program: `token::TokenKeeper` refreshes the access token
//! shortly before it expires, keeps the rotated refresh token, and the API never sees an expired one.
//!
//! ```sh
//! cargo run --example keep_fresh            # 60-second tokens, a call every 3 s for 3 minutes
//! cargo run --example keep_fresh -- --ci    # 4-second tokens, a call every 500 ms for 12 s
//! cargo run --example keep_fresh -- --lifetime-seconds 10 --run-seconds 30 --every-ms 1000 --margin-seconds 2
//! ```
//!
//! It starts the built-in Bitbucket sandbox on a free loopback port, with its short-lived consumer
//! (`sandbox-short-lived-key`, whose tokens live `--lifetime-seconds`), gets a token with the
//! password grant (demo / demo), then calls `GET /2.0/user` with `Authorization: Bearer …` every
//! `--every-ms` for `--run-seconds`, asking the keeper for the access token before each call. It
//! prints each refresh with the tokens masked, and a summary line at the end. Exit status 1 if
//! any call answers 401 (or anything but 200), if refreshing fails, or if too few refreshes
//! happened for the run's length.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use bitbucket_password_grant::sandbox::{self, SandboxOptions};
use bitbucket_password_grant::server::{self, Limits};
use bitbucket_password_grant::token;
use clap::Parser;

/// Call the sandbox's API for a while through a token keeper, across several token lifetimes.
#[derive(Parser)]
struct Args {
    /// The short bounded run for CI: 4-second tokens, 12 s, a call every 500 ms, margin 1 s
    /// (each can still be overridden).
    #[arg(long)]
    ci: bool,
    /// How long the sandbox's short-lived access tokens live [default: 60, --ci: 4].
    #[arg(long)]
    lifetime_seconds: Option<u64>,
    /// How long to keep calling the API [default: 180, --ci: 12].
    #[arg(long)]
    run_seconds: Option<u64>,
    /// Time between two API calls [default: 3000, --ci: 500].
    #[arg(long)]
    every_ms: Option<u64>,
    /// Refresh when the token expires within this many seconds [default: 10, --ci: 1].
    #[arg(long)]
    margin_seconds: Option<u64>,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The first 4 and last 4 characters: enough to tell tokens apart, too few to use one.
fn mask(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() <= 12 {
        return "…".into();
    }
    format!("{}…{}", chars[..4].iter().collect::<String>(), chars[chars.len() - 4..].iter().collect::<String>())
}

async fn run(args: Args) -> Result<(), String> {
    let pick = |value: Option<u64>, normal: u64, ci: u64| value.unwrap_or(if args.ci { ci } else { normal });
    let lifetime = Duration::from_secs(pick(args.lifetime_seconds, 60, 4));
    let run_for = Duration::from_secs(pick(args.run_seconds, 180, 12));
    let every = Duration::from_millis(pick(args.every_ms, 3000, 500).max(1));
    let margin = Duration::from_secs(pick(args.margin_seconds, 10, 1));
    if margin >= lifetime {
        return Err(format!("the margin ({margin:?}) must be shorter than the token lifetime ({lifetime:?})"));
    }

    // The sandbox, in this process, on a free port.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let options = SandboxOptions { short_token_lifetime: lifetime, ..SandboxOptions::default() };
    tokio::spawn(server::serve(
        listener,
        sandbox::standalone(options),
        Limits::default(),
        std::future::pending(),
        None,
    ));
    let consumer =
        sandbox::CONSUMERS.iter().find(|c| c.short_lived).ok_or("the sandbox has no short-lived consumer")?;
    let token_url = format!("http://{address}/sandbox/site/oauth2/access_token");
    let api_url = format!("http://{address}/sandbox/api/2.0/user");
    eprintln!("(the built-in Bitbucket sandbox at http://{address}/sandbox, consumer {})", consumer.key);

    // The part to copy: one client (after choosing rustls's crypto provider, as the app does), one
    // grant, then the keeper for every call after it.
    bitbucket_password_grant::install_tls_provider();
    let http = token::http_client(Duration::from_secs(5), Duration::from_secs(10)).map_err(|e| e.to_string())?;
    let client = token::ClientCredentials::basic(consumer.key, consumer.secret);
    let first = token::password_grant(&http, &token_url, &client, sandbox::DEMO_USERNAME, sandbox::DEMO_PASSWORD, None)
        .await
        .map_err(|e| format!("password grant: {e}"))?;
    println!(
        "token: access {} refresh {}, expires in {:?} s; refreshing {} s before expiry",
        mask(&first.access_token),
        first.refresh_token.as_deref().map_or("none".into(), mask),
        first.expires_in,
        margin.as_secs()
    );
    let keeper = token::TokenKeeper::new(http.clone(), &token_url, &client, margin, first);

    let started = Instant::now();
    let (mut calls, mut unauthorized, mut other_failures) = (0u64, 0u64, 0u64);
    let mut ticks = tokio::time::interval(every);
    while started.elapsed() < run_for {
        ticks.tick().await;
        let before = keeper.token();
        let access_token = keeper.access_token().await.map_err(|e| format!("after {calls} calls: {e}"))?;
        if access_token != before.access_token {
            let after = keeper.token();
            println!(
                "{:>6.1} s  refresh #{}: access {} → {}, refresh {} → {}",
                started.elapsed().as_secs_f64(),
                keeper.refreshes(),
                mask(&before.access_token),
                mask(&after.access_token),
                before.refresh_token.as_deref().map_or("none".into(), mask),
                after.refresh_token.as_deref().map_or("none".into(), mask),
            );
        }
        let response = http.get(&api_url).bearer_auth(&access_token).send().await.map_err(|e| e.to_string())?;
        calls += 1;
        let status = response.status().as_u16();
        if status != 200 {
            let body = response.text().await.unwrap_or_default();
            eprintln!("{:>6.1} s  GET /2.0/user answered {status}: {body}", started.elapsed().as_secs_f64());
            if status == 401 { unauthorized += 1 } else { other_failures += 1 }
        }
    }

    let refreshes = keeper.refreshes();
    println!("{calls} calls, {refreshes} refreshes, {unauthorized} × 401");
    // Each token is refreshed `margin` before it expires: a run this long must have seen a few.
    let expected = (run_for.as_secs_f64() / lifetime.as_secs_f64()).floor() as u64;
    let at_least = expected.saturating_sub(1).max(u64::from(expected > 0));
    if unauthorized > 0 || other_failures > 0 {
        return Err(format!("{unauthorized} calls answered 401 and {other_failures} another error"));
    }
    if refreshes < at_least {
        return Err(format!(
            "only {refreshes} refreshes in {run_for:?} with {lifetime:?} tokens (at least {at_least})"
        ));
    }
    Ok(())
}
