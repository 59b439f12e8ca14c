//! The device authorization grant (RFC 8628): what replaced the password grant for programs without
//! a browser. `POST /device` asks the server's device authorization endpoint for a device code and a
//! user code (steps A and B of the grant's diagram) and shows the user code, the verification URI
//! (as a link and a QR code) and the countdown (step C); the user approves on another device (D);
//! meanwhile `POST /device/poll` polls the token endpoint with the device code, once per call, at
//! the pace RFC 8628 §3.5 sets (E), until the token comes (F), which the result page shows and uses
//! (G). The page's script polls by itself; without it, a button does.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::Digest;
use tracing::Instrument;

use super::AppState;
use super::cases::SandboxCase;
use super::error::AppError;
use super::form::{FormProblem, StrictForm, is_sendable_token};
use super::result::{Issued, show_token};
use super::views::{DevicePollFragment, DeviceTemplate, DeviceView, PollView};
use crate::authorization_server::Role;
use crate::diagnosis::{self, Explanation};
use crate::exchange::{self, Field};
use crate::grant::Grant;
use crate::token::{DeviceAuthorization, TokenError};

/// RFC 8628 §3.2: the interval when the server gives none.
const DEFAULT_INTERVAL: u64 = 5;

/// The longest the app waits, inside one request, for its turn to poll.
const MAX_WAIT: Duration = Duration::from_secs(20);

/// `POST /device`: the device authorization request, then the page that shows the user code.
pub(super) async fn start_device(State(state): State<AppState>) -> Result<Response, AppError> {
    async move {
        let server = &state.0.server;
        let Some(endpoint) = server.device_authorization.as_ref().map(|e| e.url.clone()) else {
            return Err(if server.is_bitbucket() {
                AppError::Explained(Box::new(no_device_flow_at_bitbucket()))
            } else {
                AppError::Absent(Role::DeviceAuthorization)
            });
        };
        let case = SandboxCase::Demo;
        let scrubber = state.scrubber(case);
        let fields: Vec<Field<'_>> = state.scope().map(|scope| Field::plain("scope", scope)).into_iter().collect();
        let (exchange, result) = exchange::device_authorization_request(
            &state.0.http,
            &endpoint,
            &state.client(case),
            server.snippet_names(),
            &fields,
        )
        .await;
        let device = match result {
            Ok(device) => device,
            Err(error) => {
                let error = scrubber.token_error(error);
                let explanation = diagnosis::token_failure(Grant::DeviceCode, &endpoint, &error, server);
                return Err(AppError::Token {
                    grant: Grant::DeviceCode,
                    endpoint,
                    error: Box::new(error),
                    explanation: Box::new(explanation),
                    exchange: Some(Box::new(exchange)),
                    retry_username: None,
                });
            }
        };
        let interval = device.interval.unwrap_or(DEFAULT_INTERVAL).max(1);
        state.0.device_pace.start(&device.device_code, Duration::from_secs(interval));
        tracing::info!(interval, expires_in = device.expires_in, "device authorization started");
        let view = DeviceView::new(&device, interval);
        let page =
            DeviceTemplate { layout: &state.0.layout, device: view, authorization: Some(exchange), polls: Vec::new() };
        Ok(Html(page.render()?).into_response())
    }
    .instrument(tracing::info_span!("device_authorization"))
    .await
}

/// The device page's form: what it needs to poll, and to show itself again.
#[derive(Deserialize)]
pub struct PollForm {
    device_code: Option<SecretString>,
    user_code: Option<String>,
    verification_uri: Option<String>,
    verification_uri_complete: Option<String>,
    /// When the codes expire, RFC 3339.
    expires_at: Option<String>,
    /// The seconds between polls, as the page knows it.
    interval: Option<u64>,
    /// How many polls came before this one.
    polls: Option<u32>,
}

/// `POST /device/poll`: one poll of the token endpoint with the device code (RFC 8628 §3.4), at
/// the pace §3.5 sets. Pending: the poll, added to the page (`X-Fragment: 1`, the script) or the
/// page again. Approved: the result page. Denied or expired: the error page.
pub(super) async fn poll_device(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<StrictForm<PollForm>, FormProblem>,
) -> Result<Response, AppError> {
    async move {
        let Ok(StrictForm(form)) = form else {
            return Err(AppError::BadRequest("The device form could not be read."));
        };
        let Some(device_code) = form.device_code.filter(|c| is_sendable_token(c.expose_secret())) else {
            return Err(AppError::BadRequest("The device form carried no usable device code."));
        };
        let device_code = device_code.expose_secret();
        let case = SandboxCase::Demo;
        let scrubber = state.scrubber(case).secret(device_code);
        let interval = state.0.device_pace.wait_turn(device_code, form.interval.unwrap_or(DEFAULT_INTERVAL)).await;
        let fields =
            [Field::plain("grant_type", Grant::DeviceCode.grant_type()), Field::secret("device_code", device_code)];
        let number = form.polls.unwrap_or(0).saturating_add(1);
        let answer = state.request_token(case, Grant::DeviceCode, &fields, &scrubber).await;
        // The server counts the interval from when it got the poll: count the next from the answer.
        state.0.device_pace.polled(device_code);
        let (exchange, error) = match answer {
            Ok((exchange, token)) => {
                state.0.device_pace.forget(device_code);
                let issued = Issued { case, grant: Grant::DeviceCode, token, exchange };
                let mut page = show_token(&state, issued, None, None, scrubber).await?;
                page.headers_mut().insert("x-device", HeaderValue::from_static("token"));
                return Ok(page);
            }
            Err(AppError::Token { error, exchange: Some(exchange), .. }) if is_pending(&error) => (exchange, error),
            Err(other) => {
                state.0.device_pace.forget(device_code);
                return Err(other);
            }
        };
        let TokenError::Refused(answer) = *error else { unreachable!("is_pending matched a refusal") };
        let interval = if answer.error == "slow_down" {
            state.0.device_pace.slow_down(device_code).as_secs()
        } else {
            interval.as_secs()
        };
        let poll = PollView::new(number, *exchange, &answer.error, interval);
        let mut response = if headers.get("x-fragment").is_some_and(|v| v == "1") {
            Html(DevicePollFragment { poll: &poll }.render()?).into_response()
        } else {
            let view = DeviceView::from_form(
                device_code,
                form.user_code.unwrap_or_default(),
                form.verification_uri.unwrap_or_default(),
                form.verification_uri_complete,
                form.expires_at,
                interval,
                number,
            );
            let page = DeviceTemplate { layout: &state.0.layout, device: view, authorization: None, polls: vec![poll] };
            Html(page.render()?).into_response()
        };
        let headers = response.headers_mut();
        headers.insert("x-device", HeaderValue::from_static("pending"));
        headers.insert("x-device-interval", HeaderValue::from(interval));
        Ok(response)
    }
    .instrument(tracing::info_span!("device_poll"))
    .await
}

/// `authorization_pending` or `slow_down`: the poll goes on (RFC 8628 §3.5).
fn is_pending(error: &TokenError) -> bool {
    matches!(error, TokenError::Refused(e) if e.error == "authorization_pending" || e.error == "slow_down")
}

/// The page for Bitbucket (or the sandbox imitating it), which has no device flow.
fn no_device_flow_at_bitbucket() -> Explanation {
    Explanation::new(
        StatusCode::NOT_FOUND,
        "Bitbucket has no device authorization grant",
        "Neither Bitbucket Cloud nor Bitbucket Data Center offers the device authorization grant (RFC 8628), the \
         standard way for a program without a browser to get a token now that the password grant is closed.",
        "For a script, use a scoped API token (HTTP Basic email:token; see the start page). For an app a person \
         uses, the authorization code grant (\"Sign in with Bitbucket\"). To watch the device flow, point the app at \
         a server that offers it.",
    )
}

/// The app's side of RFC 8628 §3.5: per device code, when the next poll may go, and the interval
/// (raised by 5 s at each `slow_down`). A poll that comes early (a fast click, a second tab) waits
/// for its turn here, so the server is never polled faster than it asked. Device codes are kept by
/// their SHA-256 only, at most [`DevicePace::CAPACITY`], the oldest forgotten first.
#[derive(Debug, Default)]
pub struct DevicePace {
    codes: Mutex<Pace>,
}

#[derive(Debug, Default)]
struct Pace {
    next: HashMap<[u8; 32], (Instant, Duration)>,
    order: VecDeque<[u8; 32]>,
}

impl Pace {
    /// Sets a code's next turn and interval; a new code may first push out the oldest, so that
    /// however many codes are posted the table holds at most [`DevicePace::CAPACITY`].
    fn book(&mut self, key: [u8; 32], at: Instant, interval: Duration) {
        if let Some(entry) = self.next.get_mut(&key) {
            *entry = (at, interval);
            return;
        }
        while self.next.len() >= DevicePace::CAPACITY || self.order.len() >= 2 * DevicePace::CAPACITY {
            match self.order.pop_front() {
                Some(old) => {
                    self.next.remove(&old);
                }
                None => break,
            }
        }
        self.next.insert(key, (at, interval));
        self.order.push_back(key);
    }
}

impl DevicePace {
    /// The most device codes remembered.
    pub const CAPACITY: usize = 10_000;

    fn key(device_code: &str) -> [u8; 32] {
        sha2::Sha256::digest(device_code.as_bytes()).into()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Pace> {
        self.codes.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new device code: its first poll may go after `interval`.
    pub fn start(&self, device_code: &str, interval: Duration) {
        self.lock().book(DevicePace::key(device_code), Instant::now() + interval, interval);
    }

    /// Waits until this device code may poll again (at most [`MAX_WAIT`]), books the next turn, and
    /// returns the interval in force. A code it does not know (another instance's, or forgotten)
    /// starts with `page_interval`, the interval the page carried.
    pub async fn wait_turn(&self, device_code: &str, page_interval: u64) -> Duration {
        let key = DevicePace::key(device_code);
        let (at, interval) = {
            let mut pace = self.lock();
            let now = Instant::now();
            let fallback = Duration::from_secs(page_interval.clamp(1, 60));
            let (at, interval) = pace.next.get(&key).copied().unwrap_or((now, fallback));
            let at = at.max(now);
            pace.book(key, at + interval, interval);
            (at, interval)
        };
        let wait = at.saturating_duration_since(Instant::now()).min(MAX_WAIT);
        tokio::time::sleep(wait).await;
        interval
    }

    /// A poll was answered: the next may go one interval from now (the server counts from when it
    /// received this one, which was no earlier).
    pub fn polled(&self, device_code: &str) {
        let key = DevicePace::key(device_code);
        if let Some(entry) = self.lock().next.get_mut(&key) {
            entry.0 = entry.0.max(Instant::now() + entry.1);
        }
    }

    /// The server said `slow_down`: 5 seconds more between polls from now on (RFC 8628 §3.5).
    pub fn slow_down(&self, device_code: &str) -> Duration {
        let key = DevicePace::key(device_code);
        let mut pace = self.lock();
        let interval = pace.next.get(&key).map_or(Duration::from_secs(DEFAULT_INTERVAL), |(_, i)| *i);
        let interval = interval + Duration::from_secs(5);
        pace.book(key, Instant::now() + interval, interval);
        interval
    }

    /// The flow ended: forget the code.
    pub fn forget(&self, device_code: &str) {
        self.lock().next.remove(&DevicePace::key(device_code));
    }
}

/// The verification URI as a link target, only when it is an http or https URL: a server could
/// send `javascript:`.
pub(super) fn link(uri: &str) -> Option<String> {
    let parsed = url::Url::parse(uri).ok()?;
    matches!(parsed.scheme(), "http" | "https").then(|| parsed.to_string())
}

/// The QR code of `text`, as inline SVG (no script, no style: the page's CSP holds).
pub(super) fn qr_svg(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(180, 180)
            .dark_color(qrcode::render::svg::Color("#172b4d"))
            .light_color(qrcode::render::svg::Color("#ffffff"))
            .build(),
    )
}

impl DeviceView {
    /// What the page shows of a fresh device authorization.
    pub fn new(device: &DeviceAuthorization, interval: u64) -> DeviceView {
        let expires_at = time::OffsetDateTime::now_utc() + time::Duration::seconds(device.expires_in as i64);
        let expires_at = expires_at.replace_nanosecond(0).unwrap_or(expires_at);
        DeviceView::from_form(
            &device.device_code,
            device.user_code.clone(),
            device.verification_uri.clone(),
            device.verification_uri_complete.clone(),
            expires_at.format(&time::format_description::well_known::Rfc3339).ok(),
            interval,
            0,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn polls_wait_their_turn_and_slow_down_adds_five_seconds() {
        let pace = DevicePace::default();
        pace.start("code", Duration::from_secs(5));
        let started = tokio::time::Instant::now();
        assert_eq!(pace.wait_turn("code", 5).await, Duration::from_secs(5));
        assert!(started.elapsed() >= Duration::from_secs(4), "the first poll waited for the interval");
        assert_eq!(pace.slow_down("code"), Duration::from_secs(10));
        assert_eq!(pace.wait_turn("code", 5).await, Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn the_pace_table_stays_bounded_whatever_codes_are_posted() {
        let pace = DevicePace::default();
        for n in 0..(DevicePace::CAPACITY + 500) {
            pace.wait_turn(&format!("code-{n}"), 1).await;
        }
        let held = pace.lock();
        assert!(held.next.len() <= DevicePace::CAPACITY, "{}", held.next.len());
        assert!(held.order.len() <= 2 * DevicePace::CAPACITY);
    }

    #[test]
    fn only_http_links_and_a_qr_code_without_script() {
        assert!(link("javascript:alert(1)").is_none());
        assert_eq!(
            link("https://auth.example/device?user_code=WDJB-MJHT").unwrap(),
            "https://auth.example/device?user_code=WDJB-MJHT"
        );
        let svg = qr_svg("https://auth.example/device?user_code=WDJB-MJHT").unwrap();
        assert!(svg.starts_with("<?xml") || svg.contains("<svg"), "{svg}");
        assert!(!svg.contains("<script") && !svg.contains("style="), "{svg}");
    }
}
