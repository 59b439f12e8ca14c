//! Templates (compiled by askama from `templates/`) and the display-ready values they show.
//! Logic stays here; the templates only print.

use askama::Template;

use serde_json::Value;

use super::cases::SandboxCase;
use crate::authorization_server::AuthorizationServer;
use crate::bitbucket::{SampleCall, UserProfile, pretty};
use crate::diagnosis::ApiDiagnosis;
use crate::exchange::Exchange;
use crate::grant::Grant;
use crate::jwt;
use crate::sandbox::{DEMO_PASSWORD, DEMO_USERNAME};
use crate::secrets::partial;
use crate::token::TokenResponse;

/// What every page shows about where the app gets its tokens (see `templates/base.html`): every
/// sentence about the server comes from its description ([`AuthorizationServer`]).
#[derive(Clone, Debug)]
pub struct Layout {
    /// True when the built-in sandbox stands in for Bitbucket.
    pub sandbox: bool,
    /// True when the built-in standard server is the server (`"sandboxServer": "standard"`).
    pub built_in: bool,
    /// True for bitbucket.org, the sandbox, or a server reached through Bitbucket's paths: the only
    /// servers the pages speak of as Bitbucket.
    pub bitbucket: bool,
    /// The server in a sentence: "bitbucket.org", "the authorization server https://…".
    pub server_name: String,
    /// What the server calls the client: "consumer" (Bitbucket) or "client".
    pub client_word: &'static str,
    /// The token endpoint the app calls.
    pub token_url: String,
    /// The user call's URL, when the server has one.
    pub api_url: Option<String>,
    /// The config file in use.
    pub config_path: String,
    /// The server refuses the password grant (bitbucket.org, or the sandbox imitating it).
    pub password_grant_removed: bool,
    /// What the server's metadata says of each grant: offered, not offered, or nothing.
    pub grants_offered: Vec<(Grant, Option<bool>)>,
    /// What the start page says about each endpoint: its role, its URL, how it was found.
    pub endpoints: Vec<(&'static str, String, &'static str)>,
    /// The endpoints the server lacks: role, what that means, the setting that adds it.
    pub absent: Vec<(&'static str, &'static str, &'static str)>,
    /// What discovery found, when the endpoints were discovered.
    pub discovery: Option<DiscoveryView>,
    /// The server can revoke tokens: the result page offers "Revoke this token".
    pub can_revoke: bool,
    /// The server can introspect tokens: the result page offers "Is this token still active?".
    pub can_introspect: bool,
    /// The server offers the device authorization grant: the start page offers to start it.
    pub device_flow: bool,
    /// The sample calls offered on the result page.
    pub calls: Vec<SampleCall>,
    /// `GET /2.0/user` on the Bitbucket API (or the sandbox's), for the API-token example.
    pub api_token_url: Option<String>,
    /// The REST API's base, which the result page's explorer calls under.
    pub explorer_base: Option<String>,
    /// The sign-in button's words; `None` when the server has no authorization endpoint.
    pub sign_in_label: Option<&'static str>,
    /// The token endpoint's path, for the start page's steps.
    pub token_path: String,
    /// The user call's path, for the start page's steps.
    pub user_path: Option<String>,
    /// The authorization endpoint's URL, for the terms table.
    pub authorize_url: Option<String>,
}

/// What the start page shows of discovery: the issuer, each metadata document read (its name and
/// URL), and what discovery noticed (documents that disagree, documents not used).
#[derive(Clone, Debug)]
pub struct DiscoveryView {
    pub issuer: String,
    pub documents: Vec<(&'static str, String)>,
    pub notes: Vec<String>,
}

impl Layout {
    /// What the pages say about `server`; `config_path` is the settings file in use.
    pub fn new(server: &AuthorizationServer, config_path: &std::path::Path) -> Layout {
        let bitbucket = server.is_bitbucket();
        let path = |url: &str| url::Url::parse(url).map(|u| u.path().to_owned()).unwrap_or_else(|_| url.to_owned());
        Layout {
            sandbox: server.is_sandbox(),
            built_in: server.built_in,
            bitbucket,
            server_name: server.name(),
            client_word: server.client_word(),
            token_url: server.token.url.clone(),
            api_url: server.user.as_ref().map(|u| u.url.clone()),
            config_path: config_path.display().to_string(),
            password_grant_removed: server.refuses_password_grant(),
            grants_offered: [
                Grant::AuthorizationCode,
                Grant::ClientCredentials,
                Grant::Password,
                Grant::RefreshToken,
                Grant::DeviceCode,
            ]
            .into_iter()
            .map(|grant| (grant, server.offers_grant(grant.grant_type())))
            .collect(),
            endpoints: [
                Some(("Token endpoint", &server.token)),
                server.authorize.as_ref().map(|a| ("Authorization endpoint", a)),
                server.user.as_ref().map(|u| ("User call", u)),
                server.revocation.as_ref().map(|r| ("Revocation endpoint", r)),
                server.introspection.as_ref().map(|i| ("Introspection endpoint", i)),
                server.device_authorization.as_ref().map(|d| ("Device authorization endpoint", d)),
            ]
            .into_iter()
            .flatten()
            .map(|(role, endpoint)| (role, endpoint.url.clone(), endpoint.found.describe()))
            .collect(),
            absent: server.absent().into_iter().map(|role| (role.name(), role.without(), role.setting())).collect(),
            discovery: server.discovery.as_ref().map(|d| DiscoveryView {
                issuer: d.issuer.clone(),
                documents: d.documents.iter().map(|(kind, url)| (kind.name(), url.clone())).collect(),
                notes: d.notes.clone(),
            }),
            can_revoke: server.revocation.is_some(),
            can_introspect: server.introspection.is_some(),
            device_flow: server.device_authorization.is_some(),
            calls: match (&server.bitbucket_api, &server.user) {
                (Some(_), _) => SampleCall::ALL.to_vec(),
                (None, Some(_)) => vec![SampleCall::User],
                (None, None) => Vec::new(),
            },
            sign_in_label: server
                .authorize
                .as_ref()
                .map(|_| if bitbucket { "Sign in with Bitbucket" } else { "Sign in at the authorization server" }),
            explorer_base: server.bitbucket_api.as_ref().map(|api| api.as_str().trim_end_matches('/').to_owned()),
            api_token_url: server.bitbucket_api.as_ref().map(|api| crate::settings::join(api, "/2.0/user")),
            token_path: path(&server.token.url),
            user_path: server.user.as_ref().map(|u| path(&u.url)),
            authorize_url: server.authorize.as_ref().map(|a| a.url.clone()),
        }
    }

    /// The demo credentials to type, in sandbox mode.
    pub fn demo_credentials(&self) -> Option<(&'static str, &'static str)> {
        (self.sandbox || self.built_in).then_some((DEMO_USERNAME, DEMO_PASSWORD))
    }

    /// What the start page's table says of `grant` on this server.
    pub fn grant_here(&self, grant: Grant) -> &'static str {
        let offered = self.grants_offered.iter().find(|(g, _)| *g == grant).and_then(|(_, offered)| *offered);
        match (self.bitbucket, grant, offered) {
            (true, Grant::AuthorizationCode, _) => "Works",
            (true, Grant::ClientCredentials, _) => "Works, private consumers only",
            (true, Grant::Password, _) => "Refused since 2022-03-01",
            (true, Grant::RefreshToken, _) => "Works; refresh tokens rotate",
            (true, Grant::DeviceCode, _) => "Not offered (no device flow)",
            (false, _, Some(true)) => "Offered (its metadata lists it)",
            (false, _, Some(false)) => "Not listed in its metadata",
            (false, _, None) => "Its metadata does not say: try it",
        }
    }
}

/// `templates/index.html`: the start page, with the form.
#[derive(Template)]
#[template(path = "index.html")]
pub struct IndexTemplate<'a> {
    pub layout: &'a Layout,
    /// Why the last submission was refused.
    pub form_error: Option<String>,
    /// The username to put back in the form.
    pub username: String,
}

impl<'a> IndexTemplate<'a> {
    /// The start page with an empty form.
    pub fn new(layout: &'a Layout) -> Self {
        IndexTemplate { layout, form_error: None, username: String::new() }
    }

    /// The sandbox cases to offer.
    pub fn cases(&self) -> [SandboxCase; 5] {
        SandboxCase::ALL
    }

    /// Where the API-token example calls (Bitbucket's API, or the sandbox's).
    pub fn api_token_url(&self) -> String {
        self.layout.api_token_url.clone().unwrap_or_else(|| "https://api.bitbucket.org/2.0/user".to_owned())
    }
}

/// A token response, ready to display: secrets masked, the full values kept for the reveal control
/// and the page's forms.
pub struct TokenView {
    pub access_token: String,
    /// `abcd…wxyz`
    pub access_token_masked: String,
    pub token_type: String,
    pub expires_in: Option<u64>,
    /// The moment the access token expires, in UTC, for people: `2026-11-23 05:30:00 UTC`.
    pub expires_at: Option<String>,
    /// The same moment in RFC 3339, for the countdown script.
    pub expires_at_rfc3339: Option<String>,
    pub refresh_token: Option<String>,
    pub refresh_token_masked: Option<String>,
    pub scopes: Vec<String>,
    /// Bitbucket's `state`: which grant produced the token.
    pub grant: Option<String>,
    /// The access token decoded, when it is a JWT; `None`: opaque.
    pub access_jwt: Option<jwt::Decoded>,
    /// The OpenID Connect `id_token`, decoded.
    pub id_token: Option<jwt::Decoded>,
}

impl TokenView {
    /// Takes what is shown from a token response; the expiry is counted from now.
    pub fn new(token: &TokenResponse) -> TokenView {
        let expires_at = token.expires_in.and_then(expiry_time);
        TokenView {
            access_token: token.access_token.clone(),
            access_token_masked: partial(&token.access_token),
            token_type: token.token_type.clone(),
            expires_in: token.expires_in,
            expires_at: expires_at.map(|t| t.format(HUMAN_TIME).unwrap_or_default()),
            expires_at_rfc3339: expires_at.and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok()),
            refresh_token: token.refresh_token.clone(),
            refresh_token_masked: token.refresh_token.as_deref().map(partial),
            scopes: token.granted_scopes().into_iter().map(str::to_owned).collect(),
            grant: token.state.clone(),
            access_jwt: jwt::decode(&token.access_token),
            id_token: token.id_token.as_deref().and_then(jwt::decode),
        }
    }

    /// The token a refresh replaced: only the two token values are known.
    pub fn previous(access_token: &str, refresh_token: &str) -> TokenView {
        TokenView {
            access_token: access_token.to_owned(),
            access_token_masked: partial(access_token),
            token_type: String::new(),
            expires_in: None,
            expires_at: None,
            expires_at_rfc3339: None,
            refresh_token: Some(refresh_token.to_owned()),
            refresh_token_masked: Some(partial(refresh_token)),
            scopes: Vec::new(),
            grant: None,
            access_jwt: None,
            id_token: None,
        }
    }
}

const HUMAN_TIME: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");

/// Now plus `seconds`.
fn expiry_time(seconds: u64) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::now_utc().checked_add(time::Duration::seconds(i64::try_from(seconds).ok()?))
}

/// One sample API call: its exchange, and what came of it.
pub struct ApiStep {
    pub exchange: Exchange,
    /// The account, for `/2.0/user`.
    pub profile: Option<UserProfile>,
    /// The answer, pretty-printed, for the other calls.
    pub json: Option<String>,
    /// What went wrong, when the call failed.
    pub problem: Option<ApiDiagnosis>,
}

impl ApiStep {
    /// Sorts an answer into what the page shows: an account when the call names the user (in
    /// Bitbucket's fields, or OpenID Connect's claims).
    pub fn new(
        names_the_user: bool,
        bitbucket: bool,
        exchange: Exchange,
        json: Option<Value>,
        problem: Option<ApiDiagnosis>,
    ) -> ApiStep {
        let (profile, json) = match (names_the_user, json) {
            (true, Some(json)) => (Some(UserProfile::from_json(&json, bitbucket)), None),
            (_, json) => (None, json.as_ref().map(pretty)),
        };
        ApiStep { exchange, profile, json, problem }
    }
}

/// `templates/api_step.html` alone: what the page's script adds after "call again".
#[derive(Template)]
#[template(path = "api_step_fragment.html")]
pub struct ApiStepFragment<'a> {
    pub api: &'a ApiStep,
}

/// `templates/api_call.html`: a sample call on a page of its own (when the script is off).
#[derive(Template)]
#[template(path = "api_call.html")]
pub struct ApiCallTemplate<'a> {
    pub layout: &'a Layout,
    pub api: &'a ApiStep,
}

/// `templates/result.html`: the token and the sample call's answer, for any grant.
#[derive(Template)]
#[template(path = "result.html")]
pub struct ResultTemplate<'a> {
    pub layout: &'a Layout,
    /// The grant that produced the token.
    pub grant: Grant,
    /// In sandbox mode: the case that is running.
    pub case: Option<SandboxCase>,
    pub token: TokenView,
    /// After a refresh: the tokens it replaced.
    pub previous: Option<TokenView>,
    /// The authorization code grant's front-channel steps, before the token request.
    pub authorization: Option<AuthorizationSteps>,
    /// Step 1: the token request, as sent and answered.
    pub token_exchange: Exchange,
    /// Step 2: the sample API call made with the new token; `None` when the server has no user call.
    pub api: Option<ApiStep>,
    /// The calls offered again with the same token.
    pub calls: Vec<SampleCall>,
}

impl ResultTemplate<'_> {
    /// The opening sentence: what just happened, for this grant, in the server's words.
    pub fn lead(&self) -> String {
        let client = self.layout.client_word;
        match self.grant {
            Grant::Password => format!(
                "The authorization server accepted the username and password, together with this app's {client} \
                 id and secret, and answered with the token below. The password was used for that one request and \
                 is not kept."
            ),
            Grant::AuthorizationCode => format!(
                "You granted access on the authorization server's own page; it sent your browser back here with a \
                 one-time code, and the app exchanged that code (with its {client} id and secret) for the token \
                 below. The app never saw your password."
            ),
            Grant::ClientCredentials if self.layout.bitbucket => "The consumer asked for a token for itself, with \
                only its key and secret: no user took part. On Bitbucket such a token acts as the consumer's owner, \
                and there is no refresh token."
                .to_owned(),
            Grant::ClientCredentials => "The client asked for a token for itself, with only its id and secret: no \
                user took part, so the token speaks for the client alone (RFC 6749 §4.4)."
                .to_owned(),
            Grant::DeviceCode => format!(
                "You approved the sign-in on another device, at the server's verification page, while this app \
                 (the {client}, standing in for a device without a browser) polled the token endpoint with its \
                 device code; once you approved, the poll was answered with the token below. The app never saw \
                 your password (RFC 8628)."
            ),
            Grant::RefreshToken if self.rotated() => "The refresh token was traded for a new access token, without \
                the password. The server rotates refresh tokens: the answer carries a new one, and the old one no \
                longer works."
                .to_owned(),
            Grant::RefreshToken => "The refresh token was traded for a new access token, without the password. The \
                server did not rotate it: the answer carried no new refresh token (or the same one), so the one in \
                hand stays valid and is kept for the next refresh (RFC 6749 §6)."
                .to_owned(),
        }
    }

    /// The `export` lines the sandbox's snippets need: public values and the user's own tokens.
    pub fn exports(&self) -> String {
        // A case's consumer is one of the sandbox's own, public; the configured consumer's secret
        // stays off the page: the line reads it from the config file.
        let (key, secret) = match self.case.and_then(SandboxCase::consumer) {
            Some(consumer) => (consumer.key.to_owned(), consumer.secret.to_owned()),
            None => (
                "\"$(sed -n 's/.*\"consumerKey\": *\"\\([^\"]*\\)\".*/\\1/p' config.json)\"".to_owned(),
                "\"$(sed -n 's/.*\"consumerSecret\": *\"\\([^\"]*\\)\".*/\\1/p' config.json)\"".to_owned(),
            ),
        };
        let mut lines =
            vec![format!("export BITBUCKET_CONSUMER_KEY={key}"), format!("export BITBUCKET_CONSUMER_SECRET={secret}")];
        if self.grant == Grant::Password {
            lines.push(format!("export BB_PASSWORD={}", crate::sandbox::DEMO_PASSWORD));
        }
        lines.push(format!("export ACCESS_TOKEN={}", self.token.access_token));
        if let Some(refresh) = &self.token.refresh_token {
            lines.push(format!("export REFRESH_TOKEN={refresh}"));
        }
        lines.join("\n")
    }

    /// This grant's diagram.
    pub fn diagram(&self) -> &'static str {
        match self.grant {
            Grant::Password => "/static/flow.svg",
            Grant::AuthorizationCode => "/static/flow-authorization-code.svg",
            Grant::ClientCredentials => "/static/flow-client-credentials.svg",
            Grant::RefreshToken => "/static/flow-refresh.svg",
            Grant::DeviceCode => "/static/flow-device.svg",
        }
    }

    /// The diagram in words.
    pub fn diagram_alt(&self) -> String {
        format!("Sequence diagram of the {}, its steps lettered as on this page.", self.grant.name())
    }

    /// The diagram's letters for the token request and its answer.
    pub fn token_letters(&self) -> &'static str {
        match self.grant {
            Grant::Password => "B C",
            Grant::AuthorizationCode => "D E",
            Grant::ClientCredentials | Grant::RefreshToken => "A B",
            Grant::DeviceCode => "E F",
        }
    }

    /// The diagram's letters for the API call.
    pub fn api_letters(&self) -> &'static str {
        match self.grant {
            Grant::Password => "D E",
            Grant::AuthorizationCode => "F",
            Grant::ClientCredentials | Grant::RefreshToken => "C",
            Grant::DeviceCode => "G",
        }
    }

    /// True when the refresh returned a different refresh token (rotation).
    pub fn rotated(&self) -> bool {
        match &self.previous {
            Some(previous) => previous.refresh_token != self.token.refresh_token,
            None => false,
        }
    }
}

/// The front channel of the authorization code grant, as the result page shows it: the request
/// the browser was sent with, what happened at the server, the redirect back, the state check.
pub struct AuthorizationSteps {
    /// The authorization request URL, as the browser followed it.
    pub request_url: String,
    /// Each of its parameters: name, value, what it is for.
    pub parameters: Vec<(&'static str, String, String)>,
    /// The callback URL the browser came back to, the code masked.
    pub callback: String,
    /// What the state check found.
    pub state_check: String,
    /// What the `nonce` check found (OpenID Connect), when one was sent.
    pub nonce_check: Option<String>,
    /// A PKCE challenge was sent (and the verifier goes with the code).
    pub pkce: bool,
}

/// `templates/revoke.html`: a revocation and the API call that shows its effect.
#[derive(Template)]
#[template(path = "revoke.html")]
pub struct RevokeTemplate<'a> {
    pub layout: &'a Layout,
    /// Step 1: the revocation request.
    pub revocation: Exchange,
    /// Step 2: the API call with the revoked token, when the server has a user call.
    pub api: Option<ApiStep>,
    /// Step 3: what the introspection endpoint says of the revoked token, when there is one.
    pub introspection: Option<IntrospectionStep>,
}

/// `text` escaped for HTML, with a line-break opportunity (`<wbr>`) after each `/` and before each
/// `?`, `&` and `=`: long URLs then wrap at those places on a phone, not in the middle of a word.
/// Print it with `|safe`.
pub fn wrap_url(text: &str) -> String {
    let mut html = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if matches!(c, '?' | '&' | '=') {
            html.push_str("<wbr>");
        }
        match c {
            '&' => html.push_str("&amp;"),
            '<' => html.push_str("&lt;"),
            '>' => html.push_str("&gt;"),
            '"' => html.push_str("&quot;"),
            '\'' => html.push_str("&#39;"),
            other => html.push(other),
        }
        if c == '/' {
            html.push_str("<wbr>");
        }
    }
    html
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_wrap_after_slashes_and_before_query_parts_and_stay_escaped() {
        assert_eq!(
            super::wrap_url("https://a.example/x?b=1&c=<2>"),
            "https:/<wbr>/<wbr>a.example/<wbr>x<wbr>?b<wbr>=1<wbr>&amp;c<wbr>=&lt;2&gt;"
        );
    }

    use super::*;

    #[test]
    fn expiry_is_shown_in_utc_for_people_and_in_rfc3339_for_the_countdown() {
        let token: TokenResponse = serde_json::from_str(
            r#"{"access_token":"abcdefghijklmnopqrstuvwxyz","token_type":"bearer","expires_in":7200}"#,
        )
        .unwrap();
        let view = TokenView::new(&token);
        let human = view.expires_at.unwrap();
        assert!(human.ends_with(" UTC") && human.len() == "2026-11-23 05:30:00 UTC".len(), "{human}");
        assert!(view.expires_at_rfc3339.unwrap().ends_with('Z'));
        assert_eq!(view.access_token_masked, "abcd…wxyz");
    }
}

/// What the device page shows: the codes, where to go, and when they expire.
pub struct DeviceView {
    /// The device code, for the page's poll form (a secret: never shown in the text).
    pub device_code: String,
    /// The code the user types, as the server gave it.
    pub user_code: String,
    /// Where to type it.
    pub verification_uri: String,
    /// The verification URI as a link, when it is an http or https URL.
    pub verification_link: Option<String>,
    /// `verification_uri_complete`, as the server gave it.
    pub verification_uri_complete: Option<String>,
    /// The same as a link, when it is an http or https URL.
    pub complete_link: Option<String>,
    /// Its QR code, as inline SVG.
    pub qr_svg: Option<String>,
    /// When the codes expire, RFC 3339, for the countdown.
    pub expires_at: Option<String>,
    /// The same moment for people: `2026-12-06 03:18:32 UTC`.
    pub expires_human: Option<String>,
    /// Seconds between polls.
    pub interval: u64,
    /// Polls so far.
    pub polls: u32,
}

impl DeviceView {
    /// The view from the page's own form (a poll without the script shows the page again).
    pub fn from_form(
        device_code: &str,
        user_code: String,
        verification_uri: String,
        verification_uri_complete: Option<String>,
        expires_at: Option<String>,
        interval: u64,
        polls: u32,
    ) -> DeviceView {
        let complete = verification_uri_complete.filter(|uri| !uri.is_empty());
        let complete_link = complete.as_deref().and_then(super::device::link);
        DeviceView {
            device_code: device_code.to_owned(),
            verification_link: super::device::link(&verification_uri),
            qr_svg: complete_link.as_deref().and_then(super::device::qr_svg),
            complete_link,
            verification_uri_complete: complete,
            user_code,
            verification_uri,
            // An RFC 3339 time, as this app wrote it on the page: digits and `-:.TZ+` only.
            expires_at: expires_at
                .clone()
                .filter(|at| at.len() < 40 && at.bytes().all(|b| b.is_ascii_digit() || b"-:.TZ+".contains(&b))),
            expires_human: expires_at_human(expires_at.as_deref()),
            interval,
            polls,
        }
    }
}

/// `2026-12-06T03:18:32Z` as `2026-12-06 03:18:32 UTC`.
fn expires_at_human(rfc3339: Option<&str>) -> Option<String> {
    let at = rfc3339?.strip_suffix('Z')?;
    Some(format!("{} UTC", at.replacen('T', " ", 1)))
}

/// One poll of the token endpoint while the user has not approved yet.
pub struct PollView {
    /// Which poll this is, from 1.
    pub number: u32,
    /// The exchange, as sent and answered.
    pub exchange: Exchange,
    /// The OAuth error it got: `authorization_pending` or `slow_down`.
    pub error: String,
    /// What that means.
    pub note: String,
}

impl PollView {
    /// A pending poll, and what the server's answer means for the next one.
    pub fn new(number: u32, exchange: Exchange, error: &str, interval: u64) -> PollView {
        let note = if error == "slow_down" {
            format!(
                "slow_down: the server asks the device to poll less often. RFC 8628 §3.5: the interval grows by 5 \
                 seconds, to {interval} s, for every poll from now on."
            )
        } else {
            format!(
                "authorization_pending: the user has not approved yet (RFC 8628 §3.5). The next poll goes in \
                 {interval} s."
            )
        };
        PollView { number, exchange, error: error.to_owned(), note }
    }
}

/// `templates/device.html`: the device flow under way.
#[derive(Template)]
#[template(path = "device.html")]
pub struct DeviceTemplate<'a> {
    pub layout: &'a Layout,
    pub device: DeviceView,
    /// Steps A and B: the device authorization request (on the first page only).
    pub authorization: Option<Exchange>,
    /// Step E so far: the polls this page shows.
    pub polls: Vec<PollView>,
}

/// `templates/device_poll_fragment.html`: one poll, for the page's script to add.
#[derive(Template)]
#[template(path = "device_poll_fragment.html")]
pub struct DevicePollFragment<'a> {
    pub poll: &'a PollView,
}

/// `templates/introspection.html`: what the introspection endpoint said about a token.
#[derive(Template)]
#[template(path = "introspection.html")]
pub struct IntrospectionTemplate<'a> {
    pub layout: &'a Layout,
    pub step: &'a IntrospectionStep,
}

/// `templates/introspection_fragment.html`: the same, for the page's script to add.
#[derive(Template)]
#[template(path = "introspection_fragment.html")]
pub struct IntrospectionFragment<'a> {
    pub step: &'a IntrospectionStep,
}

/// One introspection (RFC 7662): the exchange, and the answer read.
pub struct IntrospectionStep {
    pub exchange: Exchange,
    /// `active`, when the answer was read.
    pub active: Option<bool>,
    /// The other members of the answer, pretty-printed.
    pub claims: Option<String>,
    /// What went wrong, when no answer could be read.
    pub problem: Option<String>,
}
