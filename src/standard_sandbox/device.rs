//! The device authorization grant (RFC 8628): the device authorization endpoint, where a device
//! without a browser gets a device code and a user code, and the verification page, where the user
//! types the user code on another screen, signs in and decides. The device meanwhile polls the
//! token endpoint ([`super::token_endpoint`]).
//!
//! - `POST /device_authorization` (§3.1, §3.2): the client authenticates, or a public client sends
//!   its `client_id`. The user code is 8 letters of §6.1's base-20 alphabet, shown as `XXXX-XXXX`.
//! - `GET, POST /device` (§3.3): enter the code (case and dashes do not matter; wrong codes are
//!   limited per address, §5.1), sign in, then Grant or Deny. `verification_uri_complete` fills the
//!   code in but still asks the user to confirm it (§5.4: a code sent by someone else).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::clients::{Client, DEVICE_CODE, client};
use super::pages::{ScopeView, respond_html, scope_views};
use super::store::{DeviceGrant, DeviceStatus};
use super::{Form, OAuthError, StandardSandbox, no_store_json, parse_scope};

/// RFC 8628 §6.1: consonants only (no vowels, so no words), base 20.
const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Letters in a user code: 20^8, about 2^34.6 codes.
const USER_CODE_LENGTH: usize = 8;

/// A new user code, 8 letters (without the dash).
fn new_user_code() -> String {
    let mut code = String::with_capacity(USER_CODE_LENGTH);
    while code.len() < USER_CODE_LENGTH {
        let mut bytes = [0u8; 16];
        getrandom::getrandom(&mut bytes).expect("the operating system's random source is readable");
        // 240 = 12 × 20: bytes above it are dropped, so every letter is equally likely.
        for byte in bytes.into_iter().filter(|b| *b < 240) {
            if code.len() < USER_CODE_LENGTH {
                code.push(USER_CODE_ALPHABET[usize::from(byte % 20)] as char);
            }
        }
    }
    code
}

/// A user code as typed (any case, dashes and spaces anywhere) in its stored form, if it can be one.
fn normalize_user_code(typed: &str) -> Option<String> {
    let code: String =
        typed.chars().filter(|c| *c != '-' && !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect();
    (code.len() == USER_CODE_LENGTH && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b))).then_some(code)
}

/// `XXXX-XXXX`.
fn display_user_code(code: &str) -> String {
    let (first, second) = code.split_at(code.len().min(4));
    format!("{first}-{second}")
}

/// `POST /device_authorization` (RFC 8628 §3.1, §3.2).
pub(super) async fn device_authorization(
    State(sandbox): State<Arc<StandardSandbox>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match sandbox.device_authorization(&headers, &body) {
        Ok(answer) => no_store_json(StatusCode::OK, &answer),
        Err(error) => error.into_response(),
    }
}

impl StandardSandbox {
    fn device_authorization(&self, headers: &HeaderMap, body: &[u8]) -> Result<serde_json::Value, OAuthError> {
        let form = Form::parse(headers, body)?;
        let client = self.authenticate_client(headers, &form, true)?;
        if !client.allows(DEVICE_CODE) {
            return Err(OAuthError::new(
                "unauthorized_client",
                "This client may not use the device authorization grant.",
            ));
        }
        let scopes = match form.get("scope").map(parse_scope) {
            None => vec!["openid"],
            Some(Ok(scopes)) if scopes.is_empty() => vec!["openid"],
            Some(Ok(scopes)) => scopes,
            Some(Err(description)) => return Err(OAuthError::new("invalid_scope", description)),
        };
        let device_code = crate::random_token();
        let mut issued = self.issued();
        let user_code = loop {
            let code = new_user_code();
            if !issued.user_codes.contains(&code) {
                break code;
            }
        };
        let grant = DeviceGrant {
            client_id: client.id,
            scopes,
            expires_at: Instant::now() + self.options.device_code_lifetime,
            interval: self.options.device_interval,
            last_poll: None,
            status: DeviceStatus::Pending,
        };
        issued.devices.insert(device_code.clone(), grant);
        issued.user_codes.insert(user_code.clone(), device_code.clone());
        drop(issued);
        let shown = display_user_code(&user_code);
        let verification_uri = self.endpoint("/device");
        let complete = format!("{verification_uri}?user_code={shown}");
        // The interval is announced in whole seconds (at least 1); tests run shorter ones.
        let interval = self.options.device_interval.as_secs_f64().ceil().max(1.0) as u64;
        Ok(json!({
            "device_code": device_code,
            "user_code": shown,
            "verification_uri": verification_uri,
            "verification_uri_complete": complete,
            "expires_in": self.options.device_code_lifetime.as_secs(),
            "interval": interval,
        }))
    }

    /// The live, undecided device authorization of a typed user code: its device code, client and
    /// scopes.
    fn pending_device(&self, typed: &str) -> Option<(String, &'static Client, Vec<&'static str>)> {
        let code = normalize_user_code(typed)?;
        let issued = self.issued();
        let device_code = issued.user_codes.get(&code)?.clone();
        let grant = issued.devices.get(&device_code)?;
        let live = grant.status == DeviceStatus::Pending && grant.expires_at > Instant::now();
        live.then(|| (device_code, client(grant.client_id), grant.scopes.clone()))
            .and_then(|(d, c, s)| Some((d, c?, s)))
    }
}

/// Which step the verification page shows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    Code,
    SignIn,
    Consent,
    Done { approved: bool },
}

/// `templates/standard_sandbox_device.html`.
#[derive(Template)]
#[template(path = "standard_sandbox_device.html")]
struct DevicePage {
    step: Step,
    action: String,
    user_code: String,
    problem: Option<String>,
    user: Option<&'static str>,
    ticket: String,
    username: String,
    client: Option<&'static Client>,
    scopes: Vec<ScopeView>,
}

impl DevicePage {
    fn new(sandbox: &StandardSandbox, step: Step, user_code: &str) -> DevicePage {
        DevicePage {
            step,
            action: sandbox.page_path("/device"),
            user_code: normalize_user_code(user_code).map_or_else(|| user_code.to_owned(), |c| display_user_code(&c)),
            problem: None,
            user: None,
            ticket: String::new(),
            username: String::new(),
            client: None,
            scopes: Vec::new(),
        }
    }

    fn respond(&self, status: StatusCode) -> Response {
        respond_html(status, self.render(), None)
    }
}

/// `GET /device`: the page where the user enters the code (filled in from
/// `verification_uri_complete`, to be confirmed).
pub(super) async fn verification_get(
    State(sandbox): State<Arc<StandardSandbox>>,
    RawQuery(query): RawQuery,
) -> Response {
    let typed = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(name, _)| name == "user_code")
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default();
    DevicePage::new(&sandbox, Step::Code, typed.chars().take(32).collect::<String>().as_str()).respond(StatusCode::OK)
}

#[derive(Default, Deserialize)]
pub(super) struct VerificationForm {
    #[serde(default)]
    step: String,
    #[serde(default)]
    user_code: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    ticket: String,
    #[serde(default)]
    decision: String,
}

/// `POST /device`: the next step: the code, the sign-in, the decision.
pub(super) async fn verification_post(
    State(sandbox): State<Arc<StandardSandbox>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    let form: VerificationForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let typed = form.user_code.chars().take(32).collect::<String>();
    // Every step names the user code, and every step checks it, counting wrong ones per address.
    let Ok(attempt) = sandbox.user_code_attempts.begin(peer.ip()) else {
        let mut again = DevicePage::new(&sandbox, Step::Code, &typed);
        again.problem = Some("Too many wrong codes from this address; wait a minute.".into());
        return again.respond(StatusCode::TOO_MANY_REQUESTS);
    };
    let Some((device_code, client, scopes)) = sandbox.pending_device(&typed) else {
        drop(attempt); // counts as a failure
        let mut again = DevicePage::new(&sandbox, Step::Code, &typed);
        if !typed.is_empty() {
            again.problem = Some("That code is not right, or it has expired or been used.".into());
        }
        return again.respond(StatusCode::OK);
    };
    attempt.succeeded();
    let page = |step| {
        let mut page = DevicePage::new(&sandbox, step, &typed);
        page.client = Some(client);
        page.scopes = scope_views(&scopes);
        page
    };
    match form.step.as_str() {
        "sign-in" => match sandbox.check_password(form.username.trim(), &form.password) {
            Ok(username) => {
                let mut next = page(Step::Consent);
                next.ticket = sandbox.sign_in(username);
                next.user = Some(username);
                next.respond(StatusCode::OK)
            }
            Err(problem) => {
                let mut again = page(Step::SignIn);
                again.problem = Some(problem.message());
                again.username = form.username.trim().chars().take(64).collect();
                again.respond(StatusCode::OK)
            }
        },
        "consent" => match sandbox.tickets.take(&form.ticket) {
            Some(user) => {
                let approved = form.decision == "grant";
                if let Some(grant) = sandbox.issued().devices.get_mut(&device_code) {
                    grant.status = if approved {
                        DeviceStatus::Approved { username: user.username, auth_time: user.auth_time }
                    } else {
                        DeviceStatus::Denied
                    };
                }
                let mut done = page(Step::Done { approved });
                done.user = Some(user.username);
                done.respond(StatusCode::OK)
            }
            None => page(Step::SignIn).respond(StatusCode::OK),
        },
        // The code is right: sign in next.
        _ => page(Step::SignIn).respond(StatusCode::OK),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_eight_letters_of_the_base_20_alphabet_typed_any_way() {
        let code = new_user_code();
        assert_eq!(code.len(), 8);
        assert!(code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)), "{code}");
        let shown = display_user_code(&code);
        assert_eq!(shown.len(), 9);
        assert_eq!(normalize_user_code(&shown.to_lowercase()).as_deref(), Some(code.as_str()));
        assert_eq!(normalize_user_code(" bcdf ghjk ").as_deref(), Some("BCDFGHJK"));
        assert_eq!(normalize_user_code("BCDF-GHJA"), None, "a vowel");
        assert_eq!(normalize_user_code("BCDF-GHJ"), None, "too short");
    }
}
