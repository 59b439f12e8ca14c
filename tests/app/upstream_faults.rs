//! Broken, slow and hostile upstreams: each gets a 502 or 504 page that names the problem, and
//! the app keeps serving.

use std::time::Duration;

use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

/// Logs in against a token endpoint at `base` and returns the page.
async fn login_against(base: &str) -> (TestApp, Page) {
    let app = spawn_app(settings_for(base)).await;
    let page = app.login("alice", "upstream-fault-password").await;
    (app, page)
}

async fn assert_fault(page: &Page, app: &TestApp, status: u16, needles: &[&str]) {
    assert_eq!(page.status, status, "{}", page.body);
    page.assert_html_page();
    for needle in needles {
        page.assert_contains(needle);
    }
    page.assert_lacks("upstream-fault-password");
    page.assert_lacks("test-client-secret");
    app.assert_alive().await;
}

#[tokio::test]
async fn refused_connection_is_502_cannot_be_reached() {
    let dead = refused_address().await;
    let (app, page) = login_against(&format!("http://{dead}")).await;
    assert_fault(&page, &app, 502, &["cannot be reached", &dead.to_string()]).await;
}

#[tokio::test]
async fn slow_token_endpoint_is_504() {
    let server = answering(ResponseTemplate::new(200).set_delay(Duration::from_secs(3))).await;
    let (app, page) = login_against(&server.uri()).await;
    assert_fault(&page, &app, 504, &["too slow"]).await;
}

#[tokio::test]
async fn accept_then_hang_is_504() {
    let address = spawn_raw_server(RawAnswer::Hang).await;
    let (app, page) = login_against(&format!("http://{address}")).await;
    assert_fault(&page, &app, 504, &["too slow"]).await;
}

#[tokio::test]
async fn reset_mid_body_is_502() {
    let address = spawn_raw_server(RawAnswer::ResetMidBody).await;
    let (app, page) = login_against(&format!("http://{address}")).await;
    assert_fault(&page, &app, 502, &["cannot be reached"]).await;
}

#[tokio::test]
async fn server_error_500_is_502() {
    let server = answering(ResponseTemplate::new(500).set_body_string("Internal Server Error")).await;
    let (app, page) = login_against(&server.uri()).await;
    assert_fault(&page, &app, 502, &["not a token", "HTTP 500"]).await;
}

#[tokio::test]
async fn html_page_instead_of_json_is_502_naming_html() {
    let body = "<html><body><h1>Log in to continue</h1></body></html>";
    let server = answering(ResponseTemplate::new(200).set_body_raw(body, "text/html; charset=utf-8")).await;
    let (app, page) = login_against(&server.uri()).await;
    assert_fault(&page, &app, 502, &["an HTML page", "Log in to continue"]).await;
}

#[tokio::test]
async fn maintenance_503_html_is_502() {
    let server =
        answering(ResponseTemplate::new(503).set_body_raw("<html>Down for maintenance</html>", "text/html")).await;
    let (app, page) = login_against(&server.uri()).await;
    assert_fault(&page, &app, 502, &["an HTML page", "503"]).await;
}

#[tokio::test]
async fn malformed_json_is_502() {
    let server = answering(ResponseTemplate::new(200).set_body_raw("{\"access_token\": ", "application/json")).await;
    let (app, page) = login_against(&server.uri()).await;
    assert_fault(&page, &app, 502, &["not valid JSON"]).await;
}

#[tokio::test]
async fn json_without_access_token_is_502() {
    let server = answering(ResponseTemplate::new(200).set_body_json(serde_json::json!({"token_type": "bearer"}))).await;
    let (app, page) = login_against(&server.uri()).await;
    assert_fault(&page, &app, 502, &["access_token"]).await;
}

#[tokio::test]
async fn empty_body_is_502() {
    let server = answering(ResponseTemplate::new(200)).await;
    let (app, page) = login_against(&server.uri()).await;
    assert_fault(&page, &app, 502, &["empty body"]).await;
}

#[tokio::test]
async fn ten_megabyte_body_is_cut_off_and_502() {
    let huge = format!("{{\"access_token\": \"{}\"}}", "x".repeat(10 * 1024 * 1024));
    let server = answering(ResponseTemplate::new(200).set_body_raw(huge, "application/json")).await;
    let (app, page) = login_against(&server.uri()).await;
    assert_fault(&page, &app, 502, &["larger than 65536 bytes"]).await;
}

#[tokio::test]
async fn redirect_to_another_host_is_502_and_not_followed() {
    let elsewhere = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).expect(0).mount(&elsewhere).await;
    let target = format!("{}/steal", elsewhere.uri());
    let server = answering(ResponseTemplate::new(307).insert_header("location", target.as_str())).await;
    let (app, page) = login_against(&server.uri()).await;
    assert_fault(&page, &app, 502, &["redirect", &target]).await;
    // `elsewhere` verifies on drop that it got no request.
}
