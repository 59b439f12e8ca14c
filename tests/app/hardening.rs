//! Hostile and malformed input, sent as raw bytes so nothing is normalised on the way; security
//! headers; cross-site refusal; the failed-attempt limit; the request timeout.

use std::time::Duration;

use bitbucket_password_grant::settings::Settings;
use tokio::io::AsyncWriteExt;

use crate::helpers::*;

const PASSWORD: &str = "hunter2-Pa55";
const CONSUMER_SECRET: &str = "sandbox-consumer-secret";

fn form_post(path: &str, content_type: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut request =
        format!("POST {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if let Some(content_type) = content_type {
        request.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    request.push_str("\r\n");
    let mut bytes = request.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn login(body: &str) -> Vec<u8> {
    form_post("/oauth-callback", Some("application/x-www-form-urlencoded"), body.as_bytes())
}

fn get(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").into_bytes()
}

fn with_method(method: &str, target: &str) -> Vec<u8> {
    format!("{method} {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").into_bytes()
}

/// Every bad input: a 4xx HTML page, never a 5xx, no secret echoed, and the app still answers.
#[tokio::test]
async fn bad_input_gets_a_4xx_html_page_and_the_app_keeps_serving() {
    let app = spawn_sandbox_app().await;
    let long_username = "u".repeat(100 * 1024);
    let long_body = format!("username=demo&password={}", "p".repeat(17 * 1024));
    let many_headers: String = (0..60).map(|i| format!("X-Filler-{i}: {}\r\n", "v".repeat(200))).collect();
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("empty form", login(""), 400),
        ("missing password", login("username=demo"), 400),
        ("missing username", login(&format!("password={PASSWORD}")), 400),
        ("empty username", login(&format!("username=&password={PASSWORD}")), 400),
        ("empty password", login("username=demo&password="), 400),
        ("whitespace username", login(&format!("username=+%20%09&password={PASSWORD}")), 400),
        ("whitespace password", login("username=demo&password=+++"), 400),
        ("100 KB username", login(&format!("username={long_username}&password={PASSWORD}")), 413),
        ("body over 16 KiB", login(&long_body), 413),
        (
            "raw invalid UTF-8",
            form_post(
                "/oauth-callback",
                Some("application/x-www-form-urlencoded"),
                &[b"username=\xff\xfe\xfd&password=".as_slice(), PASSWORD.as_bytes()].concat(),
            ),
            // Refused by the app itself: never sent upstream with replacement characters.
            400,
        ),
        ("invalid percent-encoding", login(&format!("username=%zz%&password={PASSWORD}")), 400),
        ("percent-encoded invalid UTF-8", login(&format!("username=%ff%fe&password={PASSWORD}")), 400),
        ("duplicate username", login(&format!("username=demo&username=eve&password={PASSWORD}")), 400),
        ("duplicate password", login(&format!("username=demo&password={PASSWORD}&password=x")), 400),
        (
            "JSON body",
            form_post(
                "/oauth-callback",
                Some("application/json"),
                format!(r#"{{"username":"demo","password":"{PASSWORD}"}}"#).as_bytes(),
            ),
            400,
        ),
        (
            "multipart body",
            form_post(
                "/oauth-callback",
                Some("multipart/form-data; boundary=X"),
                format!("--X\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\n{PASSWORD}\r\n--X--\r\n")
                    .as_bytes(),
            ),
            400,
        ),
        (
            "no Content-Type",
            form_post("/oauth-callback", None, format!("username=demo&password={PASSWORD}").as_bytes()),
            400,
        ),
        (
            "text/plain body",
            form_post("/oauth-callback", Some("text/plain"), format!("username=demo&password={PASSWORD}").as_bytes()),
            400,
        ),
        ("CRLF in username", login(&format!("username=demo%0D%0ASet-Cookie:%20x=y&password={PASSWORD}")), 400),
        ("NUL in username", login(&format!("username=de%00mo&password={PASSWORD}")), 400),
        (
            "20 KB header",
            format!("GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\nX-Big: {}\r\n\r\n", "a".repeat(20 * 1024))
                .into_bytes(),
            431,
        ),
        (
            "60 large headers",
            format!("GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{many_headers}\r\n").into_bytes(),
            431,
        ),
        ("unknown method", with_method("BREW", "/"), 405),
        ("DELETE on the callback", with_method("DELETE", "/oauth-callback"), 405),
        ("OPTIONS", with_method("OPTIONS", "/"), 405),
        ("TRACE", with_method("TRACE", "/oauth-callback"), 405),
        ("traversal ../config.json", get("/static/../config.json"), 404),
        ("traversal %2e%2e", get("/static/%2e%2e/config.json"), 404),
        ("traversal %2e%2e%2f", get("/static/%2e%2e%2fconfig.json"), 404),
        ("traversal ..%2f", get("/static/..%2fconfig.json"), 404),
        ("traversal backslash", get("/static/..%5cconfig.json"), 404),
        ("traversal double-encoded", get("/static/%252e%252e/config.json"), 404),
        ("traversal into src", get("/static/../src/main.rs"), 404),
        ("absolute path", get("/static//etc/passwd"), 404),
        ("encoded absolute path", get("/static/%2fetc%2fpasswd"), 404),
        ("dots and slashes", get("/static/....//....//config.json"), 404),
        ("very long URL", get(&format!("/{}", "a".repeat(8 * 1024))), 414),
        ("very long callback query", get(&format!("/oauth-callback?code={}&state=x", "c".repeat(8 * 1024))), 414),
        ("garbage code and state", get("/oauth-callback?code=%00%ff%fe&state=%zz%00"), 400),
        ("repeated state", get("/oauth-callback?code=a&state=b&state=c"), 400),
        ("refresh with no token", form_post("/refresh", Some("application/x-www-form-urlencoded"), b""), 400),
        ("refresh with a JSON body", form_post("/refresh", Some("application/json"), b"{}"), 400),
    ];
    assert!(cases.len() >= 30);
    for (name, request, expected) in cases {
        let page = raw_request(&app.address, &request).await;
        assert_eq!(page.status, expected, "{name}: {}\n{}", page.head, page.body);
        assert!(
            page.header("content-type").is_some_and(|t| t.starts_with("text/html")),
            "{name}: not HTML\n{}",
            page.head
        );
        assert!(page.body.contains("<!doctype html>"), "{name}: not the layout\n{}", page.body);
        for secret in [PASSWORD, CONSUMER_SECRET, r#""consumerKey":"#] {
            assert!(!page.body.contains(secret), "{name}: echoes {secret}");
        }
        assert!(!page.head.to_ascii_lowercase().contains("set-cookie: x=y"), "{name}: header injection");
        app.assert_alive().await;
    }
}

#[tokio::test]
async fn head_answers_like_get_without_a_body() {
    let app = spawn_sandbox_app().await;
    let page = raw_request(&app.address, &with_method("HEAD", "/")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.is_empty());
    let health = raw_request(&app.address, &with_method("HEAD", "/healthcheck")).await;
    assert_eq!(health.status, 200);
}

#[tokio::test]
async fn chunked_body_over_the_limit_is_413() {
    let app = spawn_sandbox_app().await;
    let chunk = "a".repeat(8 * 1024);
    let mut request = b"POST /oauth-callback HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    request.extend_from_slice(format!("{:x}\r\nusername={chunk}\r\n", chunk.len() + 9).as_bytes());
    for _ in 0..2 {
        request.extend_from_slice(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes());
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let page = raw_request(&app.address, &request).await;
    assert_eq!(page.status, 413, "{}", page.head);
    assert!(page.body.contains("Request too large"));
}

#[tokio::test]
async fn xss_in_the_username_is_reflected_escaped_never_as_markup() {
    let app = spawn_sandbox_app().await;
    let payload = r#"<script>alert(1)</script>"><img src=x onerror=alert(2)>"#;
    let page = app.login(payload, "").await;
    assert_eq!(page.status, 400);
    page.assert_contains(
        r#"value="&#60;script&#62;alert(1)&#60;/script&#62;&#34;&#62;&#60;img src=x onerror=alert(2)&#62;""#,
    );
    page.assert_lacks("<script>alert(1)");
    page.assert_lacks("<img src=x");
    let refused = app.login(payload, PASSWORD).await;
    assert_eq!(refused.status, 403);
    refused.assert_lacks("<script>alert(1)");
}

#[tokio::test]
async fn traversal_never_reaches_files_outside_static() {
    let app = spawn_sandbox_app().await;
    for target in [
        "/static/../config.json",
        "/static/%2e%2e/config.json",
        "/static/..%2fCargo.toml",
        "/static/../../../../etc/passwd",
    ] {
        let page = raw_request(&app.address, &get(target)).await;
        assert!(page.status == 404 || page.status == 400, "{target}: {}", page.status);
        for leak in [CONSUMER_SECRET, r#""consumerKey":"#, "[package]", "root:x:0:0"] {
            assert!(!page.body.contains(leak), "{target} leaked {leak}");
        }
    }
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_sandbox_app().await;
    let pages = [
        app.get("/").await,
        app.get("/healthcheck").await,
        app.get("/static/style.css").await,
        app.get("/nowhere").await,
        app.login("demo", "demo").await,
        app.login("demo", "wrong").await,
        app.get("/sandbox/api/2.0/user").await,
        app.get("/oauth-callback").await,
    ];
    for page in pages {
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(page.headers["x-content-type-options"], "nosniff");
        assert_eq!(page.headers["referrer-policy"], "no-referrer");
    }
}

#[tokio::test]
async fn pages_that_take_credentials_or_show_tokens_are_not_stored() {
    let app = spawn_sandbox_app().await;
    let pages = [
        ("start page", app.get("/").await),
        ("token page", app.login("demo", "demo").await),
        ("refused login", app.login("demo", "wrong").await),
        ("form error", app.login("demo", "").await),
        ("client credentials", app.post_form("/client-credentials", &[]).await),
        ("callback", app.get("/oauth-callback").await),
        (
            "consent page",
            app.get("/sandbox/site/oauth2/authorize?client_id=sandbox-consumer-key&response_type=code&state=s").await,
        ),
    ];
    for (name, page) in pages {
        assert_eq!(page.headers.get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"), "{name}");
    }
}

#[test]
fn templates_have_no_inline_script_or_style() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/templates");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for forbidden in ["<style", " style=", "<script>", "javascript:", " onclick=", " onload=", " onsubmit="] {
            assert!(!text.contains(forbidden), "{} contains {forbidden}", path.display());
        }
        for (at, _) in text.match_indices("<script") {
            assert!(text[at..].split('>').next().unwrap().contains("src="), "{}: inline script", path.display());
        }
    }
}

#[tokio::test]
async fn cross_site_credential_posts_are_refused_with_403() {
    let app = spawn_sandbox_app().await;
    let host = app.address.trim_start_matches("http://").to_owned();
    for (path, form) in [
        ("/oauth-callback", vec![("username", "demo"), ("password", "demo")]),
        ("/client-credentials", vec![]),
        ("/refresh", vec![("refresh_token", "x")]),
    ] {
        let evil = app.client.post(app.url(path)).header("origin", "https://evil.example").form(&form);
        let page = app.send(evil).await;
        assert_eq!(page.status, 403, "{path}");
        page.assert_html_page();
        page.assert_contains("Cross-site request refused");
        let fetch = app.client.post(app.url(path)).header("sec-fetch-site", "cross-site").form(&form);
        assert_eq!(app.send(fetch).await.status, 403, "{path}");
    }
    let same_origin = app
        .client
        .post(app.url("/oauth-callback"))
        .header("origin", format!("http://{host}"))
        .header("sec-fetch-site", "same-origin")
        .form(&[("username", "demo"), ("password", "demo")]);
    assert_eq!(app.send(same_origin).await.status, 200);
    // No Origin, no Sec-Fetch-Site: curl and scripts are served.
    assert_eq!(app.login("demo", "demo").await.status, 200);
}

#[tokio::test]
async fn repeated_failures_get_429_with_retry_after_and_successes_never_count() {
    let mut settings = Settings::sandbox_defaults();
    settings.failed_attempts_per_minute = 3;
    let app = spawn_app(settings).await;
    for _ in 0..20 {
        assert_eq!(app.login("demo", "demo").await.status, 200);
    }
    for _ in 0..5 {
        assert_eq!(app.login("demo", "").await.status, 400); // form errors are not attempts
    }
    for attempt in 1..=3 {
        assert_eq!(app.login("demo", "wrong").await.status, 403, "attempt {attempt}");
    }
    let blocked = app.login("demo", "wrong").await;
    assert_eq!(blocked.status, 429);
    blocked.assert_html_page();
    blocked.assert_contains("Too many failed attempts");
    let retry: u64 = blocked.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // The right password is refused too while blocked: that is the point.
    assert_eq!(app.login("demo", "demo").await.status, 429);
    app.assert_alive().await;
}

#[tokio::test]
async fn a_client_too_slow_to_send_its_body_gets_408() {
    let mut settings = Settings::sandbox_defaults();
    settings.request_timeout = Duration::from_millis(500);
    let app = spawn_app(settings).await;
    let mut socket = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://")).await.unwrap();
    let host = app.address.trim_start_matches("http://");
    let head = format!(
        "POST /oauth-callback HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nusername="
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 8192];
    let started = std::time::Instant::now();
    let n = tokio::time::timeout(Duration::from_secs(5), tokio::io::AsyncReadExt::read(&mut socket, &mut answer))
        .await
        .expect("answered before the test's own timeout")
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(3));
    app.assert_alive().await;
}
