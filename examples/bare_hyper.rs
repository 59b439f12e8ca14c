//! The benchmark's baseline: a bare hyper server, the stack's own limit. It answers
//! `/healthcheck` with the app's exact bytes, and `/` and `/static/style.css` with bytes read from
//! files at start-up (`bench/run.sh` saves the app's rendered landing page for it). No router, no
//! middleware, no logging: just hyper on the same Tokio runtime the app uses.
//!
//! ```sh
//! cargo run --release --example bare_hyper -- 127.0.0.1:4000 landing.html static/style.css
//! ```
//!
//! With `--app-headers` (anywhere among the arguments) its `/healthcheck` also carries the app's
//! four security headers, in the app's order: the same bytes on the wire as the app's probe
//! (`Date` aside), to tell what those headers cost in hyper from what the app adds. It clones a
//! map built once, the cheapest way to hand hyper five headers (five `insert`s cost more).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::LazyLock;

use bitbucket_password_grant::web::HEALTHCHECK_BODY;
use bitbucket_password_grant::web::protect::security_headers;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// The app's allocator (see src/main.rs), so that the comparison is of the stack, not of malloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The app's probe headers (`--app-headers`), built once as the app builds them.
static HEALTH_HEADERS: LazyLock<HeaderMap> = LazyLock::new(|| {
    let mut headers = HeaderMap::with_capacity(5);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.extend(security_headers());
    headers
});

#[tokio::main]
async fn main() {
    let app_headers = std::env::args().any(|arg| arg == "--app-headers");
    let mut args = std::env::args().skip(1).filter(|arg| arg != "--app-headers");
    let addr: SocketAddr = args.next().unwrap_or_else(|| "127.0.0.1:4000".into()).parse().expect("an address");
    let page = Bytes::from(std::fs::read(args.next().expect("the landing page file")).expect("readable page"));
    let css = Bytes::from(std::fs::read(args.next().unwrap_or_else(|| "static/style.css".into())).expect("css"));
    let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
    println!("listening on http://{}", listener.local_addr().expect("address"));
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let (page, css) = (page.clone(), css.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let (body, content_type) = match request.uri().path() {
                    "/healthcheck" => (Bytes::from_static(HEALTHCHECK_BODY.as_bytes()), "application/json"),
                    "/" => (page.clone(), "text/html; charset=utf-8"),
                    "/static/style.css" => (css.clone(), "text/css"),
                    _ => (Bytes::new(), ""),
                };
                let mut response = Response::new(Full::new(body));
                if content_type.is_empty() {
                    *response.status_mut() = StatusCode::NOT_FOUND;
                } else if app_headers && content_type == "application/json" {
                    *response.headers_mut() = HEALTH_HEADERS.clone();
                } else {
                    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
                }
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}
