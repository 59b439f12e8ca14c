//! One description of the authorization server the app talks to: its endpoints, what it is
//! (bitbucket.org, the built-in sandbox, or another server) and what it is known to accept.
//! Built once from the settings; the handlers, the diagnosis and the pages read it.

use std::net::SocketAddr;

use url::Url;

use crate::settings::{Settings, join};
use crate::token::OAuthError;

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

/// The authorization server and the API the app calls with its tokens.
#[derive(Clone, Debug)]
pub struct AuthorizationServer {
    /// What it is.
    pub kind: Kind,
    /// Where token requests go (RFC 6749 §3.2).
    pub token_url: String,
    /// Where the browser is sent to sign in (RFC 6749 §3.1). In sandbox mode a path, so the browser
    /// stays on the origin (and with the cookies) it started from.
    pub authorize_url: String,
    /// Base of the REST API for the Bitbucket sample calls.
    pub api_url: Url,
    /// The sample call made with every new token: the API's answer about the signed-in user.
    pub user_url: String,
}

impl AuthorizationServer {
    /// The server the settings describe, for an app listening on `local_addr`. In sandbox mode
    /// the endpoints are this app's own `/sandbox` routes.
    pub fn from_settings(settings: &Settings, local_addr: SocketAddr) -> Result<AuthorizationServer, url::ParseError> {
        if settings.sandbox {
            let base = Url::parse(&format!("http://{}/sandbox", loopback(local_addr)))?;
            let api_url = Url::parse(&format!("{base}/api"))?;
            let kind = Kind::Sandbox { password_grant: settings.sandbox_options.password_grant };
            return Ok(AuthorizationServer::new(kind, &base, "/sandbox/site/oauth2/authorize".into(), api_url));
        }
        let kind =
            if settings.bitbucket_url.host_str() == Some("bitbucket.org") { Kind::BitbucketOrg } else { Kind::Other };
        let authorize_url = join(&settings.bitbucket_url, "/site/oauth2/authorize");
        Ok(AuthorizationServer::new(kind, &settings.bitbucket_url, authorize_url, settings.api_url.clone()))
    }

    /// A Bitbucket-shaped server at `base` (`{base}/site/oauth2/…`) with its API at `api_url`.
    pub fn new(kind: Kind, base: &Url, authorize_url: String, api_url: Url) -> AuthorizationServer {
        AuthorizationServer {
            kind,
            token_url: join(base, "/site/oauth2/access_token"),
            authorize_url,
            user_url: join(&api_url, "/2.0/user"),
            api_url,
        }
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
        match self.kind {
            Kind::Sandbox { .. } => {
                format!("sandbox (built-in Bitbucket emulator, token endpoint {})", self.token_url)
            }
            _ => format!("authorization server {}, API {}", self.token_url, self.api_url),
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
