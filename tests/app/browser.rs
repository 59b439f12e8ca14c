//! End to end in headless Chromium, driven through WebDriver: what a person sees and clicks.
//! Needs Debian's `chromium` and `chromium-driver`; `.ci/run` installs both and runs this with
//! `cargo test -- --ignored`. Without them it fails (it never passes without a browser).
//! Screenshots go to `docs/screenshots/`, which the README shows.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::helpers::*;

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts chromedriver on a free port and a headless Chromium session through it.
async fn browser() -> (Driver, Client) {
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
    let client = ClientBuilder::rustls()
        .expect("TLS setup")
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session");
    (driver, client)
}

fn screenshot_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots").join(name)
}

async fn save_screenshot(client: &Client, name: &str, height: u32) {
    client.set_window_size(1280, height).await.unwrap();
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    std::fs::create_dir_all(screenshot_path("").parent().unwrap().join("screenshots")).unwrap();
    std::fs::write(screenshot_path(name), png).unwrap();
}

/// The text of the first element matching `css` once it satisfies `ready` (pages navigate and
/// scripts add content asynchronously, so this retries for up to 10 s).
async fn text_when(client: &Client, css: &str, ready: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    let mut last = String::new();
    while started.elapsed() < Duration::from_secs(10) {
        if let Ok(element) = client.find(Locator::Css(css)).await
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

async fn text(client: &Client, css: &str) -> String {
    text_when(client, css, |_| true).await
}

async fn displayed(client: &Client, css: &str) -> bool {
    client.find(Locator::Css(css)).await.unwrap().is_displayed().await.unwrap()
}

async fn sign_in(client: &Client, app: &TestApp, username: &str, password: &str) {
    client.goto(&app.url("/")).await.unwrap();
    client.find(Locator::Css("#username")).await.unwrap().send_keys(username).await.unwrap();
    client.find(Locator::Css("#password")).await.unwrap().send_keys(password).await.unwrap();
    client.find(Locator::Css("form.login button[type=submit]")).await.unwrap().click().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs chromium and chromium-driver"]
async fn a_person_completes_every_flow_in_chromium() {
    let app = spawn_sandbox_app().await;
    let (_driver, client) = browser().await;

    // The start page.
    client.goto(&app.url("/")).await.unwrap();
    text_when(&client, "h1", |t| t.contains("Trade a username and password")).await;
    assert!(text(&client, ".mode-sandbox").await.contains("Sandbox mode."));
    save_screenshot(&client, "landing.png", 1100).await;

    // The password grant with demo / demo.
    sign_in(&client, &app, "demo", "demo").await;
    text_when(&client, "h1", |t| t == "Access token issued").await;
    let masked = text(&client, "#access-token-masked").await;
    assert!(masked.contains('…') && masked.chars().count() == 9, "masked token: {masked}");
    assert!(!displayed(&client, "#access-token").await, "the full token shows before reveal");
    assert_eq!(text(&client, "#display-name").await, "Demo User");
    let exchange = text(&client, "#token-exchange").await;
    assert!(exchange.contains("password=••••••••"), "{exchange}");
    assert!(!exchange.contains("password=demo"));
    let first = text(&client, "#countdown").await;
    assert!(first.contains("s left"), "no countdown: {first:?}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_ne!(text(&client, "#countdown").await, first, "the countdown does not move");
    let copy = client.find(Locator::Css("button.copy")).await.unwrap();
    assert_eq!(copy.attr("hidden").await.unwrap(), None, "the script did not show the copy buttons");

    save_screenshot(&client, "result.png", 1500).await;

    // Reveal the full token.
    client.find(Locator::Css("#reveal")).await.unwrap().click().await.unwrap();
    assert!(displayed(&client, "#access-token").await);
    let full = text(&client, "#access-token").await;
    assert!(full.starts_with(&masked[..4]) && full.len() > 20, "{full}");

    // Another sample call, added to the page by the script.
    client.find(Locator::Css("form.call-again:nth-of-type(2) button")).await.unwrap().click().await.unwrap();
    let added = text_when(&client, "#more-calls .api-step", |t| t.contains("demo@example.com")).await;
    assert!(added.contains("GET /sandbox/api/2.0/user/emails") && added.contains("demo@example.com"), "{added}");

    // Refresh: a new token, the old one shown beside it.
    client.find(Locator::Css("#refresh")).await.unwrap().click().await.unwrap();
    text_when(&client, "h1", |t| t == "Access token refreshed").await;
    let new_masked = text(&client, "#access-token-masked").await;
    assert_ne!(new_masked, masked);
    assert!(text(&client, "#rotation-note").await.contains("no longer works"));
    save_screenshot(&client, "refresh.png", 1100).await;

    // The authorization code grant through the sandbox's consent page.
    client.goto(&app.url("/")).await.unwrap();
    client.find(Locator::Css("#sign-in")).await.unwrap().click().await.unwrap();
    text_when(&client, "h1", |t| t.contains("Authorize")).await;
    save_screenshot(&client, "consent.png", 900).await;
    client.find(Locator::Css("#grant")).await.unwrap().click().await.unwrap();
    text_when(&client, "h1", |t| t == "Access token issued").await;
    assert!(text(&client, ".eyebrow").await.to_lowercase().contains("authorization code grant"));

    // A wrong password: the error page, with the sandbox's answer.
    sign_in(&client, &app, "demo", "not-the-password").await;
    text_when(&client, "h1", |t| t.contains("refused these credentials")).await;
    assert!(text(&client, ".status-code").await.contains("403"));
    assert!(text(&client, "main").await.contains("Invalid resource owner username/password"));
    save_screenshot(&client, "error.png", 1100).await;

    client.close().await.unwrap();
}
