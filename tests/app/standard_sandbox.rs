//! The built-in standard OAuth 2.0 / OpenID Connect server (`src/standard_sandbox/`), on its own,
//! over real HTTP on port 0: mounted at `/sandbox/oidc` with its RFC 8414 document at the root, as
//! `examples/standard_server.rs` serves it. Each test reads what a spec-abiding client would.
//!
//! The last test hands the server to two client libraries nobody here wrote (openid-client from
//! npm, Authlib from PyPI; `tests/clients/`): ignored by plain `cargo test`, run by `.ci/run`.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bitbucket_password_grant::server::{Limits, serve};
use bitbucket_password_grant::standard_sandbox::{self, StandardOptions, StandardSandbox};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::net::TcpListener;

use crate::helpers::client_builder;

const CLIENT: &str = "standard-client";
const SECRET: &str = "standard-secret";
const DEVICE_CLIENT: &str = "standard-device-client";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The server on a free port, and a client that does not follow redirects.
struct Server {
    issuer: String,
    origin: String,
    http: reqwest::Client,
}

async fn spawn(options: impl FnOnce(StandardOptions) -> StandardOptions) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let issuer = format!("{origin}/sandbox/oidc");
    let options =
        options(StandardOptions { device_interval: Duration::from_millis(300), ..StandardOptions::new(&issuer) });
    let app = standard_sandbox::standalone(StandardSandbox::new(options));
    tokio::spawn(serve(listener, app, Limits::default(), std::future::pending(), None));
    let http =
        client_builder().redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(30)).build().unwrap();
    Server { issuer, origin, http }
}

/// An answer: status, headers and body as JSON (`Null` if it is not).
struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    json: Value,
    text: String,
}

impl Answer {
    async fn from(response: reqwest::Response) -> Answer {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        Answer { status, headers, json: serde_json::from_str(&text).unwrap_or(Value::Null), text }
    }

    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// An OAuth error of RFC 6749 §5.2, with `no-store`.
    fn assert_error(&self, status: u16, error: &str) {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        assert_eq!(self.json["error"], error, "{}", self.text);
        assert_eq!(self.header("cache-control"), "no-store");
        assert_eq!(self.header("pragma"), "no-cache");
    }
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    async fn get(&self, url: &str) -> Answer {
        Answer::from(self.http.get(url).send().await.unwrap()).await
    }

    /// A form POST with HTTP Basic `client:secret` (as given: encode it yourself if need be).
    async fn post_basic(&self, path: &str, basic: (&str, &str), form: &[(&str, &str)]) -> Answer {
        let credentials = STANDARD.encode(format!("{}:{}", basic.0, basic.1));
        let response = self
            .http
            .post(self.url(path))
            .header("authorization", format!("Basic {credentials}"))
            .form(form)
            .send()
            .await
            .unwrap();
        Answer::from(response).await
    }

    async fn token(&self, form: &[(&str, &str)]) -> Answer {
        self.post_basic("/token", (CLIENT, SECRET), form).await
    }

    /// A form POST without client authentication in a header.
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        Answer::from(self.http.post(self.url(path)).form(form).send().await.unwrap()).await
    }

    async fn introspect(&self, token: &str) -> Value {
        let answer = self.post_basic("/introspect", (CLIENT, SECRET), &[("token", token)]).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.json
    }

    async fn userinfo(&self, token: &str) -> Answer {
        Answer::from(self.http.get(self.url("/userinfo")).bearer_auth(token).send().await.unwrap()).await
    }

    /// An authorization request's URL with `extra` parameters (PKCE included unless removed).
    fn authorize_url(&self, redirect_uri: &str, extra: &[(&str, &str)]) -> String {
        let mut params: Vec<(&str, &str)> = vec![
            ("client_id", CLIENT),
            ("response_type", "code"),
            ("redirect_uri", redirect_uri),
            ("scope", "openid profile email offline_access"),
            ("state", "st-123"),
            ("nonce", "n-456"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ];
        for (name, value) in extra {
            params.retain(|(n, _)| n != name);
            if !value.is_empty() {
                params.push((name, value));
            }
        }
        let query = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
        self.url(&format!("/authorize?{query}"))
    }

    /// Posts a page's form: its hidden and text fields as filled in, and `extra`.
    async fn submit(&self, page: &str, extra: &[(&str, &str)]) -> Answer {
        let action = page.split(r#"<form method="post" action=""#).nth(1).and_then(|r| r.split('"').next());
        let action = action.unwrap_or_else(|| panic!("no form:\n{page}"));
        let mut fields: Vec<(String, String)> = Vec::new();
        for input in page.split("<input ").skip(1) {
            let attribute = |name: &str| {
                input.split(&format!(r#"{name}=""#)).nth(1).and_then(|r| r.split('"').next()).map(unescape)
            };
            if let (Some(name), Some(value)) = (attribute("name"), attribute("value")) {
                fields.push((name, value));
            }
        }
        for (name, value) in extra {
            fields.retain(|(n, _)| n != name);
            fields.push((name.to_string(), value.to_string()));
        }
        Answer::from(self.http.post(format!("{}{action}", self.origin)).form(&fields).send().await.unwrap()).await
    }

    /// Signs in as demo and grants: the callback URL the browser is sent to.
    async fn authorize(&self, url: &str) -> url::Url {
        let sign_in = self.get(url).await;
        assert_eq!(sign_in.status, 200, "{}", sign_in.text);
        let consent = self.submit(&sign_in.text, &[("username", "demo"), ("password", "demo")]).await;
        assert!(consent.text.contains(r#"value="grant""#), "{}", consent.text);
        let back = self.submit(&consent.text, &[("decision", "grant")]).await;
        assert_eq!(back.status, 303, "{}", back.text);
        url::Url::parse(back.header("location")).unwrap()
    }

    /// The authorization code grant with PKCE, end to end: the token response.
    async fn code_flow(&self, redirect_uri: &str) -> Value {
        let callback = self.authorize(&self.authorize_url(redirect_uri, &[])).await;
        let code = query_param(&callback, "code").expect("a code");
        let answer = self
            .token(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", VERIFIER),
            ])
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.json
    }
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"").replace("&#x27;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

fn query_param(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(n, _)| n == name).map(|(_, v)| v.into_owned())
}

const REDIRECT: &str = "http://127.0.0.1:9/oauth-callback";

/// A JWT's header and claims, after checking its ES256 signature with the key from the JWKS.
async fn verify_jwt(server: &Server, token: &str) -> (Value, Value) {
    let jwks = server.get(&server.url("/jwks")).await.json;
    let key = &jwks["keys"][0];
    assert_eq!(
        (key["kty"].as_str(), key["crv"].as_str(), key["alg"].as_str()),
        (Some("EC"), Some("P-256"), Some("ES256"))
    );
    assert_eq!(key["use"], "sig");
    let coordinate = |name: &str| URL_SAFE_NO_PAD.decode(key[name].as_str().unwrap()).unwrap();
    let mut point = vec![4u8];
    point.extend(coordinate("x"));
    point.extend(coordinate("y"));
    assert_eq!(point.len(), 65);
    let (signing_input, signature) = token.rsplit_once('.').unwrap();
    let public = ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, &point);
    public
        .verify(signing_input.as_bytes(), &URL_SAFE_NO_PAD.decode(signature).unwrap())
        .expect("the signature verifies");
    let part = |i: usize| -> Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(signing_input.split('.').nth(i).unwrap()).unwrap()).unwrap()
    };
    let header = part(0);
    assert_eq!(header["kid"], key["kid"]);
    (header, part(1))
}

#[tokio::test]
async fn both_discovery_documents_name_every_endpoint_under_the_issuer() {
    let server = spawn(|o| o).await;
    let openid = server.get(&server.url("/.well-known/openid-configuration")).await;
    let rfc8414 = server.get(&format!("{}/.well-known/oauth-authorization-server/sandbox/oidc", server.origin)).await;
    assert_eq!(openid.status, 200);
    assert_eq!(openid.json, rfc8414.json, "the two documents agree");
    let doc = &openid.json;
    assert_eq!(doc["issuer"], server.issuer);
    for (field, path) in [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("jwks_uri", "/jwks"),
        ("revocation_endpoint", "/revoke"),
        ("introspection_endpoint", "/introspect"),
        ("device_authorization_endpoint", "/device_authorization"),
    ] {
        assert_eq!(doc[field], server.url(path), "{field}");
    }
    assert!(doc.get("registration_endpoint").is_none());
    let list =
        |field: &str| -> Vec<&str> { doc[field].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect() };
    assert_eq!(list("scopes_supported"), ["openid", "profile", "email", "offline_access"]);
    assert_eq!(list("response_types_supported"), ["code"]);
    assert_eq!(list("code_challenge_methods_supported"), ["S256"]);
    assert_eq!(list("id_token_signing_alg_values_supported"), ["ES256"]);
    assert_eq!(list("subject_types_supported"), ["public"]);
    assert_eq!(list("token_endpoint_auth_methods_supported"), ["client_secret_basic", "client_secret_post", "none"]);
    for grant in ["authorization_code", "refresh_token", "client_credentials", DEVICE_GRANT, "password"] {
        assert!(list("grant_types_supported").contains(&grant), "{grant}");
    }
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);

    let without_password = spawn(|o| StandardOptions { password_grant: false, ..o }).await;
    let doc = without_password.get(&without_password.url("/.well-known/openid-configuration")).await.json;
    assert!(!doc["grant_types_supported"].as_array().unwrap().contains(&Value::from("password")));
}

#[tokio::test]
async fn an_authorization_request_without_pkce_is_sent_back_with_invalid_request_state_and_iss() {
    let server = spawn(|o| o).await;
    for missing in
        [&[("code_challenge", "")][..], &[("code_challenge_method", "")], &[("code_challenge_method", "plain")]]
    {
        let answer = server.get(&server.authorize_url(REDIRECT, missing)).await;
        assert_eq!(answer.status, 303, "{}", answer.text);
        let back = url::Url::parse(answer.header("location")).unwrap();
        assert!(back.as_str().starts_with(REDIRECT), "{back}");
        assert_eq!(query_param(&back, "error").as_deref(), Some("invalid_request"));
        assert_eq!(query_param(&back, "state").as_deref(), Some("st-123"));
        assert_eq!(query_param(&back, "iss"), Some(server.issuer.clone()));
    }
    let answer = server.get(&server.authorize_url(REDIRECT, &[("scope", "openid admin")])).await;
    let back = url::Url::parse(answer.header("location")).unwrap();
    assert_eq!(query_param(&back, "error").as_deref(), Some("invalid_scope"));
}

#[tokio::test]
async fn redirect_uris_are_compared_as_exact_strings_except_a_loopback_port() {
    let server = spawn(|o| o).await;
    for good in [
        "http://localhost:3000/oauth-callback",
        "http://127.0.0.1:51234/oauth-callback",
        "http://[::1]:8080/oauth-callback",
    ] {
        let page = server.get(&server.authorize_url(good, &[])).await;
        assert_eq!(page.status, 200, "{good}: {}", page.text);
        assert!(page.text.contains(r#"name="password""#), "{good}");
    }
    for bad in [
        "http://localhost:3000/oauth-callback/",
        "http://localhost:3001/oauth-callback",
        "http://localhost:3000/oauth-callback?x=1",
        "http://127.0.0.1:51234/oauth-callback/other",
        "http://127.0.0.1.evil.example:80/oauth-callback",
        "https://127.0.0.1:51234/oauth-callback",
        "http://127.0.0.1:99999/oauth-callback",
    ] {
        let page = server.get(&server.authorize_url(bad, &[])).await;
        assert_eq!(page.status, 400, "{bad} was accepted");
        assert!(page.header("location").is_empty(), "{bad}: a bad redirect_uri is never redirected to");
        assert!(page.header("content-type").starts_with("text/html"));
        assert!(page.header("content-security-policy").contains("default-src 'none'"));
    }
    let unknown = server.get(&server.authorize_url(REDIRECT, &[("client_id", "nobody")])).await;
    assert_eq!(unknown.status, 400);
    let device = server.get(&server.authorize_url(REDIRECT, &[("client_id", DEVICE_CLIENT)])).await;
    assert_eq!(device.status, 400, "the device client has no redirect URI");
}

#[tokio::test]
async fn the_authorization_code_grant_gives_verifiable_jwts_and_a_replayed_code_revokes_them() {
    let server = spawn(|o| o).await;
    let callback = server.authorize(&server.authorize_url(REDIRECT, &[])).await;
    assert_eq!(query_param(&callback, "state").as_deref(), Some("st-123"));
    assert_eq!(query_param(&callback, "iss"), Some(server.issuer.clone()));
    let code = query_param(&callback, "code").unwrap();
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let answer = server.token(&exchange).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.header("cache-control"), "no-store");
    assert_eq!(answer.header("pragma"), "no-cache");
    let tokens = answer.json;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "openid profile email offline_access");
    assert!(tokens["refresh_token"].is_string(), "offline_access and consent give a refresh token");

    let access_token = tokens["access_token"].as_str().unwrap();
    let (header, claims) = verify_jwt(&server, access_token).await;
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "ES256");
    assert_eq!(claims["iss"], server.issuer);
    assert_eq!(claims["sub"], "demo-user-0001");
    assert_eq!(claims["aud"], server.url("/userinfo"));
    assert_eq!(claims["client_id"], CLIENT);
    assert_eq!(claims["scope"], "openid profile email offline_access");
    assert!(claims["jti"].is_string());
    assert!(claims["exp"].as_u64().unwrap() > claims["iat"].as_u64().unwrap());

    let (header, id) = verify_jwt(&server, tokens["id_token"].as_str().unwrap()).await;
    assert_eq!(header["alg"], "ES256");
    assert_eq!(
        (id["iss"].as_str(), id["aud"].as_str(), id["nonce"].as_str()),
        (Some(server.issuer.as_str()), Some(CLIENT), Some("n-456"))
    );
    assert!(id["auth_time"].is_u64());

    assert_eq!(server.introspect(access_token).await["active"], true);
    let replay = server.token(&exchange).await;
    replay.assert_error(400, "invalid_grant");
    assert_eq!(server.introspect(access_token).await, serde_json::json!({"active": false}), "revoked by the replay");
    assert_eq!(server.introspect(tokens["refresh_token"].as_str().unwrap()).await["active"], false);
}

#[tokio::test]
async fn a_wrong_verifier_or_redirect_uri_is_invalid_grant_and_a_malformed_verifier_invalid_request() {
    let server = spawn(|o| o).await;
    for (verifier, redirect, error) in [
        ("A".repeat(43), REDIRECT, "invalid_grant"),
        (VERIFIER.to_owned(), "http://127.0.0.1:10/oauth-callback", "invalid_grant"),
        ("short".to_owned(), REDIRECT, "invalid_request"),
    ] {
        let callback = server.authorize(&server.authorize_url(REDIRECT, &[])).await;
        let code = query_param(&callback, "code").unwrap();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", redirect),
            ("code_verifier", &verifier),
        ];
        server.token(&form).await.assert_error(400, error);
    }
}

#[tokio::test]
async fn deny_sends_back_access_denied_and_consent_is_asked_once_unless_prompt_consent() {
    let server = spawn(|o| o).await;
    let url = server.authorize_url(REDIRECT, &[("scope", "openid profile")]);
    let sign_in = server.get(&url).await;
    let consent = server.submit(&sign_in.text, &[("username", "demo"), ("password", "demo")]).await;
    let denied = server.submit(&consent.text, &[("decision", "deny")]).await;
    let back = url::Url::parse(denied.header("location")).unwrap();
    assert_eq!(query_param(&back, "error").as_deref(), Some("access_denied"));
    assert_eq!(query_param(&back, "iss"), Some(server.issuer.clone()));

    server.authorize(&url).await; // granted once
    let sign_in = server.get(&url).await;
    let straight_back = server.submit(&sign_in.text, &[("username", "demo"), ("password", "demo")]).await;
    assert_eq!(straight_back.status, 303, "consent remembered: {}", straight_back.text);
    let prompt = server.authorize_url(REDIRECT, &[("scope", "openid profile"), ("prompt", "consent")]);
    let sign_in = server.get(&prompt).await;
    let consent = server.submit(&sign_in.text, &[("username", "demo"), ("password", "demo")]).await;
    assert!(consent.text.contains(r#"value="grant""#), "prompt=consent asks again");

    let none = server.get(&server.authorize_url(REDIRECT, &[("prompt", "none")])).await;
    assert_eq!(
        query_param(&url::Url::parse(none.header("location")).unwrap(), "error").as_deref(),
        Some("login_required")
    );
}

#[tokio::test]
async fn refresh_tokens_rotate_and_the_old_one_is_refused() {
    let server = spawn(|o| o).await;
    let tokens = server.code_flow(REDIRECT).await;
    let first = tokens["refresh_token"].as_str().unwrap();
    let refreshed = server.token(&[("grant_type", "refresh_token"), ("refresh_token", first)]).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    let second = refreshed.json["refresh_token"].as_str().unwrap();
    assert_ne!(first, second);
    let narrowed =
        server.token(&[("grant_type", "refresh_token"), ("refresh_token", second), ("scope", "openid")]).await;
    assert_eq!(narrowed.json["scope"], "openid", "{}", narrowed.text);
    let wider = server
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", narrowed.json["refresh_token"].as_str().unwrap()),
            ("scope", "openid admin"),
        ])
        .await;
    wider.assert_error(400, "invalid_scope");
    server.token(&[("grant_type", "refresh_token"), ("refresh_token", first)]).await.assert_error(400, "invalid_grant");

    let steady = spawn(|o| StandardOptions { rotate_refresh_tokens: false, ..o }).await;
    let tokens = steady.code_flow(REDIRECT).await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    for _ in 0..2 {
        let again = steady.token(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await;
        assert_eq!(again.status, 200, "{}", again.text);
        assert!(again.json.get("refresh_token").is_none(), "the same refresh token stays good");
    }
}

#[tokio::test]
async fn client_credentials_give_a_token_for_the_client_without_refresh() {
    let server = spawn(|o| o).await;
    let answer = server.token(&[("grant_type", "client_credentials"), ("scope", "openid email")]).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(answer.json.get("refresh_token").is_none() && answer.json.get("id_token").is_none());
    assert_eq!(answer.json["scope"], "email", "openid needs a user: granted less, and said so");
    let (_, claims) = verify_jwt(&server, answer.json["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["sub"], CLIENT);
    let device = server.post("/token", &[("grant_type", "client_credentials"), ("client_id", DEVICE_CLIENT)]).await;
    device.assert_error(400, "unauthorized_client");
}

#[tokio::test]
async fn the_legacy_password_grant_works_can_be_refused_and_is_limited_per_account() {
    let server = spawn(|o| o).await;
    let form =
        [("grant_type", "password"), ("username", "demo"), ("password", "demo"), ("scope", "openid offline_access")];
    let answer = server.token(&form).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert!(answer.json["refresh_token"].is_string() && answer.json["id_token"].is_string());
    let no_password =
        server.post_basic("/token", ("standard-no-password-client", "standard-no-password-secret"), &form).await;
    no_password.assert_error(400, "unauthorized_client");
    for _ in 0..5 {
        let wrong = server.token(&[("grant_type", "password"), ("username", "demo"), ("password", "guess")]).await;
        wrong.assert_error(400, "invalid_grant");
    }
    let blocked = server.token(&form).await;
    blocked.assert_error(429, "invalid_grant");
    assert!(!blocked.header("retry-after").is_empty());

    let off = spawn(|o| StandardOptions { password_grant: false, ..o }).await;
    off.token(&form).await.assert_error(400, "unsupported_grant_type");
}

#[tokio::test]
async fn client_authentication_is_form_decoded_basic_or_post_and_failures_are_limited() {
    let server = spawn(|o| o).await;
    let form = [("grant_type", "client_credentials")];
    let encoded = server.post_basic("/token", ("standard%2Dclient", "standard%2Dsecret"), &form).await;
    assert_eq!(encoded.status, 200, "RFC 6749 §2.3.1: both halves form-decoded: {}", encoded.text);
    let post = server
        .post("/token", &[("grant_type", "client_credentials"), ("client_id", CLIENT), ("client_secret", SECRET)])
        .await;
    assert_eq!(post.status, 200, "{}", post.text);
    let both = server
        .post_basic("/token", (CLIENT, SECRET), &[("grant_type", "client_credentials"), ("client_secret", SECRET)])
        .await;
    both.assert_error(400, "invalid_request");
    let none = server.post("/token", &form).await;
    none.assert_error(401, "invalid_client");
    server
        .post("/token", &[("grant_type", "client_credentials"), ("client_id", CLIENT)])
        .await
        .assert_error(401, "invalid_client");
    for _ in 0..5 {
        let wrong = server.post_basic("/token", (CLIENT, "wrong"), &form).await;
        wrong.assert_error(401, "invalid_client");
        assert!(wrong.header("www-authenticate").starts_with("Basic"), "{:?}", wrong.headers);
    }
    let blocked = server.post_basic("/token", (CLIENT, SECRET), &form).await;
    blocked.assert_error(429, "invalid_client");
    let other =
        server.post_basic("/token", ("standard-no-password-client", "standard-no-password-secret"), &form).await;
    assert_eq!(other.status, 200, "another client is not blocked");
}

#[tokio::test]
async fn the_token_endpoint_refuses_what_rfc_6749_refuses() {
    let server = spawn(|o| o).await;
    server.token(&[("grant_type", "urn:example:magic")]).await.assert_error(400, "unsupported_grant_type");
    server.token(&[]).await.assert_error(400, "invalid_request");
    server.token(&[("grant_type", "client_credentials"), ("scope", "admin")]).await.assert_error(400, "invalid_scope");
    let repeated = server.token(&[("grant_type", "client_credentials"), ("grant_type", "client_credentials")]).await;
    repeated.assert_error(400, "invalid_request");
    let json = server
        .http
        .post(server.url("/token"))
        .basic_auth(CLIENT, Some(SECRET))
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    Answer::from(json).await.assert_error(400, "invalid_request");
    let device = server
        .post("/token", &[("grant_type", DEVICE_GRANT), ("client_id", DEVICE_CLIENT), ("device_code", "nope")])
        .await;
    device.assert_error(400, "invalid_grant");
}

/// Starts a device authorization for the public device client.
async fn start_device(server: &Server, scope: &str) -> Value {
    let answer = server.post("/device_authorization", &[("client_id", DEVICE_CLIENT), ("scope", scope)]).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.header("cache-control"), "no-store");
    answer.json
}

async fn poll(server: &Server, device_code: &str) -> Answer {
    server
        .post("/token", &[("grant_type", DEVICE_GRANT), ("client_id", DEVICE_CLIENT), ("device_code", device_code)])
        .await
}

/// On the verification page: types `typed`, signs in, decides.
async fn decide(server: &Server, typed: &str, decision: &str) -> Answer {
    let page = server.get(&server.url("/device")).await;
    assert_eq!(page.status, 200);
    let sign_in = server.submit(&page.text, &[("user_code", typed)]).await;
    assert!(sign_in.text.contains(r#"name="password""#), "{}", sign_in.text);
    let consent = server.submit(&sign_in.text, &[("username", "demo"), ("password", "demo")]).await;
    server.submit(&consent.text, &[("decision", decision)]).await
}

#[tokio::test]
async fn the_device_flow_is_pending_then_slowed_down_then_approved_on_the_verification_page() {
    let server = spawn(|o| o).await;
    let started = start_device(&server, "openid profile offline_access").await;
    let user_code = started["user_code"].as_str().unwrap();
    assert!(user_code.len() == 9 && user_code.as_bytes()[4] == b'-', "{user_code}");
    assert!(user_code.replace('-', "").bytes().all(|b| b"BCDFGHJKLMNPQRSTVWXZ".contains(&b)), "{user_code}");
    assert_eq!(started["verification_uri"], server.url("/device"));
    assert_eq!(started["verification_uri_complete"], server.url(&format!("/device?user_code={user_code}")));
    assert_eq!(started["expires_in"], 600);
    assert_eq!(started["interval"], 1, "300 ms, announced in whole seconds");
    let device_code = started["device_code"].as_str().unwrap();

    poll(&server, device_code).await.assert_error(400, "authorization_pending");
    let slow = poll(&server, device_code).await;
    slow.assert_error(400, "slow_down");
    assert!(slow.json["error_description"].as_str().unwrap().contains("5 seconds"), "{}", slow.text);

    // Typed in lower case without the dash: the same code.
    let typed = user_code.replace('-', "").to_lowercase();
    let done = decide(&server, &typed, "grant").await;
    assert!(done.text.contains("Device connected"), "{}", done.text);
    // The interval is 5.3 s now, counted from the last poll.
    tokio::time::sleep(Duration::from_millis(5_400)).await;
    let tokens = poll(&server, device_code).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    assert!(tokens.json["refresh_token"].is_string());
    let (_, claims) = verify_jwt(&server, tokens.json["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["client_id"], DEVICE_CLIENT);
    assert_eq!(claims["sub"], "demo-user-0001");
    let refreshed = server
        .post(
            "/token",
            &[
                ("grant_type", "refresh_token"),
                ("client_id", DEVICE_CLIENT),
                ("refresh_token", tokens.json["refresh_token"].as_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(refreshed.status, 200, "the public client refreshes: {}", refreshed.text);
}

#[tokio::test]
async fn a_denied_or_expired_device_code_says_so_and_wrong_user_codes_are_limited() {
    let server = spawn(|o| StandardOptions { device_code_lifetime: Duration::from_secs(2), ..o }).await;
    let denied = start_device(&server, "openid").await;
    decide(&server, denied["user_code"].as_str().unwrap(), "deny").await;
    poll(&server, denied["device_code"].as_str().unwrap()).await.assert_error(400, "access_denied");

    let expiring = start_device(&server, "openid").await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    poll(&server, expiring["device_code"].as_str().unwrap()).await.assert_error(400, "expired_token");

    let page = server.get(&server.url("/device")).await;
    for _ in 0..5 {
        let wrong = server.submit(&page.text, &[("user_code", "BCDF-GHJK")]).await;
        assert!(wrong.text.contains("That code is not right"), "{}", wrong.text);
    }
    let blocked = server.submit(&page.text, &[("user_code", "BCDF-GHJK")]).await;
    assert_eq!(blocked.status, 429);

    let confidential = server.post_basic("/device_authorization", (CLIENT, SECRET), &[("scope", "openid")]).await;
    assert_eq!(confidential.status, 200, "a confidential client authenticates: {}", confidential.text);
    let unknown = server.post("/device_authorization", &[("client_id", "nobody")]).await;
    unknown.assert_error(401, "invalid_client");
}

#[tokio::test]
async fn revocation_then_introspection_says_inactive_and_userinfo_refuses_the_token() {
    let server = spawn(|o| o).await;
    let tokens = server.code_flow(REDIRECT).await;
    let access_token = tokens["access_token"].as_str().unwrap();
    let active = server.introspect(access_token).await;
    assert_eq!(active["active"], true);
    for field in ["scope", "client_id", "username", "token_type", "exp", "iat", "sub", "aud", "iss", "jti"] {
        assert!(active.get(field).is_some(), "introspection lacks {field}: {active}");
    }
    assert_eq!(active["username"], "demo");
    assert_eq!(server.userinfo(access_token).await.status, 200);

    let unauthenticated = server.post("/revoke", &[("token", access_token)]).await;
    unauthenticated.assert_error(401, "invalid_client");
    let revoked = server.post_basic("/revoke", (CLIENT, SECRET), &[("token", access_token)]).await;
    assert_eq!(revoked.status, 200);
    let unknown = server.post_basic("/revoke", (CLIENT, SECRET), &[("token", "never-issued")]).await;
    assert_eq!(unknown.status, 200, "RFC 7009: 200 for any token");
    assert_eq!(server.introspect(access_token).await, serde_json::json!({"active": false}));
    let refused = server.userinfo(access_token).await;
    assert_eq!(refused.status, 401);
    assert!(refused.header("www-authenticate").contains(r#"error="invalid_token""#));

    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(server.introspect(refresh_token).await["active"], true);
    server
        .post_basic("/revoke", (CLIENT, SECRET), &[("token", refresh_token), ("token_type_hint", "refresh_token")])
        .await;
    assert_eq!(server.introspect(refresh_token).await["active"], false);
    server
        .token(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token)])
        .await
        .assert_error(400, "invalid_grant");
    let public = server.post("/introspect", &[("token", refresh_token), ("client_id", DEVICE_CLIENT)]).await;
    public.assert_error(401, "invalid_client");
}

#[tokio::test]
async fn userinfo_gives_the_claims_of_the_scopes_to_a_bearer_header_only() {
    let server = spawn(|o| o).await;
    let tokens = server.code_flow(REDIRECT).await;
    let access_token = tokens["access_token"].as_str().unwrap();
    let claims = server.userinfo(access_token).await.json;
    assert_eq!(
        claims,
        serde_json::json!({
            "sub": "demo-user-0001", "name": "Demo User", "preferred_username": "demo",
            "email": "demo@example.com", "email_verified": true
        })
    );
    let only_openid = server
        .token(&[("grant_type", "password"), ("username", "demo"), ("password", "demo"), ("scope", "openid")])
        .await;
    let claims = server.userinfo(only_openid.json["access_token"].as_str().unwrap()).await.json;
    assert_eq!(claims, serde_json::json!({"sub": "demo-user-0001"}));

    let no_openid = server
        .token(&[("grant_type", "password"), ("username", "demo"), ("password", "demo"), ("scope", "profile")])
        .await;
    let forbidden = server.userinfo(no_openid.json["access_token"].as_str().unwrap()).await;
    assert_eq!(forbidden.status, 403);
    assert!(forbidden.header("www-authenticate").contains(r#"error="insufficient_scope""#));

    let in_query = server.get(&server.url(&format!("/userinfo?access_token={access_token}"))).await;
    assert_eq!(in_query.status, 401, "a token in the query is not looked at");
    assert_eq!(in_query.header("www-authenticate"), r#"Bearer realm="standard-sandbox""#);
    let forged = format!("{}x", &access_token[..access_token.len() - 1]);
    assert_eq!(server.userinfo(&forged).await.status, 401);
}

#[tokio::test]
async fn access_tokens_expire() {
    let server = spawn(|o| StandardOptions { access_token_lifetime: Duration::from_secs(1), ..o }).await;
    let answer = server.token(&[("grant_type", "client_credentials")]).await;
    let token = answer.json["access_token"].as_str().unwrap();
    assert_eq!(server.introspect(token).await["active"], true);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(server.introspect(token).await, serde_json::json!({"active": false}));
}

#[tokio::test]
async fn the_pages_have_a_strict_policy_and_no_inline_script_or_style() {
    let server = spawn(|o| o).await;
    let sign_in = server.get(&server.authorize_url(REDIRECT, &[])).await;
    let policy = sign_in.header("content-security-policy");
    assert!(policy.contains("default-src 'none'") && policy.contains("style-src 'self'"), "{policy}");
    assert!(policy.contains("form-action 'self' http://127.0.0.1:9"), "{policy}");
    assert_eq!(sign_in.header("cache-control"), "no-store");
    let device = server.get(&server.url("/device?user_code=bcdf-ghjk")).await;
    assert!(device.text.contains(r#"value="BCDF-GHJK""#), "the code from verification_uri_complete is shown");
    for page in [&sign_in.text, &device.text] {
        assert!(!page.contains("<script") && !page.contains("style=") && !page.contains("<style"), "{page}");
        assert!(page.contains(r#"<link rel="stylesheet" href="/static/style.css">"#));
    }
}

/// Client libraries nobody here wrote, against the server: openid-client (npm, OpenID Certified)
/// and Authlib (PyPI). Needs `npm ci --prefix tests/clients` and `tests/servers/install.sh`.
#[tokio::test]
#[ignore = "needs tests/clients/node_modules (npm ci --prefix tests/clients) and tests/servers/.venv"]
async fn client_libraries_nobody_here_wrote_complete_every_flow() {
    let server = spawn(|o| StandardOptions { device_interval: Duration::from_secs(1), ..o }).await;
    let root = env!("CARGO_MANIFEST_DIR");
    let runs: HashMap<&str, (String, String)> = HashMap::from([
        ("openid-client", ("node".to_owned(), format!("{root}/tests/clients/openid_client.mjs"))),
        (
            "Authlib",
            (format!("{root}/tests/servers/.venv/bin/python"), format!("{root}/tests/clients/authlib_client.py")),
        ),
    ]);
    for (library, (program, script)) in runs {
        let issuer = server.issuer.clone();
        let run = move || std::process::Command::new(&program).arg(&script).arg(&issuer).output();
        let output = tokio::task::spawn_blocking(run).await.unwrap();
        let output = output.unwrap_or_else(|e| panic!("{library}: cannot run it: {e}"));
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{library} failed:\n{stdout}\n{stderr}");
        assert!(stdout.contains(" passed, 0 failed"), "{library}:\n{stdout}");
        eprintln!("{library}: {}", stdout.lines().last().unwrap_or(""));
    }
}
