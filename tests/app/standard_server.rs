//! Against a standard OAuth 2.0 server (wiremock), not Bitbucket: the request the app sends and
//! the answers it understands.

use wiremock::matchers::{body_string, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

/// `base64("test-client:test-client-secret")`
const BASIC: &str = "Basic dGVzdC1jbGllbnQ6dGVzdC1jbGllbnQtc2VjcmV0";

fn json(status: u16, body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

async fn profile_endpoint(server: &MockServer, token: &str) {
    Mock::given(method("GET"))
        .and(path("/2.0/user"))
        .and(header("authorization", format!("Bearer {token}").as_str()))
        .respond_with(json(200, serde_json::json!({"display_name": "Alice Example", "account_id": "acc-1"})))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn standard_server_gets_basic_auth_and_the_password_form_then_a_bearer_call() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/site/oauth2/access_token"))
        .and(header("authorization", BASIC))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string("grant_type=password&username=alice&password=s3cr%26t+x"))
        .respond_with(json(
            200,
            serde_json::json!({
                "access_token": "std-access-token", "token_type": "Bearer", "expires_in": 3600,
                "scope": "read:user write:repo"
            }),
        ))
        .expect(1)
        .mount(&server)
        .await;
    profile_endpoint(&server, "std-access-token").await;

    let app = spawn_app(settings_for(&server.uri())).await;
    let page = app.login("alice", "s3cr&t x").await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_contains("std-access-token");
    page.assert_contains("<code>Bearer</code>");
    page.assert_contains("<li><code>read:user</code></li><li><code>write:repo</code></li>");
    page.assert_contains("(in 3600 s)");
    page.assert_contains("Alice Example");
    page.assert_contains("<strong>Live mode");
    // No refresh token in this answer: the page says so rather than inventing one.
    page.assert_contains(r#"<dd id="refresh-token"><span class="none">none</span>"#);
}

#[tokio::test]
async fn bitbucket_classic_body_with_scopes_is_understood() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/site/oauth2/access_token"))
        .respond_with(json(
            200,
            serde_json::json!({
                "access_token": "classic-token", "scopes": "repository account", "expires_in": 7200,
                "refresh_token": "classic-refresh", "token_type": "bearer", "state": "password"
            }),
        ))
        .mount(&server)
        .await;
    profile_endpoint(&server, "classic-token").await;
    let app = spawn_app(settings_for(&server.uri())).await;
    let page = app.login("alice", "pw").await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_contains("<li><code>repository</code></li><li><code>account</code></li>");
    page.assert_contains("classic-refresh");
}

#[tokio::test]
async fn invalid_grant_from_a_standard_server_is_the_users_problem_403() {
    let server =
        answering(json(400, serde_json::json!({"error": "invalid_grant", "error_description": "Bad credentials"})))
            .await;
    let app = spawn_app(settings_for(&server.uri())).await;
    let page = app.login("alice", "wrong").await;
    assert_eq!(page.status, 403);
    page.assert_contains("invalid_grant");
    page.assert_contains("Bad credentials");
}

#[tokio::test]
async fn invalid_client_is_502_for_the_operator() {
    let server = answering(json(401, serde_json::json!({"error": "invalid_client"}))).await;
    let app = spawn_app(settings_for(&server.uri())).await;
    let page = app.login("alice", "pw").await;
    assert_eq!(page.status, 502);
    page.assert_contains("refused this app&#39;s consumer");
    page.assert_lacks("test-client-secret");
}

#[tokio::test]
async fn unsupported_grant_type_is_502_saying_the_server_lacks_the_grant() {
    let server = answering(json(400, serde_json::json!({"error": "unsupported_grant_type"}))).await;
    let app = spawn_app(settings_for(&server.uri())).await;
    let page = app.login("alice", "pw").await;
    assert_eq!(page.status, 502);
    page.assert_contains("does not offer the password grant");
}

#[tokio::test]
async fn api_failure_after_a_token_still_shows_the_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(json(200, serde_json::json!({"access_token": "tok-123456789", "token_type": "bearer"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/2.0/user"))
        .respond_with(json(
            403,
            serde_json::json!({"type": "error", "error": {
            "message": "Your credentials lack one or more required privilege scopes.",
            "detail": {"required": ["account"], "granted": ["repository"]}}}),
        ))
        .mount(&server)
        .await;
    let app = spawn_app(settings_for(&server.uri())).await;
    let page = app.login("alice", "pw").await;
    assert_eq!(page.status, 200);
    page.assert_contains("tok-123456789");
    page.assert_contains("The token worked, but the sample call failed.");
    page.assert_contains("lack one or more required privilege scopes");
    page.assert_contains("&#34;required&#34;");
}

#[tokio::test]
async fn api_answer_echoing_the_token_is_scrubbed_from_the_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(json(200, serde_json::json!({"access_token": "echoed-token-value", "token_type": "bearer"})))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(500).set_body_raw("bad token echoed-token-value here", "text/plain"))
        .mount(&server)
        .await;
    let app = spawn_app(settings_for(&server.uri())).await;
    let page = app.login("alice", "pw").await;
    assert_eq!(page.status, 200);
    page.assert_contains("bad token [redacted] here");
}
