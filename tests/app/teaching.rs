//! The result page teaches: every step's HTTP exchange with secrets masked, curl and Rust
//! snippets, the expiry, and the sample calls made again with the same token.

use crate::helpers::*;

/// The page's text between two markers, entities decoded.
fn section(page: &Page, from: &str, to: &str) -> String {
    let start = page.body.find(from).unwrap_or_else(|| panic!("no {from:?}"));
    let end = page.body[start..].find(to).map_or(page.body.len(), |i| start + i);
    unescape(&page.body[start..end])
}

#[tokio::test]
async fn token_exchange_is_shown_as_sent_with_the_password_and_secrets_masked() {
    let app = spawn_sandbox_app().await;
    let page = app.login("demo", "demo").await;
    assert_eq!(page.status, 200);
    let exchange = section(&page, r#"id="token-exchange""#, r#"class="snippets""#);
    for needle in [
        "POST /sandbox/site/oauth2/access_token HTTP/1.1",
        "Authorization: Basic c2Fu…",
        "Content-Type: application/x-www-form-urlencoded",
        "grant_type=password&username=demo&password=••••••••",
        "HTTP/1.1 200 OK",
        "content-type: application/json",
        r#""token_type": "bearer""#,
        r#""expires_in": 7200"#,
    ] {
        assert!(exchange.contains(needle), "{needle:?} missing from\n{exchange}");
    }
    let access_token = page.text_of("access-token");
    let refresh_token = page.hidden("refresh_token");
    assert!(!exchange.contains(&access_token), "full access token in the exchange");
    assert!(!exchange.contains(&refresh_token), "full refresh token in the exchange");
    assert!(exchange.contains(&format!(r#""access_token": "{}…"#, &access_token[..4])));
    // The consumer secret and its Basic form appear nowhere on the page.
    page.assert_lacks("sandbox-consumer-secret");
    page.assert_lacks("c2FuZGJveC1jb25zdW1lci1rZXk6c2FuZGJveC1jb25zdW1lci1zZWNyZXQ=");
    page.assert_lacks("password=demo");
}

#[tokio::test]
async fn a_long_password_is_masked_fully_never_by_its_ends() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({"error": "invalid_grant"})))
        .mount(&server)
        .await;
    let app = spawn_app(settings_for(&server.uri())).await;
    let page = app.login("alice", "correct-horse-battery-staple").await;
    assert_eq!(page.status, 403);
    page.assert_contains("password=••••••••");
    page.assert_lacks("corr");
    page.assert_lacks("aple");
}

#[tokio::test]
async fn api_exchange_shows_the_bearer_header_masked() {
    let app = spawn_sandbox_app().await;
    let page = app.login("demo", "demo").await;
    let token = page.text_of("access-token");
    let exchange = section(&page, r#"id="api-first-exchange""#, r#"class="snippets""#);
    assert!(exchange.contains("GET /sandbox/api/2.0/user HTTP/1.1"), "{exchange}");
    assert!(
        exchange.contains(&format!("Authorization: Bearer {}…{}", &token[..4], &token[token.len() - 4..])),
        "{exchange}"
    );
    assert!(!exchange.contains(&token));
    assert!(exchange.contains(r#""display_name": "Demo User""#));
}

#[tokio::test]
async fn snippets_use_environment_variables_and_the_token_module() {
    let app = spawn_sandbox_app().await;
    let page = app.login("demo", "demo").await;
    let curl = page.text_of("token-exchange-curl");
    assert!(curl.contains(&format!("curl -sS -X POST '{}/sandbox/site/oauth2/access_token'", app.address)), "{curl}");
    assert!(curl.contains(r#"-u "$BITBUCKET_CONSUMER_KEY:$BITBUCKET_CONSUMER_SECRET""#), "{curl}");
    assert!(curl.contains(r#"--data-urlencode "password=$BB_PASSWORD""#), "{curl}");
    let rust = page.text_of("token-exchange-rust");
    assert!(rust.contains("token::password_grant(&http,"), "{rust}");
    assert!(rust.contains(r#"std::env::var("BB_PASSWORD")?"#), "{rust}");
    let api_curl = page.text_of("api-first-exchange-curl");
    assert!(api_curl.contains("Authorization: Bearer $ACCESS_TOKEN"), "{api_curl}");
    // Copy buttons exist but stay hidden until the script shows them; the text is plain without it.
    page.assert_contains(r#"<button type="button" class="copy" data-copy="token-exchange-curl" hidden>Copy</button>"#);
    page.assert_contains(r#"<script src="/static/app.js" defer></script>"#);
}

#[tokio::test]
async fn expiry_is_an_absolute_time_with_data_for_the_countdown() {
    let app = spawn_sandbox_app().await;
    let page = app.login("demo", "demo").await;
    page.assert_contains(r#"<time id="expires-at" datetime=""#);
    let countdown = section(&page, r#"id="countdown""#, ">");
    assert!(countdown.contains("data-expires=\"20"), "{countdown}");
    page.assert_contains(r#"<ul class="scopes" id="scopes"><li><code>account</code></li><li><code>email</code></li>"#);
    let script = app.get("/static/app.js").await;
    assert_eq!(script.status, 200);
    assert!(script.content_type().contains("javascript"));
}

#[tokio::test]
async fn each_sample_call_can_be_made_again_with_the_same_token() {
    let app = spawn_sandbox_app().await;
    let page = app.login("demo", "demo").await;
    let token = page.text_of("access-token");
    for (call, needle) in [
        ("/2.0/user", "Demo User"),
        ("/2.0/user/emails", "demo@example.com"),
        ("/2.0/user/workspaces", "demo-workspace"),
        ("/2.0/repositories?role=member", "Bitbucket removed this endpoint in 2026"),
    ] {
        page.assert_contains(&format!(r#"<input type="hidden" name="call" value="{call}">"#));
        let again = app.post_form("/api-call", &[("access_token", &token), ("call", call)]).await;
        assert_eq!(again.status, 200, "{call}: {}", again.body);
        again.assert_html_page();
        again.assert_contains(needle);
        again.assert_contains(&format!("GET /sandbox/api{} HTTP/1.1", call.replace('&', "&amp;")));
        again.assert_lacks(&token);
        assert_eq!(again.headers["cache-control"], "no-store");
    }
}

#[tokio::test]
async fn the_script_gets_the_call_as_a_fragment_without_the_layout() {
    let app = spawn_sandbox_app().await;
    let page = app.login("demo", "demo").await;
    let token = page.text_of("access-token");
    let request = app
        .client
        .post(app.url("/api-call"))
        .header("x-fragment", "1")
        .form(&[("access_token", token.as_str()), ("call", "/2.0/user/emails")]);
    let fragment = app.send(request).await;
    assert_eq!(fragment.status, 200);
    assert!(!fragment.body.contains("<!doctype html>"));
    assert!(fragment.body.contains(r#"<section class="api-step" id="api-again">"#));
    assert!(fragment.body.contains("demo@example.com"));
}

#[tokio::test]
async fn api_call_refuses_anything_but_the_offered_calls() {
    let app = spawn_sandbox_app().await;
    for form in [
        vec![("access_token", "x"), ("call", "https://evil.example/steal")],
        vec![("access_token", "x"), ("call", "/2.0/user/../../site/oauth2/access_token")],
        vec![("access_token", "x")],
        vec![("call", "/2.0/user")],
    ] {
        let page = app.post_form("/api-call", &form).await;
        assert_eq!(page.status, 400, "{form:?}");
        page.assert_html_page();
    }
}

#[tokio::test]
async fn error_pages_show_the_failed_exchange() {
    let app = spawn_sandbox_app().await;
    let page = app.login("demo", "wrong-password-here").await;
    assert_eq!(page.status, 403);
    let exchange = section(&page, r#"id="failed-exchange""#, r#"class="snippets""#);
    assert!(exchange.contains("password=••••••••"), "{exchange}");
    assert!(exchange.contains("HTTP/1.1 401 Unauthorized"), "{exchange}");
    assert!(exchange.contains("Invalid resource owner username/password"), "{exchange}");
    page.assert_lacks("wrong-password-here");
}

#[tokio::test]
async fn jwt_tokens_are_decoded_with_dates_and_opaque_ones_are_said_to_be_opaque() {
    use base64::Engine;
    let part = |json: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json.to_string());
    let header = part(serde_json::json!({"alg": "RS256", "kid": "test-key"}));
    let access = format!("{header}.{}.c2ln", part(serde_json::json!({"sub": "alice", "exp": 1_900_000_000})));
    let id_token = format!("{header}.{}.c2ln", part(serde_json::json!({"sub": "alice", "aud": "test-client"})));
    let server = answering(wiremock::ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "access_token": access, "token_type": "Bearer", "expires_in": 300, "id_token": id_token
    })))
    .await;
    let app = spawn_app(settings_for(&server.uri())).await;
    let page = app.login("alice", "pw").await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_contains("The access token is a JWT");
    page.assert_contains("2030-03-17 17:46:40 UTC");
    page.assert_contains("The <code>id_token</code> (OpenID Connect)");
    page.assert_contains("&#34;aud&#34;: &#34;test-client&#34;");
    let sandbox = spawn_sandbox_app().await.login("demo", "demo").await;
    sandbox.assert_contains(r#"id="opaque-token""#);
    sandbox.assert_lacks("The access token is a JWT");
}

#[tokio::test]
async fn in_sandbox_mode_the_snippets_come_with_their_export_lines_and_the_refresh_token_can_be_revealed() {
    let app = spawn_sandbox_app().await;
    let page = app.login("demo", "demo").await;
    // The configured consumer's secret stays off the page: the line reads it from config.json.
    page.assert_contains("export BITBUCKET_CONSUMER_SECRET=&#34;$(sed -n");
    page.assert_lacks("sandbox-consumer-secret");
    let case =
        app.post_form("/oauth-callback", &[("username", "demo"), ("password", "demo"), ("case", "no-email")]).await;
    case.assert_contains("export BITBUCKET_CONSUMER_SECRET=sandbox-no-email-secret");
    page.assert_contains("export BB_PASSWORD=demo");
    page.assert_contains(&format!("export REFRESH_TOKEN={}", page.hidden("refresh_token")));
    page.assert_contains(r#"id="refresh-token-full""#);
    let client_credentials = app.post_form("/client-credentials", &[]).await;
    client_credentials.assert_lacks("BB_PASSWORD=");
    client_credentials.assert_lacks("the password shows as");
}
