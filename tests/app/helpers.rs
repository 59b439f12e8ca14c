//! Starting the app and fake upstreams for tests.

use std::net::SocketAddr;
use std::time::Duration;

use bitbucket_password_grant::sandbox::SandboxOptions;
use bitbucket_password_grant::settings::{Settings, UpstreamLimits, parse_base_url};
use bitbucket_password_grant::{AppState, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A running app and a client that does not follow redirects.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
}

/// A page as the test saw it.
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn content_type(&self) -> &str {
        self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// Asserts the page is HTML in the site's layout.
    pub fn assert_html_page(&self) {
        assert!(self.content_type().starts_with("text/html"), "not HTML: {:?}\n{}", self.content_type(), self.body);
        assert!(self.body.contains("<!doctype html>"), "no layout:\n{}", self.body);
    }

    /// Asserts the page's text contains `needle` (line-break hints, `<wbr>`, do not count).
    pub fn assert_contains(&self, needle: &str) {
        assert!(self.body.replace("<wbr>", "").contains(needle), "page lacks {needle:?}:\n{}", self.body);
    }

    pub fn assert_lacks(&self, needle: &str) {
        assert!(!self.body.contains(needle), "page shows {needle:?}:\n{}", self.body);
    }
}

pub async fn spawn_app(settings: Settings) -> TestApp {
    spawn_app_with(settings, SandboxOptions::default()).await
}

pub async fn spawn_app_with(mut settings: Settings, options: SandboxOptions) -> TestApp {
    settings.sandbox_options = options;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    spawn_app_on(listener, settings).await
}

/// The app on a listener the test bound already (to know the port before the app starts).
pub async fn spawn_app_on(listener: TcpListener, mut settings: Settings) -> TestApp {
    let address = listener.local_addr().unwrap();
    // The tests browse 127.0.0.1: a callback there needs no hop to localhost (tested on its own).
    if !settings.sandbox && settings.callback_url.is_none() {
        settings.callback_url = Some(format!("http://{address}/oauth-callback").parse().unwrap());
    }
    let state = AppState::new(settings, address).await.expect("state");
    tokio::spawn(serve(listener, state, std::future::pending()));
    let client =
        client_builder().redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(30)).build().unwrap();
    TestApp { address: format!("http://{address}"), client }
}

/// The app exactly as `settings` describe it (no setting changed for the test), on `listener`,
/// browsed as a user would: at `http://localhost:PORT`, the origin of its default callback.
pub async fn spawn_app_as_configured(listener: TcpListener, settings: Settings) -> TestApp {
    let port = listener.local_addr().unwrap().port();
    let state = AppState::new(settings, listener.local_addr().unwrap()).await.expect("the app starts");
    tokio::spawn(serve(listener, state, std::future::pending()));
    let client =
        client_builder().redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(30)).build().unwrap();
    TestApp { address: format!("http://localhost:{port}"), client }
}

/// A reqwest client builder for the tests: the app's own reqwest (rustls with the ring provider,
/// installed here), so the tests build no second TLS stack.
pub fn client_builder() -> reqwest::ClientBuilder {
    bitbucket_password_grant::install_tls_provider();
    reqwest::Client::builder()
}

/// The app in sandbox mode, as `cargo run` starts it.
pub async fn spawn_sandbox_app() -> TestApp {
    spawn_app(Settings::sandbox_defaults()).await
}

/// Settings for a standard OAuth server (not the sandbox) at `base`, with short timeouts.
pub fn settings_for(base: &str) -> Settings {
    let mut settings = Settings::sandbox_defaults();
    settings.sandbox = false;
    settings.consumer_key = "test-client".into();
    settings.consumer_secret = "test-client-secret".to_owned().into();
    settings.bitbucket_url = parse_base_url(base).unwrap();
    settings.api_url = parse_base_url(base).unwrap();
    settings.upstream =
        UpstreamLimits { connect_timeout: Duration::from_millis(500), timeout: Duration::from_millis(700) };
    settings.request_timeout = Duration::from_secs(5);
    settings
}

impl TestApp {
    pub async fn get(&self, path: &str) -> Page {
        let response = self.client.get(format!("{}{path}", self.address)).send().await.expect("GET");
        into_page(response).await
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let response = self.client.post(format!("{}{path}", self.address)).form(form).send().await.expect("POST");
        into_page(response).await
    }

    pub async fn login(&self, username: &str, password: &str) -> Page {
        self.post_form("/oauth-callback", &[("username", username), ("password", password)]).await
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> Page {
        into_page(request.send().await.expect("request")).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// The app still answers its healthcheck.
    pub async fn assert_alive(&self) {
        let page = self.get("/healthcheck").await;
        assert_eq!(page.status, 200, "healthcheck after the test: {}", page.body);
    }
}

pub async fn into_page(response: reqwest::Response) -> Page {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await.unwrap_or_default();
    Page { status, headers, body }
}

/// An address where nothing listens: connections are refused.
pub async fn refused_address() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    drop(listener);
    address
}

/// A raw TCP server that reads each request and then behaves as `answer` says.
pub async fn spawn_raw_server(answer: RawAnswer) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 64 * 1024];
                let _ = socket.read(&mut buffer).await;
                match answer {
                    RawAnswer::Hang => tokio::time::sleep(Duration::from_secs(60)).await,
                    RawAnswer::ResetMidBody => {
                        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n";
                        let _ = socket.write_all(head.as_bytes()).await;
                        let _ = socket.write_all(b"{\"access_token\": \"abc").await;
                        let _ = socket.flush().await;
                        #[allow(deprecated)] // a blocking close is what this test wants
                        socket.set_linger(Some(Duration::ZERO)).ok();
                        drop(socket); // linger 0: the close is a reset
                    }
                }
            });
        }
    });
    address
}

#[derive(Clone, Copy)]
pub enum RawAnswer {
    /// Accept, read the request, never answer.
    Hang,
    /// Start a 200 answer, then reset the connection halfway through the body.
    ResetMidBody,
}

impl Page {
    /// The `Location` header.
    pub fn location(&self) -> &str {
        self.headers.get("location").and_then(|v| v.to_str().ok()).expect("a Location header")
    }

    /// `name=value` of the cookie `name` set by this response.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(|v| v.split(';').next().unwrap().to_owned())
    }

    /// The full `Set-Cookie` header for `name`.
    pub fn set_cookie_header(&self, name: &str) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    /// Every hidden field of the page's forms, in order, values unescaped.
    pub fn hidden_fields(&self) -> Vec<(String, String)> {
        self.body
            .split("<input type=\"hidden\" name=\"")
            .skip(1)
            .filter_map(|rest| {
                let (name, rest) = rest.split_once('"')?;
                let value = rest.strip_prefix(" value=\"")?.split('"').next()?;
                Some((name.to_owned(), unescape(value)))
            })
            .collect()
    }

    /// The value of the hidden form field `name`.
    pub fn hidden(&self, name: &str) -> String {
        let marker = format!(r#"name="{name}" value=""#);
        let start = self.body.find(&marker).unwrap_or_else(|| panic!("no field {name}:\n{}", self.body)) + marker.len();
        self.body[start..].split('"').next().unwrap().to_owned()
    }

    /// The text of the element with `id`, up to the next tag, with HTML entities decoded.
    pub fn text_of(&self, id: &str) -> String {
        let marker = format!(r#"id="{id}">"#);
        let start = self.body.find(&marker).unwrap_or_else(|| panic!("no #{id}:\n{}", self.body)) + marker.len();
        unescape(self.body[start..].split('<').next().unwrap())
    }
}

/// Decodes the HTML entities askama writes.
pub fn unescape(html: &str) -> String {
    [("&#34;", "\""), ("&#39;", "'"), ("&#60;", "<"), ("&#62;", ">"), ("&lt;", "<"), ("&gt;", ">"), ("&quot;", "\"")]
        .iter()
        .fold(html.to_owned(), |text, (entity, plain)| text.replace(entity, plain))
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

/// The query parameter `name` of a URL or path.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// An answer read off a raw socket.
pub struct RawPage {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl RawPage {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim().to_owned())
        })
    }
}

/// Sends `request` as bytes, exactly as given (but for `Host: test`, which becomes the app's own
/// address), and reads the answer until the server closes.
pub async fn raw_request(address: &str, request: &[u8]) -> RawPage {
    let address = address.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(address).await.expect("connect");
    let request = match request.windows(12).position(|w| w == b"\r\nHost: test") {
        Some(at) => [&request[..at + 8], address.as_bytes(), &request[at + 12..]].concat(),
        None => request.to_vec(),
    };
    socket.write_all(&request).await.expect("write");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut answer)).await;
    // A server that answers early may reset instead of reading the rest: what arrived counts.
    let _ = read;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    RawPage { status, head: head.to_owned(), body: body.to_owned() }
}

/// A fake authorization server that answers every POST with `template`.
pub async fn answering(template: wiremock::ResponseTemplate) -> wiremock::MockServer {
    let server = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST")).respond_with(template).mount(&server).await;
    server
}

/// At the sandbox's authorization page (`authorize_url`, as `GET /authorize` redirects to it): signs
/// in as `username` / demo, and answers the consent page with `decision` (`grant` or `deny`).
/// Returns where the sandbox sends the browser back, as a path when it is this app.
pub async fn sandbox_authorize_as(app: &TestApp, authorize_url: &str, username: &str, decision: &str) -> String {
    let sign_in = app.get(authorize_url).await;
    assert_eq!(sign_in.status, 200, "{}", sign_in.body);
    sign_in.assert_contains("Sign in");
    let mut form = sign_in.hidden_fields();
    form.extend([("username".into(), username.into()), ("password".into(), "demo".into())]);
    let mut consent = post_fields(app, &form).await;
    if consent.body.contains(r#"name="otp""#) {
        let mut form = consent.hidden_fields();
        form.push(("otp".into(), "246810".into()));
        consent = post_fields(app, &form).await;
    }
    assert_eq!(consent.status, 200, "{}", consent.body);
    consent.assert_contains("Grant access");
    let mut form = consent.hidden_fields();
    form.push(("decision".into(), decision.into()));
    let back = post_fields(app, &form).await;
    assert_eq!(back.status, 303, "{}", back.body);
    back.location().trim_start_matches(&app.address).to_owned()
}

/// The same as demo.
pub async fn sandbox_authorize(app: &TestApp, authorize_url: &str, decision: &str) -> String {
    sandbox_authorize_as(app, authorize_url, "demo", decision).await
}

async fn post_fields(app: &TestApp, form: &[(String, String)]) -> Page {
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    app.post_form("/sandbox/site/oauth2/authorize", &form).await
}

/// What a person does at the built-in standard server's verification page, on another device:
/// the code, the sign-in as demo / demo, Grant; each form read off the page and posted with its
/// hidden fields, the session cookie kept.
pub async fn approve_at_standard_server(http: &reqwest::Client, complete: &str, user_code: &str) {
    let mut html = into_page(http.get(complete).send().await.expect("GET")).await.body;
    let mut cookie = String::new();
    let steps =
        [vec![("user_code", user_code)], vec![("username", "demo"), ("password", "demo")], vec![("decision", "grant")]];
    for extra in steps {
        let page = Page { status: 200, headers: Default::default(), body: html.clone() };
        let mut fields = page.hidden_fields();
        for (name, value) in extra {
            fields.retain(|(k, _)| k != name);
            fields.push((name.to_owned(), value.to_owned()));
        }
        let form = html.split("<form").nth(1).expect("a form");
        let action = form.split("action=\"").nth(1).and_then(|a| a.split('"').next()).unwrap_or("");
        let target = url::Url::parse(complete).unwrap().join(&unescape(action)).unwrap();
        let mut request = http.post(target).form(&fields);
        if !cookie.is_empty() {
            request = request.header("cookie", &cookie);
        }
        let answer = into_page(request.send().await.expect("POST")).await;
        if let Some(set) = answer.headers.get("set-cookie").and_then(|v| v.to_str().ok()) {
            cookie = set.split(';').next().unwrap().to_owned();
        }
        html = answer.body;
    }
    assert!(
        html.contains("Device connected") && !html.contains("<form"),
        "the verification page did not finish:\n{html}"
    );
}
