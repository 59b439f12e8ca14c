//! What a client sees after SIGTERM (issue 22): in sandbox mode a request sent within
//! `SHUTDOWN_LINGER` of the signal, or while requests are in flight, gets the app's `503` with
//! `Connection: close`, never a connection closed without an answer; and the process exits 0.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::process::Binary;

/// `GET /` on a new connection, with `extra` headers: the answer, read until the server closes, or
/// what went wrong.
async fn get_on_a_new_connection(address: &str, extra: &str) -> Result<String, String> {
    let address = address.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(address).await.map_err(|e| format!("connect: {e}"))?;
    let request = format!("GET / HTTP/1.1\r\nHost: {address}\r\n{extra}\r\n");
    socket.write_all(request.as_bytes()).await.map_err(|e| format!("write: {e}"))?;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut answer)).await;
    read.map_err(|_| "no end".to_owned())?.map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&answer).into_owned();
    if text.is_empty() { Err("closed without an answer".into()) } else { Ok(text) }
}

#[tokio::test]
async fn requests_sent_just_after_sigterm_get_503_with_connection_close() {
    let mut binary =
        Binary::start(&[("RUST_LOG", "warn,bitbucket_password_grant=info,bitbucket_password_grant::web=warn")]);
    let before =
        get_on_a_new_connection(&binary.address, "Connection: close\r\n").await.expect("served before the signal");
    assert!(before.starts_with("HTTP/1.1 200"), "{before}");
    binary.signal("TERM");
    let signalled = Instant::now();
    for at in [30, 120, 250] {
        tokio::time::sleep(Duration::from_millis(at).saturating_sub(signalled.elapsed())).await;
        // No `Connection: close` from the client: the server must say it, and close.
        let answer = get_on_a_new_connection(&binary.address, "").await;
        let head = answer.unwrap_or_else(|e| panic!("{at} ms after SIGTERM: {e}"));
        let head = head.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 503"), "{at} ms after SIGTERM:\n{head}");
        assert!(head.contains("connection: close"), "{at} ms after SIGTERM:\n{head}");
    }
    assert!(binary.wait(Duration::from_secs(5)), "exit status was not 0");
    assert!(signalled.elapsed() < Duration::from_secs(3), "exit took {:?}", signalled.elapsed());
}
