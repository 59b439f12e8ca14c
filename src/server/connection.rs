//! One connection: hyper serving it, the listener's shortcut tried first, and the two deadlines
//! (request head, idle) kept by one timer over a stream that notes when bytes move.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use atomic_waker::AtomicWaker;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tower::util::Oneshot;
use tower::{Service, ServiceExt};

/// How far shutdown has gone; each connection watches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Phase {
    Serving,
    /// Users' connections finish their request and close; internal ones go on.
    Draining,
    /// Every connection finishes its request and closes.
    Closing,
}

/// A request the listener may answer itself, before the service and before the work each request
/// needs there (the body boxed for axum, `ConnectInfo` inserted): the app's health probe. `None`
/// passes the request on. Its answer's body is not boxed either.
pub type Shortcut = fn(&hyper::Request<Incoming>) -> Option<hyper::Response<Full<Bytes>>>;

/// What a connection answers with: the shortcut's body as it is, or the router's.
type AnswerBody = Either<Full<Bytes>, Body>;

/// Serves one connection until it ends, misses a deadline, or shutdown closes it (after the
/// request in flight, within the listener's shutdown deadline).
pub(super) async fn serve_connection<S>(
    stream: TcpStream,
    peer: SocketAddr,
    router: S,
    (head_timeout, idle_timeout, first_byte_timeout): (Duration, Duration, Duration),
    (mut watching, internal_prefix): (watch::Receiver<Phase>, Option<&'static str>),
    one_shot: bool,
    shortcut: Option<Shortcut>,
) where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Tracked { inner: stream, activity: activity.clone() });
    // Whether this connection has carried the app's requests to itself.
    let internal = Arc::new(AtomicBool::new(false));
    let service = PerConnection {
        router,
        shortcut,
        peer,
        activity: activity.clone(),
        internal: internal.clone(),
        internal_prefix,
    };
    let connection = hyper::server::conn::http1::Builder::new()
        // Accepted while shutting down, or past the limit: one request, then close.
        .keep_alive(!one_shot)
        .serve_connection(io, service);
    let mut connection = pin!(connection);
    let mut deadlines = pin!(activity.deadlines(head_timeout, idle_timeout, first_byte_timeout));
    let closing = watching.wait_for(|phase| match phase {
        Phase::Serving => false,
        Phase::Draining => !internal.load(Ordering::Relaxed),
        Phase::Closing => true,
    });
    match first_of(connection.as_mut(), deadlines.as_mut(), (!one_shot).then_some(closing)).await {
        First::Connection(result) => return log_end(result),
        First::Deadline(reason) => return tracing::debug!("connection dropped: {reason}"),
        First::Closing => connection.as_mut().graceful_shutdown(),
    }
    // Shutting down: the request in flight may finish (within the deadline set by `serve`).
    tokio::select! {
        result = connection => log_end(result),
        reason = deadlines => tracing::debug!("connection dropped during shutdown: {reason}"),
    }
}

/// Which of a connection's futures came first.
enum First<C, D> {
    Connection(C),
    Deadline(D),
    Closing,
}

/// Waits for the first of a connection's three futures: hyper's connection, its deadlines, the
/// signal to close (if any). The task wakes for each request's bytes; only the connection is then
/// polled. The other two get wakers of their own and are polled only when those woke (a timer, a
/// shutdown phase): `tokio::select!` polled all three on every wake, and the timer's and the
/// watch's polls (the latter with a lock) were about 200 instructions of every health probe.
async fn first_of<C: Future, D: Future>(
    mut connection: Pin<&mut C>,
    mut deadlines: Pin<&mut D>,
    closing: Option<impl Future>,
) -> First<C::Output, D::Output> {
    let mut closing = pin!(closing);
    let mut side = SideWakers::new();
    // Both are polled once, to start (and register) them.
    let mut due = DEADLINES | CLOSING;
    std::future::poll_fn(move |cx| {
        if let Poll::Ready(result) = connection.as_mut().poll(cx) {
            return Poll::Ready(First::Connection(result));
        }
        due |= side.woken(cx.waker());
        if due & DEADLINES != 0 {
            due &= !DEADLINES;
            if let Poll::Ready(reason) = deadlines.as_mut().poll(&mut Context::from_waker(&side.deadlines)) {
                return Poll::Ready(First::Deadline(reason));
            }
        }
        if due & CLOSING != 0 {
            due &= !CLOSING;
            let signal = closing.as_mut().as_pin_mut();
            if signal.is_some_and(|signal| signal.poll(&mut Context::from_waker(&side.closing)).is_ready()) {
                return Poll::Ready(First::Closing);
            }
        }
        Poll::Pending
    })
    .await
}

const DEADLINES: u8 = 1;
const CLOSING: u8 = 2;

/// The wakers [`first_of`] gives the deadlines and the closing signal: each notes that it woke
/// and wakes the connection's task.
struct SideWakers {
    shared: Arc<Woken>,
    deadlines: Waker,
    closing: Waker,
    /// The task's waker as last registered in `shared.task`; `None` when it must be again.
    registered: Option<Waker>,
}

#[derive(Default)]
struct Woken {
    task: AtomicWaker,
    /// [`DEADLINES`] and [`CLOSING`] bits, set by their wakers until taken by [`SideWakers::woken`].
    bits: AtomicU8,
}

struct SideWaker {
    shared: Arc<Woken>,
    bit: u8,
}

impl Wake for SideWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // The bit first: the task, once woken, must find it.
        self.shared.bits.fetch_or(self.bit, Ordering::Release);
        self.shared.task.wake();
    }
}

impl SideWakers {
    fn new() -> SideWakers {
        let shared = Arc::new(Woken::default());
        let waker = |bit| Waker::from(Arc::new(SideWaker { shared: shared.clone(), bit }));
        SideWakers { deadlines: waker(DEADLINES), closing: waker(CLOSING), shared, registered: None }
    }

    /// Which of them woke since the last call. The task's waker is registered for them first
    /// (again only if it changed, or if one of them took it by waking it), so that a wake from
    /// then on wakes the task.
    fn woken(&mut self, task: &Waker) -> u8 {
        let mut woken = 0;
        loop {
            if !self.registered.as_ref().is_some_and(|registered| registered.will_wake(task)) {
                self.shared.task.register(task);
                self.registered = Some(task.clone());
            }
            if self.shared.bits.load(Ordering::Acquire) == 0 {
                return woken;
            }
            woken |= self.shared.bits.swap(0, Ordering::Acquire);
            // Whatever set those bits took the registered waker to wake it.
            self.registered = None;
        }
    }
}

/// The service hyper calls for each request on one connection: the shortcut, else the router,
/// with the peer's address and the bookkeeping of the connection's deadlines.
struct PerConnection<S> {
    router: S,
    shortcut: Option<Shortcut>,
    peer: SocketAddr,
    activity: Arc<Activity>,
    /// Set once a request under `internal_prefix` came on this connection.
    internal: Arc<AtomicBool>,
    internal_prefix: Option<&'static str>,
}

impl<S> hyper::service::Service<hyper::Request<Incoming>> for PerConnection<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = hyper::Response<AnswerBody>;
    type Error = Infallible;
    type Future = Answer<Oneshot<S, Request>>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        if let Some(response) = self.shortcut.and_then(|answer| answer(&request)) {
            return Answer::Ready { response: Some(response) };
        }
        // hyper calls the service once the head is read: the head deadline stops here.
        let in_flight = InFlight::begin(&self.activity);
        let mut request = request.map(Body::new);
        if self.internal_prefix.is_some_and(|prefix| request.uri().path().starts_with(prefix)) {
            self.internal.store(true, Ordering::Relaxed);
        }
        request.extensions_mut().insert(ConnectInfo(self.peer));
        Answer::Service { future: self.router.clone().oneshot(request), in_flight: Some(in_flight) }
    }
}

/// A request whose head has been read and whose answer is not ready: counted in
/// [`Activity::in_flight`] until dropped, whether the answer came or the request was abandoned.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn begin(activity: &Arc<Activity>) -> InFlight {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

pin_project_lite::pin_project! {
    /// A request's answer: the shortcut's, ready at once, or the router's.
    #[project = AnswerProjection]
    enum Answer<F> {
        Ready { response: Option<hyper::Response<Full<Bytes>>> },
        Service { #[pin] future: F, in_flight: Option<InFlight> },
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for Answer<F> {
    type Output = Result<hyper::Response<AnswerBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            AnswerProjection::Ready { response } => {
                Poll::Ready(Ok(response.take().expect("polled after completion").map(Either::Left)))
            }
            AnswerProjection::Service { future, in_flight } => {
                let answer = std::task::ready!(future.poll(cx));
                // The answer is ready: the next head's deadline counts from its last byte written.
                if let Some(InFlight(activity)) = in_flight.as_ref() {
                    activity.answered.store(activity.now(), Ordering::Relaxed);
                }
                in_flight.take();
                Poll::Ready(answer.map(|response| response.map(Either::Right)))
            }
        }
    }
}

fn log_end(result: Result<(), hyper::Error>) {
    if let Err(error) = result {
        tracing::debug!(%error, "connection ended with an error");
    }
}

/// What a connection's deadlines watch: times in milliseconds since the connection opened.
struct Activity {
    opened: clock::Origin,
    /// The last byte read or written.
    moved: AtomicU64,
    /// The last byte written.
    written: AtomicU64,
    /// When the last answer was ready.
    answered: AtomicU64,
    /// Requests whose head has been read and whose answer is not ready yet.
    in_flight: AtomicUsize,
    /// The client is not taking the answer: the last write found the socket's buffer full. The
    /// idle timeout, not the head deadline, then decides how long it may wait.
    write_blocked: AtomicBool,
    /// The client has sent at least one byte.
    heard: AtomicBool,
}

impl Activity {
    fn new() -> Activity {
        let zero = || AtomicU64::new(0);
        Activity {
            opened: clock::Origin::now(),
            moved: zero(),
            written: zero(),
            answered: zero(),
            in_flight: AtomicUsize::new(0),
            write_blocked: AtomicBool::new(false),
            heard: AtomicBool::new(false),
        }
    }

    fn now(&self) -> u64 {
        self.opened.elapsed_millis()
    }

    /// Completes when the connection has missed a deadline, with what it missed: no byte at all
    /// within `first_byte` of the connection opening, no request head within `head` of the
    /// connection opening or of the last answer (its last byte), or no byte either way within
    /// `idle`. One timer, re-armed only when it wakes: while a request is in flight it wakes at
    /// least every `head`, so the next head's deadline is never checked late.
    async fn deadlines(&self, head: Duration, idle: Duration, first_byte: Duration) -> &'static str {
        // The clock's resolution added to each: never closed before a deadline, whatever the tick.
        let late = |deadline| millis(deadline).saturating_add(clock::resolution_millis());
        let (head, idle, first_byte) = (late(head), late(idle), late(first_byte));
        loop {
            let now = self.now();
            let silent = !self.heard.load(Ordering::Relaxed);
            if silent && now >= first_byte {
                return "no byte within the first-byte deadline";
            }
            let idle_at = self.moved.load(Ordering::Relaxed).saturating_add(idle);
            let waiting_for_head =
                self.in_flight.load(Ordering::Relaxed) == 0 && !self.write_blocked.load(Ordering::Relaxed);
            let head_at = waiting_for_head.then(|| {
                self.answered.load(Ordering::Relaxed).max(self.written.load(Ordering::Relaxed)).saturating_add(head)
            });
            if now >= idle_at {
                return "no byte moved within the idle timeout";
            }
            if head_at.is_some_and(|at| now >= at) {
                return "no request head within the head timeout";
            }
            let mut wake = head_at.unwrap_or_else(|| now.saturating_add(head)).min(idle_at);
            if silent {
                wake = wake.min(first_byte);
            }
            tokio::time::sleep(Duration::from_millis(wake - now)).await;
        }
    }
}

/// The clock of a connection's deadlines. Every read and write of a connection notes the time,
/// so it is read twice per request: on Linux it is `CLOCK_MONOTONIC_COARSE` (the time of the
/// kernel's last tick, at most one tick old: 1 to 10 ms, read without the CPU's time-stamp
/// counter), in whole
/// milliseconds with no `Instant`/`Duration` arithmetic: about 200 fewer instructions per health
/// probe than `Instant::elapsed` twice. The deadlines add its resolution (one tick), so they
/// are never early and at most two ticks late. Elsewhere, and in the unit tests (which pause
/// Tokio's clock), Tokio's `Instant`.
#[cfg(all(target_os = "linux", not(test)))]
mod clock {
    use std::sync::LazyLock;

    /// When a connection opened, in the clock's milliseconds.
    pub(super) struct Origin(u64);

    impl Origin {
        pub(super) fn now() -> Origin {
            Origin(coarse_millis())
        }

        pub(super) fn elapsed_millis(&self) -> u64 {
            coarse_millis().saturating_sub(self.0)
        }
    }

    fn coarse_millis() -> u64 {
        let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime(2) writes into the struct we pass; this clock exists on Linux
        // since 2.6.32 and cannot fail.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut now) };
        // A monotonic clock: never negative.
        (now.tv_sec as u64) * 1000 + (now.tv_nsec as u64) / 1_000_000
    }

    /// The clock's resolution (its tick) in milliseconds, rounded up.
    pub(super) fn resolution_millis() -> u64 {
        static RESOLUTION: LazyLock<u64> = LazyLock::new(|| {
            let mut resolution = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            // SAFETY: clock_getres(2) writes into the struct we pass.
            if unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut resolution) } != 0 {
                return 10;
            }
            (resolution.tv_sec as u64) * 1000 + (resolution.tv_nsec as u64).div_ceil(1_000_000)
        });
        *RESOLUTION
    }
}

#[cfg(not(all(target_os = "linux", not(test))))]
mod clock {
    /// When a connection opened.
    pub(super) struct Origin(tokio::time::Instant);

    impl Origin {
        pub(super) fn now() -> Origin {
            Origin(tokio::time::Instant::now())
        }

        pub(super) fn elapsed_millis(&self) -> u64 {
            super::millis(self.0.elapsed())
        }
    }

    /// Whole milliseconds of `Instant::elapsed`, as the deadlines have always been kept.
    pub(super) fn resolution_millis() -> u64 {
        0
    }
}

/// A stream that notes when a byte last moved, for the deadlines.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

/// A duration in whole milliseconds, saturating (the settings allow absurdly long timeouts).
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl Tracked {
    fn touch(&self, written: bool) {
        let now = self.activity.now();
        self.activity.moved.store(now, Ordering::Relaxed);
        if written {
            self.activity.written.store(now, Ordering::Relaxed);
        }
    }

    /// Notes a write's outcome: bytes written, or a full socket buffer (the client is not reading).
    fn wrote(&self, result: &Poll<std::io::Result<usize>>) {
        match result {
            Poll::Ready(Ok(n)) if *n > 0 => {
                self.activity.write_blocked.store(false, Ordering::Relaxed);
                self.touch(true);
            }
            Poll::Pending => self.activity.write_blocked.store(true, Ordering::Relaxed),
            _ => {}
        }
    }
}

impl AsyncRead for Tracked {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.heard.store(true, Ordering::Relaxed);
            self.touch(false);
        }
        result
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.wrote(&result);
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.wrote(&result);
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: Duration = Duration::from_secs(1);
    const IDLE: Duration = Duration::from_secs(60);

    fn watch(activity: &Arc<Activity>, head: Duration, idle: Duration) -> tokio::task::JoinHandle<&'static str> {
        let activity = activity.clone();
        tokio::spawn(async move { activity.deadlines(head, idle, Duration::MAX).await })
    }

    /// A request in flight suspends the head deadline; once answered, the next head's deadline is
    /// kept on time, not at the idle timeout the timer was sleeping towards.
    #[tokio::test(start_paused = true)]
    async fn the_head_deadline_is_kept_on_time_after_a_long_request() {
        let activity = Arc::new(Activity::new());
        let request = InFlight::begin(&activity);
        let deadlines = watch(&activity, HEAD, IDLE);
        for _ in 0..10 {
            // Five seconds of a request whose body keeps arriving.
            tokio::time::advance(Duration::from_millis(500)).await;
            activity.moved.store(activity.now(), Ordering::Relaxed);
        }
        assert!(!deadlines.is_finished(), "closed while a request was in flight");
        activity.answered.store(activity.now(), Ordering::Relaxed);
        drop(request);
        let answered = tokio::time::Instant::now();
        assert_eq!(deadlines.await.unwrap(), "no request head within the head timeout");
        assert!(answered.elapsed() <= HEAD * 2, "{:?} after the answer", answered.elapsed());
    }

    /// A client that does not take its answer (the socket's buffer full) is given the idle
    /// timeout, not the head deadline.
    #[tokio::test(start_paused = true)]
    async fn a_blocked_write_waits_for_the_idle_timeout() {
        let activity = Arc::new(Activity::new());
        activity.write_blocked.store(true, Ordering::Relaxed);
        let deadlines = watch(&activity, HEAD, Duration::from_secs(5));
        tokio::time::advance(Duration::from_secs(3)).await;
        assert!(!deadlines.is_finished(), "the head deadline applied to a blocked write");
        assert_eq!(deadlines.await.unwrap(), "no byte moved within the idle timeout");
    }

    /// The app's HTTP client lets idle connections go before this listener would close them (its
    /// own sandbox is served here): otherwise a request sent just as the listener closes an idle
    /// connection fails ("connection closed before message completed"; seen as 8 failures in
    /// 74,000 flows sent in bursts ten seconds apart, and none after).
    #[test]
    fn the_clients_idle_connections_go_before_the_listener_closes_them() {
        assert!(crate::token::POOL_IDLE_TIMEOUT < crate::server::Limits::default().header_read_timeout);
    }

    /// A connection that sends nothing is closed at the first-byte deadline (the overflow's); one
    /// byte, and the head deadline rules.
    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_is_closed_at_the_first_byte_deadline() {
        let activity = Arc::new(Activity::new());
        let silent = tokio::spawn({
            let activity = activity.clone();
            async move { activity.deadlines(HEAD, IDLE, Duration::from_millis(100)).await }
        });
        tokio::time::advance(Duration::from_millis(150)).await;
        assert_eq!(silent.await.unwrap(), "no byte within the first-byte deadline");
        let heard = Arc::new(Activity::new());
        heard.heard.store(true, Ordering::Relaxed);
        let deadlines = tokio::spawn({
            let heard = heard.clone();
            async move { heard.deadlines(HEAD, IDLE, Duration::from_millis(100)).await }
        });
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(!deadlines.is_finished(), "closed a connection that had sent a byte");
        assert_eq!(deadlines.await.unwrap(), "no request head within the head timeout");
    }

    /// The deadlines and the closing signal, polled only when their own wakers fire, still end a
    /// connection that is waiting: after one of them woke the task (taking its registered waker),
    /// the other's wake still reaches it.
    #[tokio::test(start_paused = true)]
    async fn a_waiting_connection_sees_its_deadline_and_its_closing_signal() {
        let deadline = tokio::spawn(async {
            let mut connection = pin!(std::future::pending::<()>());
            let mut deadlines = pin!(tokio::time::sleep(HEAD));
            matches!(
                first_of(connection.as_mut(), deadlines.as_mut(), None::<std::future::Pending<()>>).await,
                First::Deadline(())
            )
        });
        let (signal, closing) = tokio::sync::oneshot::channel::<()>();
        let closed = tokio::spawn(async move {
            let mut connection = pin!(std::future::pending::<()>());
            // Wakes the task at 1 s, and sleeps on for another second.
            let mut deadlines = pin!(async {
                tokio::time::sleep(HEAD).await;
                tokio::time::sleep(HEAD).await;
            });
            matches!(first_of(connection.as_mut(), deadlines.as_mut(), Some(closing)).await, First::Closing)
        });
        tokio::time::sleep(HEAD + HEAD / 2).await;
        assert!(deadline.await.unwrap(), "the deadline did not end the connection");
        assert!(!closed.is_finished());
        signal.send(()).unwrap();
        let closed = tokio::time::timeout(HEAD * 10, closed).await.expect("the closing signal did not wake the task");
        assert!(closed.unwrap(), "the closing signal did not end the connection");
    }

    /// An abandoned request gives its place back, and absurd timeouts do not overflow.
    #[tokio::test(start_paused = true)]
    async fn abandoned_requests_and_huge_timeouts() {
        let activity = Arc::new(Activity::new());
        drop(InFlight::begin(&activity));
        assert_eq!(activity.in_flight.load(Ordering::Relaxed), 0);
        let deadlines = watch(&activity, Duration::MAX, Duration::MAX);
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert!(!deadlines.is_finished());
        deadlines.abort();
    }
}
