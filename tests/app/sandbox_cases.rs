//! The sandbox's cases, through the real server, as a learner picks them on the start page:
//! two-step verification, a token that expires, a rate limit, a missing scope.

use std::time::Duration;

use bitbucket_password_grant::sandbox::SandboxOptions;
use bitbucket_password_grant::settings::Settings;

use crate::helpers::*;

/// The password grant with `case` chosen in the start page's form.
async fn login_as(app: &TestApp, username: &str, case: &str) -> Page {
    app.post_form("/oauth-callback", &[("username", username), ("password", "demo"), ("case", case)]).await
}

/// The result page's "call again" form for `call`, as the page posts it.
async fn call_again(app: &TestApp, page: &Page, call: &str) -> Page {
    let form =
        [("access_token", page.hidden("access_token")), ("call", call.to_owned()), ("case", page.hidden("case"))];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    app.post_form("/api-call", &form).await
}

#[tokio::test]
async fn a_two_step_user_is_refused_the_password_grant_as_bitbucket_did_and_the_page_says_why() {
    let app = spawn_sandbox_app().await;
    let page = login_as(&app, "demo-2fa", "two-step").await;
    assert_eq!(page.status, 403, "{}", page.body);
    page.assert_contains("Invalid resource owner username/password");
    page.assert_contains("two-step verification");
    page.assert_contains("demo-2fa is such an account");
}

#[tokio::test]
async fn a_two_step_user_signs_in_with_the_authorization_code_grant_and_its_second_step() {
    let app = spawn_sandbox_app().await;
    let start = app.get("/authorize?case=two-step").await;
    let cookie = start.set_cookie("oauth_state").unwrap();
    let sign_in = app.get(start.location()).await;
    let mut form = sign_in.hidden_fields();
    form.extend([("username".to_owned(), "demo-2fa".to_owned()), ("password".to_owned(), "demo".to_owned())]);
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let second_step = app.post_form("/sandbox/site/oauth2/authorize", &form).await;
    second_step.assert_contains("Two-step verification");
    second_step.assert_lacks("Grant access");
    let back = sandbox_authorize_as(&app, start.location(), "demo-2fa", "grant").await;
    let page = app.send(app.client.get(app.url(&back)).header("cookie", &cookie)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_contains("Access token issued");
    page.assert_contains("Sandbox case: A user with two-step verification");
}

#[tokio::test]
async fn a_short_lived_token_expires_the_api_says_so_and_a_refresh_cures_it() {
    let options = SandboxOptions { short_token_lifetime: Duration::from_secs(1), ..SandboxOptions::default() };
    let app = spawn_app_with(Settings::sandbox_defaults(), options).await;
    let page = login_as(&app, "demo", "short-lived").await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_contains("Sandbox case: Tokens that expire in 60 seconds");
    page.assert_contains("(in 1 s)");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let expired = call_again(&app, &page, "/2.0/user").await;
    expired.assert_contains("HTTP/1.1 401 Unauthorized");
    expired.assert_contains("Access token expired.");
    let form = [
        ("refresh_token", page.hidden("refresh_token")),
        ("access_token", page.hidden("access_token")),
        ("case", "short-lived".to_owned()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refreshed = app.post_form("/refresh", &form).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    refreshed.assert_contains("Demo User");
    refreshed.assert_contains("Sandbox case: Tokens that expire in 60 seconds");
}

#[tokio::test]
async fn the_rate_limited_consumer_gets_429_after_a_few_calls_and_the_page_explains_it() {
    let app = spawn_sandbox_app().await;
    let page = login_as(&app, "demo", "rate-limited").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let mut last = None;
    for _ in 0..bitbucket_password_grant::sandbox::RATE_LIMIT_PER_MINUTE {
        last = Some(call_again(&app, &page, "/2.0/user").await);
    }
    let limited = last.unwrap();
    limited.assert_contains("HTTP/1.1 429 Too Many Requests");
    limited.assert_contains("retry-after");
    limited.assert_contains("the rate limit was reached");
}

#[tokio::test]
async fn the_consumer_without_email_gets_403_naming_required_and_granted_scopes() {
    let app = spawn_sandbox_app().await;
    let page = login_as(&app, "demo", "no-email").await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_contains("<li><code>account</code></li>");
    let emails = call_again(&app, &page, "/2.0/user/emails").await;
    emails.assert_contains("HTTP/1.1 403 Forbidden");
    emails.assert_contains("Required: email; granted: account, repository");
}

#[tokio::test]
async fn the_start_page_offers_every_case_in_sandbox_mode_only() {
    let app = spawn_sandbox_app().await;
    let page = app.get("/").await;
    for case in ["two-step", "short-lived", "rate-limited", "no-email"] {
        page.assert_contains(&format!(r#"<option value="{case}">"#));
        page.assert_contains(&format!("/authorize?case={case}"));
    }
    let live = spawn_app(settings_for("https://auth.example.test")).await.get("/").await;
    live.assert_lacks(r#"name="case""#);
}
