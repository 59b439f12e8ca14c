//! One description of the authorization server the app talks to, chosen by its kind and built once
//! from what the user configured: the built-in Bitbucket sandbox, bitbucket.org (or a server reached
//! through Bitbucket's paths: a proxy, an emulator), or a standard OAuth 2.0 / OpenID Connect server
//! known by its issuer or its endpoints.
//!
//! Each kind brings its own defaults, and only its own: Bitbucket's paths under `bitbucketUrl` and
//! `apiUrl` belong to the first two. For a standard server an endpoint that was neither configured
//! nor discovered is absent (`None`), never borrowed from another server, so a token only ever goes
//! to an endpoint the user configured or the issuing server named. The handlers, the diagnosis and
//! the pages read every sentence they say about the server from here.

use std::net::SocketAddr;

use serde::Deserialize;
use url::Url;

use crate::settings::{SandboxServer, Settings, join};
use crate::token::{self, ClientAuth, OAuthError};

/// What kind of server it is: it decides the defaults and what the pages may say about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The built-in Bitbucket sandbox; `password_grant` says whether it still takes passwords.
    Sandbox {
        /// `sandboxPasswordGrant`: the sandbox accepts the demo user's password.
        password_grant: bool,
    },
    /// bitbucket.org itself: refuses the password grant since 2022-03-01.
    BitbucketOrg,
    /// Another host reached through Bitbucket's paths under `bitbucketUrl` (a proxy in front of
    /// Bitbucket, or an emulator of it such as `--sandbox-only`).
    BitbucketPaths,
    /// A standard OAuth 2.0 / OpenID Connect server, known by its issuer or its endpoints.
    Standard,
}

/// Which metadata document an endpoint was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Document {
    /// RFC 8414 authorization server metadata (`/.well-known/oauth-authorization-server`).
    Rfc8414,
    /// OpenID Connect Discovery 1.0 (`/.well-known/openid-configuration`).
    OpenId,
}

impl Document {
    /// Its name in a sentence.
    pub fn name(self) -> &'static str {
        match self {
            Document::Rfc8414 => "RFC 8414 metadata",
            Document::OpenId => "OpenID Connect discovery",
        }
    }
}

/// How the app learned an endpoint: shown on the start page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// Bitbucket's paths under `bitbucketUrl` / `apiUrl`.
    BitbucketDefaults,
    /// Set in the settings (`tokenUrl`, `authorizeUrl`, `userUrl`, `revocationUrl`).
    Configured,
    /// Read from the server's metadata document of this kind.
    Discovered(Document),
    /// The built-in sandbox's own routes.
    Sandbox,
}

impl Found {
    /// In a sentence: "configured", "discovered (RFC 8414 metadata)", …
    pub fn describe(self) -> &'static str {
        match self {
            Found::BitbucketDefaults => "Bitbucket's default path",
            Found::Configured => "configured",
            Found::Discovered(Document::Rfc8414) => "discovered: RFC 8414 metadata",
            Found::Discovered(Document::OpenId) => "discovered: OpenID Connect discovery",
            Found::Sandbox => "the built-in sandbox",
        }
    }
}

/// One endpoint and how it was found.
#[derive(Clone, Debug)]
pub struct Endpoint {
    /// Its URL (a path, for the sandbox's authorization page).
    pub url: String,
    /// Where the URL came from.
    pub found: Found,
}

/// The endpoints a standard server may lack, each with the setting that adds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The authorization endpoint (RFC 6749 §3.1).
    Authorize,
    /// The call that names the signed-in user (OpenID's userinfo endpoint).
    User,
    /// The revocation endpoint (RFC 7009).
    Revocation,
    /// The introspection endpoint (RFC 7662).
    Introspection,
    /// The device authorization endpoint (RFC 8628).
    DeviceAuthorization,
}

impl Role {
    /// Its name on the start page.
    pub fn name(self) -> &'static str {
        match self {
            Role::Authorize => "Authorization endpoint",
            Role::User => "User call",
            Role::Revocation => "Revocation endpoint",
            Role::Introspection => "Introspection endpoint",
            Role::DeviceAuthorization => "Device authorization endpoint",
        }
    }

    /// The setting that adds it.
    pub fn setting(self) -> &'static str {
        match self {
            Role::Authorize => "authorizeUrl (OAUTH_AUTHORIZE_URL)",
            Role::User => "userUrl (OAUTH_USER_URL)",
            Role::Revocation => "revocationUrl (OAUTH_REVOCATION_URL)",
            Role::Introspection => "introspectionUrl (OAUTH_INTROSPECTION_URL)",
            Role::DeviceAuthorization => "deviceAuthorizationUrl (OAUTH_DEVICE_AUTHORIZATION_URL)",
        }
    }

    /// What its absence means, in a sentence.
    pub fn without(self) -> &'static str {
        match self {
            Role::Authorize => "no authorization code grant (there is nowhere to send the browser)",
            Role::User => "no call with each new token (the result page shows the token alone)",
            Role::Revocation => "no \"Revoke this token\" button",
            Role::Introspection => "no \"Is this token still active?\" button",
            Role::DeviceAuthorization => "no device authorization grant",
        }
    }
}

/// What discovery found: the issuer, the documents read, and what they disagreed on.
#[derive(Clone, Debug)]
pub struct Discovery {
    /// The issuer, as the documents name it.
    pub issuer: String,
    /// Each document used, and where it was read.
    pub documents: Vec<(Document, String)>,
    /// Endpoints the two documents name differently (the RFC 8414 one is used), and documents
    /// that were found but not used: one line each, for the start-up log and the start page.
    pub notes: Vec<String>,
}

/// The authorization server and the API the app calls with its tokens.
#[derive(Clone, Debug)]
pub struct AuthorizationServer {
    /// What it is.
    pub kind: Kind,
    /// Where token requests go (RFC 6749 §3.2).
    pub token: Endpoint,
    /// Where the browser is sent to sign in (RFC 6749 §3.1). In sandbox mode a path, so the browser
    /// stays on the origin (and with the cookies) it started from.
    pub authorize: Option<Endpoint>,
    /// The call made with every new token: the API's answer about the signed-in user (Bitbucket's
    /// `/2.0/user`, an OpenID provider's userinfo endpoint).
    pub user: Option<Endpoint>,
    /// Where tokens are revoked (RFC 7009), when the server has such an endpoint.
    pub revocation: Option<Endpoint>,
    /// Where the server says whether a token is active (RFC 7662), when it has such an endpoint.
    pub introspection: Option<Endpoint>,
    /// Where the device authorization grant starts (RFC 8628 §3.1), when the server offers it.
    pub device_authorization: Option<Endpoint>,
    /// Base of Bitbucket's REST API, for the other sample calls and the explorer; Bitbucket only.
    pub bitbucket_api: Option<Url>,
    /// What discovery found, when an issuer was set.
    pub discovery: Option<Discovery>,
    /// The grant types the server says it supports (`grant_types_supported`), when it says.
    pub grant_types_supported: Option<Vec<String>>,
    /// How the client authenticates at the token endpoint.
    pub client_auth: ClientAuth,
    /// The built-in standard server (`"sandboxServer": "standard"`), reached by discovery like any.
    pub built_in: bool,
}

/// The fields of RFC 8414 (and OpenID Connect Discovery) metadata the app uses.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Metadata {
    /// Must equal the issuer the document was fetched for (RFC 8414 §3.3).
    pub issuer: String,
    /// The authorization endpoint.
    pub authorization_endpoint: Option<String>,
    /// The token endpoint.
    pub token_endpoint: Option<String>,
    /// OpenID Connect's userinfo endpoint (RFC 8414 does not define one).
    pub userinfo_endpoint: Option<String>,
    /// RFC 7009's revocation endpoint.
    pub revocation_endpoint: Option<String>,
    /// RFC 7662's introspection endpoint.
    pub introspection_endpoint: Option<String>,
    /// RFC 8628's device authorization endpoint.
    pub device_authorization_endpoint: Option<String>,
    /// The grants the server offers.
    pub grant_types_supported: Option<Vec<String>>,
    /// How clients may authenticate; RFC 8414 §2's default is `client_secret_basic`.
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
}

impl Metadata {
    /// The endpoints held to the rules of configured ones (http or https, a host, no credentials, no
    /// fragment) and written as the URL parser writes them: what the page shows is what is sent.
    fn with_checked_endpoints(mut self) -> Result<Metadata, String> {
        for (name, endpoint) in [
            ("authorization_endpoint", &mut self.authorization_endpoint),
            ("token_endpoint", &mut self.token_endpoint),
            ("userinfo_endpoint", &mut self.userinfo_endpoint),
            ("revocation_endpoint", &mut self.revocation_endpoint),
            ("introspection_endpoint", &mut self.introspection_endpoint),
            ("device_authorization_endpoint", &mut self.device_authorization_endpoint),
        ] {
            if let Some(url) = endpoint.as_mut() {
                *url = crate::settings::parse_endpoint_url(url).map_err(|problem| format!("{name}: {problem}"))?.into();
            }
        }
        Ok(self)
    }
}

/// Why discovery failed: the URL asked and the problem, for one line at start-up.
#[derive(Debug, thiserror::Error)]
#[error("{url}: {problem}")]
pub struct DiscoveryError {
    /// The metadata URL (the most telling one tried).
    pub url: String,
    /// What went wrong.
    pub problem: String,
}

/// The documents discovery read, each with its kind and URL, in the order they take precedence.
#[derive(Clone, Debug, Default)]
pub struct Discovered {
    /// Each usable document: its kind, the URL it came from, what it says.
    pub documents: Vec<(Document, String, Metadata)>,
    /// Documents found but not used (another issuer's, or broken): one line each.
    pub ignored: Vec<String>,
}

/// The URLs where an issuer's metadata may be, in order of precedence: RFC 8414's (§3.1, the
/// well-known part inserted before the issuer's path; for an issuer with a path, also at the origin
/// root and after the path, where some servers mount it), then OpenID Connect's (`{issuer}/.well-
/// known/openid-configuration`, and RFC 8414 §5's inserted form).
pub fn metadata_urls(issuer: &Url) -> Vec<(Document, String)> {
    let path = issuer.path().trim_end_matches('/');
    let origin = issuer.origin().ascii_serialization();
    let mut urls = vec![(Document::Rfc8414, format!("{origin}/.well-known/oauth-authorization-server{path}"))];
    if !path.is_empty() {
        urls.push((Document::Rfc8414, format!("{origin}/.well-known/oauth-authorization-server")));
        urls.push((Document::Rfc8414, format!("{origin}{path}/.well-known/oauth-authorization-server")));
    }
    urls.push((Document::OpenId, format!("{origin}{path}/.well-known/openid-configuration")));
    if !path.is_empty() {
        urls.push((Document::OpenId, format!("{origin}/.well-known/openid-configuration{path}")));
    }
    urls
}

/// Fetches every metadata document the issuer may publish (see [`metadata_urls`]), all at once, and
/// keeps each one that is for this issuer (RFC 8414 §3.3) and names a token endpoint, at most one of
/// each kind. Fails when none is usable, naming the most telling URL and problem.
pub async fn discover(http: &reqwest::Client, issuer: &Url) -> Result<Discovered, DiscoveryError> {
    let mut fetches = tokio::task::JoinSet::new();
    for (order, (kind, url)) in metadata_urls(issuer).into_iter().enumerate() {
        let http = http.clone();
        let issuer = issuer.clone();
        fetches.spawn(async move {
            let result = fetch_document(&http, &url, &issuer).await;
            (order, kind, url, result)
        });
    }
    let mut answers = fetches.join_all().await;
    answers.sort_by_key(|(order, ..)| *order);
    let mut discovered = Discovered::default();
    // The error to report: the first that is not a plain "not there" (a document for another
    // issuer matters more than a 404), else the first.
    let mut reported: Option<DiscoveryError> = None;
    for (_, kind, url, result) in answers {
        match result {
            Ok(metadata) if discovered.documents.iter().all(|(k, ..)| *k != kind) => {
                discovered.documents.push((kind, url, metadata));
            }
            Ok(_) => {}
            Err(problem) => {
                let not_there = problem.starts_with("HTTP 404");
                if !not_there {
                    discovered.ignored.push(format!("{url} was not used: {problem}"));
                }
                if reported.as_ref().is_none_or(|r| r.problem.starts_with("HTTP 404") && !not_there) {
                    reported = Some(DiscoveryError { url, problem });
                }
            }
        }
    }
    if discovered.documents.is_empty() {
        return Err(reported.expect("at least two URLs were tried"));
    }
    Ok(discovered)
}

/// One metadata document, held to RFC 8414 §3.3's issuer check and to the rules of endpoints.
async fn fetch_document(http: &reqwest::Client, url: &str, issuer: &Url) -> Result<Metadata, String> {
    let sent = http.get(url).header(reqwest::header::ACCEPT, "application/json").send().await;
    let raw = token::read_response(sent, token::MAX_TOKEN_RESPONSE_BYTES)
        .await
        .map_err(|e| e.describe("the metadata request"))?;
    if raw.status != 200 {
        return Err(format!("HTTP {} where the metadata document was expected", raw.status));
    }
    let metadata: Metadata =
        serde_json::from_slice(&raw.body).map_err(|error| format!("not a metadata document ({error})"))?;
    if metadata.issuer.trim_end_matches('/') != issuer.as_str().trim_end_matches('/') {
        // RFC 8414 §3.3: a document for another issuer must not be used.
        return Err(format!("the document names the issuer {:?}, not {issuer}", metadata.issuer));
    }
    if metadata.token_endpoint.is_none() {
        return Err("the document has no token_endpoint".into());
    }
    metadata.with_checked_endpoints()
}

impl AuthorizationServer {
    /// The server the settings describe, for an app listening on `local_addr`, with what discovery
    /// found (when an issuer is set). The kind comes from what the user configured: the sandbox; a
    /// standard server when an issuer or any endpoint is set; else Bitbucket at `bitbucketUrl`.
    pub fn from_settings(
        settings: &Settings,
        local_addr: SocketAddr,
        discovered: Option<Discovered>,
    ) -> Result<AuthorizationServer, url::ParseError> {
        if settings.sandbox && settings.sandbox_server == SandboxServer::Standard {
            // The built-in standard server: a standard server like any other, known by discovery.
            let mut server = AuthorizationServer::standard(settings, discovered.unwrap_or_default());
            server.built_in = true;
            return Ok(server);
        }
        if settings.sandbox {
            let base = Url::parse(&format!("http://{}/sandbox", loopback(local_addr)))?;
            let api_url = Url::parse(&format!("{base}/api"))?;
            let kind = Kind::Sandbox { password_grant: settings.sandbox_options.password_grant };
            let mut server =
                AuthorizationServer::bitbucket(kind, &base, "/sandbox/site/oauth2/authorize".into(), api_url);
            for endpoint in
                [Some(&mut server.token), server.authorize.as_mut(), server.user.as_mut()].into_iter().flatten()
            {
                endpoint.found = Found::Sandbox;
            }
            return Ok(server);
        }
        if settings.describes_standard_server() {
            return Ok(AuthorizationServer::standard(settings, discovered.unwrap_or_default()));
        }
        let kind = if settings.bitbucket_url.host_str() == Some("bitbucket.org") {
            Kind::BitbucketOrg
        } else {
            Kind::BitbucketPaths
        };
        let authorize_url = join(&settings.bitbucket_url, "/site/oauth2/authorize");
        let mut server =
            AuthorizationServer::bitbucket(kind, &settings.bitbucket_url, authorize_url, settings.api_url.clone());
        if let Some(client_auth) = settings.client_auth {
            server.client_auth = client_auth;
        }
        Ok(server)
    }

    /// A standard server: each endpoint configured, else discovered (the first document that names
    /// it, RFC 8414's before OpenID's), else absent. `Settings::load` has made sure a token endpoint
    /// is configured when no issuer is.
    fn standard(settings: &Settings, discovered: Discovered) -> AuthorizationServer {
        let documents = &discovered.documents;
        let found = |field: fn(&Metadata) -> &Option<String>| {
            documents.iter().find_map(|(kind, _, metadata)| {
                field(metadata).clone().map(|url| Endpoint { url, found: Found::Discovered(*kind) })
            })
        };
        let configured =
            |url: &Option<Url>| url.as_ref().map(|u| Endpoint { url: u.to_string(), found: Found::Configured });
        // The built-in server is known by discovery alone; endpoints set for another server do not apply.
        let none = crate::settings::ConfiguredEndpoints::default();
        let endpoints = if settings.sandbox { &none } else { &settings.endpoints };
        let token = configured(&endpoints.token)
            .or_else(|| found(|m| &m.token_endpoint))
            .expect("a standard server has a token endpoint: configured, or required by discovery");
        let first = |field: fn(&Metadata) -> &Option<Vec<String>>| {
            documents.iter().find_map(|(_, _, metadata)| field(metadata).clone())
        };
        let methods = first(|m| &m.token_endpoint_auth_methods_supported).unwrap_or_default();
        let offers = |method: &str| methods.iter().any(|m| m == method);
        let discovered_auth = if !methods.is_empty() && !offers("client_secret_basic") && offers("client_secret_post") {
            ClientAuth::Post
        } else {
            ClientAuth::Basic
        };
        let discovery = documents.first().map(|(_, _, metadata)| Discovery {
            issuer: metadata.issuer.clone(),
            documents: documents.iter().map(|(kind, url, _)| (*kind, url.clone())).collect(),
            notes: disagreements(documents).into_iter().chain(discovered.ignored.iter().cloned()).collect(),
        });
        AuthorizationServer {
            kind: Kind::Standard,
            authorize: configured(&endpoints.authorize).or_else(|| found(|m| &m.authorization_endpoint)),
            user: configured(&endpoints.user).or_else(|| found(|m| &m.userinfo_endpoint)),
            revocation: configured(&endpoints.revocation).or_else(|| found(|m| &m.revocation_endpoint)),
            introspection: configured(&endpoints.introspection).or_else(|| found(|m| &m.introspection_endpoint)),
            device_authorization: configured(&endpoints.device_authorization)
                .or_else(|| found(|m| &m.device_authorization_endpoint)),
            token,
            bitbucket_api: None,
            discovery,
            grant_types_supported: first(|m| &m.grant_types_supported),
            client_auth: if settings.sandbox {
                discovered_auth
            } else {
                settings.client_auth.unwrap_or(discovered_auth)
            },
            built_in: false,
        }
    }

    /// A Bitbucket-shaped server at `base` (`{base}/site/oauth2/…`) with its API at `api_url`.
    pub fn bitbucket(kind: Kind, base: &Url, authorize_url: String, api_url: Url) -> AuthorizationServer {
        let default = |url: String| Endpoint { url, found: Found::BitbucketDefaults };
        AuthorizationServer {
            kind,
            token: default(join(base, "/site/oauth2/access_token")),
            authorize: Some(default(authorize_url)),
            user: Some(default(join(&api_url, "/2.0/user"))),
            revocation: None,
            introspection: None,
            device_authorization: None,
            bitbucket_api: Some(api_url),
            discovery: None,
            grant_types_supported: None,
            client_auth: ClientAuth::Basic,
            built_in: false,
        }
    }

    /// True for bitbucket.org, the sandbox, and a server reached through Bitbucket's paths: the
    /// only ones the pages may speak of as Bitbucket.
    pub fn is_bitbucket(&self) -> bool {
        self.kind != Kind::Standard
    }

    /// True for the built-in sandbox.
    pub fn is_sandbox(&self) -> bool {
        matches!(self.kind, Kind::Sandbox { .. })
    }

    /// The server says, in its metadata, that it does not offer `grant_type`.
    pub fn lacks_grant(&self, grant_type: &str) -> bool {
        self.grant_types_supported.as_ref().is_some_and(|grants| !grants.iter().any(|g| g == grant_type))
    }

    /// The server says, in its metadata, that it offers `grant_type`; `None` when it does not say.
    pub fn offers_grant(&self, grant_type: &str) -> Option<bool> {
        self.grant_types_supported.as_ref().map(|grants| grants.iter().any(|g| g == grant_type))
    }

    /// Known in advance to refuse every password grant, as bitbucket.org has since 2022-03-01.
    pub fn refuses_password_grant(&self) -> bool {
        matches!(self.kind, Kind::BitbucketOrg | Kind::Sandbox { password_grant: false })
    }

    /// Is this refusal of a password grant the removal of the grant, not a wrong password? True for
    /// bitbucket.org and the sandbox imitating it, and for Bitbucket's tell-tale answer from a
    /// server reached through Bitbucket's paths. Never for a standard server: its refusal is its own.
    pub fn password_refusal_is_removal(&self, e: &OAuthError) -> bool {
        let bitbucket_answer = e.error == "invalid_request"
            && e.error_description.as_deref() == Some("Invalid resource owner username/password");
        self.refuses_password_grant() || (bitbucket_answer && self.kind == Kind::BitbucketPaths)
    }

    /// The server in a sentence: "bitbucket.org", "the sandbox", "the authorization server at …".
    pub fn name(&self) -> String {
        match self.kind {
            Kind::BitbucketOrg => "bitbucket.org".into(),
            Kind::Sandbox { .. } => "the sandbox".into(),
            Kind::BitbucketPaths => format!("the Bitbucket-style server at {}", host_of(&self.token.url)),
            Kind::Standard if self.built_in => "the built-in standard server".into(),
            Kind::Standard => match &self.discovery {
                Some(discovery) => format!("the authorization server {}", discovery.issuer),
                None => format!("the authorization server at {}", host_of(&self.token.url)),
            },
        }
    }

    /// What the server calls the client: Bitbucket's "consumer", or OAuth's "client".
    pub fn client_word(&self) -> &'static str {
        if self.is_bitbucket() { "consumer" } else { "client" }
    }

    /// Where the client's id and secret are set, in the words for this kind of server.
    pub fn credentials_setting(&self) -> &'static str {
        if self.is_bitbucket() {
            "consumerKey and consumerSecret in config.json (or BITBUCKET_CONSUMER_KEY and BITBUCKET_CONSUMER_SECRET)"
        } else {
            "consumerKey and consumerSecret in config.json (or OAUTH_CLIENT_ID and OAUTH_CLIENT_SECRET)"
        }
    }

    /// The names of the environment variables the page's snippets read secrets from.
    pub fn snippet_names(&self) -> &'static SnippetNames {
        if self.is_bitbucket() { &SnippetNames::BITBUCKET } else { &SnippetNames::STANDARD }
    }

    /// The setting that decides the token endpoint, for advice.
    pub fn token_setting(&self) -> &'static str {
        match self.token.found {
            Found::Discovered(_) => "issuer, or tokenUrl to override what discovery found",
            Found::Configured => "tokenUrl in config.json, or OAUTH_TOKEN_URL",
            Found::BitbucketDefaults | Found::Sandbox => "bitbucketUrl in config.json, or BITBUCKET_URL",
        }
    }

    /// The setting that decides the user call, for advice.
    pub fn user_setting(&self) -> &'static str {
        match self.user.as_ref().map(|e| e.found) {
            Some(Found::Discovered(_)) => "issuer, or userUrl to override what discovery found",
            Some(Found::Configured) | None => "userUrl in config.json, or OAUTH_USER_URL",
            Some(Found::BitbucketDefaults | Found::Sandbox) => "apiUrl in config.json, or BITBUCKET_API_URL",
        }
    }

    /// The endpoints a standard server lacks, each with what that means and the setting that adds
    /// it. (Bitbucket's are what they are: no setting adds one.)
    pub fn absent(&self) -> Vec<Role> {
        if self.is_bitbucket() {
            return Vec::new();
        }
        [
            (Role::Authorize, &self.authorize),
            (Role::User, &self.user),
            (Role::Revocation, &self.revocation),
            (Role::Introspection, &self.introspection),
            (Role::DeviceAuthorization, &self.device_authorization),
        ]
        .into_iter()
        .filter(|(_, endpoint)| endpoint.is_none())
        .map(|(role, _)| role)
        .collect()
    }

    /// One line for the start-up log: where tokens come from and where they go.
    pub fn describe(&self) -> String {
        let user = self.user.as_ref().map_or("none", |u| u.url.as_str());
        match (self.kind, &self.discovery) {
            (Kind::Sandbox { .. }, _) => {
                format!("sandbox (built-in Bitbucket emulator, token endpoint {})", self.token.url)
            }
            (Kind::Standard, Some(discovery)) if self.built_in => format!(
                "sandbox (the built-in standard OAuth 2.0 / OpenID Connect server, issuer {}, discovered)",
                discovery.issuer
            ),
            (_, Some(discovery)) => format!(
                "authorization server {} (discovered), token endpoint {}, user call {user}",
                discovery.issuer, self.token.url
            ),
            _ => format!("{}: token endpoint {}, user call {user}", self.name(), self.token.url),
        }
    }
}

/// The environment variables the page's curl and Rust snippets read secrets from.
#[derive(Debug)]
pub struct SnippetNames {
    /// The client's id.
    pub client_id: &'static str,
    /// The client's secret.
    pub client_secret: &'static str,
    /// The resource owner's password.
    pub password: &'static str,
}

impl SnippetNames {
    /// Bitbucket's words, as the original app's README used them.
    pub const BITBUCKET: SnippetNames = SnippetNames {
        client_id: "BITBUCKET_CONSUMER_KEY",
        client_secret: "BITBUCKET_CONSUMER_SECRET",
        password: "BB_PASSWORD",
    };
    /// Any other server's.
    pub const STANDARD: SnippetNames =
        SnippetNames { client_id: "OAUTH_CLIENT_ID", client_secret: "OAUTH_CLIENT_SECRET", password: "OAUTH_PASSWORD" };
}

/// Reads one endpoint out of a metadata document.
type EndpointField = fn(&Metadata) -> &Option<String>;

/// Each endpoint the two documents both name, but differently: one line each.
fn disagreements(documents: &[(Document, String, Metadata)]) -> Vec<String> {
    let [(_, first_url, first), (_, second_url, second), ..] = documents else { return Vec::new() };
    let fields: [(&str, EndpointField); 6] = [
        ("token_endpoint", |m| &m.token_endpoint),
        ("authorization_endpoint", |m| &m.authorization_endpoint),
        ("userinfo_endpoint", |m| &m.userinfo_endpoint),
        ("revocation_endpoint", |m| &m.revocation_endpoint),
        ("introspection_endpoint", |m| &m.introspection_endpoint),
        ("device_authorization_endpoint", |m| &m.device_authorization_endpoint),
    ];
    fields
        .into_iter()
        .filter_map(|(name, field)| match (field(first), field(second)) {
            (Some(a), Some(b)) if a != b => Some(format!(
                "the metadata documents disagree on {name}: {first_url} says {a}, {second_url} says {b}; the app uses {a}"
            )),
            _ => None,
        })
        .collect()
}

/// The host (and port) of a URL, for a sentence.
fn host_of(url: &str) -> String {
    Url::parse(url)
        .ok()
        .and_then(|u| {
            u.host_str().map(|h| match u.port() {
                Some(port) => format!("{h}:{port}"),
                None => h.to_owned(),
            })
        })
        .unwrap_or_else(|| url.to_owned())
}

/// The address this server can reach itself at: a wildcard bind becomes loopback.
fn loopback(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(a) if a.ip().is_unspecified() => SocketAddr::from(([127, 0, 0, 1], a.port())),
        SocketAddr::V6(a) if a.ip().is_unspecified() => SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, a.port())),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_binds_are_reached_through_loopback() {
        assert_eq!(loopback("0.0.0.0:3000".parse().unwrap()).to_string(), "127.0.0.1:3000");
        assert_eq!(loopback("[::]:3000".parse().unwrap()).to_string(), "[::1]:3000");
        assert_eq!(loopback("127.0.0.1:80".parse().unwrap()).to_string(), "127.0.0.1:80");
    }

    #[test]
    fn metadata_is_looked_for_where_servers_publish_it() {
        let urls = |issuer: &str| -> Vec<String> {
            metadata_urls(&Url::parse(issuer).unwrap()).into_iter().map(|(_, url)| url).collect()
        };
        assert_eq!(
            urls("https://auth.example"),
            [
                "https://auth.example/.well-known/oauth-authorization-server",
                "https://auth.example/.well-known/openid-configuration"
            ]
        );
        assert_eq!(
            urls("https://auth.example/tenant/"),
            [
                "https://auth.example/.well-known/oauth-authorization-server/tenant",
                "https://auth.example/.well-known/oauth-authorization-server",
                "https://auth.example/tenant/.well-known/oauth-authorization-server",
                "https://auth.example/tenant/.well-known/openid-configuration",
                "https://auth.example/.well-known/openid-configuration/tenant",
            ]
        );
    }

    #[test]
    fn documents_that_disagree_are_named() {
        let doc = |token: &str| Metadata { token_endpoint: Some(token.into()), ..Metadata::default() };
        let documents = vec![
            (Document::Rfc8414, "a".to_owned(), doc("https://x/token")),
            (Document::OpenId, "b".to_owned(), doc("https://x/token2")),
        ];
        let notes = disagreements(&documents);
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("token_endpoint") && notes[0].contains("the app uses https://x/token"), "{notes:?}");
    }
}
