//! The sandbox as strict as a real authorization server (issue 22): registered redirect URIs
//! compared as strings, PKCE per RFC 7636, client credentials form-decoded, `no-store` on token
//! answers and `WWW-Authenticate` on the API's `401`.

use crate::helpers::*;

const AUTHORIZE: &str = "/sandbox/site/oauth2/authorize";
const TOKEN: &str = "/sandbox/site/oauth2/access_token";
/// RFC 7636 Appendix B's verifier and its S256 challenge.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// An authorization request for the demo consumer with `extra` parameters, as a path and query.
fn authorize_url(extra: &[(&str, &str)]) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([("client_id", "sandbox-consumer-key"), ("response_type", "code"), ("state", "st")])
        .extend_pairs(extra)
        .finish();
    format!("{AUTHORIZE}?{query}")
}

/// The sandbox's own error page: `400`, HTML, no redirect, no sign-in form.
fn assert_error_page(page: &Page, what: &str) {
    assert_eq!(page.status, 400, "{what}: {}", page.body);
    assert!(!page.headers.contains_key("location"), "{what}: redirected to {:?}", page.headers.get("location"));
    page.assert_html_page();
    assert!(!page.body.contains(r#"name="password""#), "{what}: a sign-in form was shown");
}

/// Redirect URIs that are not registered: each an error page at the sandbox, before any sign-in
/// page, whether in the first request or slipped into the consent form.
#[tokio::test]
async fn an_unregistered_redirect_uri_gets_the_sandboxs_error_page_and_never_a_redirect() {
    let app = spawn_sandbox_app().await;
    let port = app.address.rsplit(':').next().unwrap().to_owned();
    let bad = [
        "https://evil.example/oauth-callback".to_owned(),
        "javascript:alert(1)//oauth-callback".into(),
        "data:text/html,x/oauth-callback".into(),
        "file:///oauth-callback".into(),
        "http:\\\\evil.example/oauth-callback".into(),
        format!("http://127.0.0.1:{port}@evil.example/oauth-callback"),
        format!("http://user@localhost:{port}/oauth-callback"),
        "http://localhost:1/oauth-callback".into(),
        format!("HTTP://localhost:{port}/oauth-callback"),
        format!("http://LOCALHOST:{port}/oauth-callback"),
        format!("http://127.0.0.1:{port}/other"),
    ];
    for uri in &bad {
        let page = app.get(&authorize_url(&[("redirect_uri", uri)])).await;
        assert_error_page(&page, uri);
        page.assert_contains("registered callback");
    }
    // The consent form with a ticket for a good request, its redirect_uri swapped: no code issued.
    let good = format!("{}/oauth-callback", app.address);
    let sign_in = app.get(&authorize_url(&[("redirect_uri", &good)])).await;
    let mut form = sign_in.hidden_fields();
    form.extend([("username".into(), "demo".into()), ("password".into(), "demo".into())]);
    let consent = app.send(app.client.post(app.url(AUTHORIZE)).form(&form)).await;
    let mut form = consent.hidden_fields();
    assert!(form.iter().any(|(k, _)| k == "ticket"), "{}", consent.body);
    for (name, value) in &mut form {
        if name == "redirect_uri" {
            *value = bad[0].clone();
        }
    }
    form.push(("decision".into(), "grant".into()));
    let answer = app.send(app.client.post(app.url(AUTHORIZE)).form(&form)).await;
    assert_error_page(&answer, "consent with a swapped redirect_uri");
}

/// The app's callback on each origin a browser on this machine may use, and a loopback IP
/// literal on any port (RFC 8252 §7.3), are registered.
#[tokio::test]
async fn the_apps_callback_and_loopback_ip_literals_on_any_port_are_accepted() {
    let app = spawn_sandbox_app().await;
    let port = app.address.rsplit(':').next().unwrap().to_owned();
    for uri in [
        format!("http://127.0.0.1:{port}/oauth-callback"),
        format!("http://localhost:{port}/oauth-callback"),
        format!("http://[::1]:{port}/oauth-callback"),
        "http://127.0.0.1:54321/oauth-callback".into(),
        "http://[::1]:8/oauth-callback".into(),
    ] {
        let page = app.get(&authorize_url(&[("redirect_uri", &uri)])).await;
        assert_eq!(page.status, 200, "{uri}: {}", page.body);
        page.assert_contains("Sign in");
        let back = sandbox_authorize(&app, &authorize_url(&[("redirect_uri", &uri)]), "grant").await;
        // (The helper gives the app's own origin as a path.)
        let expected = uri.trim_start_matches(&app.address);
        assert!(back.starts_with(&format!("{expected}?code=")), "{uri}: sent back to {back}");
    }
}

/// CR, LF, NUL, `\x01` and DEL in a `redirect_uri`: a `400` page at the sandbox, nothing issued
/// (once, a `500` after a code was issued).
#[tokio::test]
async fn control_characters_in_the_redirect_uri_get_a_400_page_before_anything_is_issued() {
    let app = spawn_sandbox_app().await;
    for control in ["\r", "\n", "\0", "\x01", "\x7f", "\r\nSet-Cookie: x=1"] {
        let uri = format!("{}/oauth-callback{control}", app.address);
        let page = app.get(&authorize_url(&[("redirect_uri", &uri)])).await;
        assert_error_page(&page, &format!("{control:?} on the sign-in page"));
        // The consent form posted directly, with whatever ticket: still the page, never a 500.
        let form = [
            ("client_id", "sandbox-consumer-key"),
            ("response_type", "code"),
            ("redirect_uri", uri.as_str()),
            ("step", "consent"),
            ("ticket", "x"),
            ("decision", "grant"),
        ];
        let answer = app.send(app.client.post(app.url(AUTHORIZE)).form(&form)).await;
        assert_error_page(&answer, &format!("{control:?} on the consent form"));
    }
    app.assert_alive().await;
}

/// RFC 7636 at the authorization endpoint: a method without a challenge, a challenge of the wrong
/// length or alphabet, or `plain`, go back to the registered callback as `invalid_request` with the
/// state; with an unregistered callback, the error page.
#[tokio::test]
async fn a_malformed_pkce_request_goes_back_to_the_registered_callback_as_invalid_request() {
    let app = spawn_sandbox_app().await;
    let good = format!("{}/oauth-callback", app.address);
    let short = &CHALLENGE[..42];
    let long = format!("{CHALLENGE}A");
    let padded = format!("{}=", &CHALLENGE[..42]);
    let cases: [&[(&str, &str)]; 6] = [
        &[("code_challenge_method", "S256")],
        &[("code_challenge", short), ("code_challenge_method", "S256")],
        &[("code_challenge", &long), ("code_challenge_method", "S256")],
        &[("code_challenge", &padded), ("code_challenge_method", "S256")],
        &[("code_challenge", CHALLENGE), ("code_challenge_method", "plain")],
        &[("code_challenge", CHALLENGE)],
    ];
    for pkce in cases {
        let params = [&[("redirect_uri", good.as_str())][..], pkce].concat();
        let page = app.get(&authorize_url(&params)).await;
        assert_eq!(page.status, 303, "{pkce:?}: {}", page.body);
        let location = page.location();
        assert!(location.starts_with(&format!("{good}?")), "{pkce:?}: {location}");
        assert_eq!(query_param(location, "error").as_deref(), Some("invalid_request"), "{location}");
        assert_eq!(query_param(location, "state").as_deref(), Some("st"), "{location}");
        assert_eq!(query_param(location, "code"), None);
        let params = [&[("redirect_uri", "https://evil.example/oauth-callback")][..], pkce].concat();
        assert_error_page(&app.get(&authorize_url(&params)).await, "bad PKCE and a bad redirect_uri");
    }
}

/// RFC 7636 at the token endpoint: a verifier of 43 to 128 unreserved characters, or
/// `invalid_request`; one that does not hash to the challenge, `invalid_grant`.
#[tokio::test]
async fn the_token_endpoint_checks_the_verifiers_length_and_alphabet() {
    let app = spawn_sandbox_app().await;
    let redirect_uri = format!("{}/oauth-callback", app.address);
    let exchange = |verifier: String| {
        let (app, redirect_uri) = (&app, redirect_uri.clone());
        async move {
            let params = [
                ("redirect_uri", redirect_uri.as_str()),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
            ];
            let back = sandbox_authorize(app, &authorize_url(&params), "grant").await;
            let code = query_param(&back, "code").expect("a code");
            let form = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", redirect_uri.as_str()),
                ("code_verifier", verifier.as_str()),
            ];
            let request =
                app.client.post(app.url(TOKEN)).basic_auth("sandbox-consumer-key", Some("sandbox-consumer-secret"));
            app.send(request.form(&form)).await
        }
    };
    for (verifier, error) in [
        ("abc".to_owned(), "invalid_request"),
        (VERIFIER[..42].to_owned(), "invalid_request"),
        ("a".repeat(129), "invalid_request"),
        (format!("{}!", &VERIFIER[..42]), "invalid_request"),
        (String::new(), "invalid_request"),
        ("a".repeat(43), "invalid_grant"),
    ] {
        let page = exchange(verifier.clone()).await;
        assert_eq!(page.status, 400, "{verifier:?}: {}", page.body);
        page.assert_contains(&format!(r#""error":"{error}""#));
    }
    let page = exchange(VERIFIER.to_owned()).await;
    assert_eq!(page.status, 200, "{}", page.body);
}

/// RFC 6749 §2.3.1: client credentials in HTTP Basic are form-urlencoded first, so a library may
/// send `-` as `%2D` (an OpenID Certified one does); the sandbox decodes them.
#[tokio::test]
async fn form_encoded_basic_credentials_are_decoded() {
    use base64::Engine;
    let app = spawn_sandbox_app().await;
    let encoded =
        base64::engine::general_purpose::STANDARD.encode("sandbox%2Dconsumer%2Dkey:sandbox%2dconsumer%2dsecret");
    let request = app.client.post(app.url(TOKEN)).header("authorization", format!("Basic {encoded}"));
    let page = app.send(request.form(&[("grant_type", "client_credentials")])).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.assert_contains("access_token");
    let wrong = base64::engine::general_purpose::STANDARD.encode("sandbox%2Dconsumer%2Dkey:sandbox%2Dconsumer%2Dsecre");
    let request = app.client.post(app.url(TOKEN)).header("authorization", format!("Basic {wrong}"));
    let page = app.send(request.form(&[("grant_type", "client_credentials")])).await;
    assert_eq!(page.status, 400, "{}", page.body);
}

/// RFC 6749 §5.1 and §5.2: every token answer, a token or an error, says `no-store`.
#[tokio::test]
async fn every_token_answer_says_no_store() {
    let app = spawn_sandbox_app().await;
    type Case<'a> = (&'a [(&'a str, &'a str)], Option<(&'a str, &'a str)>);
    let cases: [Case; 5] = [
        (&[("grant_type", "client_credentials")], Some(("sandbox-consumer-key", "sandbox-consumer-secret"))),
        (
            &[("grant_type", "password"), ("username", "demo"), ("password", "demo")],
            Some(("sandbox-consumer-key", "sandbox-consumer-secret")),
        ),
        (
            &[("grant_type", "password"), ("username", "demo"), ("password", "wrong")],
            Some(("sandbox-consumer-key", "sandbox-consumer-secret")),
        ),
        (
            &[("grant_type", "authorization_code"), ("code", "nope")],
            Some(("sandbox-consumer-key", "sandbox-consumer-secret")),
        ),
        (&[("grant_type", "client_credentials")], None),
    ];
    for (form, client) in cases {
        let mut request = app.client.post(app.url(TOKEN)).form(form);
        if let Some((id, secret)) = client {
            request = request.basic_auth(id, Some(secret));
        }
        let page = app.send(request).await;
        let header = |name: &str| page.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        assert_eq!(header("cache-control"), "no-store", "{form:?} ({}): {}", page.status, page.body);
        assert_eq!(header("pragma"), "no-cache", "{form:?}");
    }
}

/// RFC 6750 §3: the API's `401` names the Bearer scheme, with `invalid_token` when a token was sent
/// and is not good; the body stays Bitbucket's.
#[tokio::test]
async fn the_apis_401_carries_a_bearer_challenge_and_bitbuckets_body() {
    let app = spawn_sandbox_app().await;
    let user = app.url("/sandbox/api/2.0/user");
    let challenge =
        |page: &Page| page.headers.get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or("(none)").to_owned();
    let missing = app.send(app.client.get(&user)).await;
    assert_eq!(missing.status, 401);
    assert!(challenge(&missing).starts_with("Bearer"), "{}", challenge(&missing));
    assert!(!challenge(&missing).contains("error="), "{}", challenge(&missing));
    missing.assert_contains(r#"{"type":"error","error":{"message":"Authentication required."}}"#);
    let unknown = app.send(app.client.get(&user).bearer_auth("not-a-token")).await;
    assert_eq!(unknown.status, 401);
    assert!(challenge(&unknown).starts_with("Bearer "), "{}", challenge(&unknown));
    assert!(challenge(&unknown).contains(r#"error="invalid_token""#), "{}", challenge(&unknown));
    unknown.assert_contains(r#"{"type":"error","error":{"message":"Invalid access token."}}"#);
}
