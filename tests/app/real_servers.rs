//! The app against real authorization servers that nobody here wrote, started as processes:
//! Authlib's (Python, PyPI), oidc-provider (Node, npm) and Glewlwyd (C, Debian), from
//! `tests/servers/` (see its README), each configured as its own documentation shows.
//!
//! The app is configured exactly as `docs/other-servers.md` tells a user: each test reads a recipe
//! from that page, word for word (only `PORT` is replaced), and loads the shipped `config.json`
//! with those environment variables and nothing else. Every grant each server offers goes through
//! the app's own routes; the authorization code grant through the server's own sign-in and consent
//! pages, driven like a browser (cookies kept per origin, redirects followed by hand). Every page
//! is checked for the word Bitbucket, which must not appear for these servers.
//!
//! They need the servers installed (`tests/servers/install.sh`), so plain `cargo test` lists them
//! as ignored; `.ci/run` installs the servers and runs them with `cargo test --test app -- --ignored`.
//! A missing server fails the test, it never skips it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use bitbucket_password_grant::settings::Settings;
use tokio::net::TcpListener;

use crate::helpers::*;

/// An authorization server running as a child process; stopped (SIGTERM) on drop.
struct RealServer {
    child: Child,
    url: String,
}

impl Drop for RealServer {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

impl RealServer {
    fn port(&self) -> u16 {
        url::Url::parse(&self.url).unwrap().port().unwrap()
    }
}

/// Starts `program script --port 0 --redirect-uri URI args…` and waits for its `READY http://…` line.
fn start(program: &str, script: &str, redirect_uri: &str, args: &[&str]) -> RealServer {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut child = Command::new(program)
        .arg(format!("{root}/{script}"))
        .args(["--port", "0", "--redirect-uri", redirect_uri])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {script} with {program} ({e}); run tests/servers/install.sh"));
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("READY ")
        .unwrap_or_else(|| panic!("{script} did not start (is it installed? run tests/servers/install.sh): {line:?}"));
    RealServer { url: url.to_owned(), child }
}

/// A listener for the app, and the callback a user registers for it: `http://localhost:PORT/oauth-callback`,
/// the app's default.
async fn app_listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let callback = format!("http://localhost:{}/oauth-callback", listener.local_addr().unwrap().port());
    (listener, callback)
}

/// The environment a recipe of `docs/other-servers.md` sets (`# recipe: NAME` in a shell block),
/// with `PORT` replaced by `port`: every `NAME=value` word before `cargo run`, quotes removed.
fn recipe(name: &str, port: u16) -> Vec<(String, String)> {
    let page = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/other-servers.md")).unwrap();
    let marker = format!("```sh\n# recipe: {name}\n");
    let start =
        page.find(&marker).unwrap_or_else(|| panic!("no recipe {name} in docs/other-servers.md")) + marker.len();
    let block = &page[start..start + page[start..].find("```").unwrap()];
    let words = shell_words(&block.replace("\\\n", " ").replace("PORT", &port.to_string()));
    let (assignments, command) = words.split_at(words.iter().position(|w| !w.contains('=')).expect("a command"));
    assert_eq!(command, ["cargo", "run"], "recipe {name} ends with cargo run");
    assignments.iter().map(|w| w.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).unwrap()).collect()
}

/// Splits a POSIX shell line into words, as the shell would (plain, '…' and "…" quoting).
fn shell_words(line: &str) -> Vec<String> {
    let (mut words, mut word, mut quote, mut in_word) = (Vec::new(), String::new(), None, false);
    for c in line.chars() {
        match (quote, c) {
            (None, '\'' | '"') => (quote, in_word) = (Some(c), true),
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                }
                in_word = false;
            }
            (_, c) => (word, in_word) = (word + &c.to_string(), true),
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// `env` with `name` set to `value` (a user changing one value of the recipe).
fn with(mut env: Vec<(String, String)>, name: &str, value: &str) -> Vec<(String, String)> {
    env.retain(|(k, _)| k != name);
    env.push((name.to_owned(), value.to_owned()));
    env
}

/// The shipped `config.json` with `env` on top, as `cargo run` reads them.
fn settings_from(env: &[(String, String)]) -> Result<Settings, String> {
    let env: HashMap<String, String> = env.iter().cloned().collect();
    let config = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config.json"));
    Settings::load(config, |name| env.get(name).cloned()).map_err(|e| e.to_string())
}

/// The app as the recipe's user runs it.
async fn app_from(listener: TcpListener, env: &[(String, String)]) -> TestApp {
    spawn_app_as_configured(listener, settings_from(env).expect("the recipe's settings load")).await
}

/// The app for `env` on a listener of its own (for a variation that needs no callback).
async fn another_app(env: &[(String, String)]) -> TestApp {
    app_from(TcpListener::bind("127.0.0.1:0").await.unwrap(), env).await
}

/// No page shown for a standard server speaks of Bitbucket.
fn assert_no_bitbucket(page: &Page) {
    let lower = page.body.to_ascii_lowercase();
    assert!(!lower.contains("bitbucket"), "a page for a standard server speaks of Bitbucket:\n{}", page.body);
}

/// A browser, as far as these flows need one: cookies per origin, redirects by hand.
struct Browser {
    client: reqwest::Client,
    cookies: HashMap<String, HashMap<String, String>>,
}

impl Browser {
    fn new() -> Browser {
        let client = client_builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { client, cookies: HashMap::new() }
    }

    fn origin(url: &str) -> String {
        url::Url::parse(url).unwrap().origin().ascii_serialization()
    }

    async fn send(&mut self, request: reqwest::RequestBuilder, url: &str) -> Page {
        let jar = self.cookies.entry(Browser::origin(url)).or_default();
        let cookie: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let request = if cookie.is_empty() { request } else { request.header("cookie", cookie.join("; ")) };
        let page = into_page(request.send().await.expect("request")).await;
        for value in page.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()) {
            if let Some((name, rest)) = value.split(';').next().and_then(|pair| pair.split_once('=')) {
                jar.insert(name.trim().to_owned(), rest.to_owned());
            }
        }
        page
    }

    /// GET `url`, then every redirect, until a page that is not a redirect.
    async fn follow(&mut self, mut url: String) -> (String, Page) {
        for _ in 0..12 {
            let page = self.send(self.client.get(&url), &url).await;
            if !(300..400).contains(&page.status) {
                return (url, page);
            }
            url = url::Url::parse(&url).unwrap().join(page.location()).unwrap().to_string();
        }
        panic!("too many redirects from {url}");
    }

    /// Submits the page's first form with its hidden fields plus `extra`; returns where it led.
    async fn submit(&mut self, at: &str, page: &Page, extra: &[(&str, &str)]) -> (String, Page) {
        let (target, page) = self.post_form_of(at, page, extra).await;
        assert!((300..400).contains(&page.status), "form at {at} gave {}:\n{}", page.status, page.body);
        let next = url::Url::parse(&target).unwrap().join(page.location()).unwrap().to_string();
        (next, page)
    }
}

/// The value of `name="…"` in a tag.
fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let marker = format!("{name}=\"");
    let start = tag[..tag.find('>').unwrap_or(tag.len())].find(&marker)? + marker.len();
    tag[start..].split('"').next()
}

/// Runs the authorization code grant through `app` and the server's own pages; `sign_in` fills in
/// the server's sign-in and consent pages and returns the callback URL it sends the browser to.
async fn authorization_code<F>(app: &TestApp, browser: &mut Browser, sign_in: F) -> Page
where
    F: AsyncFnOnce(&mut Browser, String) -> String,
{
    let start = browser.send(browser.client.get(app.url("/authorize")), &app.address).await;
    assert_eq!(start.status, 303, "{}", start.body);
    for parameter in ["redirect_uri=", "code_challenge=", "code_challenge_method=S256", "state="] {
        assert!(start.location().contains(parameter), "{parameter} missing in {}", start.location());
    }
    let callback = sign_in(browser, start.location().to_owned()).await;
    assert!(callback.starts_with(&app.url("/oauth-callback?")), "{callback}");
    browser.send(browser.client.get(&callback), &callback).await
}

/// Refreshes twice from `page` (a result page), and checks each refresh.
async fn refresh_twice(app: &TestApp, mut page: Page, rotates: bool) -> Page {
    for _ in 0..2 {
        let form = [("refresh_token", page.hidden("refresh_token")), ("access_token", page.hidden("access_token"))];
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        page = app.post_form("/refresh", &form).await;
        assert_eq!(page.status, 200, "{}", page.body);
        page.assert_contains("Access token refreshed");
        page.assert_contains(if rotates { "no longer works" } else { "did not rotate" });
        page.assert_contains(r#"id="refresh""#);
        assert_no_bitbucket(&page);
    }
    page
}

/// Revokes the page's access token; when the server has a user call, checks the API then refuses it.
async fn revoke(app: &TestApp, page: &Page, user_call: bool) -> Page {
    let revoked = app.post_form("/revoke", &[("access_token", &page.hidden("access_token"))]).await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    revoked.assert_contains("Token revoked");
    revoked.assert_contains("HTTP/1.1 200 OK");
    if user_call {
        revoked.assert_contains("HTTP/1.1 401");
    } else {
        revoked.assert_lacks("api-after-revocation");
    }
    assert_no_bitbucket(&revoked);
    revoked
}

/// The refusals every recipe is tried with: a wrong client secret, and an unknown scope.
async fn refusals(env: &[(String, String)], password: (&str, &str)) -> (Page, Page) {
    let wrong_secret = another_app(&with(env.to_vec(), "OAUTH_CLIENT_SECRET", "not-the-secret")).await;
    let refused = wrong_secret.login(password.0, password.1).await;
    assert_no_bitbucket(&refused);
    let scope = another_app(&with(env.to_vec(), "OAUTH_SCOPE", "admin")).await;
    let unknown = scope.post_form("/client-credentials", &[]).await;
    assert_no_bitbucket(&unknown);
    (refused, unknown)
}

const AUTHLIB: &str = "tests/servers/authlib_server.py";

async fn authlib_sign_in(browser: &mut Browser, authorize: String) -> String {
    let (at, login) = browser.follow(authorize).await;
    login.assert_contains("Sign in");
    let (consent_url, _) = browser.submit(&at, &login, &[("username", "alice"), ("password", "wonderland")]).await;
    let (at, consent) = browser.follow(consent_url).await;
    consent.assert_contains("Grant");
    browser.submit(&at, &consent, &[("confirm", "grant")]).await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real servers: tests/servers/install.sh"]
async fn authlib_recipe_every_grant_every_refusal_and_no_token_leaves_for_another_host() {
    let (listener, callback) = app_listener().await;
    let server = start("python3", AUTHLIB, &callback, &["--no-password-client"]);
    let env = recipe("authlib", server.port());
    let app = app_from(listener, &env).await;

    // The start page: every endpoint from RFC 8414's document, and no user call (that document
    // defines no userinfo_endpoint): it says so, and names the setting.
    let start_page = app.get("/").await;
    start_page.assert_contains(&format!("{}/oauth/token", server.url));
    start_page.assert_contains("discovered: RFC 8414 metadata");
    start_page.assert_contains("none: no call with each new token");
    start_page.assert_contains("OAUTH_USER_URL");
    assert_no_bitbucket(&start_page);

    // The password grant, working for real; no call is made with the token, and the page says why.
    let page = app.login("alice", "wonderland").await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_contains("Access token issued");
    page.assert_contains(r#"id="no-user-call""#);
    page.assert_lacks("api-first");
    page.assert_contains("scope=profile+email");
    assert_no_bitbucket(&page);
    let wrong = app.login("alice", "not-the-password").await;
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    wrong.assert_contains("refused these credentials");
    wrong.assert_contains("invalid_request");
    assert_no_bitbucket(&wrong);

    // Refresh twice: Authlib does not rotate, so the same refresh token works again. Revocation.
    let page = refresh_twice(&app, page, false).await;
    revoke(&app, &page, false).await;

    // The authorization code grant, through Authlib's own sign-in and consent pages.
    let mut browser = Browser::new();
    let page = authorization_code(&app, &mut browser, authlib_sign_in).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_contains("Access token issued");
    page.assert_contains("code_verifier=");
    assert_no_bitbucket(&page);

    // Client credentials: a token for the client itself.
    let page = app.post_form("/client-credentials", &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_no_bitbucket(&page);

    // The refusals, each explained as what it is.
    let (wrong_secret, unknown_scope) = refusals(&env, ("alice", "wonderland")).await;
    assert_eq!(wrong_secret.status, 502, "{}", wrong_secret.body);
    wrong_secret.assert_contains("invalid_client");
    wrong_secret.assert_contains("refused this app&#39;s client");
    assert_eq!(unknown_scope.status, 502, "{}", unknown_scope.body);
    unknown_scope.assert_contains("invalid_scope");
    let no_password = another_app(&with(
        with(env.clone(), "OAUTH_CLIENT_ID", "authlib-nopassword-client"),
        "OAUTH_CLIENT_SECRET",
        "authlib-nopassword-secret",
    ))
    .await;
    let refused = no_password.login("alice", "wonderland").await;
    assert_eq!(refused.status, 502, "{}", refused.body);
    refused.assert_contains("unauthorized_client");
    refused.assert_contains("This client may not use the password grant");
    refused.assert_lacks("never looked at the rest");
    assert_no_bitbucket(&refused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real servers: tests/servers/install.sh"]
async fn authlib_recipe_with_a_user_url_shows_the_user_and_the_refusal_after_revocation() {
    let (listener, callback) = app_listener().await;
    let server = start("python3", AUTHLIB, &callback, &[]);
    let app = app_from(listener, &recipe("authlib-user", server.port())).await;
    let page = app.login("alice", "wonderland").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.text_of("profile-name"), "Alice Liddell");
    assert_no_bitbucket(&page);
    revoke(&app, &page, true).await.assert_contains("invalid_token");
    // A client registered for client_secret_post (clientAuth, see docs/configuration.md).
    let env = recipe("authlib-user", server.port());
    let env = with(with(env, "OAUTH_CLIENT_ID", "authlib-post-client"), "OAUTH_CLIENT_SECRET", "authlib-post-secret");
    let post = another_app(&with(env, "OAUTH_CLIENT_AUTH", "post")).await;
    let page = post.login("alice", "wonderland").await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_contains("client_secret=");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real servers: tests/servers/install.sh"]
async fn authlib_recipe_works_with_each_shape_of_metadata_real_servers_publish() {
    for shape in ["openid", "both", "both-disagree", "root"] {
        let (listener, callback) = app_listener().await;
        let server = start("python3", AUTHLIB, &callback, &["--metadata", shape]);
        let mut env = recipe("authlib", server.port());
        if shape == "root" {
            let issuer = format!("{}/tenant", server.url);
            env = with(env, "OAUTH_ISSUER", &issuer);
        }
        let app = app_from(listener, &env).await;
        let start_page = app.get("/").await;
        assert_no_bitbucket(&start_page);
        let page = app.login("alice", "wonderland").await;
        assert_eq!(page.status, 200, "{shape}: {}", page.body);
        assert_no_bitbucket(&page);
        match shape {
            // OpenID's document only: the user call, and no revocation endpoint (no button; the
            // start page says why).
            "openid" => {
                start_page.assert_contains("discovered: OpenID Connect discovery");
                start_page.assert_contains("none: no &#34;Revoke this token&#34; button");
                assert_eq!(page.text_of("profile-name"), "Alice Liddell");
                page.assert_lacks(r#"id="revoke""#);
            }
            // Both: revocation from RFC 8414's, the user call from OpenID's.
            "both" => {
                start_page.assert_contains("RFC 8414 metadata");
                start_page.assert_contains("OpenID Connect discovery");
                assert_eq!(page.text_of("profile-name"), "Alice Liddell");
                revoke(&app, &page, true).await;
            }
            // Two token endpoints: the disagreement is reported, RFC 8414's is used.
            "both-disagree" => {
                start_page.assert_contains(r#"id="discovery-notes""#);
                start_page.assert_contains("disagree on token_endpoint");
                page.assert_contains("POST /oauth/token HTTP/1.1");
            }
            // The issuer has a path; its RFC 8414 document is at the origin root.
            _ => {
                start_page.assert_contains(&format!("{}/.well-known/oauth-authorization-server", server.url));
                page.assert_contains("POST /tenant/oauth/token HTTP/1.1");
            }
        }
    }
}

const OIDC: &str = "tests/servers/oidc-provider/server.mjs";

/// oidc-provider's development sign-in and consent pages (any login name is accepted), until it
/// sends the browser back to the callback. (Asked for no scope, it skips the consent page.)
async fn oidc_sign_in(browser: &mut Browser, authorize: String) -> String {
    let mut url = authorize;
    for _ in 0..12 {
        if url.contains("/oauth-callback?") {
            return url;
        }
        let page = browser.send(browser.client.get(&url), &url).await;
        url = if (300..400).contains(&page.status) {
            url::Url::parse(&url).unwrap().join(page.location()).unwrap().to_string()
        } else if page.body.contains(r#"name="login""#) {
            browser.submit(&url, &page, &[("login", "alice"), ("password", "any")]).await.0
        } else {
            browser.submit(&url, &page, &[]).await.0
        };
    }
    panic!("oidc-provider never sent the browser back: {url}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real servers: tests/servers/install.sh"]
async fn oidc_provider_recipe_every_grant_it_offers_and_every_refusal() {
    let (listener, callback) = app_listener().await;
    let server = start("node", OIDC, &callback, &[]);
    let env = recipe("oidc-provider", server.port());
    let app = app_from(listener, &env).await;
    assert_no_bitbucket(&app.get("/").await);

    // The authorization code grant through its own sign-in and consent pages, with PKCE and a nonce.
    let mut browser = Browser::new();
    let page = authorization_code(&app, &mut browser, oidc_sign_in).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_contains("Access token issued");
    assert_eq!(page.text_of("profile-name"), "Alice Liddell");
    assert_eq!(page.text_of("profile-preferred_username"), "alice");
    page.assert_contains("The <code>id_token</code> (OpenID Connect)");
    page.assert_contains(r#"id="nonce-check""#);
    assert_no_bitbucket(&page);
    // offline_access with prompt=consent gives a refresh token; it does not rotate here.
    let page = refresh_twice(&app, page, false).await;
    revoke(&app, &page, true).await;

    // Client credentials: issued; the user-info call refuses a token that speaks for no user.
    let page = app.post_form("/client-credentials", &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_contains("invalid_token");
    page.assert_contains("speaks for no user");
    assert_no_bitbucket(&page);

    // It does not offer the password grant, and the app says so, naming what it does offer.
    let page = app.login("alice", "any").await;
    assert_eq!(page.status, 502, "{}", page.body);
    page.assert_contains("does not offer the password grant");
    assert_no_bitbucket(&page);

    let (wrong_secret, _) = refusals(&env, ("alice", "any")).await;
    assert_eq!(wrong_secret.status, 502, "{}", wrong_secret.body);
    wrong_secret.assert_contains("invalid_client");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real servers: tests/servers/install.sh"]
async fn a_client_secret_with_reserved_characters_is_sent_as_rfc_6749_says() {
    let (listener, callback) = app_listener().await;
    let server = start("node", OIDC, &callback, &[]);
    let app = app_from(listener, &recipe("oidc-provider-odd-secret", server.port())).await;
    let page = app.post_form("/client-credentials", &[]).await;
    assert_eq!(page.status, 200, "oidc-provider refused the odd secret: {}", page.body);
    page.assert_contains("Access token issued");
    page.assert_lacks("s3cr+t");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real servers: tests/servers/install.sh"]
async fn oidc_provider_without_scope_grants_nothing_and_the_app_does_not_blame_the_user() {
    let (listener, callback) = app_listener().await;
    let server = start("node", OIDC, &callback, &[]);
    let app = app_from(listener, &with(recipe("oidc-provider", server.port()), "OAUTH_SCOPE", "")).await;
    let mut browser = Browser::new();
    let page = authorization_code(&app, &mut browser, oidc_sign_in).await;
    assert_eq!(page.status, 403, "{}", page.body);
    page.assert_contains("the server granted nothing");
    page.assert_contains("scope=openid");
    page.assert_lacks("chose not to");
    assert_no_bitbucket(&page);
}

const GLEWLWYD: &str = "tests/servers/glewlwyd/server.py";

/// Glewlwyd's login page does its work with script: it posts the password to `/api/auth/` as JSON,
/// records the consent with `PUT /api/auth/grant/{client_id}`, then continues to `callback_url`.
async fn glewlwyd_sign_in(browser: &mut Browser, authorize: String) -> String {
    let login = browser.send(browser.client.get(&authorize), &authorize).await;
    assert_eq!(login.status, 302, "{}", login.body);
    let origin = Browser::origin(&authorize);
    let login_url = url::Url::parse(&origin).unwrap().join(login.location()).unwrap().to_string();
    let (callback_url, scope) = (query_param(&login_url, "callback_url").unwrap(), query_param(&login_url, "scope"));
    let client_id = query_param(&authorize, "client_id").unwrap();
    let signed_in = browser
        .send(
            browser.client.post(format!("{origin}/api/auth/")).json(&serde_json::json!({
                "username": "alice", "password": "wonderland"
            })),
            &origin,
        )
        .await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    let consent = browser
        .send(
            browser
                .client
                .put(format!("{origin}/api/auth/grant/{client_id}"))
                .json(&serde_json::json!({"scope": scope.unwrap_or_default()})),
            &origin,
        )
        .await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    let back = format!("{callback_url}&g_continue");
    let answer = browser.send(browser.client.get(&back), &back).await;
    assert_eq!(answer.status, 302, "{}", answer.body);
    answer.location().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real servers: tests/servers/install.sh"]
async fn glewlwyd_recipe_every_grant_every_refusal_and_discovery_that_cannot_work() {
    let (listener, callback) = app_listener().await;
    let server = start("python3", GLEWLWYD, &callback, &[]);
    let env = recipe("glewlwyd", server.port());

    // Its discovery document names an issuer it is not found under: the app stops at start-up and
    // says which URL it asked and why (the recipe therefore gives the endpoints one by one).
    let mut discovery = recipe("glewlwyd", server.port());
    discovery.retain(|(k, _)| !k.starts_with("OAUTH_") || k == "OAUTH_CLIENT_ID" || k == "OAUTH_CLIENT_SECRET");
    discovery.push(("OAUTH_ISSUER".into(), server.url.clone()));
    let settings = settings_from(&discovery).unwrap();
    let failed = bitbucket_password_grant::AppState::new(settings, "127.0.0.1:0".parse().unwrap()).await;
    let error = failed.err().expect("discovery finds no document for this issuer").to_string();
    assert!(error.contains("/.well-known/") && error.contains("404"), "{error}");

    let app = app_from(listener, &env).await;
    let start_page = app.get("/").await;
    start_page.assert_contains("configured");
    assert_no_bitbucket(&start_page);

    let page = app.login("alice", "wonderland").await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_contains("Access token issued");
    page.assert_contains("alice@example.com");
    assert_no_bitbucket(&page);
    // Glewlwyd refuses a wrong password with an empty 403: the page says no reason was given.
    let wrong = app.login("alice", "not-the-password").await;
    assert_eq!(wrong.status, 403, "{}", wrong.body);
    wrong.assert_contains("refused without a reason");
    assert_no_bitbucket(&wrong);

    let page = refresh_twice(&app, page, false).await;
    revoke(&app, &page, true).await;

    let mut browser = Browser::new();
    let page = authorization_code(&app, &mut browser, glewlwyd_sign_in).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_contains("Access token issued");
    page.assert_contains(r#"id="nonce-check""#);
    assert_no_bitbucket(&page);

    let page = app.post_form("/client-credentials", &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_no_bitbucket(&page);

    let (wrong_secret, unknown_scope) = refusals(&env, ("alice", "wonderland")).await;
    assert!(wrong_secret.status == 502 || wrong_secret.status == 403, "{}", wrong_secret.body);
    assert_eq!(unknown_scope.status, 502, "{}", unknown_scope.body);
    // A client that may not use the password grant: Glewlwyd says so with an empty 400.
    let client = with(env, "OAUTH_CLIENT_ID", "glewlwyd-nopassword-client");
    let client = with(client, "OAUTH_CLIENT_SECRET", "glewlwyd-nopassword-secret");
    let refused = another_app(&client).await.login("alice", "wonderland").await;
    assert_eq!(refused.status, 502, "{}", refused.body);
    refused.assert_contains("grant_type=password");
    assert_no_bitbucket(&refused);
}

/// oidc-provider's device verification pages, driven like a browser from `verification_uri_complete`:
/// the code (already in the URL) is submitted, then confirmed, then the sign-in and consent, until
/// a page with no form: its success page.
async fn oidc_approve_device(browser: &mut Browser, start: String) -> Page {
    let mut url = start;
    let mut page = browser.send(browser.client.get(&url), &url).await;
    for _ in 0..16 {
        if (300..400).contains(&page.status) {
            url = url::Url::parse(&url).unwrap().join(page.location()).unwrap().to_string();
            page = browser.send(browser.client.get(&url), &url).await;
            continue;
        }
        if !page.body.contains("<form") {
            return page;
        }
        let extra: &[(&str, &str)] =
            if page.body.contains(r#"name="login""#) { &[("login", "alice"), ("password", "any")] } else { &[] };
        (url, page) = browser.post_form_of(&url, &page, extra).await;
    }
    panic!("oidc-provider's device pages never ended: {url}");
}

impl Browser {
    /// Posts the page's first form (its hidden fields plus `extra`); returns where it was posted
    /// and the answer, whatever it is.
    async fn post_form_of(&mut self, at: &str, page: &Page, extra: &[(&str, &str)]) -> (String, Page) {
        let start = page.body.find("<form").unwrap();
        let form = &page.body[start..];
        let action = unescape(attribute(form, "action").unwrap_or(""));
        let mut fields: Vec<(String, String)> = Vec::new();
        for input in form[..form.find("</form>").unwrap_or(form.len())].split("<input").skip(1) {
            if attribute(input, "type") == Some("hidden") {
                let name = attribute(input, "name").unwrap_or("").to_owned();
                fields.push((name, unescape(attribute(input, "value").unwrap_or(""))));
            }
        }
        fields.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let target = url::Url::parse(at).unwrap().join(&action).unwrap().to_string();
        let answer = self.send(self.client.post(&target).form(&fields), &target).await;
        (target, answer)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real servers: tests/servers/install.sh"]
async fn oidc_provider_device_flow_and_introspection_through_the_app() {
    let (listener, callback) = app_listener().await;
    let server = start("node", OIDC, &callback, &[]);
    let app = app_from(listener, &recipe("oidc-provider", server.port())).await;
    let start_page = app.get("/").await;
    start_page.assert_contains(r#"id="start-device""#);

    // A and B: the codes; C: the page that shows them, with a QR code of verification_uri_complete.
    let device = app.post_form("/device", &[]).await;
    assert_eq!(device.status, 200, "{}", device.body);
    device.assert_contains("The device authorization request");
    device.assert_contains("POST /device/auth HTTP/1.1");
    let user_code = device.text_of("user-code");
    assert_eq!(user_code.len(), 9, "{user_code}");
    device.assert_contains(r#"id="qr-code""#);
    assert_no_bitbucket(&device);
    let form: Vec<(String, String)> = device.hidden_fields();
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    // E: polled before anyone approved, the server says authorization_pending.
    let pending = app.post_form("/device/poll", &form).await;
    assert_eq!(pending.status, 200, "{}", pending.body);
    assert_eq!(pending.headers.get("x-device").unwrap(), "pending");
    pending.assert_contains("authorization_pending");

    // D: approved in a browser, on the server's own pages.
    let complete = query_param(&device.body.replace("&amp;", "&"), "user_code")
        .map(|_| format!("{}/device?user_code={user_code}", server.url))
        .unwrap();
    let mut browser = Browser::new();
    let done = oidc_approve_device(&mut browser, complete).await;
    assert_eq!(done.status, 200, "{}", done.body);

    // E, F, G: the next poll brings the token, shown on the result page.
    let pending_form: Vec<(String, String)> = pending.hidden_fields();
    let pending_form: Vec<(&str, &str)> = pending_form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let page = app.post_form("/device/poll", &pending_form).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.headers.get("x-device").unwrap(), "token");
    page.assert_contains("Access token issued");
    page.assert_contains("device authorization grant");
    assert_eq!(page.text_of("profile-name"), "Alice Liddell");

    // Introspection before and after revocation.
    let token = page.hidden("access_token");
    let before = app.post_form("/introspect", &[("access_token", &token)]).await;
    assert_eq!(before.status, 200, "{}", before.body);
    assert_eq!(before.text_of("introspection-active"), "active: true");
    before.assert_contains("POST /token/introspection HTTP/1.1");
    let revoked = revoke(&app, &page, true).await;
    assert_eq!(revoked.text_of("introspection-active"), "active: false");
}
