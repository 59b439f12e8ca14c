//! The benchmark's measure of what the result page costs to render on its own (issue 21). It makes
//! one real password flow against a Bitbucket-shaped server (the sandbox), with the app's own
//! settings, client and recording (`exchange::token_request`, `exchange::api_call`, the same
//! masking), builds the page the app shows for it (`ResultTemplate`, as `web::result::show_token`
//! does), then renders that page N times on one thread and prints the CPU time per render.
//! `bench/run.sh` runs it natively for CPU time and under callgrind for instructions.
//!
//! ```sh
//! BITBUCKET_SANDBOX=false BITBUCKET_URL=http://127.0.0.1:4001/sandbox \
//!   BITBUCKET_API_URL=http://127.0.0.1:4001/sandbox/api cargo run --release --example render_page -- 1000
//! ```
//!
//! Prints one line: `renders N cpu_ns_per_render X page_bytes B`.

use std::net::SocketAddr;
use std::path::Path;

use askama::Template;
use bitbucket_password_grant::authorization_server::AuthorizationServer;
use bitbucket_password_grant::exchange::{self, Field};
use bitbucket_password_grant::grant::Grant;
use bitbucket_password_grant::secrets::Scrubber;
use bitbucket_password_grant::settings::Settings;
use bitbucket_password_grant::token::{self, ClientCredentials};
use bitbucket_password_grant::web::views::{ApiStep, Layout, ResultTemplate, TokenView};
use secrecy::ExposeSecret;

/// The app's allocator (see src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let renders: u32 = std::env::args().nth(1).map_or(1000, |n| n.parse().expect("a number of renders"));
    let settings = Settings::load(Path::new("config.json"), |name| std::env::var(name).ok()).expect("settings");
    let local_addr: SocketAddr = "127.0.0.1:3000".parse().expect("an address");
    let server = AuthorizationServer::from_settings(&settings, local_addr, None).expect("a server");
    let layout = Layout::new(&server, &settings.config_path);

    // One flow, as `web::password` and `web::result::show_token` make it.
    bitbucket_password_grant::install_tls_provider();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let http = token::http_client(settings.upstream.connect_timeout, settings.upstream.timeout).expect("a client");
    let (key, secret) = (settings.consumer_key.as_str(), settings.consumer_secret.expose_secret());
    let client = ClientCredentials { client_id: key, client_secret: secret, auth: server.client_auth };
    let (username, password) = ("demo", "demo");
    let mut fields =
        vec![Field::plain("grant_type", "password"), Field::plain("username", username), Field::password(password)];
    if !settings.scope.is_empty() {
        fields.push(Field::plain("scope", &settings.scope));
    }
    let (token_exchange, result) = runtime.block_on(exchange::token_request(
        &http,
        &server.token.url,
        &client,
        server.snippet_names(),
        Grant::Password,
        &fields,
        None,
    ));
    let token = result.expect("a token");
    let mut scrubber = Scrubber::default().basic_pair(key, secret).secret(password).secret(&token.access_token);
    if let Some(refresh) = &token.refresh_token {
        scrubber = scrubber.secret(refresh);
    }
    let user_url = &server.user.as_ref().expect("a user call").url;
    let (api_exchange, json) = runtime.block_on(exchange::api_call(&http, user_url, &token.access_token, None));
    let json = json.expect("the user's account");
    let api_exchange = api_exchange.map_text(|text| scrubber.scrub(text));
    let api = ApiStep::new(true, server.is_bitbucket(), api_exchange, Some(json), None);
    drop(runtime);
    let page = ResultTemplate {
        layout: &layout,
        grant: Grant::Password,
        case: None,
        token: TokenView::new(&token),
        previous: None,
        authorization: None,
        token_exchange,
        api: Some(api),
        calls: layout.calls.clone(),
    };

    // The renders alone: this thread's CPU time around them.
    let bytes = page.render().expect("the page").len();
    let started = thread_cpu_ns();
    for _ in 0..renders {
        std::hint::black_box(page.render().expect("the page"));
    }
    let spent = thread_cpu_ns() - started;
    println!("renders {renders} cpu_ns_per_render {:.0} page_bytes {bytes}", spent as f64 / f64::from(renders.max(1)));
}

/// This thread's CPU time so far, in nanoseconds.
fn thread_cpu_ns() -> u128 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    now.tv_sec as u128 * 1_000_000_000 + now.tv_nsec as u128
}
