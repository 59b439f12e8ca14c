//! One description of the authorization server the app talks to: its endpoints, what it is
//! (bitbucket.org, the built-in sandbox, or another server) and what it is known to accept.
//! Built once from the settings; the handlers, the diagnosis and the pages read it.

use std::net::SocketAddr;

use serde::Deserialize;
use url::Url;

use crate::settings::{Settings, join};
use crate::token::{self, ClientAuth, OAuthError};

/// What kind of server it is: it decides what the diagnosis may say about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// bitbucket.org itself: refuses the password grant since 2022-03-01.
    BitbucketOrg,
    /// The built-in Bitbucket sandbox; `password_grant` says whether it still takes passwords.
    Sandbox {
        /// `sandboxPasswordGrant`: the sandbox accepts the demo user's password.
        password_grant: bool,
    },
    /// Any other OAuth 2.0 server.
    Other,
}

/// How the app learned an endpoint: shown on the start page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// Bitbucket's paths under `bitbucketUrl` / `apiUrl`.
    BitbucketDefaults,
    /// Set in the settings (`tokenUrl`, `authorizeUrl`, `userUrl`, `revocationUrl`).
    Configured,
    /// Read from the server's metadata (RFC 8414 or OpenID Connect Discovery).
    Discovered,
    /// The built-in sandbox's own routes.
    Sandbox,
}

impl Found {
    /// In a sentence: "discovered", "configured", …
    pub fn describe(self) -> &'static str {
        match self {
            Found::BitbucketDefaults => "Bitbucket's default path",
            Found::Configured => "configured",
            Found::Discovered => "discovered from the server's metadata",
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

/// The authorization server and the API the app calls with its tokens.
#[derive(Clone, Debug)]
pub struct AuthorizationServer {
    /// What it is.
    pub kind: Kind,
    /// Where token requests go (RFC 6749 §3.2).
    pub token: Endpoint,
    /// Where the browser is sent to sign in (RFC 6749 §3.1). In sandbox mode a path, so the browser
    /// stays on the origin (and with the cookies) it started from.
    pub authorize: Endpoint,
    /// The sample call made with every new token: the API's answer about the signed-in user
    /// (Bitbucket's `/2.0/user`, an OpenID provider's userinfo endpoint).
    pub user: Endpoint,
    /// Where tokens are revoked (RFC 7009), when the server has such an endpoint.
    pub revocation: Option<Endpoint>,
    /// Base of Bitbucket's REST API, for the other sample calls; `None` for other servers.
    pub bitbucket_api: Option<Url>,
    /// The issuer, and the metadata document it was discovered from.
    pub discovered: Option<(String, String)>,
    /// The grant types the server says it supports (`grant_types_supported`), when it says.
    pub grant_types_supported: Option<Vec<String>>,
    /// How the client authenticates at the token endpoint.
    pub client_auth: ClientAuth,
}

/// The fields of RFC 8414 (and OpenID Connect Discovery) metadata the app uses.
#[derive(Clone, Debug, Deserialize)]
pub struct Metadata {
    /// Must equal the issuer the document was fetched for (RFC 8414 §3.3).
    pub issuer: String,
    /// The authorization endpoint.
    pub authorization_endpoint: Option<String>,
    /// The token endpoint.
    pub token_endpoint: Option<String>,
    /// OpenID Connect's userinfo endpoint.
    pub userinfo_endpoint: Option<String>,
    /// RFC 7009's revocation endpoint.
    pub revocation_endpoint: Option<String>,
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
    /// The metadata URL (the last one tried).
    pub url: String,
    /// What went wrong.
    pub problem: String,
}

/// Fetches the issuer's metadata: RFC 8414's `/.well-known/oauth-authorization-server` (inserted
/// before the issuer's path), then OpenID Connect's `{issuer}/.well-known/openid-configuration`.
/// Returns the document and the URL it came from.
pub async fn discover(http: &reqwest::Client, issuer: &Url) -> Result<(Metadata, String), DiscoveryError> {
    let path = issuer.path().trim_end_matches('/');
    let origin = issuer.origin().ascii_serialization();
    let candidates = [
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!("{origin}{path}/.well-known/openid-configuration"),
    ];
    // The error to report: the first that is not a plain "not there" (a document for another
    // issuer at the first URL matters more than a 404 at the second), else the last.
    let mut reported: Option<DiscoveryError> = None;
    for url in candidates {
        let sent = http.get(&url).header(reqwest::header::ACCEPT, "application/json").send().await;
        let problem = match token::read_response(sent, token::MAX_TOKEN_RESPONSE_BYTES).await {
            Err(error) => error.to_string(),
            Ok(raw) if raw.status != 200 => format!("HTTP {} where the metadata document was expected", raw.status),
            Ok(raw) => match serde_json::from_slice::<Metadata>(&raw.body) {
                Err(error) => format!("not a metadata document ({error})"),
                Ok(metadata) if metadata.issuer.trim_end_matches('/') != issuer.as_str().trim_end_matches('/') => {
                    // RFC 8414 §3.3: a document for another issuer must not be used.
                    format!("the document names the issuer {:?}, not {issuer}", metadata.issuer)
                }
                Ok(metadata) if metadata.token_endpoint.is_none() => "the document has no token_endpoint".into(),
                Ok(metadata) => match metadata.with_checked_endpoints() {
                    Ok(metadata) => return Ok((metadata, url)),
                    Err(problem) => problem,
                },
            },
        };
        let not_there = problem.starts_with("HTTP 404");
        if reported.as_ref().is_none_or(|r| r.problem.starts_with("HTTP 404") && !not_there) {
            reported = Some(DiscoveryError { url, problem });
        }
    }
    Err(reported.expect("two candidates were tried"))
}

impl AuthorizationServer {
    /// The server the settings describe, for an app listening on `local_addr`, with the metadata
    /// discovery found (when an issuer is set). In sandbox mode the endpoints are this app's own
    /// `/sandbox` routes. Each endpoint: configured, else discovered, else Bitbucket's default.
    pub fn from_settings(
        settings: &Settings,
        local_addr: SocketAddr,
        discovered: Option<(Metadata, String)>,
    ) -> Result<AuthorizationServer, url::ParseError> {
        if settings.sandbox {
            let base = Url::parse(&format!("http://{}/sandbox", loopback(local_addr)))?;
            let api_url = Url::parse(&format!("{base}/api"))?;
            let kind = Kind::Sandbox { password_grant: settings.sandbox_options.password_grant };
            let mut server = AuthorizationServer::new(kind, &base, "/sandbox/site/oauth2/authorize".into(), api_url);
            for endpoint in [&mut server.token, &mut server.authorize, &mut server.user] {
                endpoint.found = Found::Sandbox;
            }
            return Ok(server);
        }
        let kind =
            if settings.bitbucket_url.host_str() == Some("bitbucket.org") { Kind::BitbucketOrg } else { Kind::Other };
        let authorize_url = join(&settings.bitbucket_url, "/site/oauth2/authorize");
        let mut server =
            AuthorizationServer::new(kind, &settings.bitbucket_url, authorize_url, settings.api_url.clone());
        if let Some((metadata, from)) = discovered {
            let found = |url: Option<String>| url.map(|url| Endpoint { url, found: Found::Discovered });
            let bitbucket_shaped = metadata.userinfo_endpoint.is_none();
            server.token = found(metadata.token_endpoint).unwrap_or(server.token);
            server.authorize = found(metadata.authorization_endpoint).unwrap_or(server.authorize);
            server.user = found(metadata.userinfo_endpoint).unwrap_or(server.user);
            server.revocation = found(metadata.revocation_endpoint);
            if !bitbucket_shaped {
                server.bitbucket_api = None;
            }
            server.grant_types_supported = metadata.grant_types_supported;
            let methods = metadata.token_endpoint_auth_methods_supported.unwrap_or_default();
            let offers = |method: &str| methods.iter().any(|m| m == method);
            if !methods.is_empty() && !offers("client_secret_basic") && offers("client_secret_post") {
                server.client_auth = ClientAuth::Post;
            }
            server.discovered = Some((metadata.issuer, from));
        }
        let configured =
            |url: &Option<Url>| url.as_ref().map(|u| Endpoint { url: u.to_string(), found: Found::Configured });
        let endpoints = &settings.endpoints;
        server.token = configured(&endpoints.token).unwrap_or(server.token);
        server.authorize = configured(&endpoints.authorize).unwrap_or(server.authorize);
        if let Some(user) = configured(&endpoints.user) {
            server.user = user;
            server.bitbucket_api = None;
        }
        server.revocation = configured(&endpoints.revocation).or(server.revocation);
        if let Some(client_auth) = settings.client_auth {
            server.client_auth = client_auth;
        }
        Ok(server)
    }

    /// A Bitbucket-shaped server at `base` (`{base}/site/oauth2/…`) with its API at `api_url`.
    pub fn new(kind: Kind, base: &Url, authorize_url: String, api_url: Url) -> AuthorizationServer {
        let default = |url: String| Endpoint { url, found: Found::BitbucketDefaults };
        AuthorizationServer {
            kind,
            token: default(join(base, "/site/oauth2/access_token")),
            authorize: default(authorize_url),
            user: default(join(&api_url, "/2.0/user")),
            revocation: None,
            bitbucket_api: Some(api_url),
            discovered: None,
            grant_types_supported: None,
            client_auth: ClientAuth::Basic,
        }
    }

    /// True when explanations may speak of Bitbucket: bitbucket.org, the sandbox, or a server
    /// reached through Bitbucket's paths (a proxy or an emulator of it).
    pub fn speaks_bitbucket(&self) -> bool {
        self.kind != Kind::Other || self.token.found == Found::BitbucketDefaults
    }

    /// The server says, in its metadata, that it does not offer `grant_type`.
    pub fn lacks_grant(&self, grant_type: &str) -> bool {
        self.grant_types_supported.as_ref().is_some_and(|grants| !grants.iter().any(|g| g == grant_type))
    }

    /// True for the built-in sandbox.
    pub fn is_sandbox(&self) -> bool {
        matches!(self.kind, Kind::Sandbox { .. })
    }

    /// Known in advance to refuse every password grant, as bitbucket.org has since 2022-03-01.
    pub fn refuses_password_grant(&self) -> bool {
        matches!(self.kind, Kind::BitbucketOrg | Kind::Sandbox { password_grant: false })
    }

    /// Is this refusal of a password grant the removal of the grant, not a wrong password? True
    /// for bitbucket.org, and for Bitbucket's tell-tale answer from any server other than a sandbox
    /// that still takes passwords (a proxy or an emulator in front of Bitbucket answers the same).
    pub fn password_refusal_is_removal(&self, e: &OAuthError) -> bool {
        let bitbucket_answer = e.error == "invalid_request"
            && e.error_description.as_deref() == Some("Invalid resource owner username/password");
        self.refuses_password_grant() || (bitbucket_answer && self.kind != Kind::Sandbox { password_grant: true })
    }

    /// One line for the start-up log: where tokens come from.
    pub fn describe(&self) -> String {
        match (self.kind, &self.discovered) {
            (Kind::Sandbox { .. }, _) => {
                format!("sandbox (built-in Bitbucket emulator, token endpoint {})", self.token.url)
            }
            (_, Some((issuer, _))) => format!(
                "authorization server {issuer} (discovered), token endpoint {}, user call {}",
                self.token.url, self.user.url
            ),
            _ => format!("authorization server {}, user call {}", self.token.url, self.user.url),
        }
    }
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
}
