//! Second hardening round: the attempt limit under concurrency, slow and silent connections, the
//! shutdown deadline, the Host allow-list, `Sec-Fetch-Site`, HTTP/2 refusal, state replay, SIGTERM
//! under load, and hyper's own rejections. Loopback only; every count and wait is bounded.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;
use crate::process::Binary;

const TOKEN_PATH: &str = "/site/oauth2/access_token";
/// The element that shows an access token on a result page.
const TOKEN_SHOWN: &str = r#"id="access-token""#;
/// Start-up line (info, the harness reads the address from it), then warnings only.
const QUIET: &str = "warn,bitbucket_password_grant=info,bitbucket_password_grant::web=warn";

/// A config file for the binary under the temp folder, removed on drop.
struct TempConfig(std::path::PathBuf);

impl TempConfig {
    fn new(extra: serde_json::Value) -> TempConfig {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("bb-hardening-two-{}-{n}.json", std::process::id()));
        let mut config = json!({
            "consumerKey": "sandbox-consumer-key",
            "consumerSecret": "sandbox-consumer-secret",
            "sandbox": true
        });
        config.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        std::fs::write(&path, config.to_string()).unwrap();
        TempConfig(path)
    }

    fn start(&self) -> Binary {
        Binary::start_with(&["--config", self.0.to_str().unwrap()], &[("RUST_LOG", QUIET)])
    }
}

impl Drop for TempConfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn host_of(address: &str) -> &str {
    address.trim_start_matches("http://")
}

fn port_of(address: &str) -> u16 {
    host_of(address).rsplit_once(':').unwrap().1.parse().unwrap()
}

/// Reads until the peer closes (0 or an error) or `deadline`: the bytes that came, and whether it
/// closed.
async fn read_until_closed(reader: &mut (impl AsyncReadExt + Unpin), deadline: Instant) -> (Vec<u8>, bool) {
    let (mut all, mut buffer) = (Vec::new(), [0u8; 4096]);
    loop {
        match tokio::time::timeout_at(deadline.into(), reader.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => return (all, true),
            Ok(Ok(n)) => all.extend_from_slice(&buffer[..n]),
            Err(_) => return (all, false),
        }
    }
}

/// When the server closed `reader` (time since `opened`, bytes it sent first), or `Err(n)` if it
/// was still open at `deadline`.
async fn closed_within(
    mut reader: impl AsyncReadExt + Unpin,
    opened: Instant,
    deadline: Instant,
    n: usize,
) -> Result<(Duration, Vec<u8>), usize> {
    match read_until_closed(&mut reader, deadline).await {
        (bytes, true) => Ok((opened.elapsed(), bytes)),
        (_, false) => Err(n),
    }
}

/// Every `<input type="hidden">` of a page, in order, values decoded.
fn hidden_inputs(page: &Page) -> Vec<(String, String)> {
    let marker = r#"<input type="hidden" name=""#;
    page.body
        .match_indices(marker)
        .map(|(at, _)| {
            let rest = &page.body[at + marker.len()..];
            let (name, rest) = rest.split_once('"').unwrap();
            let value = rest.split_once(r#"value=""#).unwrap().1.split('"').next().unwrap();
            (name.to_owned(), unescape(value))
        })
        .collect()
}

async fn post_login_concurrently(app: &TestApp, count: usize, password: &'static str) -> Vec<Page> {
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            let request =
                app.client.post(app.url("/oauth-callback")).form(&[("username", "u"), ("password", password)]);
            tokio::spawn(async move { into_page(request.send().await.expect("POST")).await })
        })
        .collect();
    let mut pages = Vec::new();
    for task in tasks {
        pages.push(task.await.unwrap());
    }
    pages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_wrong_passwords_reach_upstream_exactly_the_limit_and_successes_never_count() {
    let upstream = MockServer::start().await;
    let refusal = json!({"error": "invalid_grant", "error_description": "wrong password"});
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(ResponseTemplate::new(400).set_body_json(refusal).set_delay(Duration::from_millis(300)))
        .mount(&upstream)
        .await;
    let mut settings = settings_for(&upstream.uri());
    settings.failed_attempts_per_minute = 10;
    let app = spawn_app(settings).await;
    let pages = post_login_concurrently(&app, 100, "wrong").await;
    let token_requests =
        upstream.received_requests().await.unwrap().iter().filter(|r| r.url.path() == TOKEN_PATH).count();
    let limited: Vec<_> = pages.iter().filter(|p| p.status == 429).collect();
    let statuses: Vec<u16> = pages.iter().map(|p| p.status).filter(|s| *s != 429).collect();
    println!("100 concurrent wrong passwords: {token_requests} token requests upstream, other answers {statuses:?}");
    assert_eq!(token_requests, 10, "token requests upstream");
    assert_eq!(limited.len(), 90, "429 answers; the others: {statuses:?}");
    assert!(statuses.iter().all(|s| *s == 403), "{statuses:?}");
    for page in limited {
        let retry: u64 = page.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "Retry-After {retry}");
    }

    let good = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(TOKEN_PATH))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"access_token": "t0k3n", "token_type": "bearer"})),
        )
        .mount(&good)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"display_name": "Good User"})))
        .mount(&good)
        .await;
    let mut settings = settings_for(&good.uri());
    settings.failed_attempts_per_minute = 10;
    let app = spawn_app(settings).await;
    for attempt in 1..=20 {
        let page = app.login("u", "right").await;
        assert_eq!(page.status, 200, "success {attempt}: {}", page.body);
        page.assert_contains("Good User");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_slow_connections_are_closed_by_the_head_deadline_while_the_healthcheck_stays_fast() {
    let config = TempConfig::new(json!({"headerReadTimeoutSeconds": 2, "idleTimeoutSeconds": 4}));
    let binary = config.start();
    let host = host_of(&binary.address).to_owned();
    let mut watchers = Vec::new();
    for n in 0..350 {
        let stream = TcpStream::connect(&host).await.expect("connect");
        let opened = Instant::now();
        if n < 300 {
            watchers.push(tokio::spawn(closed_within(stream, opened, opened + Duration::from_secs(3), n)));
            continue;
        }
        // Slow: one byte of a request head every 500 ms, at most 16 bytes (8 s).
        let (reader, mut writer) = stream.into_split();
        tokio::spawn(async move {
            for byte in b"GET / HTTP/1.1\r\nHost: x".iter().take(16) {
                if writer.write_all(&[*byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        watchers.push(tokio::spawn(closed_within(reader, opened, opened + Duration::from_secs(3), n)));
    }
    let mut latencies = Vec::new();
    for _ in 0..10 {
        let client = client_builder().build().unwrap();
        let started = Instant::now();
        let response = client.get(format!("{}/healthcheck", binary.address)).send().await.unwrap();
        latencies.push(started.elapsed());
        assert_eq!(response.status(), 200);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let (mut open, mut times, mut answered) = (Vec::new(), Vec::new(), 0);
    for watcher in watchers {
        match watcher.await.unwrap() {
            Ok((after, bytes)) => {
                times.push(after);
                answered += usize::from(!bytes.is_empty());
            }
            Err(n) => open.push(n),
        }
    }
    let (min, max) = (times.iter().min().copied(), times.iter().max().copied());
    println!("healthcheck latencies {latencies:?}; closed after min {min:?} max {max:?}; {answered} got bytes");
    assert!(latencies.iter().all(|l| *l < Duration::from_millis(100)), "{latencies:?}");
    assert!(open.is_empty(), "{} connections still open after 3 s, e.g. #{:?}", open.len(), open.first());
    assert!(min.unwrap() >= Duration::from_millis(1800), "closed before the 2 s deadline: {min:?}");
    binary.app().assert_alive().await;
    binary.finish();
}

/// The head deadline counts again from the end of each answer: a keep-alive connection that goes
/// quiet after its answers is closed by it, well before the idle timeout; one that keeps sending
/// requests stays open past it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_head_deadline_restarts_after_each_answer() {
    let config = TempConfig::new(json!({"headerReadTimeoutSeconds": 1, "idleTimeoutSeconds": 30}));
    let binary = config.start();
    let host = host_of(&binary.address).to_owned();
    let request = format!("GET /healthcheck HTTP/1.1\r\nHost: {host}\r\n\r\n");
    let mut busy = TcpStream::connect(&host).await.unwrap();
    let opened = Instant::now();
    let mut answer = [0u8; 4096];
    // Six requests 400 ms apart: 2.4 s in all, more than twice the deadline, each within it.
    for _ in 0..6 {
        busy.write_all(request.as_bytes()).await.unwrap();
        let read = busy.read(&mut answer).await.unwrap();
        assert!(answer[..read].starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer[..read]));
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    // Then quiet: closed about a second after the last answer.
    let quiet = Instant::now();
    let (closed_after, bytes) = closed_within(busy, quiet, quiet + Duration::from_secs(3), 0).await.expect("closed");
    println!("served for {:?}; closed {closed_after:?} after going quiet", quiet - opened);
    assert!(bytes.is_empty(), "{}", String::from_utf8_lossy(&bytes));
    assert!(
        closed_after >= Duration::from_millis(500) && closed_after < Duration::from_millis(1600),
        "{closed_after:?}"
    );
    binary.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_holding_a_partial_request_head_does_not_delay_exit_past_the_deadline() {
    let config = TempConfig::new(json!({"shutdownDeadlineSeconds": 2, "headerReadTimeoutSeconds": 30}));
    let mut binary = config.start();
    binary.app().assert_alive().await;
    let mut held = TcpStream::connect(host_of(&binary.address)).await.unwrap();
    held.write_all(b"GET / HTTP/1.1\r\nHos").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signalled = Instant::now();
    binary.signal("TERM");
    assert!(binary.wait(Duration::from_secs(4)), "exit status was not 0");
    println!("exit {:?} after SIGTERM with a partial head held", signalled.elapsed());
    drop(held);
}

/// Sends `head` (with its own `Host`), `Connection: close` added, and reads the answer.
async fn with_host(app: &TestApp, request_line: &str, host: &str, extra: &str) -> RawPage {
    let request = format!("{request_line}\r\nHost: {host}\r\nConnection: close\r\n{extra}\r\n");
    raw_request(&app.address, request.as_bytes()).await
}

#[tokio::test]
async fn a_rebinding_host_gets_421_and_no_token_while_localhost_and_the_healthcheck_are_served() {
    let app = spawn_sandbox_app().await;
    let port = port_of(&app.address);
    for host in ["attacker.example".to_owned(), format!("attacker.example:{port}")] {
        let page = with_host(&app, "GET / HTTP/1.1", &host, "").await;
        assert_eq!(page.status, 421, "{host}: {}", page.head);
        assert!(page.header("content-type").is_some_and(|t| t.starts_with("text/html")), "{}", page.head);
        assert!(page.body.contains("<!doctype html>"), "{host}: {}", page.body);
        let health = with_host(&app, "GET /healthcheck HTTP/1.1", &host, "").await;
        assert_eq!(health.status, 200, "healthcheck for {host}: {}", health.head);
    }
    assert_eq!(with_host(&app, "GET / HTTP/1.1", &format!("localhost:{port}"), "").await.status, 200);
    let post = "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 0\r\n";
    let foreign = with_host(&app, "POST /client-credentials HTTP/1.1", "attacker.example", post).await;
    assert_eq!(foreign.status, 421, "{}", foreign.head);
    // (The layout names the token endpoint, `.../access_token`: look for the token itself.)
    assert!(!foreign.body.contains(TOKEN_SHOWN), "{}", foreign.body);
    // The same request on the app's own Host gets the token: the check above can see one.
    let own = with_host(&app, "POST /client-credentials HTTP/1.1", &format!("localhost:{port}"), post).await;
    assert_eq!(own.status, 200, "{}", own.head);
    assert!(own.body.contains(TOKEN_SHOWN), "{}", own.body);
}

#[tokio::test]
async fn same_site_is_foreign_only_same_origin_gets_through() {
    let app = spawn_sandbox_app().await;
    let other = format!("http://localhost:{}", port_of(&app.address).wrapping_add(1));
    let post = |site: &str, origin: &str| {
        app.client
            .post(app.url("/oauth-callback"))
            .header("sec-fetch-site", site)
            .header("origin", origin)
            .form(&[("username", "demo"), ("password", "demo")])
    };
    let refused = app.send(post("same-site", &other)).await;
    assert_eq!(refused.status, 403);
    refused.assert_contains("Cross-site request refused");
    for origin in [app.address.as_str(), "null"] {
        let page = app.send(post("same-origin", origin)).await;
        assert!(page.status == 200 || page.status == 400, "Origin {origin}: {}", page.status);
        page.assert_lacks("Cross-site request refused");
    }
}

#[tokio::test]
async fn http2_prior_knowledge_is_refused() {
    let app = spawn_sandbox_app().await;
    let mut socket = TcpStream::connect(host_of(&app.address)).await.unwrap();
    let settings_frame = [0u8, 0, 0, 4, 0, 0, 0, 0, 0]; // empty SETTINGS on stream 0
    socket.write_all(&[b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".as_slice(), &settings_frame].concat()).await.unwrap();
    let (answer, closed) = read_until_closed(&mut socket, Instant::now() + Duration::from_secs(3)).await;
    println!("h2 preface: closed {closed}, answered {:?}", String::from_utf8_lossy(&answer[..answer.len().min(80)]));
    assert!(answer.len() < 9 || answer[3] != 4, "an HTTP/2 SETTINGS frame came back: {answer:?}");
    assert!(answer.starts_with(b"HTTP/1.1 ") || (answer.is_empty() && closed), "closed {closed}, {answer:?}");
    app.assert_alive().await;
}

/// Walks the sandbox's authorization page from `page` as `demo` (sign-in if asked, then Grant)
/// with every hidden input carried; returns where it sends the browser back.
async fn authorize_as_demo(app: &TestApp, page: &Page) -> String {
    let mut form = hidden_inputs(page);
    for _ in 0..3 {
        match form.iter().find(|(name, _)| name == "step").map(|(_, step)| step.as_str()) {
            Some("sign-in") => {
                form.extend([("username", "demo"), ("password", "demo")].map(|(k, v)| (k.into(), v.into())))
            }
            _ => form.push(("decision".into(), "grant".into())),
        }
        let next = app.send(app.client.post(app.url("/sandbox/site/oauth2/authorize")).form(&form)).await;
        if next.headers.contains_key("location") {
            return next.location().to_owned();
        }
        assert_eq!(next.status, 200, "{}", next.body);
        form = hidden_inputs(&next);
    }
    panic!("the authorization page never sent the browser back");
}

#[tokio::test]
async fn a_replayed_state_gets_4xx() {
    let app = spawn_sandbox_app().await;
    let start = app.get("/authorize").await;
    let cookie = start.set_cookie("oauth_state").expect("the state cookie");
    let authorize = app.get(start.location()).await;
    assert_eq!(authorize.status, 200, "{}", authorize.body);
    let state = hidden_inputs(&authorize).into_iter().find(|(name, _)| name == "state").unwrap().1;
    // Each walk through the page issues a fresh code for the same request (same PKCE challenge).
    let grant = || async {
        let location = authorize_as_demo(&app, &authorize).await;
        assert_eq!(query_param(&location, "state").as_deref(), Some(state.as_str()));
        let url = if location.starts_with('/') { app.url(&location) } else { location };
        (query_param(&url, "code").expect("a code"), url)
    };
    let (first_code, first) = grant().await;
    let signed_in = app.send(app.client.get(&first).header("cookie", &cookie)).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    signed_in.assert_contains("Demo User");
    let (second_code, replay) = grant().await;
    assert_ne!(first_code, second_code);
    let replayed = app.send(app.client.get(&replay).header("cookie", &cookie)).await;
    assert!((400..500).contains(&replayed.status), "replayed state got {}:\n{}", replayed.status, replayed.body);
    replayed.assert_lacks("Demo User");
}

/// A page's first heading and lead paragraph, for a failure message.
fn headline(body: &str) -> String {
    let text = |tag: &str| body.split(tag).nth(1).and_then(|t| t.split('<').next()).unwrap_or("").trim().to_owned();
    format!("{} / {}", text("<h1>"), text(r#"<p class="lead">"#))
}

/// What one request of the load below came to.
enum Outcome {
    Good { sent: Duration, done: Duration },
    Lost(String),
    NoAnswer { sent: Duration, connect: bool, error: String },
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_sandbox_flows_loses_none_and_exits_0() {
    let mut binary = Binary::start(&[("FAILED_ATTEMPTS_PER_MINUTE", "1000000"), ("RUST_LOG", QUIET)]);
    let url = format!("{}/oauth-callback", binary.address);
    // Clients first: building 40 takes about a second in a debug build.
    let clients: Vec<_> = (0..40).map(|_| client_builder().timeout(Duration::from_secs(15)).build().unwrap()).collect();
    let started = Instant::now();
    let users: Vec<_> = clients
        .into_iter()
        .map(|client| {
            let url = url.clone();
            tokio::spawn(async move {
                let mut outcomes = Vec::new();
                while started.elapsed() < Duration::from_millis(1500) {
                    let sent = started.elapsed();
                    match client.post(&url).form(&[("username", "demo"), ("password", "demo")]).send().await {
                        Ok(response) => {
                            let status = response.status();
                            let body = response.text().await.unwrap_or_default();
                            outcomes.push(if status == 200 && body.contains("Demo User") {
                                Outcome::Good { sent, done: started.elapsed() }
                            } else if status == 503 && body.contains("shutting down") {
                                // Arrived while draining: refused at once, politely, never half-served.
                                Outcome::NoAnswer { sent, connect: true, error: "503 while shutting down".into() }
                            } else {
                                Outcome::Lost(format!("HTTP {status}: {}", headline(&body)))
                            });
                        }
                        Err(error) => {
                            let connect = error.is_connect();
                            outcomes.push(Outcome::NoAnswer { sent, connect, error: format!("{error:?}") });
                            break;
                        }
                    }
                }
                outcomes
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(750)).await;
    let signal_at = started.elapsed();
    binary.signal("TERM");
    let signalled = Instant::now();
    let mut outcomes = Vec::new();
    for user in users {
        outcomes.extend(user.await.unwrap());
    }
    assert!(binary.wait(Duration::from_secs(12)), "exit status was not 0");
    let exit = signalled.elapsed();
    let good = outcomes.iter().filter(|o| matches!(o, Outcome::Good { .. })).count();
    let straddling = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Good { sent, done } if *sent < signal_at && *done > signal_at))
        .count();
    let lost: Vec<_> =
        outcomes.iter().filter_map(|o| if let Outcome::Lost(why) = o { Some(why) } else { None }).collect();
    let no_answer: Vec<_> = outcomes
        .iter()
        .filter_map(|o| {
            if let Outcome::NoAnswer { sent, connect, error } = o { Some((sent, connect, error)) } else { None }
        })
        .collect();
    let refused = no_answer.iter().filter(|(_, connect, _)| **connect).count();
    println!(
        "SIGTERM at {signal_at:?}: {good} good flows ({straddling} in flight at the signal), {} lost, {} without \
         answer ({refused} refused at connect); exit {exit:?} after the signal",
        lost.len(),
        no_answer.len()
    );
    for (sent, _, error) in no_answer.iter().filter(|(_, connect, _)| !**connect).take(3) {
        println!("  no answer, sent at {sent:?}: {error}");
    }
    std::thread::sleep(Duration::from_millis(200)); // the last log lines
    let output = binary.output.lock().unwrap().clone();
    let warnings: Vec<_> = output.lines().filter(|l| l.contains("WARN")).take(3).collect();
    assert!(lost.is_empty(), "{} lost, e.g. {:?}\nlog: {warnings:#?}", lost.len(), &lost[..lost.len().min(3)]);
    // A request sent on a keep-alive connection as the server closes it, idle, at the signal is
    // never read: the HTTP/1.1 keep-alive race (RFC 9112 §9.3.1), not a loss. Earlier is one.
    let early = no_answer.iter().filter(|(sent, _, _)| **sent + Duration::from_millis(100) < signal_at).count();
    assert_eq!(early, 0, "requests failed well before the signal");
    assert!(straddling > 0, "no flow was in flight at the signal: the test proved nothing");
}

#[tokio::test]
async fn hypers_own_rejections_are_4xx_or_a_close_never_5xx_and_the_app_keeps_serving() {
    let app = spawn_sandbox_app().await;
    let many: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    let cases = [
        ("150 headers", format!("GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{many}\r\n")),
        (
            "Content-Length: abc",
            "POST /oauth-callback HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Type: \
             application/x-www-form-urlencoded\r\nContent-Length: abc\r\n\r\nusername=demo&password=demo"
                .to_owned(),
        ),
        ("HTTP/0.9", "GET /\r\n\r\n".to_owned()),
        ("garbage request line", "HELLO THERE\r\n\r\n".to_owned()),
    ];
    for (name, request) in cases {
        let page = raw_request(&app.address, request.as_bytes()).await;
        let security =
            ["content-security-policy", "x-content-type-options", "referrer-policy"].map(|h| page.header(h).is_some());
        println!("{name}: status {} (0 = closed), security headers {security:?}, head {:?}", page.status, page.head);
        assert!(page.status == 0 || (400..500).contains(&page.status), "{name}: {}", page.head);
        app.assert_alive().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_regular_connection_held_the_healthcheck_still_answers_and_the_rest_are_closed() {
    let config = TempConfig::new(json!({"maxConnections": 20, "headerReadTimeoutSeconds": 30}));
    let binary = config.start();
    let host = host_of(&binary.address).to_owned();
    // An attacker holds every regular slot with silent connections.
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(TcpStream::connect(&host).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A probe still gets through, on an overflow connection, fast.
    for _ in 0..5 {
        let started = Instant::now();
        let response =
            client_builder().build().unwrap().get(format!("{}/healthcheck", binary.address)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(started.elapsed() < Duration::from_millis(100), "{:?}", started.elapsed());
    }
    // A silent connection on an overflow slot is closed after about a second, not thirty.
    let extra = TcpStream::connect(&host).await.expect("connect");
    let opened = Instant::now();
    let closed = closed_within(extra, opened, opened + Duration::from_secs(3), 0).await;
    let (after, _) = closed.expect("an overflow connection outlived its one-second deadline");
    assert!(after < Duration::from_millis(2500), "{after:?}");
    drop(held);
    binary.finish();
}

/// `GET /healthcheck` on a new connection: whether `200` came back within a second.
async fn probe(host: &str) -> bool {
    let attempt = async {
        let mut socket = TcpStream::connect(host).await.ok()?;
        let request = format!("GET /healthcheck HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        socket.write_all(request.as_bytes()).await.ok()?;
        let mut answer = Vec::new();
        socket.read_to_end(&mut answer).await.ok()?;
        Some(answer.starts_with(b"HTTP/1.1 200"))
    };
    tokio::time::timeout(Duration::from_secs(1), attempt).await.ok().flatten().unwrap_or(false)
}

/// With every regular slot held, a flood of silent connections (100 a second, from four
/// addresses) cannot keep the health probe out of the overflow slots: a silent overflow connection
/// is closed after 100 ms (once, ~50 a second left /healthcheck answering 5 probes of 37).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_silent_connections_does_not_starve_the_healthcheck_when_every_slot_is_held() {
    let config = TempConfig::new(json!({"maxConnections": 20, "headerReadTimeoutSeconds": 30}));
    let binary = config.start();
    let host = host_of(&binary.address).to_owned();
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(TcpStream::connect(&host).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let target: std::net::SocketAddr = host.parse().unwrap();
    let flood = tokio::spawn(async move {
        let mut silent = Vec::new();
        for n in 0..300u32 {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind(std::net::SocketAddr::from(([127, 0, 0, 20 + (n % 4) as u8], 0))).unwrap();
            if let Ok(stream) = socket.connect(target).await {
                silent.push(stream); // held open, never a byte
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        silent.len()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut answered = 0;
    for _ in 0..25 {
        answered += usize::from(probe(&host).await);
        tokio::time::sleep(Duration::from_millis(80)).await;
    }
    let opened = flood.await.unwrap();
    println!("{answered} of 25 probes answered during a flood of {opened} silent connections");
    assert!(opened >= 200, "the flood did not happen: {opened}");
    assert!(answered >= 23, "only {answered} of 25 probes answered");
    drop(held);
    binary.finish();
}
