//! The result page's API explorer: any path under the API's base with the same token, and nothing
//! else: refused paths never leave the app, and big answers are cut off.

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;

async fn explore(app: &TestApp, token: &str, path: &str) -> Page {
    app.post_form("/api-call", &[("access_token", token), ("path", path)]).await
}

#[tokio::test]
async fn the_explorer_calls_a_path_under_the_api_base_with_the_token() {
    let app = spawn_sandbox_app().await;
    let page = app.login("demo", "demo").await;
    page.assert_contains(r#"id="explorer""#);
    let answer = explore(&app, &page.hidden("access_token"), "/2.0/user/workspaces").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.assert_contains("GET /sandbox/api/2.0/user/workspaces HTTP/1.1");
    answer.assert_contains("demo-workspace");
}

#[tokio::test]
async fn the_explorer_refuses_paths_that_leave_the_api_and_sends_nothing() {
    let api = MockServer::start().await;
    let token_endpoint = answering(ResponseTemplate::new(200).set_body_json(json!({
        "access_token": "explorer-token-0123456789", "token_type": "bearer", "expires_in": 60
    })))
    .await;
    let mut settings = settings_for(&token_endpoint.uri());
    settings.api_url = bitbucket_password_grant::settings::parse_base_url(&format!("{}/api", api.uri())).unwrap();
    let app = spawn_app(settings).await;
    for path in [
        "//evil.example/x",
        "/../site/oauth2/access_token",
        "/2.0/%2e%2e/%2e%2e/x",
        "/2.0/..%2Fx",
        "/@evil.example",
        "x",
    ] {
        let page = explore(&app, "explorer-token-0123456789", path).await;
        assert_eq!(page.status, 400, "{path}: {}", page.body);
        page.assert_contains("not one the explorer sends the token to");
    }
    assert!(api.received_requests().await.unwrap().is_empty(), "a refused path reached the API");
}

#[tokio::test]
async fn a_huge_answer_is_cut_off_and_said_so() {
    let api = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/2.0/big"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(vec![b'x'; 3 * 1024 * 1024], "application/json"))
        .mount(&api)
        .await;
    let mut settings = settings_for(&api.uri());
    settings.api_url = bitbucket_password_grant::settings::parse_base_url(&format!("{}/api", api.uri())).unwrap();
    let app = spawn_app(settings).await;
    let page = explore(&app, "explorer-token-0123456789", "/2.0/big").await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_contains("larger than 1048576 bytes");
    assert!(page.body.len() < 200_000, "the page carried the answer: {} bytes", page.body.len());
}

/// A path or query typed into the explorer that carries a token the page knows: masked on the
/// page as everywhere else (once, the whole token showed six times: title, heading, request line,
/// both snippets).
#[tokio::test]
async fn a_known_token_typed_into_the_explorers_path_is_masked_everywhere_on_the_page() {
    let app = spawn_sandbox_app().await;
    let page = app.login("demo", "demo").await;
    let token = page.hidden("access_token");
    for path in [format!("/2.0/user?access_token={token}"), format!("/2.0/user/{token}/x?q={token}")] {
        let answer = explore(&app, &token, &path).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.assert_lacks(&token);
        answer.assert_lacks(&token[4..token.len() - 4]);
        answer.assert_contains("GET /sandbox/api/2.0/user");
    }
    // The consumer secret, which the page knows too, typed into the query.
    let answer = explore(&app, &token, "/2.0/user?secret=sandbox-consumer-secret").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.assert_lacks("sandbox-consumer-secret");
}
