//! The app against real authorization servers that nobody here wrote, started as processes:
//! Authlib's (Python, PyPI) and oidc-provider (Node, npm), from `tests/servers/` (see its README).
//! Every grant each server offers goes through the app's own HTTP routes; the authorization code
//! grant goes through the server's own sign-in and consent pages, driven like a browser (cookies
//! kept per origin, redirects followed by hand, forms read off the HTML).
//!
//! They need the servers installed (`tests/servers/install.sh`), so plain `cargo test` lists them
//! as ignored; `.ci/run` installs the servers and runs them with `cargo test --test app -- --ignored`.
//! A missing server fails the test, it never skips it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bitbucket_password_grant::settings::{Settings, parse_endpoint_url};
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

/// Starts `program args…` and waits for its `READY http://…` line.
fn start(program: &str, script: &str, redirect_uri: &str) -> RealServer {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut child = Command::new(program)
        .arg(format!("{root}/{script}"))
        .args(["--port", "0", "--redirect-uri", redirect_uri])
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

/// The app on a port known before the server starts, so the server can register its callback.
async fn app_for(listener: TcpListener, mut settings: Settings) -> TestApp {
    settings.sandbox = false;
    settings.upstream.timeout = Duration::from_secs(10);
    settings.request_timeout = Duration::from_secs(25);
    spawn_app_on(listener, settings).await
}

/// How the app learns the server's endpoints.
#[derive(Clone, Copy, Debug)]
enum Endpoints {
    /// `issuer` alone: RFC 8414 or OpenID Connect discovery.
    Discovered,
    /// `tokenUrl`, `authorizeUrl`, `userUrl`, `revocationUrl`, one by one.
    Configured,
}

/// Settings for a server at `base` with the given client, scope and endpoint paths.
fn settings(server: &RealServer, how: Endpoints, client: (&str, &str), scope: &str, paths: [&str; 4]) -> Settings {
    let mut settings = settings_for(&server.url);
    (settings.consumer_key, settings.consumer_secret) = (client.0.into(), client.1.to_owned().into());
    settings.scope = scope.into();
    let url = |path: &str| Some(parse_endpoint_url(&format!("{}{path}", server.url)).unwrap());
    match how {
        Endpoints::Discovered => settings.issuer = Some(parse_endpoint_url(&server.url).unwrap()),
        Endpoints::Configured => {
            settings.endpoints.token = url(paths[0]);
            settings.endpoints.authorize = url(paths[1]);
            settings.endpoints.user = url(paths[2]);
            settings.endpoints.revocation = url(paths[3]);
        }
    }
    settings
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
        let start = page.body.find("<form").unwrap_or_else(|| panic!("no form at {at}:\n{}", page.body));
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
        let page = self.send(self.client.post(&target).form(&fields), &target).await;
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
    }
    page
}

/// Revokes the page's access token and checks the API then refuses it.
async fn revoke(app: &TestApp, page: &Page) {
    let revoked = app.post_form("/revoke", &[("access_token", &page.hidden("access_token"))]).await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    revoked.assert_contains("Token revoked");
    revoked.assert_contains("HTTP/1.1 200 OK");
    revoked.assert_contains("invalid_token");
}

const AUTHLIB: (&str, &str) = ("authlib-client", "authlib-secret");
const AUTHLIB_PATHS: [&str; 4] = ["/oauth/token", "/oauth/authorize", "/api/me", "/oauth/revoke"];

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
async fn authlib_every_grant_completes_through_the_app_discovered_and_configured() {
    for how in [Endpoints::Discovered, Endpoints::Configured] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let callback = format!("http://{}/oauth-callback", listener.local_addr().unwrap());
        let server = start("python3", "tests/servers/authlib_server.py", &callback);
        let app = app_for(listener, settings(&server, how, AUTHLIB, "profile email", AUTHLIB_PATHS)).await;

        let start_page = app.get("/").await;
        start_page.assert_contains(&format!("{}/oauth/token", server.url));
        start_page.assert_contains(match how {
            Endpoints::Discovered => "discovered from the server&#39;s metadata",
            Endpoints::Configured => "configured",
        });

        // The password grant: the one this app is about, working for real.
        let page = app.login("alice", "wonderland").await;
        assert_eq!(page.status, 200, "{how:?}: {}", page.body);
        page.assert_contains("Access token issued");
        page.assert_contains("Alice Liddell");
        page.assert_contains("scope=profile+email");
        let wrong = app.login("alice", "not-the-password").await;
        assert_eq!(wrong.status, 403, "{}", wrong.body);
        wrong.assert_contains("invalid_request");
        wrong.assert_lacks("bitbucket.org no longer accepts");

        // Refresh twice: Authlib does not rotate, so the same refresh token works again.
        let page = refresh_twice(&app, page, false).await;
        revoke(&app, &page).await;

        // The authorization code grant, through Authlib's own sign-in and consent pages.
        let mut browser = Browser::new();
        let page = authorization_code(&app, &mut browser, authlib_sign_in).await;
        assert_eq!(page.status, 200, "{how:?}: {}", page.body);
        page.assert_contains("Access token issued");
        page.assert_contains("Alice Liddell");
        page.assert_contains("code_verifier=");
        refresh_twice(&app, page, false).await;

        // Client credentials: a token for the client itself.
        let page = app.post_form("/client-credentials", &[]).await;
        assert_eq!(page.status, 200, "{}", page.body);
        page.assert_contains("Access token issued");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real servers: tests/servers/install.sh"]
async fn authlib_with_client_secret_post_and_no_scope_explains_insufficient_scope() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let callback = format!("http://{}/oauth-callback", listener.local_addr().unwrap());
    let server = start("python3", "tests/servers/authlib_server.py", &callback);
    let client = ("authlib-post-client", "authlib-post-secret");
    let mut settings = settings(&server, Endpoints::Discovered, client, "", AUTHLIB_PATHS);
    settings.client_auth = Some(bitbucket_password_grant::token::ClientAuth::Post);
    let app = app_for(listener, settings).await;
    let page = app.login("alice", "wonderland").await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_contains("client_secret=");
    // No scope asked, none granted: the user call is refused, and the page says why.
    page.assert_contains("insufficient_scope");
    page.assert_contains("OAUTH_SCOPE");
}

const OIDC: (&str, &str) = ("oidc-client", "oidc-secret");
const OIDC_PATHS: [&str; 4] = ["/token", "/auth", "/me", "/token/revocation"];

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
async fn oidc_provider_every_grant_it_offers_completes_discovered_and_configured() {
    for how in [Endpoints::Discovered, Endpoints::Configured] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let callback = format!("http://{}/oauth-callback", listener.local_addr().unwrap());
        let server = start("node", "tests/servers/oidc-provider/server.mjs", &callback);
        let scope = "openid profile email offline_access";
        let app = app_for(listener, settings(&server, how, OIDC, scope, OIDC_PATHS)).await;

        // The authorization code grant through its own sign-in and consent pages, with PKCE.
        let mut browser = Browser::new();
        let page = authorization_code(&app, &mut browser, oidc_sign_in).await;
        assert_eq!(page.status, 200, "{how:?}: {}", page.body);
        page.assert_contains("Access token issued");
        page.assert_contains("Alice Liddell");
        // Its id_token is a JWT, decoded on the page (iss, aud, exp as a date).
        page.assert_contains("The <code>id_token</code> (OpenID Connect)");
        page.assert_contains("&#34;aud&#34;: &#34;oidc-client&#34;");
        // offline_access with prompt=consent gives a refresh token; it does not rotate here.
        let page = refresh_twice(&app, page, false).await;
        revoke(&app, &page).await;

        // Client credentials: issued; the user-info call refuses a token that speaks for no user.
        let page = app.post_form("/client-credentials", &[]).await;
        assert_eq!(page.status, 200, "{}", page.body);
        page.assert_contains("Access token issued");
        page.assert_contains("invalid_token");
        page.assert_contains("speaks for no user");

        // It does not offer the password grant, and the app says so, naming what it does offer.
        let page = app.login("alice", "any").await;
        assert_eq!(page.status, 502, "{}", page.body);
        page.assert_contains("does not offer the password grant");
        page.assert_lacks("bitbucket.org no longer accepts");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the real servers: tests/servers/install.sh"]
async fn oidc_provider_without_scope_grants_nothing_and_the_app_does_not_blame_the_user() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let callback = format!("http://{}/oauth-callback", listener.local_addr().unwrap());
    let server = start("node", "tests/servers/oidc-provider/server.mjs", &callback);
    let app = app_for(listener, settings(&server, Endpoints::Discovered, OIDC, "", OIDC_PATHS)).await;
    let mut browser = Browser::new();
    let page = authorization_code(&app, &mut browser, oidc_sign_in).await;
    assert_eq!(page.status, 403, "{}", page.body);
    page.assert_contains("the server granted nothing");
    page.assert_contains("scope=openid");
    page.assert_lacks("chose not to");
}
