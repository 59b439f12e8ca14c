//! The device authorization grant (RFC 8628) and introspection (RFC 7662) through the app's routes:
//! against the built-in standard server (one setting away), against a fake that answers `slow_down`,
//! and against the Bitbucket sandbox, which has no device flow.

use std::time::{Duration, Instant};

use bitbucket_password_grant::settings::{SandboxServer, Settings};
use serde_json::json;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

/// The app with the built-in standard server, as `SANDBOX_SERVER=standard cargo run` starts it.
async fn spawn_standard_sandbox_app() -> TestApp {
    let mut settings = Settings::sandbox_defaults();
    settings.sandbox_server = SandboxServer::Standard;
    spawn_app(settings).await
}

fn form_of(page: &Page) -> Vec<(String, String)> {
    page.hidden_fields()
}

fn pairs(fields: &[(String, String)]) -> Vec<(&str, &str)> {
    fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_in_standard_server_teaches_the_device_flow_and_introspection_offline() {
    let app = spawn_standard_sandbox_app().await;
    let start = app.get("/").await;
    assert_eq!(start.status, 200);
    start.assert_contains("the built-in standard server");
    start.assert_contains("discovered: RFC 8414 metadata");
    start.assert_contains(r#"id="start-device""#);
    assert!(!start.body.to_ascii_lowercase().contains("bitbucket"), "{}", start.body);

    // A and B, then C: the codes, a link and a QR code; the device code never in the text.
    let device = app.post_form("/device", &[]).await;
    assert_eq!(device.status, 200, "{}", device.body);
    let user_code = device.text_of("user-code");
    let device_code = device.hidden("device_code");
    assert_eq!(device.body.matches(&device_code).count(), 1, "the device code shows beyond its hidden field");
    device.assert_contains(r#"id="qr-code""#);
    let complete = unescape(&device.hidden("verification_uri_complete"));
    assert!(complete.ends_with(&format!("user_code={user_code}")), "{complete}");

    // E: the first poll waits for the interval the server set, and hears authorization_pending.
    let started = Instant::now();
    let pending = app.post_form("/device/poll", &pairs(&form_of(&device))).await;
    assert!(started.elapsed() >= Duration::from_secs(4), "polled after {:?}", started.elapsed());
    assert_eq!(pending.headers.get("x-device").unwrap(), "pending", "{}", pending.body);
    pending.assert_contains("authorization_pending");

    // D, then F and G: approved on the verification page; the next poll brings the token.
    approve_at_standard_server(&app.client, &complete, &user_code).await;
    let page = app.post_form("/device/poll", &pairs(&form_of(&pending))).await;
    assert_eq!(page.headers.get("x-device").unwrap(), "token", "{}", page.body);
    page.assert_contains("device authorization grant");
    assert_eq!(page.text_of("profile-name"), "Demo User");
    page.assert_contains("at+jwt");

    // Introspection before and after revocation.
    let token = page.hidden("access_token");
    let active = app.post_form("/introspect", &[("access_token", &token)]).await;
    assert_eq!(active.text_of("introspection-active"), "active: true");
    let revoked = app.post_form("/revoke", &[("access_token", &token)]).await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(revoked.text_of("introspection-active"), "active: false");
    revoked.assert_contains("invalid_token");
}

#[tokio::test]
async fn slow_down_adds_five_seconds_to_the_interval_and_each_poll_is_on_the_page() {
    let server = MockServer::start().await;
    let base = server.uri();
    let metadata = json!({
        "issuer": base, "token_endpoint": format!("{base}/token"),
        "device_authorization_endpoint": format!("{base}/device_authorization"),
    });
    Mock::given(method("GET"))
        .and(path("/.well-known/oauth-authorization-server"))
        .respond_with(ResponseTemplate::new(200).set_body_json(metadata))
        .mount(&server)
        .await;
    let codes = json!({"device_code": "dc-0123456789", "user_code": "WDJB-MJHT", "verification_uri": "javascript:alert(1)",
        "expires_in": 600, "interval": 1});
    Mock::given(method("POST"))
        .and(path("/device_authorization"))
        .respond_with(ResponseTemplate::new(200).set_body_json(codes))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("device_code=dc-0123456789"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "slow_down"})))
        .expect(1)
        .mount(&server)
        .await;
    let mut settings = settings_for(&base);
    settings.issuer = Some(url::Url::parse(&base).unwrap());
    let app = spawn_app(settings).await;
    let device = app.post_form("/device", &[]).await;
    assert_eq!(device.status, 200, "{}", device.body);
    // A verification URI that is not http(s) is shown, never linked.
    device.assert_lacks(r#"href="javascript:"#);
    let polled = app.post_form("/device/poll", &pairs(&form_of(&device))).await;
    assert_eq!(polled.headers.get("x-device-interval").unwrap(), "6", "{}", polled.body);
    polled.assert_contains("slow_down");
    polled.assert_contains("to 6 s");
    assert_eq!(polled.hidden("interval"), "6");
}

#[tokio::test]
async fn the_bitbucket_sandbox_has_no_device_flow_and_says_what_to_use_instead() {
    let app = spawn_sandbox_app().await;
    let start = app.get("/").await;
    start.assert_contains(r#"id="no-device-flow""#);
    start.assert_lacks(r#"id="start-device""#);
    let page = app.post_form("/device", &[]).await;
    assert_eq!(page.status, 404, "{}", page.body);
    page.assert_contains("Bitbucket has no device authorization grant");
    page.assert_contains("API token");
}
