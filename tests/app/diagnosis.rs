//! Every Bitbucket answer in the project's notes, served by a fake server with Bitbucket's exact
//! bodies: each is recognised and explained, naming the grant, the endpoint and the status, and
//! showing no secret.

use serde_json::json;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

const SECRETS: [&str; 2] = ["test-client-secret", "the-users-password"];

fn token_endpoint(server: &MockServer) -> String {
    format!("{}/site/oauth2/access_token", server.uri())
}

async fn token_answers(server: &MockServer, grant_type: &str, template: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path("/site/oauth2/access_token"))
        .and(body_string_contains(format!("grant_type={grant_type}")))
        .respond_with(template)
        .mount(server)
        .await;
}

fn explained(page: &Page, status: u16, grant: &str, endpoint: &str, upstream_status: u16, needles: &[&str]) {
    assert_eq!(page.status, status, "{}", page.body);
    page.assert_html_page();
    page.assert_contains(grant);
    page.assert_contains(endpoint);
    page.assert_contains(&format!("HTTP {upstream_status}"));
    for needle in needles {
        page.assert_contains(needle);
    }
    for secret in SECRETS {
        page.assert_lacks(secret);
    }
}

#[tokio::test]
async fn password_grant_refused_by_bitbucket_explains_the_2022_removal() {
    let server = MockServer::start().await;
    let body = json!({"error_description": "Invalid resource owner username/password", "error": "invalid_request"});
    token_answers(&server, "password", ResponseTemplate::new(401).set_body_json(body)).await;
    let app = spawn_app(settings_for(&server.uri())).await;
    let page = app.login("alice", "the-users-password").await;
    explained(
        &page,
        403,
        "password grant",
        &token_endpoint(&server),
        401,
        &[
            "bitbucket.org no longer accepts the password grant",
            "2022-03-01",
            "two-step verification or single sign-on",
            "Sign in with Bitbucket",
            "API token",
        ],
    );
}

#[tokio::test]
async fn unauthorized_client_says_check_the_consumer_key_and_secret() {
    let server = MockServer::start().await;
    let body = json!({"error_description": "Invalid OAuth client credentials", "error": "unauthorized_client"});
    token_answers(&server, "password", ResponseTemplate::new(400).set_body_json(body)).await;
    let app = spawn_app(settings_for(&server.uri())).await;
    let page = app.login("alice", "the-users-password").await;
    explained(
        &page,
        502,
        "password grant",
        &token_endpoint(&server),
        400,
        &["refused this app&#39;s consumer", "consumerKey and consumerSecret"],
    );
}

#[tokio::test]
async fn unauthenticated_client_is_the_consumers_problem_too() {
    let server = MockServer::start().await;
    let body = json!({"error_description": "Requests must be authenticated using OAuth client credentials",
        "error": "unauthorized_client"});
    token_answers(&server, "client_credentials", ResponseTemplate::new(400).set_body_json(body)).await;
    let app = spawn_app(settings_for(&server.uri())).await;
    let page = app.post_form("/client-credentials", &[]).await;
    explained(
        &page,
        502,
        "client credentials grant",
        &token_endpoint(&server),
        400,
        &["consumerKey and consumerSecret"],
    );
}

#[tokio::test]
async fn client_credentials_on_a_public_consumer_says_mark_it_private() {
    let server = MockServer::start().await;
    let body = json!({"error_description": "Cannot use client_credentials with a consumer marked as \"public\". \
        Calls for auto generated consumers should use urn:bitbucket:oauth2:jwt instead.", "error": "invalid_grant"});
    token_answers(&server, "client_credentials", ResponseTemplate::new(400).set_body_json(body)).await;
    let app = spawn_app(settings_for(&server.uri())).await;
    let page = app.post_form("/client-credentials", &[]).await;
    explained(
        &page,
        502,
        "client credentials grant",
        &token_endpoint(&server),
        400,
        &["Client credentials need a private consumer", "This is a private consumer"],
    );
}

#[tokio::test]
async fn missing_callback_url_says_which_callback_to_set() {
    let server = MockServer::start().await;
    let body =
        json!({"error": "invalid_request", "error_description": "No callback uri defined for the OAuth client."});
    token_answers(&server, "authorization_code", ResponseTemplate::new(400).set_body_json(body)).await;
    let app = spawn_app(settings_for(&server.uri())).await;
    let start = app.get("/authorize").await;
    assert_eq!(start.status, 303);
    let location = start.location();
    assert!(
        location.starts_with(&format!(
            "{}/site/oauth2/authorize?client_id=test-client&response_type=code&state=",
            server.uri()
        )),
        "{location}"
    );
    let state = query_param(location, "state").unwrap();
    let cookie = start.set_cookie("oauth_state").unwrap();
    let request =
        app.client.get(app.url(&format!("/oauth-callback?code=the-code&state={state}"))).header("cookie", cookie);
    let page = app.send(request).await;
    explained(
        &page,
        502,
        "authorization code grant",
        &token_endpoint(&server),
        400,
        &["The consumer has no callback URL", "http://localhost:3000/oauth-callback"],
    );
}

#[tokio::test]
async fn html_where_json_was_expected_is_explained() {
    let server = MockServer::start().await;
    let html = "<!DOCTYPE html><html><head><title>Log in | Bitbucket</title></head></html>";
    token_answers(&server, "password", ResponseTemplate::new(200).set_body_raw(html, "text/html; charset=utf-8")).await;
    let app = spawn_app(settings_for(&server.uri())).await;
    let page = app.login("alice", "the-users-password").await;
    explained(
        &page,
        502,
        "password grant",
        &token_endpoint(&server),
        200,
        &["answered with an HTML page", "not authenticated with HTTP Basic", "Log in | Bitbucket"],
    );
}

#[tokio::test]
async fn missing_grant_type_answer_says_the_grant_is_not_offered() {
    let server = MockServer::start().await;
    let body = json!({"error_description": "Unsupported grant type: None", "error": "invalid_grant"});
    token_answers(&server, "password", ResponseTemplate::new(400).set_body_json(body)).await;
    let app = spawn_app(settings_for(&server.uri())).await;
    let page = app.login("alice", "the-users-password").await;
    explained(&page, 502, "password grant", &token_endpoint(&server), 400, &["does not offer the password grant"]);
}

#[tokio::test]
async fn token_endpoint_rate_limit_is_explained() {
    let server = MockServer::start().await;
    token_answers(&server, "password", ResponseTemplate::new(429).set_body_raw("Rate limit exceeded", "text/plain"))
        .await;
    let app = spawn_app(settings_for(&server.uri())).await;
    let page = app.login("alice", "the-users-password").await;
    // A token endpoint's 429 is not the API's hourly rate limit: the page says what it knows.
    explained(&page, 429, "password grant", &token_endpoint(&server), 429, &["too many requests", "gave no reason"]);
    page.assert_lacks("1,000");
}

#[tokio::test]
async fn used_refresh_token_says_tokens_rotate() {
    let server = MockServer::start().await;
    let body = json!({"error": "invalid_request", "error_description": "Invalid refresh_token"});
    token_answers(&server, "refresh_token", ResponseTemplate::new(400).set_body_json(body)).await;
    let app = spawn_app(settings_for(&server.uri())).await;
    let page = app
        .post_form("/refresh", &[("refresh_token", "old-refresh-token-value"), ("access_token", "old-access")])
        .await;
    explained(&page, 400, "refresh token grant", &token_endpoint(&server), 400, &["rotates refresh tokens", "newest"]);
    page.assert_lacks("old-refresh-token-value");
}

/// A token endpoint that succeeds, and an API that answers `/2.0/user` with `api`.
async fn api_answers(api: ResponseTemplate, refresh: bool) -> (TestApp, Page) {
    let server = MockServer::start().await;
    let mut body = json!({"access_token": "api-test-access-token", "token_type": "bearer", "expires_in": 7200, "scope": "repository"});
    if refresh {
        body["refresh_token"] = json!("api-test-refresh-token");
    }
    token_answers(&server, "password", ResponseTemplate::new(200).set_body_json(body)).await;
    Mock::given(method("GET")).and(path("/2.0/user")).respond_with(api).mount(&server).await;
    let app = spawn_app(settings_for(&server.uri())).await;
    let page = app.login("alice", "the-users-password").await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_contains("The token worked, but the sample call failed.");
    page.assert_contains("/2.0/user");
    (app, page)
}

#[tokio::test]
async fn expired_access_token_on_the_api_says_refresh() {
    let body = json!({"type": "error", "error": {"message": "Access token expired."}});
    let (_, page) = api_answers(ResponseTemplate::new(401).set_body_json(body), true).await;
    page.assert_contains("HTTP 401: the access token has expired");
    page.assert_contains("Use &#34;Refresh the access token&#34; below");
}

#[tokio::test]
async fn missing_scope_lists_required_and_granted() {
    let body = json!({"type": "error", "error": {
        "message": "Your credentials lack one or more required privilege scopes.",
        "detail": {"required": ["account"], "granted": ["repository"]}}});
    let (_, page) = api_answers(ResponseTemplate::new(403).set_body_json(body), false).await;
    page.assert_contains("Required: account; granted: repository");
    page.assert_contains("Add the missing permissions to the consumer");
}

#[tokio::test]
async fn api_rate_limit_is_explained() {
    let body = json!({"type": "error", "error": {"message": "Rate limit for this resource has been exceeded"}});
    let (_, page) = api_answers(ResponseTemplate::new(429).set_body_json(body), false).await;
    page.assert_contains("HTTP 429: the rate limit was reached");
    page.assert_contains("1,000 requests an hour");
}

#[tokio::test]
async fn removed_endpoint_410_is_explained() {
    let body = json!({"type": "error", "error": {"message": "This API is no longer available."}});
    let (_, page) = api_answers(ResponseTemplate::new(410).set_body_json(body), false).await;
    page.assert_contains("HTTP 410: Bitbucket removed this endpoint in 2026");
    page.assert_contains("/2.0/user/workspaces");
}
