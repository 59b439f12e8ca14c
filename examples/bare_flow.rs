//! The benchmark's floor for one password flow: the least any app built on this stack can do. A
//! bare hyper server takes the form post, asks the token endpoint for a token with the password
//! grant and HTTP Basic client authentication, calls `GET /2.0/user` with it, and answers with a
//! one-line HTML page. No router, no middleware, no logging, no masking, no page that teaches:
//! just hyper, reqwest (with the app's client settings, `token::http_client`) and serde_json on the
//! same Tokio runtime and allocator the app uses.
//! `bench/run.sh` measures its CPU time per flow beside the app's, against the same sandbox.
//!
//! ```sh
//! BITBUCKET_URL=http://127.0.0.1:4001/sandbox BITBUCKET_API_URL=http://127.0.0.1:4001/sandbox/api \
//!   cargo run --release --example bare_flow -- 127.0.0.1:4003
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bitbucket_password_grant::token;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// The app's allocator (see src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Upstream {
    http: reqwest::Client,
    token_url: String,
    user_url: String,
    key: String,
    secret: String,
}

#[tokio::main]
async fn main() {
    let addr: SocketAddr =
        std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:4003".into()).parse().expect("an address");
    let base = std::env::var("BITBUCKET_URL").expect("BITBUCKET_URL");
    let api = std::env::var("BITBUCKET_API_URL").expect("BITBUCKET_API_URL");
    let env_or = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    // reqwest is built without a TLS crypto provider; the app installs rustls's `ring` one.
    bitbucket_password_grant::install_tls_provider();
    let upstream = Arc::new(Upstream {
        // The app's own client settings: redirects off, timeouts, idle connections let go after 4 s.
        http: token::http_client(Duration::from_secs(5), Duration::from_secs(10)).expect("a client"),
        token_url: format!("{base}/site/oauth2/access_token"),
        user_url: format!("{api}/2.0/user"),
        key: env_or("BITBUCKET_CONSUMER_KEY", "sandbox-consumer-key"),
        secret: env_or("BITBUCKET_CONSUMER_SECRET", "sandbox-consumer-secret"),
    });
    let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
    println!("listening on http://{}", listener.local_addr().expect("address"));
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let upstream = upstream.clone();
                async move {
                    let (status, body) = match flow(&upstream, request).await {
                        Ok(name) => (StatusCode::OK, format!("<!doctype html><p>Hello, {}</p>", escape(&name))),
                        Err(error) => (StatusCode::BAD_GATEWAY, format!("<!doctype html><p>{}</p>", escape(&error))),
                    };
                    let mut response = Response::new(Full::new(Bytes::from(body)));
                    *response.status_mut() = status;
                    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

/// The form's username and password, one token request, one API call; the user's display name.
async fn flow(upstream: &Upstream, request: Request<Incoming>) -> Result<String, String> {
    let form = request.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    let (mut username, mut password) = (String::new(), String::new());
    for (name, value) in url::form_urlencoded::parse(&form) {
        match &*name {
            "username" => username = value.into_owned(),
            "password" => password = value.into_owned(),
            _ => {}
        }
    }
    let token =
        json(upstream.http.post(&upstream.token_url).basic_auth(&upstream.key, Some(&upstream.secret)).form(&[
            ("grant_type", "password"),
            ("username", &username),
            ("password", &password),
        ]))
        .await?;
    let access_token = token["access_token"].as_str().ok_or("no access_token")?;
    let user = json(upstream.http.get(&upstream.user_url).bearer_auth(access_token)).await?;
    Ok(user["display_name"].as_str().unwrap_or_default().to_owned())
}

/// Sends the request and reads its answer as JSON.
async fn json(request: reqwest::RequestBuilder) -> Result<serde_json::Value, String> {
    request.send().await.map_err(|e| e.to_string())?.json().await.map_err(|e| e.to_string())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
