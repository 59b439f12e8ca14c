//! The listener: HTTP/1.1 only, with the bounds a server facing untrusted clients needs and
//! `axum::serve` does not set. For every connection:
//! - the request head must arrive within [`Limits::header_read_timeout`], counted from when the
//!   connection opens and again from the end of each answer, so it also closes a silent or idle
//!   keep-alive connection, and one that sends its head a byte at a time;
//! - a connection on which no byte moves either way for [`Limits::idle_timeout`] is dropped (a
//!   client that stops reading its answer cannot hold it for ever).
//!
//! Both deadlines are kept by one timer per connection, which sleeps until the nearer of them and
//! is re-armed only when it wakes: requests themselves arm no timer. (hyper's own
//! `header_read_timeout` arms and drops one per request: with it, `/healthcheck` served about 5%
//! fewer requests per second under wrk.) Besides them:
//! - at most [`Limits::max_connections`] are open at once. Past that, a few more
//!   ([`OVERFLOW_CONNECTIONS`]) are served one request each with a one-second head deadline, and
//!   closed after [`OVERFLOW_FIRST_BYTE_TIMEOUT`] if no byte came, so a health probe still gets
//!   through when an attacker holds every regular slot and floods the rest with silent
//!   connections; past those, a new connection is closed at once, so file descriptors never run
//!   out;
//! - `TCP_NODELAY` is set (see [`accept`]);
//! - a [`Shortcut`] may answer a request before the service sees it (the app's health probe).
//!
//! On shutdown it asks every connection to finish its request in flight and close, and returns
//! once they have, or after [`Limits::shutdown_deadline`] whatever clients still hold. It stops
//! accepting at once, unless told to keep accepting while some requests are still busy (`busy`):
//! in sandbox mode the app's requests in flight call the emulator on this same listener, and must
//! still reach it. Then it also keeps accepting for [`SHUTDOWN_LINGER`] after the signal, and
//! takes what is waiting in the backlog before it closes, so that a request sent just after the
//! signal gets the app's `503` rather than a closed connection. Connections accepted then are
//! served one request each.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::Request;
use axum::response::Response;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::Service;

mod connection;

pub use connection::Shortcut;
use connection::{Phase, serve_connection};

/// The bounds of [`serve`]; [`Limits::default`] is what a laptop user never notices.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The most a client may take to send a request head, counted from when the server waits
    /// for one (connection opened, or the previous answer sent).
    pub header_read_timeout: Duration,
    /// A connection with no byte read or written for this long is dropped.
    pub idle_timeout: Duration,
    /// Open connections at most; one more is closed at once.
    pub max_connections: usize,
    /// After the shutdown signal, how long requests in flight may take before the server returns.
    pub shutdown_deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: default_max_connections(),
            shutdown_deadline: Duration::from_secs(10),
        }
    }
}

/// Connections beyond [`Limits::max_connections`] served one request each, with a short deadline.
pub const OVERFLOW_CONNECTIONS: usize = 32;

/// In sandbox mode, how long after the shutdown signal the listener keeps answering new requests
/// `503` (with `Connection: close`) even when no request is in flight: a client that sends just
/// after the signal gets an answer, not a closed connection. Within the shutdown deadline.
pub const SHUTDOWN_LINGER: Duration = Duration::from_millis(500);

/// How long an overflow connection may stay silent (no byte at all) before it is closed: a probe
/// sends its request at once, and a flood of silent connections holds each slot this long only.
/// At 50 new silent connections a second, about 5 of the [`OVERFLOW_CONNECTIONS`] are taken.
pub const OVERFLOW_FIRST_BYTE_TIMEOUT: Duration = Duration::from_millis(100);

/// The request-head deadline of an overflow connection.
const OVERFLOW_HEAD_TIMEOUT: Duration = Duration::from_secs(1);

/// Half the process's file descriptor limit (the other half is for the app's own outbound
/// connections, files and logs), between 64 and 10,000: 512 under the common `ulimit -n 1024`.
fn default_max_connections() -> usize {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit(2) writes into the struct we pass.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
            return usize::try_from(limit.rlim_cur / 2).unwrap_or(10_000).clamp(64, 10_000);
        }
    }
    512
}

/// The app's own requests to itself, which must keep being served at shutdown while `busy`
/// (requests of its users in flight) is above zero: requests under `internal_prefix`.
#[derive(Clone, Debug)]
pub struct Drain {
    /// Requests in flight that may still call `internal_prefix`.
    pub busy: Arc<AtomicUsize>,
    /// Set when shutdown begins: the app then refuses new requests of its users (503) so that
    /// `busy` only goes down.
    pub draining: Arc<AtomicBool>,
    /// The path prefix of the internal routes, such as `/sandbox/`.
    pub internal_prefix: &'static str,
}

/// Serves `service` (the app's router, with any outer layer) on `listener` until `shutdown`
/// completes, then drains as described above. Handlers can read the peer's address with
/// `ConnectInfo<SocketAddr>`.
pub async fn serve<S>(
    listener: TcpListener,
    router: S,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain: Option<Drain>,
) -> std::io::Result<()>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    serve_with(listener, router, limits, shutdown, drain, None).await
}

/// [`serve`], with a [`Shortcut`] tried on every request first.
pub async fn serve_with<S>(
    listener: TcpListener,
    router: S,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain: Option<Drain>,
    shortcut: Option<Shortcut>,
) -> std::io::Result<()>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let overflow = Arc::new(Semaphore::new(OVERFLOW_CONNECTIONS));
    let (phase, watching) = watch::channel(Phase::Serving);
    let mut shutdown = pin!(shutdown);
    let mut deadline = None;
    let mut signalled = tokio::time::Instant::now();
    let internal_prefix = drain.as_ref().map(|d| d.internal_prefix);
    loop {
        let (stream, peer) = match deadline {
            None => tokio::select! {
                () = &mut shutdown => {
                    if let Some(drain) = &drain {
                        drain.draining.store(true, Ordering::Release);
                    }
                    let _ = phase.send(if drain.is_some() { Phase::Draining } else { Phase::Closing });
                    signalled = tokio::time::Instant::now();
                    deadline = Some(signalled + limits.shutdown_deadline);
                    continue;
                }
                accepted = accept(&listener) => accepted,
            },
            Some(deadline) => {
                let now = tokio::time::Instant::now();
                let still_busy = drain.as_ref().is_some_and(|d| d.busy.load(Ordering::Acquire) > 0);
                let lingering = drain.is_some() && now < deadline.min(signalled + SHUTDOWN_LINGER);
                if now >= deadline {
                    break;
                }
                // Done: connections already waiting in the backlog are still answered (503), the
                // rest is refused by the system once the listener is closed.
                let wait = if still_busy || lingering { Duration::from_millis(5) } else { Duration::ZERO };
                match tokio::time::timeout(wait, accept(&listener)).await {
                    Ok(accepted) => accepted,
                    Err(_) if still_busy || lingering => continue,
                    Err(_) => break,
                }
            }
        };
        // A regular slot; else an overflow one (one request, short deadline); else closed at once.
        let (slot, one_shot, overflowing) = match slots.clone().try_acquire_owned() {
            Ok(slot) => (slot, deadline.is_some(), false),
            Err(_) => match overflow.clone().try_acquire_owned() {
                Ok(slot) => (slot, true, true),
                Err(_) => {
                    tracing::warn!(max = limits.max_connections, "connection limit reached: closing a new connection");
                    drop(stream);
                    continue;
                }
            },
        };
        let router = router.clone();
        let watching = watching.clone();
        tokio::spawn(async move {
            let head_timeout = if one_shot {
                limits.header_read_timeout.min(OVERFLOW_HEAD_TIMEOUT)
            } else {
                limits.header_read_timeout
            };
            // A silent connection may hold an overflow slot only briefly, so that a flood of them
            // cannot keep a health probe out.
            let first_byte = if overflowing { OVERFLOW_FIRST_BYTE_TIMEOUT.min(head_timeout) } else { head_timeout };
            let timeouts = (head_timeout, limits.idle_timeout, first_byte);
            serve_connection(stream, peer, router, timeouts, (watching, internal_prefix), one_shot, shortcut).await;
            drop(slot);
        });
    }
    drop(listener);
    let _ = phase.send(Phase::Closing);
    let deadline = deadline.unwrap_or_else(|| tokio::time::Instant::now() + limits.shutdown_deadline);
    // Every connection task holds a slot: all slots back means all connections are done.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let everyone = async {
        let regular = slots.acquire_many(all).await;
        let extra = overflow.acquire_many(OVERFLOW_CONNECTIONS as u32).await;
        (regular, extra)
    };
    if tokio::time::timeout_at(deadline, everyone).await.is_err() {
        tracing::warn!(
            open = limits.max_connections - slots.available_permits(),
            "shutdown deadline reached: exiting with connections still open"
        );
    }
    Ok(())
}

/// The next connection, with `TCP_NODELAY` set: without it a response written in two parts
/// (headers, then a file's body, as `ServeDir` does) waits for the client's delayed ACK, up to
/// 40 ms per static file. Accept errors (such as running out of file descriptors) are logged and
/// retried after a short pause, never fatal.
async fn accept(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                if let Err(error) = stream.set_nodelay(true) {
                    tracing::debug!(%error, "cannot set TCP_NODELAY");
                }
                return (stream, peer);
            }
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
