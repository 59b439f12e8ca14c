//! The password grant through the built-in sandbox, as `cargo run` serves it.

use std::time::Duration;

use bitbucket_password_grant::sandbox::SandboxOptions;
use bitbucket_password_grant::settings::Settings;

use crate::helpers::*;

#[tokio::test]
async fn demo_credentials_show_the_token_and_the_sandbox_users_profile() {
    let app = spawn_sandbox_app().await;
    let page = app.login("demo", "demo").await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_html_page();
    page.assert_contains("Access token issued");
    page.assert_contains("<code>bearer</code>");
    page.assert_contains("(in 7200 s)");
    page.assert_contains(" UTC</time>");
    page.assert_contains("<li><code>account</code></li>");
    page.assert_contains("Demo User");
    page.assert_contains("557058:00000000-0000-4000-8000-00000000demo");
    page.assert_contains("/static/sandbox-avatar.svg");
    page.assert_contains("&#34;display_name&#34;: &#34;Demo User&#34;"); // the raw JSON, escaped
    page.assert_contains("Sandbox mode.");
    assert_eq!(page.headers["cache-control"], "no-store");
}

#[tokio::test]
async fn the_shown_access_token_works_against_the_sandbox_api() {
    let app = spawn_sandbox_app().await;
    let page = app.login("demo", "demo").await;
    let token = page.text_of("access-token");
    let user = app.send(app.client.get(app.url("/sandbox/api/2.0/user")).bearer_auth(&token)).await;
    assert_eq!(user.status, 200);
    assert!(user.body.contains("\"display_name\":\"Demo User\""));
}

#[tokio::test]
async fn wrong_password_shows_the_authorization_servers_error_as_403() {
    let app = spawn_sandbox_app().await;
    let page = app.login("demo", "not-the-password").await;
    assert_eq!(page.status, 403);
    page.assert_html_page();
    page.assert_contains("refused these credentials");
    page.assert_contains("invalid_request");
    page.assert_contains("Invalid resource owner username/password");
    page.assert_contains("401"); // the sandbox's own status, as Bitbucket's
    page.assert_lacks("not-the-password");
}

#[tokio::test]
async fn empty_password_shows_the_form_again_with_the_username_kept() {
    let app = spawn_sandbox_app().await;
    let page = app.login("alice", "").await;
    assert_eq!(page.status, 400);
    page.assert_html_page();
    page.assert_contains("Enter a password.");
    page.assert_contains(r#"value="alice""#);
    page.assert_contains(r#"action="/oauth-callback""#);
}

#[tokio::test]
async fn missing_username_is_400_and_the_password_is_not_echoed() {
    let app = spawn_sandbox_app().await;
    let page = app.post_form("/oauth-callback", &[("password", "hunter2-secret")]).await;
    assert_eq!(page.status, 400);
    page.assert_contains("Enter a username.");
    page.assert_lacks("hunter2-secret");
}

#[tokio::test]
async fn missing_both_fields_is_400() {
    let app = spawn_sandbox_app().await;
    let page = app.post_form("/oauth-callback", &[]).await;
    assert_eq!(page.status, 400);
    page.assert_contains("Enter a username and a password.");
}

#[tokio::test]
async fn whitespace_only_fields_are_400() {
    let app = spawn_sandbox_app().await;
    assert_eq!(app.login("   ", "demo").await.status, 400);
    assert_eq!(app.login("demo", "   ").await.status, 400);
}

#[tokio::test]
async fn json_instead_of_a_form_is_400_with_the_form() {
    let app = spawn_sandbox_app().await;
    let request =
        app.client.post(app.url("/oauth-callback")).json(&serde_json::json!({"username": "demo", "password": "demo"}));
    let page = app.send(request).await;
    assert_eq!(page.status, 400);
    page.assert_html_page();
    page.assert_contains("application/x-www-form-urlencoded");
    page.assert_contains(r#"action="/oauth-callback""#);
}

#[tokio::test]
async fn duplicate_fields_are_400() {
    let app = spawn_sandbox_app().await;
    let request = app
        .client
        .post(app.url("/oauth-callback"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=demo&username=eve&password=demo");
    let page = app.send(request).await;
    assert_eq!(page.status, 400);
    page.assert_contains("must appear once");
}

#[tokio::test]
async fn wrong_consumer_secret_is_502_telling_the_operator_what_to_check() {
    let mut settings = Settings::sandbox_defaults();
    settings.consumer_secret = "wrong-consumer-secret".to_owned().into();
    let app = spawn_app(settings).await;
    let page = app.login("demo", "demo").await;
    assert_eq!(page.status, 502);
    page.assert_html_page();
    page.assert_contains("unauthorized_client");
    page.assert_contains("Invalid OAuth client credentials");
    page.assert_contains("consumerKey and consumerSecret");
    page.assert_lacks("wrong-consumer-secret");
}

#[tokio::test]
async fn expired_access_token_still_shows_the_token_with_the_apis_error() {
    let options = SandboxOptions { access_token_lifetime: Duration::ZERO, ..SandboxOptions::default() };
    let app = spawn_app_with(Settings::sandbox_defaults(), options).await;
    let page = app.login("demo", "demo").await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_contains("Access token issued");
    page.assert_contains("The token worked, but the sample call failed.");
    page.assert_contains("Access token expired.");
    page.assert_contains("401");
}

#[tokio::test]
async fn sandbox_token_endpoint_answers_like_bitbucket() {
    let app = spawn_sandbox_app().await;
    let url = app.url("/sandbox/site/oauth2/access_token");
    let post = |auth: Option<(&str, &str)>, body: &'static str| {
        let mut request = app.client.post(&url).header("content-type", "application/x-www-form-urlencoded").body(body);
        if let Some((key, secret)) = auth {
            request = request.basic_auth(key, Some(secret));
        }
        request
    };
    let consumer = Some(("sandbox-consumer-key", "sandbox-consumer-secret"));

    let ok = app.send(post(consumer, "grant_type=password&username=demo&password=demo")).await;
    assert_eq!(ok.status, 200);
    let json: serde_json::Value = serde_json::from_str(&ok.body).unwrap();
    assert_eq!(json["token_type"], "bearer");
    assert_eq!(json["expires_in"], 7200);
    assert_eq!(json["state"], "password");
    assert!(json["refresh_token"].is_string());

    let cases = [
        (
            None,
            "grant_type=password&username=demo&password=demo",
            400,
            "unauthorized_client",
            "Requests must be authenticated using OAuth client credentials",
        ),
        (
            Some(("sandbox-consumer-key", "nope")),
            "grant_type=password&username=demo&password=demo",
            400,
            "unauthorized_client",
            "Invalid OAuth client credentials",
        ),
        (consumer, "username=demo&password=demo", 400, "invalid_grant", "Unsupported grant type: None"),
        (consumer, "grant_type=magic", 400, "invalid_grant", "Unsupported grant type: magic"),
        (
            consumer,
            "grant_type=password&username=demo&password=x",
            401,
            "invalid_request",
            "Invalid resource owner username/password",
        ),
    ];
    for (auth, body, status, error, description) in cases {
        let page = app.send(post(auth, body)).await;
        assert_eq!(page.status, status, "{body}");
        let json: serde_json::Value = serde_json::from_str(&page.body).unwrap();
        assert_eq!(json["error"], error, "{body}");
        assert_eq!(json["error_description"], description, "{body}");
    }
}

#[tokio::test]
async fn sandbox_api_checks_the_bearer_token() {
    let app = spawn_sandbox_app().await;
    let user = app.url("/sandbox/api/2.0/user");
    let missing = app.send(app.client.get(&user)).await;
    assert_eq!(missing.status, 401);
    assert!(missing.body.contains(r#""type":"error""#));
    let unknown = app.send(app.client.get(&user).bearer_auth("made-up")).await;
    assert_eq!(unknown.status, 401);
    // Bitbucket takes tokens only in the header since 2026: a query parameter is ignored.
    let query = app.send(app.client.get(format!("{user}?access_token=made-up"))).await;
    assert_eq!(query.status, 401);
    let gone = app.send(app.client.get(app.url("/sandbox/api/2.0/repositories?role=member")).bearer_auth("x")).await;
    assert_eq!(gone.status, 410);
}

#[tokio::test]
async fn the_wrong_password_page_offers_the_form_again_with_the_username() {
    let app = spawn_sandbox_app().await;
    let page = app.login("demo", "not-the-password").await;
    assert_eq!(page.status, 403);
    page.assert_contains(r#"id="retry-form""#);
    page.assert_contains(r#"name="username" type="text" value="demo""#);
    page.assert_lacks("not-the-password");
}
