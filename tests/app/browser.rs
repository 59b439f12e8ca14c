//! End to end in headless Chromium, driven through WebDriver: what a person sees and clicks, at a
//! desktop's width (1280 px) and a phone's (390 px). Every grant, the sandbox's sign-in, two-step and
//! consent pages, a wrong password and a 404. On every page: nothing is wider than the window, and
//! axe-core finds no serious or critical accessibility violation (the others are printed). On the
//! start and result pages every control is reached by pressing Tab.
//!
//! Needs Debian's `chromium` and `chromium-driver`, and axe-core from npm (`npm ci --prefix
//! tests/browser`); `.ci/run` installs all three and runs this with `cargo test -- --ignored`.
//! Without them it fails (it never passes without a browser).
//!
//! Screenshots go to `target/screenshots/`; with `UPDATE_SCREENSHOTS=1`, to `docs/screenshots/`,
//! which the README and `docs/teaching.md` show. `landing.png` is 1280 px wide, `landing-390.png` 390 px. With
//! `FULL_PAGE_SCREENSHOTS=1` each shows its whole page (to review a layout, not for the README).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::helpers::*;

/// A window size the whole walk runs at; `suffix` goes into the screenshots' names.
#[derive(Clone, Copy)]
struct Viewport {
    width: u32,
    height: u32,
    suffix: &'static str,
}

const DESKTOP: Viewport = Viewport { width: 1280, height: 1100, suffix: "" };
const PHONE: Viewport = Viewport { width: 390, height: 844, suffix: "-390" };

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromium-driver"]
async fn a_person_completes_every_flow_in_chromium_on_a_desktop_and_a_phone() {
    let app = spawn_sandbox_app().await;
    let mut browser = Browser::start().await;
    for viewport in [DESKTOP, PHONE] {
        browser.use_viewport(viewport).await;
        start_page(&mut browser, &app).await;
        password_grant_refresh_and_another_call(&mut browser, &app).await;
        authorization_code_grant(&mut browser, &app, "demo").await;
        authorization_code_grant(&mut browser, &app, "demo-2fa").await;
        client_credentials_grant(&mut browser, &app).await;
        wrong_password(&mut browser, &app).await;
        not_found(&mut browser, &app).await;
    }
    browser.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromium-driver"]
async fn a_person_completes_the_device_flow_at_the_built_in_standard_server_on_a_desktop_and_a_phone() {
    let mut settings = bitbucket_password_grant::settings::Settings::sandbox_defaults();
    settings.sandbox_server = bitbucket_password_grant::settings::SandboxServer::Standard;
    let app = spawn_app(settings).await;
    let mut browser = Browser::start().await;
    for viewport in [DESKTOP, PHONE] {
        browser.use_viewport(viewport).await;
        device_flow(&mut browser, &app).await;
    }
    browser.finish().await;
}

/// The device flow as a person sees it: the start page, the code (its QR code), the approval on
/// another device (here: by HTTP, as a phone would), the page's script polling until the token,
/// introspection, and the standard server's own verification page.
async fn device_flow(b: &mut Browser, app: &TestApp) {
    b.goto(app, "/").await;
    assert!(b.text(".mode-sandbox").await.contains("the built-in standard server"));
    b.check_page("the start page at the built-in standard server").await;
    b.click("#start-device").await;
    let code = b.text_when("#user-code", |t| t.len() == 9).await;
    assert!(b.displayed("#qr-code").await, "no QR code");
    b.text_when("#countdown", |t| t.contains("left")).await;
    b.check_page("the device page").await;
    b.screenshot("device", 1500, 1700).await;
    b.check_keyboard("the device page").await;
    let complete = b.find("#verification-uri-complete").await.attr("href").await.unwrap().unwrap();
    assert!(complete.ends_with(&code), "{complete}");

    // A first poll by the script, before anyone approved: authorization_pending, added to the page.
    let poll = b.text_when_within("#polls .device-poll", Duration::from_secs(15), |t| !t.is_empty()).await;
    assert!(poll.contains("authorization_pending"), "{poll}");
    let http = client_builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    approve_at_standard_server(&http, &complete, &code).await;
    b.text_when_within("h1", Duration::from_secs(15), |t| t == "Access token issued").await;
    assert!(b.text(".eyebrow").await.to_lowercase().contains("device authorization grant"));
    assert_eq!(b.text("#profile-name").await, "Demo User");
    b.check_page("the device flow's result").await;
    b.screenshot("device-result", 1500, 1700).await;

    // Is the token still active? The answer is added by the script.
    b.click("#introspect").await;
    let answer = b.text_when("#more-calls .api-step", |t| t.contains("active")).await;
    assert!(answer.contains("active: true"), "{answer}");

    // The standard server's own verification page, as the phone shows it.
    b.client.goto(&complete).await.unwrap();
    b.text_when("h1", |t| !t.is_empty()).await;
    b.check_page("the built-in standard server's verification page").await;
}

async fn start_page(b: &mut Browser, app: &TestApp) {
    b.goto(app, "/").await;
    b.text_when("h1", |t| t.contains("Trade a username and password")).await;
    assert!(b.text(".mode-sandbox").await.contains("Sandbox mode."));
    b.check_page("the start page").await;
    b.screenshot("landing", 1100, 1700).await;
    b.check_keyboard("the start page").await;
}

async fn password_grant_refresh_and_another_call(b: &mut Browser, app: &TestApp) {
    b.sign_in(app, "demo", "demo").await;
    b.text_when("h1", |t| t == "Access token issued").await;
    let masked = b.text("#access-token-masked").await;
    assert!(masked.contains('…') && masked.chars().count() == 9, "masked token: {masked}");
    assert!(!b.displayed("#access-token").await, "the full token shows before reveal");
    assert_eq!(b.text("#profile-display_name").await, "Demo User");
    let exchange = b.text("#token-exchange").await;
    assert!(exchange.contains("password=••••••••"), "{exchange}");
    assert!(!exchange.contains("password=demo"));
    let first = b.text("#countdown").await;
    assert!(first.contains("s left"), "no countdown: {first:?}");
    let copy = b.find("button.copy").await;
    assert_eq!(copy.attr("hidden").await.unwrap(), None, "the script did not show the copy buttons");
    b.check_page("the password grant's result").await;
    b.screenshot("result", 1500, 1700).await;
    b.check_keyboard("the password grant's result").await;
    b.text_when("#countdown", |t| t != first).await; // it moves

    // Reveal the full token.
    b.click("#reveal").await;
    assert!(b.displayed("#access-token").await);
    let full = b.text("#access-token").await;
    assert!(full.starts_with(&masked[..4]) && full.len() > 20, "{full}");

    // Another sample call, added to the page by the script.
    b.click("form.call-again:nth-of-type(2) button").await;
    let added = b.text_when("#more-calls .api-step", |t| t.contains("demo@example.com")).await;
    assert!(added.contains("GET /sandbox/api/2.0/user/emails") && added.contains("demo@example.com"), "{added}");
    b.check_page("the result page with a call added by the script").await;

    // Refresh: a new token, the old one shown beside it.
    b.click("#refresh").await;
    b.text_when("h1", |t| t == "Access token refreshed").await;
    assert_ne!(b.text("#access-token-masked").await, masked);
    assert!(b.text("#rotation-note").await.contains("no longer works"));
    b.check_page("the refresh's result").await;
    b.screenshot("refresh", 1100, 1700).await;
}

/// Through the sandbox's own pages: sign-in, the second step for `demo-2fa` (started from its case's
/// link on the start page), consent.
async fn authorization_code_grant(b: &mut Browser, app: &TestApp, username: &str) {
    let two_step = username == "demo-2fa";
    b.goto(app, "/").await;
    b.click(if two_step { "#sign-in-two-step" } else { "#sign-in" }).await;
    b.text_when("h1", |t| t.starts_with("Sign in to continue")).await;
    b.check_page("the sandbox's sign-in page").await;
    b.type_into("#username", username).await;
    b.type_into("#password", "demo").await;
    b.click("#sign-in").await;
    if two_step {
        b.text_when("h1", |t| t == "Two-step verification").await;
        b.check_page("the sandbox's two-step verification page").await;
        b.type_into("#otp", "246810").await;
        b.click("#verify").await;
    }
    b.text_when("h1", |t| t.starts_with("Authorize")).await;
    b.check_page("the sandbox's consent page").await;
    if !two_step {
        b.screenshot("consent", 900, 844).await;
    }
    b.click("#grant").await;

    b.text_when("h1", |t| t == "Access token issued").await;
    assert!(b.text(".eyebrow").await.to_lowercase().contains("authorization code grant"));
    let request = b.text("#step-authorization-request").await;
    assert!(request.contains("code_challenge"), "{request}");
    let redirect = b.text("#step-redirect").await;
    assert!(redirect.contains("/oauth-callback") && redirect.contains("code="), "{redirect}");
    assert!(b.text("#state-check").await.contains("equals the one kept"));
    if two_step {
        assert!(b.text("#sandbox-case").await.contains("two-step verification"));
        b.check_page("the authorization code grant's result (two-step case)").await;
    } else {
        b.check_page("the authorization code grant's result").await;
        b.screenshot("authorization-code", 1500, 1700).await;
        b.check_keyboard("the authorization code grant's result").await;
    }
}

async fn client_credentials_grant(b: &mut Browser, app: &TestApp) {
    b.goto(app, "/").await;
    b.click("#client-credentials").await;
    b.text_when("h1", |t| t == "Access token issued").await;
    assert!(b.text(".eyebrow").await.to_lowercase().contains("client credentials grant"));
    assert_eq!(b.text("#refresh-token").await, "none");
    b.check_page("the client credentials grant's result").await;
}

/// The error page, with the sandbox's answer.
async fn wrong_password(b: &mut Browser, app: &TestApp) {
    b.sign_in(app, "demo", "not-the-password").await;
    b.text_when("h1", |t| t.contains("refused these credentials")).await;
    assert!(b.text(".status-code").await.contains("403"));
    assert!(b.text("main").await.contains("Invalid resource owner username/password"));
    b.check_page("the error page for a wrong password").await;
    b.screenshot("error", 1100, 1700).await;
}

async fn not_found(b: &mut Browser, app: &TestApp) {
    b.goto(app, "/no-such-page").await;
    b.text_when("h1", |t| t == "Page not found").await;
    assert!(b.text(".status-code").await.contains("404"));
    b.check_page("the 404 page").await;
}

/// chromedriver, killed when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A Chromium session, the viewport it is at, and what the checks found so far.
struct Browser {
    client: Client,
    _driver: Driver,
    /// axe-core's source, injected into each page it checks.
    axe: String,
    viewport: Viewport,
    /// Serious or critical problems, reported together at the end.
    problems: Vec<String>,
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium session through it.
    async fn start() -> Browser {
        let axe_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser/node_modules/axe-core/axe.min.js");
        let axe = std::fs::read_to_string(&axe_path).unwrap_or_else(|e| {
            panic!("{}: {e}; install axe-core with `npm ci --prefix tests/browser`", axe_path.display())
        });
        let port = refused_address().await.port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver must be installed (apt-get install chromium chromium-driver)");
        let driver = Driver(child);
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(15), "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = std::env::temp_dir().join(format!("bb-chromium-{}-{port}", std::process::id()));
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--hide-scrollbars", "--window-size=1280,1100", format!("--user-data-dir={}", profile.display())],
            }),
        );
        // chromedriver speaks plain HTTP on loopback: no TLS connector needed.
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session");
        Browser { client, _driver: driver, axe, viewport: DESKTOP, problems: Vec::new() }
    }

    /// Sizes the window, and checks the page inside it is really that wide.
    async fn use_viewport(&mut self, viewport: Viewport) {
        self.viewport = viewport;
        self.restore_window().await;
        let inner = self.execute("return window.innerWidth", json!([])).await;
        let inner = inner.as_u64().expect("innerWidth");
        assert!(
            inner.abs_diff(viewport.width.into()) <= 2,
            "asked for {} px, window.innerWidth is {inner}",
            viewport.width
        );
    }

    async fn restore_window(&self) {
        self.client.set_window_size(self.viewport.width, self.viewport.height).await.unwrap();
    }

    /// Reports the problems the page checks found, then ends the session.
    async fn finish(self) {
        let problems = self.problems.join("\n\n");
        self.client.close().await.unwrap();
        assert!(problems.is_empty(), "the browser found these problems:\n\n{problems}");
    }

    async fn execute(&self, script: &str, args: Value) -> Value {
        let Value::Array(args) = args else { panic!("arguments must be an array") };
        self.client.execute(script, args).await.unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    async fn goto(&self, app: &TestApp, path: &str) {
        self.client.goto(&app.url(path)).await.unwrap();
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}"))
    }

    /// Clicks like a person, once the page has stopped scrolling: the page's script scrolls
    /// smoothly to a call it added, and a click aimed during that animation lands elsewhere.
    async fn click(&self, css: &str) {
        self.wait_for_scrolling_to_stop().await;
        self.find(css).await.click().await.unwrap_or_else(|e| panic!("cannot click {css}: {e}"));
    }

    async fn wait_for_scrolling_to_stop(&self) {
        let mut last = self.execute("return window.scrollY", json!([])).await;
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = self.execute("return window.scrollY", json!([])).await;
            if now == last {
                return;
            }
            last = now;
        }
    }

    async fn type_into(&self, css: &str, text: &str) {
        self.find(css).await.send_keys(text).await.unwrap();
    }

    async fn sign_in(&self, app: &TestApp, username: &str, password: &str) {
        self.goto(app, "/").await;
        self.type_into("#username", username).await;
        self.type_into("#password", password).await;
        self.click("form.login button[type=submit]").await;
    }

    /// The text of the first element matching `css` once it satisfies `ready` (pages navigate and
    /// scripts add content asynchronously, so this retries for up to 10 s).
    async fn text_when(&self, css: &str, ready: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        let mut last = String::new();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = element.text().await
            {
                if ready(&text) {
                    return text;
                }
                last = text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css} never became ready; last text: {last:?}");
    }

    /// The same, waiting up to `limit`: for what comes only after the device flow's polling interval.
    async fn text_when_within(&self, css: &str, limit: Duration, ready: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(element) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = element.text().await
                && ready(&text)
            {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("{css} never became ready within {limit:?}");
    }

    async fn text(&self, css: &str) -> String {
        self.text_when(css, |_| true).await
    }

    async fn displayed(&self, css: &str) -> bool {
        self.find(css).await.is_displayed().await.unwrap()
    }

    fn problem(&mut self, what: &str, problem: String) {
        self.problems.push(format!("{what} at {} px: {problem}", self.viewport.width));
    }

    /// The checks every page passes: nothing wider than the window, and no serious or critical
    /// axe-core violation (the others are printed).
    async fn check_page(&mut self, what: &str) {
        if let Value::String(overflow) = self.execute(OVERFLOW, json!([])).await {
            self.problem(what, format!("horizontal overflow: {overflow}"));
        }
        if self.execute("return typeof window.axe", json!([])).await != "object" {
            self.execute(&self.axe, json!([])).await;
        }
        let result = self.client.execute_async(AXE_RUN, vec![]).await.expect("axe.run");
        let Value::Array(violations) = result else { panic!("axe.run failed: {result}") };
        for violation in violations {
            let impact = violation["impact"].as_str().unwrap_or("unknown");
            let nodes: Vec<&str> = violation["nodes"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
            let text = format!(
                "axe {impact} {}: {} ({} elements)\n    {}",
                violation["id"].as_str().unwrap(),
                violation["help"].as_str().unwrap(),
                violation["count"],
                nodes.join("\n    ")
            );
            if matches!(impact, "serious" | "critical") {
                self.problem(what, text);
            } else {
                println!("{what} at {} px: {text}", self.viewport.width);
            }
        }
    }

    /// Every visible control (those in `<details>` once it is open) is focusable, and pressing Tab
    /// from the top of the page reaches each of them.
    async fn check_keyboard(&mut self, what: &str) {
        let count = self.execute(KEYBOARD_START, json!([])).await.as_u64().unwrap();
        let mut keys = KeyActions::new("keyboard".into());
        for _ in 0..count + 2 {
            keys = keys.then(KeyAction::Down { value: Key::Tab.into() }).then(KeyAction::Up { value: Key::Tab.into() });
        }
        self.client.perform_actions(keys).await.unwrap();
        let missed = self.execute(KEYBOARD_FINISH, json!([])).await;
        for missed in missed.as_array().unwrap() {
            self.problem(what, format!("keyboard: {}", missed.as_str().unwrap()));
        }
    }

    /// Saves a screenshot of the top of the page in a window of the height given for this width (or of
    /// the whole page, with `FULL_PAGE_SCREENSHOTS=1`).
    async fn screenshot(&self, name: &str, desktop_height: u32, phone_height: u32) {
        let mut height = if self.viewport.width == DESKTOP.width { desktop_height } else { phone_height };
        if std::env::var("FULL_PAGE_SCREENSHOTS").is_ok_and(|v| v == "1") {
            height = self
                .execute("return document.documentElement.scrollHeight + outerHeight - innerHeight", json!([]))
                .await
                .as_u64()
                .unwrap() as u32;
        }
        self.client.set_window_size(self.viewport.width, height).await.unwrap();
        self.execute("window.scrollTo(0, 0)", json!([])).await;
        let png = self.client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let folder = match std::env::var("UPDATE_SCREENSHOTS").as_deref() {
            Ok("1") => root.join("docs/screenshots"),
            _ => root.join("target/screenshots"),
        };
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join(format!("{name}{}.png", self.viewport.suffix)), png).unwrap();
        self.restore_window().await;
    }
}

/// `null` when the page is no wider than the window, else the widths and the elements sticking out.
const OVERFLOW: &str = r#"
var width = window.innerWidth, root = document.documentElement;
if (root.scrollWidth <= width) return null;
var wide = Array.prototype.filter.call(document.querySelectorAll('body *'), function (el) {
  return el.getBoundingClientRect().right > width + 1;
}).map(function (el) {
  return el.outerHTML.split('>')[0].slice(0, 80) + '> ends at ' + Math.round(el.getBoundingClientRect().right) + ' px';
});
var walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT), text;
while ((text = walker.nextNode())) {
  var range = document.createRange();
  range.selectNodeContents(text);
  var right = range.getBoundingClientRect().right;
  if (right > width + 1) wide.push('text "' + text.textContent.trim().slice(0, 60) + '" ends at ' + Math.round(right) + ' px');
}
return 'scrollWidth ' + root.scrollWidth + ' > innerWidth ' + width + '; ' + wide.slice(0, 10).join('; ');
"#;

/// axe-core's violations, each with its first elements.
const AXE_RUN: &str = r#"
var done = arguments[arguments.length - 1];
axe.run(document, { resultTypes: ['violations'] }).then(function (results) {
  done(results.violations.map(function (v) {
    return { id: v.id, impact: v.impact, help: v.help, count: v.nodes.length,
      nodes: v.nodes.slice(0, 6).map(function (n) { return n.target.join(' ') + '  ' + n.html.slice(0, 140); }) };
  }));
}, function (error) { done(String(error)); });
"#;

/// Opens every `<details>`, lists the visible controls, and starts recording where focus goes.
const KEYBOARD_START: &str = r#"
window.__opened = Array.prototype.filter.call(document.querySelectorAll('details'), function (d) { return !d.open; });
window.__opened.forEach(function (d) { d.open = true; });
window.__controls = Array.prototype.filter.call(
  document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea, summary'),
  function (el) { return el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden'; });
window.__tabbed = [];
document.addEventListener('focusin', function (event) { window.__tabbed.push(event.target); });
if (document.activeElement) document.activeElement.blur();
return window.__controls.length;
"#;

/// The controls Tab never reached, or that refuse focus; closes the `<details>` again.
const KEYBOARD_FINISH: &str = r#"
var missed = [];
window.__controls.forEach(function (el) {
  var name = el.outerHTML.slice(0, 100);
  if (el.tabIndex < 0) missed.push(name + ' has tabindex ' + el.tabIndex);
  if (window.__tabbed.indexOf(el) < 0) missed.push(name + ' is never reached by Tab');
  el.focus();
  if (document.activeElement !== el) missed.push(name + ' does not take focus');
});
if (document.activeElement) document.activeElement.blur();
window.__opened.forEach(function (d) { d.open = false; });
window.scrollTo(0, 0);
return missed;
"#;
