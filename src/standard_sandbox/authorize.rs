//! `GET, POST /authorize`: the authorization endpoint (RFC 6749 §4.1.1; OpenID Connect Core
//! §3.1.2). The user signs in here, at the authorization server, then consents, and is sent back
//! to the client's redirect URI with a code, `state` and `iss` (RFC 9207).
//!
//! In the order RFC 6749 §4.1.2.1 asks: a request whose `client_id` or `redirect_uri` cannot be
//! trusted gets an HTML page (400), never a redirect; every other error is sent back to the
//! redirect URI as `error=…`. The redirect URI is compared as an exact string (RFC 9700 §4.1.3),
//! except for the port of a loopback IP literal (RFC 8252 §7.3). PKCE with S256 is required (RFC
//! 9700 §2.1.1).
//!
//! The page is one form that walks through two steps, without a session: `sign-in`, then
//! `consent` (Grant or Deny), the authorization request carried through both as hidden fields.
//! A consent once given is remembered (so a second sign-in skips it) unless the request says
//! `prompt=consent` or asks for `offline_access` (OpenID Connect Core §11: only with consent).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::clients::{AUTHORIZATION_CODE, Client, client};
use super::pages::{ErrorPage, ScopeView, SignedIn, respond_html, scope_views};
use super::store::Code;
use super::{StandardSandbox, parse_scope};

/// The parameters of an authorization request that the forms carry from step to step.
const CARRIED: [&str; 9] = [
    "client_id",
    "response_type",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
];
/// The longest `nonce` kept (it is copied into the `id_token`).
const MAX_NONCE: usize = 512;

/// The parameters as sent; a repeated one is remembered as such (RFC 6749 §3.1: none may be).
struct Params {
    values: HashMap<String, String>,
    repeated: Vec<String>,
}

impl Params {
    fn parse(bytes: &[u8]) -> Params {
        let mut values = HashMap::new();
        let mut repeated = Vec::new();
        for (name, value) in url::form_urlencoded::parse(bytes).into_owned() {
            match values.entry(name) {
                std::collections::hash_map::Entry::Occupied(entry) => repeated.push(entry.key().clone()),
                std::collections::hash_map::Entry::Vacant(entry) => {
                    entry.insert(value);
                }
            }
        }
        Params { values, repeated }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    fn is_repeated(&self, name: &str) -> bool {
        self.repeated.iter().any(|r| r == name)
    }
}

/// An authorization request that passed every check.
struct Request<'a> {
    client: &'static Client,
    redirect_uri: &'a str,
    scopes: Vec<&'static str>,
    state: Option<&'a str>,
    nonce: Option<&'a str>,
    code_challenge: &'a str,
    prompt_consent: bool,
}

/// Where to send an error: the client's redirect URI, which is trusted by then.
struct Refusal<'a> {
    redirect_uri: &'a str,
    state: Option<&'a str>,
    error: &'static str,
    description: String,
}

/// Which step the page shows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    SignIn,
    Consent,
}

/// `templates/standard_sandbox_authorize.html`: the sign-in or the consent page.
#[derive(Template)]
#[template(path = "standard_sandbox_authorize.html")]
struct AuthorizePage<'a> {
    step: Step,
    client: &'static Client,
    action: String,
    carried: Vec<(&'static str, &'a str)>,
    problem: Option<String>,
    user: Option<&'static str>,
    ticket: String,
    username: String,
    scopes: Vec<ScopeView>,
    /// Where the browser goes next, for the consent page to say.
    redirect_origin: String,
}

impl StandardSandbox {
    /// Whether `uri` is registered for `client`: the same string as a registered one, or, for a
    /// registered loopback IP literal without a port, the same string with any port.
    pub(crate) fn redirect_uri_registered(&self, client: &Client, uri: &str) -> bool {
        client.redirects
            && self.options.redirect_uris.iter().any(|registered| {
                if registered == uri {
                    return true;
                }
                let loopback = ["http://127.0.0.1", "http://[::1]"];
                loopback.iter().any(|host| {
                    let Some(rest) = registered.strip_prefix(host).filter(|r| r.is_empty() || r.starts_with('/'))
                    else {
                        return false;
                    };
                    let Some(port_and_rest) = uri.strip_prefix(host).and_then(|u| u.strip_prefix(':')) else {
                        return false;
                    };
                    let digits = port_and_rest.bytes().take_while(u8::is_ascii_digit).count();
                    let port_ok = port_and_rest[..digits].parse::<u16>().is_ok_and(|p| p > 0);
                    port_ok && &port_and_rest[digits..] == rest
                })
            })
    }

    /// Checks an authorization request in the order of RFC 6749 §4.1.2.1.
    fn check_request<'a>(&self, params: &'a Params) -> Result<Request<'a>, Result<Refusal<'a>, String>> {
        // Untrusted client or redirect URI: a page, never a redirect.
        if params.is_repeated("client_id") || params.is_repeated("redirect_uri") {
            return Err(Err("The client_id or redirect_uri parameter is repeated.".into()));
        }
        let client_id = params.get("client_id").ok_or_else(|| Err("The client_id parameter is missing.".into()))?;
        let client = client(client_id)
            .filter(|c| c.redirects)
            .ok_or_else(|| Err(format!("Unknown client_id {client_id:?}, or a client that has no redirect URI.")))?;
        let redirect_uri = params.get("redirect_uri").ok_or_else(|| {
            Err("The redirect_uri parameter is missing; this server requires it (OpenID Connect Core §3.1.2.1).".into())
        })?;
        if !self.redirect_uri_registered(client, redirect_uri) {
            return Err(Err(format!(
                "The redirect_uri {redirect_uri:?} is not registered for this client; it must be one of the \
                 registered strings exactly (a loopback IP literal may have any port)."
            )));
        }
        // Trusted from here: errors go back to the client.
        let state = params.get("state");
        let refuse = |error, description: &str| {
            Err(Ok(Refusal { redirect_uri, state, error, description: description.to_owned() }))
        };
        if let Some(name) = params.repeated.first() {
            return refuse("invalid_request", &format!("The parameter {name} is repeated."));
        }
        match params.get("response_type") {
            None => return refuse("invalid_request", "The response_type parameter is missing."),
            Some("code") => {}
            Some(_) => return refuse("unsupported_response_type", "Only response_type=code is supported."),
        }
        if !client.allows(AUTHORIZATION_CODE) {
            return refuse("unauthorized_client", "This client may not use the authorization code grant.");
        }
        let scopes = match parse_scope(params.get("scope").unwrap_or("openid")) {
            Ok(scopes) if scopes.is_empty() => vec!["openid"],
            Ok(scopes) => scopes,
            Err(description) => return refuse("invalid_scope", &description),
        };
        let Some(code_challenge) = params.get("code_challenge") else {
            return refuse("invalid_request", "PKCE is required: send code_challenge and code_challenge_method=S256.");
        };
        if params.get("code_challenge_method") != Some("S256") {
            return refuse("invalid_request", "code_challenge_method must be S256 (plain is not supported).");
        }
        let well_formed = code_challenge.len() == 43
            && code_challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !well_formed {
            return refuse(
                "invalid_request",
                "code_challenge must be BASE64URL(SHA256(code_verifier)): 43 characters.",
            );
        }
        let nonce = params.get("nonce");
        if nonce.is_some_and(|n| n.len() > MAX_NONCE) {
            return refuse("invalid_request", "The nonce is too long.");
        }
        let prompt: Vec<&str> = params.get("prompt").unwrap_or("").split(' ').filter(|p| !p.is_empty()).collect();
        if prompt.iter().any(|p| !matches!(*p, "none" | "login" | "consent" | "select_account")) {
            return refuse("invalid_request", "Unknown prompt value.");
        }
        if prompt.contains(&"none") {
            if prompt.len() > 1 {
                return refuse("invalid_request", "prompt=none cannot be combined with other values.");
            }
            // OpenID Connect Core §3.1.2.6: this server keeps no session, so nobody is signed in.
            return refuse("login_required", "Nobody is signed in at this server (it keeps no session).");
        }
        Ok(Request {
            client,
            redirect_uri,
            scopes,
            state,
            nonce,
            code_challenge,
            prompt_consent: prompt.contains(&"consent"),
        })
    }

    /// The redirect back to the client (RFC 6749 §4.1.2), with `state` and `iss` (RFC 9207).
    fn redirect_back(&self, redirect_uri: &str, state: Option<&str>, pairs: &[(&str, &str)]) -> Response {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in pairs {
            query.append_pair(name, value);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", &self.issuer);
        let separator = if redirect_uri.contains('?') { '&' } else { '?' };
        Redirect::to(&format!("{redirect_uri}{separator}{}", query.finish())).into_response()
    }

    fn refuse(&self, refusal: Refusal<'_>) -> Response {
        let pairs = [("error", refusal.error), ("error_description", refusal.description.as_str())];
        self.redirect_back(refusal.redirect_uri, refusal.state, &pairs)
    }

    /// Issues a code for a consenting user and sends it back.
    fn grant(&self, request: &Request<'_>, user: SignedIn) -> Response {
        let code = crate::random_token();
        let record = Code {
            client_id: request.client.id,
            username: user.username,
            scopes: request.scopes.clone(),
            redirect_uri: request.redirect_uri.to_owned(),
            code_challenge: request.code_challenge.to_owned(),
            nonce: request.nonce.map(str::to_owned),
            auth_time: user.auth_time,
            expires_at: Instant::now() + self.options.code_lifetime,
            grant_id: crate::random_token(),
            used: false,
        };
        self.issued().codes.insert(code.clone(), record);
        self.redirect_back(request.redirect_uri, request.state, &[("code", &code)])
    }

    fn consent_key(user: &str, request: &Request<'_>) -> String {
        format!("{user} {} {}", request.client.id, request.scopes.join(" "))
    }
}

impl<'a> AuthorizePage<'a> {
    fn new(sandbox: &StandardSandbox, step: Step, request: &Request<'_>, params: &'a Params) -> Self {
        let redirect_origin =
            url::Url::parse(request.redirect_uri).map(|u| u.origin().ascii_serialization()).unwrap_or_default();
        AuthorizePage {
            step,
            client: request.client,
            action: sandbox.page_path("/authorize"),
            carried: CARRIED.iter().filter_map(|name| Some((*name, params.get(name)?))).collect(),
            problem: None,
            user: None,
            ticket: String::new(),
            username: String::new(),
            scopes: scope_views(&request.scopes),
            redirect_origin,
        }
    }

    fn respond(&self, status: StatusCode) -> Response {
        respond_html(status, self.render(), Some(&self.redirect_origin))
    }
}

fn bad_request(message: String) -> Response {
    ErrorPage { status: 400, title: "This authorization request cannot be served", message }.respond()
}

/// `GET /authorize`: the authorization request, then the sign-in page.
pub(super) async fn authorize_get(State(sandbox): State<Arc<StandardSandbox>>, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    next_step(&sandbox, &params)
}

/// `POST /authorize`: an authorization request sent as a form (OpenID Connect Core §3.1.2.1), or
/// the next step of the page.
pub(super) async fn authorize_post(State(sandbox): State<Arc<StandardSandbox>>, body: Bytes) -> Response {
    let params = Params::parse(&body);
    next_step(&sandbox, &params)
}

fn next_step(sandbox: &StandardSandbox, params: &Params) -> Response {
    let request = match sandbox.check_request(params) {
        Ok(request) => request,
        Err(Ok(refusal)) => return sandbox.refuse(refusal),
        Err(Err(message)) => return bad_request(message),
    };
    let page = |step| AuthorizePage::new(sandbox, step, &request, params);
    match params.get("step") {
        Some("sign-in") => {
            let username = params.get("username").unwrap_or("").trim();
            match sandbox.check_password(username, params.get("password").unwrap_or("")) {
                Ok(username) => {
                    let must_ask = request.prompt_consent
                        || request.scopes.contains(&"offline_access")
                        || !sandbox.issued().consents.contains(&StandardSandbox::consent_key(username, &request));
                    if !must_ask {
                        let user = SignedIn { username, auth_time: super::now_unix() };
                        return sandbox.grant(&request, user);
                    }
                    let mut next = page(Step::Consent);
                    next.ticket = sandbox.sign_in(username);
                    next.user = Some(username);
                    next.respond(StatusCode::OK)
                }
                Err(problem) => {
                    let mut again = page(Step::SignIn);
                    again.problem = Some(problem.message());
                    again.username = username.to_owned();
                    again.respond(StatusCode::OK)
                }
            }
        }
        Some("consent") => match sandbox.tickets.take(params.get("ticket").unwrap_or("")) {
            Some(user) if params.get("decision") == Some("grant") => {
                let key = StandardSandbox::consent_key(user.username, &request);
                sandbox.issued().consents.insert(key, ());
                sandbox.grant(&request, user)
            }
            Some(_) => sandbox.refuse(Refusal {
                redirect_uri: request.redirect_uri,
                state: request.state,
                error: "access_denied",
                description: "The user denied access.".into(),
            }),
            // Not signed in (or the ticket ran out): back to the start.
            None => page(Step::SignIn).respond(StatusCode::OK),
        },
        _ => page(Step::SignIn).respond(StatusCode::OK),
    }
}
