//! The grants bitbucket.org accepts today, end to end on the sandbox: authorization code
//! (redirects followed by hand, cookie carried by hand), client credentials, refresh with rotation.

use std::time::Duration;

use bitbucket_password_grant::sandbox::SandboxOptions;
use bitbucket_password_grant::settings::Settings;

use crate::helpers::*;

/// Starts a sign-in: returns the state cookie (`oauth_state=…`) and the consent page's URL.
async fn start_sign_in(app: &TestApp) -> (String, String) {
    let start = app.get("/authorize").await;
    assert_eq!(start.status, 303);
    let cookie = start.set_cookie("oauth_state").expect("a state cookie");
    let header = start.set_cookie_header("oauth_state").unwrap();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/oauth-callback", "Max-Age=600"] {
        assert!(header.contains(attribute), "{attribute} missing: {header}");
    }
    (cookie, start.location().to_owned())
}

/// Presses Grant or Deny on the sandbox's consent page; returns the callback path it redirects to.
async fn decide(app: &TestApp, consent_url: &str, decision: &str) -> String {
    sandbox_authorize(app, consent_url, decision).await
}

async fn callback(app: &TestApp, path: &str, cookie: Option<&str>) -> Page {
    let mut request = app.client.get(app.url(path));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    app.send(request).await
}

#[tokio::test]
async fn authorization_code_flow_completes_on_the_sandbox() {
    let app = spawn_sandbox_app().await;
    let (cookie, consent_url) = start_sign_in(&app).await;
    assert!(consent_url.starts_with("/sandbox/site/oauth2/authorize?"), "{consent_url}");
    assert_eq!(query_param(&consent_url, "client_id").as_deref(), Some("sandbox-consumer-key"));
    assert_eq!(query_param(&consent_url, "response_type").as_deref(), Some("code"));
    let state = query_param(&consent_url, "state").unwrap();
    assert!(state.len() >= 32, "state too short: {state}");

    let back = decide(&app, &consent_url, "grant").await;
    assert!(back.starts_with("/oauth-callback?code="), "{back}");
    assert_eq!(query_param(&back, "state"), Some(state));

    let page = callback(&app, &back, Some(&cookie)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_contains("authorization code grant");
    page.assert_contains("Access token issued");
    page.assert_contains("Demo User");
    page.assert_contains(r#"id="refresh""#);
    assert_eq!(page.headers["cache-control"], "no-store");
    // The state is spent: the cookie is cleared.
    let cleared = page.set_cookie_header("oauth_state").expect("the cookie is cleared");
    assert!(cleared.contains("Max-Age=0") || cleared.contains("1970"), "{cleared}");
}

#[tokio::test]
async fn reused_code_is_refused_with_a_clear_400() {
    let app = spawn_sandbox_app().await;
    let (cookie, consent_url) = start_sign_in(&app).await;
    let back = decide(&app, &consent_url, "grant").await;
    assert_eq!(callback(&app, &back, Some(&cookie)).await.status, 200);
    // A reload sends the same state again: refused by the app before the code is even tried.
    let reload = callback(&app, &back, Some(&cookie)).await;
    assert_eq!(reload.status, 400, "{}", reload.body);
    reload.assert_contains("This sign-in has already been completed");
    // A browser reloads without the cookie (the first visit cleared it): told the same.
    let browser_reload = callback(&app, &back, None).await;
    assert_eq!(browser_reload.status, 400, "{}", browser_reload.body);
    browser_reload.assert_contains("This sign-in has already been completed");
    // The same code under a fresh sign-in's state reaches the server, which refuses it.
    let (fresh_cookie, fresh_consent) = start_sign_in(&app).await;
    let fresh_state = query_param(&fresh_consent, "state").unwrap();
    let replay = format!("/oauth-callback?code={}&state={fresh_state}", query_param(&back, "code").unwrap());
    let again = callback(&app, &replay, Some(&fresh_cookie)).await;
    assert_eq!(again.status, 400, "{}", again.body);
    again.assert_html_page();
    again.assert_contains("The authorization code was refused");
    again.assert_contains("invalid_grant");
    again.assert_lacks(&query_param(&back, "code").unwrap());
}

#[tokio::test]
async fn expired_code_is_refused() {
    let options = SandboxOptions { code_lifetime: Duration::ZERO, ..SandboxOptions::default() };
    let app = spawn_app_with(Settings::sandbox_defaults(), options).await;
    let (cookie, consent_url) = start_sign_in(&app).await;
    let back = decide(&app, &consent_url, "grant").await;
    let page = callback(&app, &back, Some(&cookie)).await;
    assert_eq!(page.status, 400);
    page.assert_contains("The authorization code was refused");
}

#[tokio::test]
async fn deny_is_a_403_access_denied_page() {
    let app = spawn_sandbox_app().await;
    let (cookie, consent_url) = start_sign_in(&app).await;
    let back = decide(&app, &consent_url, "deny").await;
    assert_eq!(query_param(&back, "error").as_deref(), Some("access_denied"));
    let page = callback(&app, &back, Some(&cookie)).await;
    assert_eq!(page.status, 403);
    page.assert_html_page();
    page.assert_contains("Access was denied");
}

#[tokio::test]
async fn missing_state_is_400() {
    let app = spawn_sandbox_app().await;
    let (cookie, _) = start_sign_in(&app).await;
    let page = callback(&app, "/oauth-callback?code=abc", Some(&cookie)).await;
    assert_eq!(page.status, 400);
    page.assert_contains("The state parameter is missing");
}

#[tokio::test]
async fn wrong_state_is_400_and_the_code_is_not_used() {
    let app = spawn_sandbox_app().await;
    let (cookie, consent_url) = start_sign_in(&app).await;
    let back = decide(&app, &consent_url, "grant").await;
    let code = query_param(&back, "code").unwrap();
    let forged = callback(&app, &format!("/oauth-callback?code={code}&state=forged"), Some(&cookie)).await;
    assert_eq!(forged.status, 400);
    forged.assert_contains("The state does not match");
    // The code was not spent on the forged request: the real callback still works.
    assert_eq!(callback(&app, &back, Some(&cookie)).await.status, 200);
}

#[tokio::test]
async fn missing_cookie_is_400() {
    let app = spawn_sandbox_app().await;
    let (_, consent_url) = start_sign_in(&app).await;
    let back = decide(&app, &consent_url, "grant").await;
    let page = callback(&app, &back, None).await;
    assert_eq!(page.status, 400);
    page.assert_contains("No sign-in is in progress in this browser");
}

#[tokio::test]
async fn tampered_cookie_is_treated_as_missing() {
    let app = spawn_sandbox_app().await;
    let (cookie, consent_url) = start_sign_in(&app).await;
    let back = decide(&app, &consent_url, "grant").await;
    let state = query_param(&back, "state").unwrap();
    // A cookie carrying the right state but forged without the key.
    let forged = format!("oauth_state=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA{state}.9999999999");
    assert_ne!(forged, cookie);
    let page = callback(&app, &back, Some(&forged)).await;
    assert_eq!(page.status, 400);
    page.assert_contains("No sign-in is in progress in this browser");
}

#[tokio::test]
async fn expired_state_is_400() {
    let mut settings = Settings::sandbox_defaults();
    settings.state_lifetime = Duration::ZERO;
    let app = spawn_app(settings).await;
    let start = app.get("/authorize").await;
    let cookie = start.set_cookie("oauth_state").unwrap();
    let back = decide(&app, start.location(), "grant").await;
    let page = callback(&app, &back, Some(&cookie)).await;
    assert_eq!(page.status, 400);
    page.assert_contains("The sign-in took too long");
}

#[tokio::test]
async fn missing_code_is_400() {
    let app = spawn_sandbox_app().await;
    let (cookie, consent_url) = start_sign_in(&app).await;
    let state = query_param(&consent_url, "state").unwrap();
    let page = callback(&app, &format!("/oauth-callback?state={state}"), Some(&cookie)).await;
    assert_eq!(page.status, 400);
    page.assert_contains("The code is missing");
}

#[tokio::test]
async fn bare_callback_and_garbage_pairs_are_400_pages() {
    let app = spawn_sandbox_app().await;
    let bare = app.get("/oauth-callback").await;
    assert_eq!(bare.status, 400);
    bare.assert_html_page();
    bare.assert_contains("Nothing to do here yet");
    let garbage = app.get("/oauth-callback?code=%00%ff&state=%zz").await;
    assert_eq!(garbage.status, 400);
    garbage.assert_html_page();
    // The server's own failure, explained as one: a 502, with its words.
    let other_error = app.get("/oauth-callback?error=server_error&error_description=Oops&state=x").await;
    assert_eq!(other_error.status, 502);
    other_error.assert_contains("server_error");
    app.assert_alive().await;
}

#[tokio::test]
async fn sandbox_consent_page_refuses_unknown_clients_and_consumers_without_callback() {
    let app = spawn_sandbox_app().await;
    let unknown = app.get("/sandbox/site/oauth2/authorize?client_id=nope&response_type=code&state=s").await;
    assert_eq!(unknown.status, 400);
    unknown.assert_contains("Invalid client_id");
    let no_callback =
        app.get("/sandbox/site/oauth2/authorize?client_id=sandbox-nocallback-key&response_type=code&state=s").await;
    assert_eq!(no_callback.status, 400);
    no_callback.assert_contains("No callback uri defined for the OAuth client.");
    let token = app.get("/sandbox/site/oauth2/authorize?client_id=sandbox-consumer-key&response_type=token").await;
    assert_eq!(token.status, 400);
    token.assert_contains("Unsupported response_type");
}

#[tokio::test]
async fn client_credentials_gives_a_token_without_refresh_and_calls_the_api() {
    let app = spawn_sandbox_app().await;
    let page = app.post_form("/client-credentials", &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_contains("client credentials grant");
    page.assert_contains("acts as the consumer&#39;s owner");
    page.assert_contains(r#"<dd id="refresh-token"><span class="none">none</span>"#);
    page.assert_lacks(r#"id="refresh""#);
    page.assert_contains("Demo User");
    page.assert_contains("<code>client_credentials</code>");
}

#[tokio::test]
async fn client_credentials_with_a_public_consumer_explains_private_consumers() {
    let mut settings = Settings::sandbox_defaults();
    settings.consumer_key = "sandbox-public-key".into();
    settings.consumer_secret = "sandbox-public-secret".to_owned().into();
    let app = spawn_app(settings).await;
    let page = app.post_form("/client-credentials", &[]).await;
    assert_eq!(page.status, 502);
    page.assert_contains("Client credentials need a private consumer");
    page.assert_contains("This is a private consumer");
    page.assert_lacks("sandbox-public-secret");
}

#[tokio::test]
async fn refresh_twice_in_a_row_rotates_and_rejects_the_first_refresh_token() {
    let app = spawn_sandbox_app().await;
    let first = app.login("demo", "demo").await;
    let (access_1, refresh_1) = (first.hidden("access_token"), first.hidden("refresh_token"));

    let second = app.post_form("/refresh", &[("refresh_token", &refresh_1), ("access_token", &access_1)]).await;
    assert_eq!(second.status, 200, "{}", second.body);
    second.assert_contains("Access token refreshed");
    second.assert_contains("Before the refresh");
    // Side by side, both masked: the old token's first and last four characters, never all of it.
    let chars: Vec<char> = access_1.chars().collect();
    let masked: String = chars[..4].iter().chain(['…'].iter()).chain(chars[chars.len() - 4..].iter()).collect();
    second.assert_contains(&format!("<code>{masked}</code>"));
    second.assert_lacks(&access_1);
    second.assert_contains(r#"id="rotation-note""#);
    second.assert_contains("no longer works");
    let (access_2, refresh_2) = (second.hidden("access_token"), second.hidden("refresh_token"));
    assert_ne!(access_1, access_2);
    assert_ne!(refresh_1, refresh_2);
    second.assert_contains("Demo User"); // the new token works for the API

    let replay = app.post_form("/refresh", &[("refresh_token", &refresh_1), ("access_token", &access_1)]).await;
    assert_eq!(replay.status, 400, "{}", replay.body);
    replay.assert_html_page();
    replay.assert_contains("The refresh token was refused");
    replay.assert_contains("Invalid refresh_token");
    replay.assert_contains("rotates refresh tokens");
    replay.assert_lacks(&refresh_1);

    let third = app.post_form("/refresh", &[("refresh_token", &refresh_2), ("access_token", &access_2)]).await;
    assert_eq!(third.status, 200);
}

#[tokio::test]
async fn refresh_without_a_token_is_400() {
    let app = spawn_sandbox_app().await;
    let page = app.post_form("/refresh", &[]).await;
    assert_eq!(page.status, 400);
    page.assert_html_page();
}

#[tokio::test]
async fn sandbox_imitating_bitbucket_refuses_the_password_grant_with_the_diagnosis() {
    let options = SandboxOptions { password_grant: false, ..SandboxOptions::default() };
    let app = spawn_app_with(Settings::sandbox_defaults(), options).await;
    let start = app.get("/").await;
    start.assert_contains("now refuses the password grant");
    let page = app.login("demo", "demo").await;
    assert_eq!(page.status, 403);
    page.assert_contains("bitbucket.org no longer accepts the password grant");
    page.assert_contains("2022-03-01");
    page.assert_contains("sandboxPasswordGrant is false");
    page.assert_contains("two-step verification");
    page.assert_contains("API token");
    // The other grants still work there.
    assert_eq!(app.post_form("/client-credentials", &[]).await.status, 200);
}
