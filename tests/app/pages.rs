//! The start page, the healthcheck, static files, and HTML pages for unknown paths and methods.

use crate::helpers::*;

#[tokio::test]
async fn start_page_teaches_the_grant_and_offers_the_form() {
    let app = spawn_sandbox_app().await;
    let page = app.get("/").await;
    assert_eq!(page.status, 200);
    page.assert_html_page();
    for needle in [
        "Resource Owner Password Credentials",
        "high", // the trust bar
        "two-step verification",
        "How it differs from the other grants",
        "What OAuth is",
        "What it is not",
        "Resource owner (end-user)",
        "Authorization server",
        "Resource server",
        "Basic Auth",
        "<code>client_id</code>",
        "https://bitbucket.org/site/oauth2/authorize",
        "https://bitbucket.org/site/oauth2/access_token",
        "<code>access_token</code>",
        "/static/flow.svg",
        "/healthcheck",
        "http://localhost:3000/oauth-callback",
        r#"<form method="post" action="/oauth-callback""#,
        r#"name="username""#,
        r#"name="password" type="password""#,
    ] {
        page.assert_contains(needle);
    }
    assert_eq!(page.headers["cache-control"], "no-store");
}

#[tokio::test]
async fn start_page_in_sandbox_mode_shows_the_demo_user_and_how_to_switch() {
    let app = spawn_sandbox_app().await;
    let page = app.get("/").await;
    page.assert_contains("Sandbox mode.");
    page.assert_contains("<kbd>demo</kbd>");
    page.assert_contains(r#"<code>"sandbox": false</code>"#);
    page.assert_contains(&format!("{}/sandbox/site/oauth2/access_token", app.address));
}

#[tokio::test]
async fn start_page_in_live_mode_names_the_authorization_server_and_no_demo_user() {
    let app = spawn_app(settings_for("https://auth.example.test")).await;
    let page = app.get("/").await;
    page.assert_contains("<strong>Live mode");
    page.assert_contains("https://auth.example.test/site/oauth2/access_token");
    page.assert_lacks("<kbd>demo</kbd>");
    page.assert_lacks("/sandbox/");
}

#[tokio::test]
async fn healthcheck_is_json_and_calls_nothing_upstream() {
    // The upstream refuses connections: the healthcheck must not care.
    let dead = refused_address().await;
    let app = spawn_app(settings_for(&format!("http://{dead}"))).await;
    let page = app.get("/healthcheck").await;
    assert_eq!(page.status, 200);
    assert_eq!(page.content_type(), "application/json");
    let json: serde_json::Value = serde_json::from_str(&page.body).unwrap();
    assert_eq!(json["status"], "ok");
    assert_eq!(json["name"], "bitbucket-password-grant");
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn static_files_are_served_with_their_types() {
    let app = spawn_sandbox_app().await;
    let css = app.get("/static/style.css").await;
    assert_eq!(css.status, 200);
    assert!(css.content_type().starts_with("text/css"));
    let svg = app.get("/static/flow.svg").await;
    assert_eq!(svg.status, 200);
    assert_eq!(svg.content_type(), "image/svg+xml");
    assert!(svg.body.contains("Authorization server"));
}

#[tokio::test]
async fn static_files_do_not_stall_on_delayed_acks() {
    // Served in two writes (headers, then the file), each response would wait ~40 ms for the
    // client's delayed ACK if the server left Nagle's algorithm on, once the connection has left
    // Linux's quick-ACK start. 200 in a row on one connection: 0.2 s with TCP_NODELAY, 2.2 s without.
    let app = spawn_sandbox_app().await;
    let started = std::time::Instant::now();
    for _ in 0..200 {
        assert_eq!(app.get("/static/style.css").await.status, 200);
    }
    let elapsed = started.elapsed();
    assert!(elapsed < std::time::Duration::from_secs(1), "200 stylesheet requests took {elapsed:?}");
}

#[tokio::test]
async fn unknown_path_is_an_html_404_page() {
    let app = spawn_sandbox_app().await;
    let page = app.get("/no/such/page").await;
    assert_eq!(page.status, 404);
    page.assert_html_page();
    page.assert_contains("Page not found");
    page.assert_contains("Sandbox mode.");
}

#[tokio::test]
async fn missing_static_file_is_an_html_404_page() {
    let app = spawn_sandbox_app().await;
    let page = app.get("/static/nothing-here.css").await;
    assert_eq!(page.status, 404);
    page.assert_html_page();
}

#[tokio::test]
async fn wrong_method_is_an_html_405_page_with_allow() {
    let app = spawn_sandbox_app().await;
    let page = app.send(app.client.delete(app.url("/"))).await;
    assert_eq!(page.status, 405);
    page.assert_html_page();
    page.assert_contains("Method not allowed");
    assert!(page.headers["allow"].to_str().unwrap().contains("GET"));

    let page = app.send(app.client.put(app.url("/oauth-callback"))).await;
    assert_eq!(page.status, 405);
    page.assert_html_page();
}

#[tokio::test]
async fn the_healthcheck_shortcut_answers_exactly_as_the_route_does() {
    let app = spawn_sandbox_app().await;
    // With a query the probe takes the app's ordinary path (the router); without, the shortcut.
    let (fast, routed) = (app.get("/healthcheck").await, app.get("/healthcheck?via=router").await);
    assert_eq!((fast.status, &fast.body), (routed.status, &routed.body));
    let names = |page: &Page| {
        let mut names: Vec<String> = page.headers.keys().map(|k| k.to_string()).filter(|k| k != "date").collect();
        names.sort();
        names
    };
    assert_eq!(names(&fast), names(&routed));
    for name in ["content-security-policy", "x-content-type-options", "referrer-policy", "x-frame-options"] {
        assert_eq!(fast.headers.get(name), routed.headers.get(name), "{name}");
    }
}
