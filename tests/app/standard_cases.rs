//! A standard OAuth 2.0 server (wiremock) and the sandbox, case by case: discovery, scope, PKCE,
//! redirect_uri, the origin hop, access_denied, RFC 6750 refusals, empty refusals, refresh without
//! rotation and revocation. Each test checks what the user sees, and what went over the wire.

use bitbucket_password_grant::settings::{Settings, parse_endpoint_url};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::*;

fn answer(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

fn url(text: &str) -> Option<url::Url> {
    Some(parse_endpoint_url(text).unwrap())
}

/// The form fields of a request body, decoded (so `+` and `%20` both read as a space).
fn form(request: &Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&request.body).into_owned().collect()
}

/// A POST whose form body has every `name=value` of `fields`.
fn post_with(fields: &[(&str, &str)]) -> wiremock::MockBuilder {
    let wanted: Vec<(String, String)> = fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Mock::given(method("POST")).and(move |request: &Request| wanted.iter().all(|pair| form(request).contains(pair)))
}

/// Matches a request without an `Authorization` header.
fn no_authorization(request: &Request) -> bool {
    !request.headers.contains_key("authorization")
}

/// Token requests of `grant_type` to `token_path` are answered with `template`.
async fn token_answers(server: &MockServer, token_path: &str, grant_type: &str, template: ResponseTemplate) {
    post_with(&[("grant_type", grant_type)]).and(path(token_path)).respond_with(template).mount(server).await;
}

fn token_body(access_token: &str) -> Value {
    json!({"access_token": access_token, "token_type": "Bearer", "expires_in": 3600})
}

/// `GET user_path` answers `template`.
async fn user_answers(server: &MockServer, user_path: &str, template: ResponseTemplate) {
    Mock::given(method("GET")).and(path(user_path)).respond_with(template).mount(server).await;
}

/// A standard server's settings: token endpoint `/oauth/token` and userinfo `/userinfo`, configured.
fn standard_settings(server: &MockServer) -> Settings {
    let mut settings = settings_for(&server.uri());
    settings.endpoints.token = url(&format!("{}/oauth/token", server.uri()));
    settings.endpoints.user = url(&format!("{}/userinfo", server.uri()));
    settings
}

/// RFC 8414 metadata for `issuer`, with endpoints on `base`.
fn metadata(issuer: &str, base: &str) -> Value {
    json!({
        "issuer": issuer,
        "token_endpoint": format!("{base}/oauth/token"),
        "authorization_endpoint": format!("{base}/oauth/authorize"),
        "userinfo_endpoint": format!("{base}/userinfo"),
        "revocation_endpoint": format!("{base}/oauth/revoke"),
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
    })
}

/// A server publishing its metadata at `well_known`, with settings whose issuer is that server.
async fn discoverable(well_known: &str) -> (MockServer, Settings) {
    let server = MockServer::start().await;
    let document = metadata(&server.uri(), &server.uri());
    Mock::given(method("GET")).and(path(well_known)).respond_with(answer(200, document)).mount(&server).await;
    let mut settings = settings_for(&server.uri());
    settings.issuer = url(&server.uri());
    (server, settings)
}

/// `GET /authorize`: the 303, its Location and the state cookie.
async fn start_sign_in(app: &TestApp) -> (String, String) {
    let start = app.get("/authorize").await;
    assert_eq!(start.status, 303, "{}", start.body);
    (start.location().to_owned(), start.set_cookie("oauth_state").expect("a state cookie"))
}

/// The Location of `GET /authorize` with these settings (the server is never reached).
async fn authorization_request(change: impl FnOnce(&mut Settings)) -> String {
    let mut settings = settings_for("http://127.0.0.1:9");
    change(&mut settings);
    start_sign_in(&spawn_app(settings).await).await.0
}

async fn callback(app: &TestApp, query: &str, cookie: &str) -> Page {
    app.send(app.client.get(app.url(&format!("/oauth-callback?{query}"))).header("cookie", cookie)).await
}

/// The error card's HTML: the page's own content, without the site's header and footer.
fn error_card(page: &Page) -> &str {
    let start = page.body.find(r#"<section class="card error-card">"#).unwrap_or_else(|| panic!("{}", page.body));
    let rest = &page.body[start..];
    &rest[..rest.find("</section>").unwrap()]
}

/// The HTML from `id="…"` to the end of its paragraph.
fn paragraph<'a>(page: &'a Page, id: &str) -> &'a str {
    let start = page.body.find(&format!(r#"id="{id}""#)).unwrap_or_else(|| panic!("no #{id}:\n{}", page.body));
    let rest = &page.body[start..];
    &rest[..rest.find("</p>").unwrap()]
}

#[tokio::test]
async fn start_page_lists_the_endpoints_discovered_from_rfc_8414_metadata() {
    let (server, settings) = discoverable("/.well-known/oauth-authorization-server").await;
    let app = spawn_app(settings).await;
    let page = app.get("/").await;
    assert_eq!(page.status, 200);
    page.assert_contains(&format!("{}/.well-known/oauth-authorization-server", server.uri()));
    for endpoint in ["/oauth/token", "/oauth/authorize", "/userinfo", "/oauth/revoke"] {
        page.assert_contains(&format!("<code>{}{endpoint}</code> <span class=\"small\">(discovered", server.uri()));
    }
}

#[tokio::test]
async fn discovered_client_secret_post_sends_the_secret_in_the_body_and_shows_the_userinfo() {
    let (server, settings) = discoverable("/.well-known/oauth-authorization-server").await;
    post_with(&[("grant_type", "password"), ("client_id", "test-client"), ("client_secret", "test-client-secret")])
        .and(path("/oauth/token"))
        .and(no_authorization)
        .respond_with(answer(200, token_body("discovered-access-token")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/userinfo"))
        .and(header("authorization", "Bearer discovered-access-token"))
        .respond_with(answer(200, json!({"sub": "user-42", "name": "Ada Lovelace"})))
        .expect(1)
        .mount(&server)
        .await;
    let app = spawn_app(settings).await;
    let page = app.login("alice", "pw").await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_contains("Access token issued");
    assert_eq!(page.text_of("profile-name"), "Ada Lovelace"); // OpenID claims, not Bitbucket's fields
    assert_eq!(page.text_of("profile-sub"), "user-42");
    page.assert_lacks("display_name");
    page.assert_contains("user-42");
}

/// Starts the app against a server whose metadata names another issuer, served at `well_known`
/// (every URL when `None`); returns the start-up error and the server's address.
async fn start_up_error_for_another_issuer(well_known: Option<&str>) -> (String, String) {
    let server = MockServer::start().await;
    let document = answer(200, metadata("https://elsewhere.example", &server.uri()));
    match well_known {
        Some(well_known) => Mock::given(method("GET")).and(path(well_known)).respond_with(document),
        None => Mock::given(method("GET")).respond_with(document),
    }
    .mount(&server)
    .await;
    let mut settings = settings_for(&server.uri());
    settings.issuer = url(&server.uri());
    let started = bitbucket_password_grant::AppState::new(settings, "127.0.0.1:0".parse().unwrap()).await;
    (started.err().expect("another issuer's metadata is refused").to_string(), server.uri())
}

#[tokio::test]
async fn metadata_naming_another_issuer_is_refused_at_start_up() {
    let (error, base) = start_up_error_for_another_issuer(None).await;
    assert!(error.contains(&format!("{base}/.well-known/")), "{error}");
    assert!(error.contains(r#"names the issuer "https://elsewhere.example""#), "{error}");
}

/// Discovered endpoints are held to the rules of configured ones: one with credentials in it stops
/// start-up (the page would show them, and reqwest would send them as Basic auth).
#[tokio::test]
async fn a_discovered_endpoint_with_credentials_is_refused_at_start_up() {
    let server = MockServer::start().await;
    let mut document = metadata(&server.uri(), &server.uri());
    document["token_endpoint"] = json!(server.uri().replace("http://", "http://someone:secret@") + "/oauth/token");
    Mock::given(method("GET")).respond_with(answer(200, document)).mount(&server).await;
    let mut settings = settings_for(&server.uri());
    settings.issuer = url(&server.uri());
    let started = bitbucket_password_grant::AppState::new(settings, "127.0.0.1:0".parse().unwrap()).await;
    let error = started.err().expect("refused").to_string();
    assert!(error.contains("token_endpoint: ") && error.contains("must not contain credentials"), "{error}");
    assert!(!error.contains("secret"), "the start-up line shows the password: {error}");
}

#[tokio::test]
async fn issuer_mismatch_at_the_rfc_8414_url_is_reported_even_when_the_fallback_is_404() {
    let (error, base) = start_up_error_for_another_issuer(Some("/.well-known/oauth-authorization-server")).await;
    assert!(error.contains(&format!("{base}/.well-known/oauth-authorization-server")), "{error}");
    assert!(error.contains(r#"names the issuer "https://elsewhere.example""#), "{error}");
}

#[tokio::test]
async fn discovery_falls_back_to_openid_configuration_when_rfc_8414_is_404() {
    let (server, settings) = discoverable("/.well-known/openid-configuration").await;
    let app = spawn_app(settings).await;
    let page = app.get("/").await;
    assert_eq!(page.status, 200);
    page.assert_contains(&format!("<code>{}/.well-known/openid-configuration</code>", server.uri()));
    page.assert_contains(&format!("<code>{}/oauth/token</code> <span class=\"small\">(discovered", server.uri()));
}

/// The result page of `grant_type`, from a server that answers only a request with the scope.
async fn token_with_scope(grant_type: &str, scope: &str) -> Page {
    let server = MockServer::start().await;
    post_with(&[("grant_type", grant_type), ("scope", scope)])
        .respond_with(answer(200, token_body("scoped-token")))
        .expect(1)
        .mount(&server)
        .await;
    let mut settings = settings_for(&server.uri());
    settings.scope = scope.into();
    let app = spawn_app(settings).await;
    match grant_type {
        "password" => app.login("alice", "pw").await,
        _ => app.post_form("/client-credentials", &[]).await,
    }
}

#[tokio::test]
async fn scope_is_sent_on_the_password_grant() {
    let page = token_with_scope("password", "openid profile").await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_contains("Access token issued");
}

#[tokio::test]
async fn scope_is_sent_on_the_client_credentials_grant() {
    let page = token_with_scope("client_credentials", "openid profile").await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_contains("Access token issued");
}

#[tokio::test]
async fn authorization_request_asks_for_the_scope_without_prompt() {
    let location = authorization_request(|s| s.scope = "openid profile".into()).await;
    assert_eq!(query_param(&location, "scope").as_deref(), Some("openid profile"), "{location}");
    assert_eq!(query_param(&location, "prompt"), None, "{location}");
}

#[tokio::test]
async fn offline_access_scope_asks_for_consent() {
    let location = authorization_request(|s| s.scope = "openid offline_access".into()).await;
    assert_eq!(query_param(&location, "scope").as_deref(), Some("openid offline_access"), "{location}");
    assert_eq!(query_param(&location, "prompt").as_deref(), Some("consent"), "{location}");
}

#[tokio::test]
async fn authorization_request_carries_an_s256_pkce_challenge() {
    let location = authorization_request(|_| {}).await;
    let challenge = query_param(&location, "code_challenge").expect("a code_challenge");
    assert_eq!(challenge.len(), 43, "{location}");
    assert_eq!(query_param(&location, "code_challenge_method").as_deref(), Some("S256"));
}

#[tokio::test]
async fn without_pkce_the_authorization_request_has_no_challenge() {
    let location = authorization_request(|s| s.pkce = false).await;
    assert_eq!(query_param(&location, "code_challenge"), None, "{location}");
    assert_eq!(query_param(&location, "code_challenge_method"), None, "{location}");
}

#[tokio::test]
async fn sandbox_sign_in_with_pkce_completes_when_the_whole_consent_form_is_posted() {
    let app = spawn_sandbox_app().await;
    let (consent_url, cookie) = start_sign_in(&app).await;
    let sign_in = app.get(&consent_url).await;
    let carried = sign_in.hidden_fields();
    let challenge = carried.iter().find(|(k, _)| k == "code_challenge").map(|(_, v)| v.clone());
    assert_eq!(challenge, query_param(&consent_url, "code_challenge"));
    let back = sandbox_authorize(&app, &consent_url, "grant").await;
    let back = back.trim_start_matches(&app.address).to_owned();
    let query = back.strip_prefix("/oauth-callback?").unwrap_or_else(|| panic!("{back}"));
    let page = callback(&app, query, &cookie).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_contains("Access token issued");
    page.assert_contains("code_verifier=");
}

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// On the sandbox: a code for `VERIFIER`'s challenge from the consent form (as a browser posts it),
/// then the sandbox's token endpoint's answer to that code with `verifier`.
async fn sandbox_exchange(verifier: &str) -> Page {
    let app = spawn_sandbox_app().await;
    let (redirect_uri, challenge) = (app.url("/oauth-callback"), bitbucket_password_grant::pkce::challenge(VERIFIER));
    let query = [
        ("client_id", "sandbox-consumer-key"),
        ("response_type", "code"),
        ("state", "s"),
        ("redirect_uri", redirect_uri.as_str()),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(query).finish();
    let back = sandbox_authorize(&app, &format!("/sandbox/site/oauth2/authorize?{query}"), "grant").await;
    let code = query_param(&back, "code").expect("a code");
    let form = [("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", &redirect_uri)];
    let request = app.client.post(app.url("/sandbox/site/oauth2/access_token"));
    let request = request.basic_auth("sandbox-consumer-key", Some("sandbox-consumer-secret"));
    app.send(request.form(&[&form[..], &[("code_verifier", verifier)]].concat())).await
}

#[tokio::test]
async fn sandbox_token_endpoint_refuses_a_wrong_code_verifier() {
    let page = sandbox_exchange("a-wrong-verifier-of-the-right-length-43-chars").await;
    assert_eq!(page.status, 400, "{}", page.body);
    page.assert_contains(r#""error":"invalid_grant""#);
    page.assert_lacks("access_token");
}

#[tokio::test]
async fn sandbox_token_endpoint_accepts_the_right_code_verifier() {
    let page = sandbox_exchange(VERIFIER).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_contains(r#""access_token""#);
}

#[tokio::test]
async fn code_exchange_repeats_the_redirect_uri_and_answers_the_pkce_challenge() {
    let server = MockServer::start().await;
    let app = spawn_app(settings_for(&server.uri())).await;
    let (location, cookie) = start_sign_in(&app).await;
    let redirect_uri = query_param(&location, "redirect_uri").expect("a redirect_uri");
    assert_eq!(redirect_uri, app.url("/oauth-callback"));
    let challenge = query_param(&location, "code_challenge").unwrap();
    let verifier_matches = move |request: &Request| {
        form(request)
            .iter()
            .any(|(k, v)| k == "code_verifier" && bitbucket_password_grant::pkce::challenge(v) == challenge)
    };
    post_with(&[("grant_type", "authorization_code"), ("code", "the-code"), ("redirect_uri", &redirect_uri)])
        .and(verifier_matches)
        .respond_with(answer(200, token_body("code-access-token")))
        .expect(1)
        .mount(&server)
        .await;
    let state = query_param(&location, "state").unwrap();
    let page = callback(&app, &format!("code=the-code&state={state}"), &cookie).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_contains("Access token issued");
}

#[tokio::test]
async fn authorize_on_another_origin_hops_to_the_callbacks_origin_without_a_cookie() {
    let mut settings = settings_for("http://127.0.0.1:9");
    settings.callback_url = url("http://localhost:1/oauth-callback");
    let start = spawn_app(settings).await.get("/authorize").await;
    assert_eq!(start.status, 303, "{}", start.body);
    assert_eq!(start.location(), "http://localhost:1/authorize");
    assert_eq!(start.set_cookie("oauth_state"), None);
}

async fn denied(description: Option<&str>) -> Page {
    let mut settings = settings_for("http://127.0.0.1:9");
    settings.scope = "profile".into();
    let app = spawn_app(settings).await;
    let (location, cookie) = start_sign_in(&app).await;
    let state = query_param(&location, "state").unwrap();
    let mut query = format!("error=access_denied&state={state}");
    if let Some(description) = description {
        query.push_str(&format!("&error_description={description}"));
    }
    callback(&app, &query, &cookie).await
}

#[tokio::test]
async fn access_denied_without_a_description_says_the_server_granted_nothing_and_names_the_scope() {
    let page = denied(None).await;
    assert_eq!(page.status, 403, "{}", page.body);
    let card = error_card(&page);
    assert!(card.contains("the server granted nothing"), "{card}");
    assert!(card.contains("scope=profile"), "{card}");
    assert!(card.contains("set the scopes this server offers"), "{card}");
    assert!(!card.contains("that was your call"), "{card}");
}

#[tokio::test]
async fn access_denied_with_a_description_shows_it() {
    let page = denied(Some("The+user+said+no+thanks")).await;
    assert_eq!(page.status, 403, "{}", page.body);
    let card = error_card(&page);
    assert!(card.contains("Access was denied"), "{card}");
    assert!(card.contains("The user said no thanks"), "{card}");
    assert!(!card.contains("granted nothing"), "{card}");
}

async fn user_call_refused(refusal: ResponseTemplate) -> Page {
    let server = MockServer::start().await;
    token_answers(&server, "/oauth/token", "password", answer(200, token_body("bearer-test-token"))).await;
    user_answers(&server, "/userinfo", refusal).await;
    let page = spawn_app(standard_settings(&server)).await.login("alice", "pw").await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_contains("The token worked, but the sample call failed.");
    page
}

#[tokio::test]
async fn insufficient_scope_in_a_json_body_is_named_with_advice_about_scope() {
    let body = json!({"error": "insufficient_scope", "error_description": "The profile scope is required"});
    let page = user_call_refused(answer(403, body)).await;
    page.assert_contains("HTTP 403 and the OAuth error insufficient_scope");
    page.assert_contains("The profile scope is required");
    page.assert_contains("Ask for that scope: set scope in config.json");
}

#[tokio::test]
async fn invalid_token_in_the_www_authenticate_header_alone_is_understood() {
    let refusal = ResponseTemplate::new(401)
        .insert_header("www-authenticate", r#"Bearer error="invalid_token", error_description="expired""#);
    let page = user_call_refused(refusal).await;
    page.assert_contains("HTTP 401 and the OAuth error invalid_token");
    page.assert_contains("<dt>error_description</dt><dd><code>expired</code></dd>");
    page.assert_lacks("no error body");
}

#[tokio::test]
async fn empty_400_from_a_standard_server_lists_the_usual_causes_without_speaking_of_bitbucket() {
    let server = answering(ResponseTemplate::new(400)).await;
    let mut settings = settings_for(&server.uri());
    settings.endpoints.token = url(&format!("{}/oauth/token", server.uri()));
    let page = spawn_app(settings).await.login("alice", "pw").await;
    assert_eq!(page.status, 502, "{}", page.body);
    let card = error_card(&page);
    for needle in [
        "The token endpoint refused without a reason",
        "gave no OAuth error code",
        "A scope",
        "The client authentication method",
        "The grant itself",
        "grant_type=password",
    ] {
        assert!(card.contains(needle), "no {needle:?} in:\n{card}");
    }
    assert!(!card.contains("Bitbucket"), "{card}");
}

#[tokio::test]
async fn refresh_answer_without_a_refresh_token_keeps_the_old_one_and_says_so() {
    let server = MockServer::start().await;
    let first =
        json!({"access_token": "AT-1-first-access", "token_type": "Bearer", "refresh_token": "RT-1-kept-refresh"});
    token_answers(&server, "/oauth/token", "password", answer(200, first)).await;
    post_with(&[("grant_type", "refresh_token"), ("refresh_token", "RT-1-kept-refresh")])
        .and(path("/oauth/token"))
        .respond_with(answer(200, token_body("AT-2-second-access")))
        .expect(1)
        .mount(&server)
        .await;
    user_answers(&server, "/userinfo", answer(200, json!({"sub": "u", "name": "Ada"}))).await;
    let app = spawn_app(standard_settings(&server)).await;
    let issued = app.login("alice", "pw").await;
    assert_eq!(issued.status, 200, "{}", issued.body);
    let form = [("refresh_token", issued.hidden("refresh_token")), ("access_token", issued.hidden("access_token"))];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = app.post_form("/refresh", &form).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_contains("Access token refreshed");
    let note = paragraph(&page, "rotation-note");
    assert!(note.contains("did not rotate"), "{note}");
    page.assert_contains(r#"id="refresh""#);
    assert_eq!(page.hidden("refresh_token"), "RT-1-kept-refresh");
    assert_eq!(page.hidden("access_token"), "AT-2-second-access");
}

#[tokio::test]
async fn revoke_sends_the_access_token_with_its_hint_and_shows_the_apis_refusal() {
    let server = MockServer::start().await;
    token_answers(&server, "/oauth/token", "password", answer(200, token_body("AT-to-be-revoked"))).await;
    let refusal = json!({"error": "invalid_token", "error_description": "The access token was revoked"});
    user_answers(&server, "/userinfo", answer(401, refusal)).await;
    post_with(&[("token", "AT-to-be-revoked"), ("token_type_hint", "access_token")])
        .and(path("/oauth/revoke"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let mut settings = standard_settings(&server);
    settings.endpoints.revocation = url(&format!("{}/oauth/revoke", server.uri()));
    let app = spawn_app(settings).await;
    let issued = app.login("alice", "pw").await;
    assert_eq!(issued.status, 200, "{}", issued.body);
    issued.assert_contains(r#"id="revoke""#);
    let page = app.post_form("/revoke", &[("access_token", &issued.hidden("access_token"))]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_contains("<h1>Token revoked</h1>");
    let after = &page.body[page.body.find(r#"id="api-after-revocation""#).expect("the API call after")..];
    assert!(after.contains("HTTP 401 and the OAuth error invalid_token"), "{after}");
    assert!(after.contains("(or was revoked)"), "{after}");
}
