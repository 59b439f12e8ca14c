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
