//! The benchmark's latency probe: `GET` requests at a fixed rate, open loop, so that percentiles
//! are not hidden by coordinated omission. wrk keeps every connection busy (the server is at
//! saturation and latency is queueing); here each request has a due time, spread evenly over the
//! connections, and its latency counts from that due time, so a server that falls behind is
//! charged for every request it delays. One thread, like `wrk -t1`.
//!
//! ```sh
//! cargo run --release --example fixed_rate -- 127.0.0.1:3000 /healthcheck 50000 10 32
//! ```
//!
//! With a form body (and optionally a text the answer must contain), it sends `POST` requests with
//! that `application/x-www-form-urlencoded` body instead: the password flow at a fixed rate, for
//! `bench/run.sh`'s CPU per flow at the same rate for the app and the floor (issue 21).
//!
//! ```sh
//! cargo run --release --example fixed_rate -- 127.0.0.1:3000 /oauth-callback 2000 10 32 \
//!   'username=demo&password=demo' 'Demo User'
//! ```
//!
//! Prints one line: `sent N achieved R/s p50 X p90 X p99 X p999 X max X errors E` (microseconds);
//! `sent` counts the answers that came back complete (2xx, with the expected text where one is given).

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (address, path, rate, seconds, connections, form, expect) = match args.as_slice() {
        [a, p, r, s, c] => (a, p, r, s, c, None, None),
        [a, p, r, s, c, form] => (a, p, r, s, c, Some(form), None),
        [a, p, r, s, c, form, expect] => (a, p, r, s, c, Some(form), Some(expect.clone().into_bytes())),
        _ => {
            eprintln!(
                "usage: fixed_rate HOST:PORT PATH REQUESTS_PER_SECOND SECONDS CONNECTIONS [FORM_BODY [EXPECTED_TEXT]]"
            );
            std::process::exit(2);
        }
    };
    let (rate, seconds): (f64, f64) = (rate.parse().expect("a rate"), seconds.parse().expect("seconds"));
    let connections: usize = connections.parse().expect("a connection count");
    let request = match form {
        None => format!("GET {path} HTTP/1.1\r\nHost: {address}\r\n\r\n"),
        Some(form) => format!(
            "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\n\r\n{form}",
            form.len()
        ),
    }
    .into_bytes();
    // Each connection sends every `interval`, the connections staggered evenly within it.
    let interval = Duration::from_secs_f64(connections as f64 / rate);
    let start = Instant::now() + Duration::from_millis(200);
    let end = start + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for n in 0..connections {
        let (address, request, expect) = (address.clone(), request.clone(), expect.clone());
        let first = start + interval.mul_f64(n as f64 / connections as f64);
        tasks.push(tokio::spawn(async move {
            one_connection(&address, &request, expect.as_deref(), first, interval, end).await
        }));
    }
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for task in tasks {
        let (mut those, failed) = task.await.expect("a connection task");
        latencies.append(&mut those);
        errors += failed;
    }
    latencies.sort_unstable();
    let at = |q: f64| latencies.get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)));
    let micros = |d: Option<&Duration>| d.map_or(0, |d| d.as_micros());
    println!(
        "sent {} achieved {:.0}/s p50 {} p90 {} p99 {} p999 {} max {} errors {errors}",
        latencies.len(),
        latencies.len() as f64 / seconds,
        micros(at(0.50)),
        micros(at(0.90)),
        micros(at(0.99)),
        micros(at(0.999)),
        micros(latencies.last()),
    );
}

/// Sends `request` on one keep-alive connection at `first`, `first + interval`, … until `end`;
/// returns each request's latency from its due time, and the number of failed requests.
async fn one_connection(
    address: &str,
    request: &[u8],
    expect: Option<&[u8]>,
    first: Instant,
    interval: Duration,
    end: Instant,
) -> (Vec<Duration>, usize) {
    let (mut latencies, mut errors) = (Vec::new(), 0);
    let mut stream = None;
    let mut buffer = vec![0u8; 64 * 1024];
    let mut due = first;
    while due < end {
        wait_until(due).await;
        if stream.is_none() {
            stream = TcpStream::connect(address).await.ok();
            if let Some(stream) = &stream {
                stream.set_nodelay(true).ok();
            }
        }
        let answered = match stream.as_mut() {
            Some(stream) => exchange(stream, request, expect, &mut buffer).await,
            None => false,
        };
        if answered {
            latencies.push(due.elapsed());
        } else {
            errors += 1;
            stream = None;
        }
        due += interval;
    }
    (latencies, errors)
}

/// Sleeps while the due time is a few timer ticks away, then yields until it comes: Tokio's timers
/// tick in milliseconds and may wake a tick late, too coarse to pace requests to the microsecond.
async fn wait_until(due: Instant) {
    const MARGIN: Duration = Duration::from_millis(3);
    loop {
        let now = Instant::now();
        if now >= due {
            return;
        }
        if due - now > MARGIN {
            tokio::time::sleep(due - now - MARGIN).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
}

/// Writes the request and reads one whole answer (its head, then `Content-Length` bytes of body);
/// with `expect`, the body is kept and must contain it. A chunked answer counts as failed (it is
/// not read here, and the connection would be out of step).
async fn exchange(stream: &mut TcpStream, request: &[u8], expect: Option<&[u8]>, buffer: &mut Vec<u8>) -> bool {
    if stream.write_all(request).await.is_err() {
        return false;
    }
    let mut filled = 0;
    loop {
        let Ok(read) = stream.read(&mut buffer[filled..]).await else { return false };
        if read == 0 {
            return false;
        }
        filled += read;
        let Some(head_end) = buffer[..filled].windows(4).position(|w| w == b"\r\n\r\n") else {
            if filled == buffer.len() {
                return false;
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|line| line.strip_prefix("content-length:"))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0);
        if head.lines().any(|line| line.starts_with("transfer-encoding:")) {
            return false;
        }
        let body_read = filled - head_end - 4;
        if let Some(expect) = expect {
            // Keep the whole body, growing the buffer as needed, and look for the text in it.
            let body_start = head_end + 4;
            if buffer.len() < body_start + length {
                buffer.resize(body_start + length, 0);
            }
            while filled < body_start + length {
                let Ok(read) = stream.read(&mut buffer[filled..body_start + length]).await else { return false };
                if read == 0 {
                    return false;
                }
                filled += read;
            }
            let body = &buffer[body_start..body_start + length];
            return head.starts_with("http/1.1 2")
                && (expect.is_empty() || body.windows(expect.len()).any(|w| w == expect));
        }
        if body_read >= length {
            return head.starts_with("http/1.1 2");
        }
        let mut rest = length - body_read;
        while rest > 0 {
            let room = rest.min(buffer.len());
            let Ok(read) = stream.read(&mut buffer[..room]).await else { return false };
            if read == 0 {
                return false;
            }
            rest -= read;
        }
        return head.starts_with("http/1.1 2");
    }
}
