//! The registered clients and client authentication (RFC 6749 §2.3): `client_secret_basic`, with
//! both halves form-urlencoded (§2.3.1), `client_secret_post`, or, for the public client, its
//! `client_id` alone (`token_endpoint_auth_method` `none`).

use axum::http::{HeaderMap, header};
use base64::Engine;

use super::{
    DEVICE_CLIENT_ID, Form, NO_PASSWORD_CLIENT_ID, NO_PASSWORD_CLIENT_SECRET, OAuthError, STANDARD_CLIENT_ID,
    STANDARD_CLIENT_SECRET, StandardSandbox,
};

/// Grant types, as the token endpoint names them.
pub(crate) const AUTHORIZATION_CODE: &str = "authorization_code";
pub(crate) const REFRESH_TOKEN: &str = "refresh_token";
pub(crate) const CLIENT_CREDENTIALS: &str = "client_credentials";
pub(crate) const PASSWORD: &str = "password";
pub(crate) const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// How a client authenticates at the token endpoint (its `token_endpoint_auth_method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuthentication {
    /// A confidential client with this secret: `client_secret_basic` or `client_secret_post`.
    Secret(&'static str),
    /// A public client (`none`): it sends its `client_id` and nothing else.
    None,
}

/// A client registered with the server.
#[derive(Clone, Copy, Debug)]
pub struct Client {
    /// Its `client_id`.
    pub id: &'static str,
    /// How it authenticates.
    pub authentication: ClientAuthentication,
    /// The name the consent page shows.
    pub name: &'static str,
    /// The grant types it may use; any other gets `unauthorized_client`.
    pub grant_types: &'static [&'static str],
    /// Whether it may use the authorization endpoint with the registered redirect URIs.
    pub redirects: bool,
}

const ALL_GRANTS: &[&str] = &[AUTHORIZATION_CODE, REFRESH_TOKEN, CLIENT_CREDENTIALS, PASSWORD, DEVICE_CODE];

/// The clients: one allowed everything, a public one for the device flow, and one without the
/// password grant. Their secrets are public: they open nothing outside the built-in server.
pub const CLIENTS: [Client; 3] = [
    Client {
        id: STANDARD_CLIENT_ID,
        authentication: ClientAuthentication::Secret(STANDARD_CLIENT_SECRET),
        name: "Standard demo client",
        grant_types: ALL_GRANTS,
        redirects: true,
    },
    Client {
        id: DEVICE_CLIENT_ID,
        authentication: ClientAuthentication::None,
        name: "Standard device client (a command-line tool)",
        grant_types: &[DEVICE_CODE, REFRESH_TOKEN],
        redirects: false,
    },
    Client {
        id: NO_PASSWORD_CLIENT_ID,
        authentication: ClientAuthentication::Secret(NO_PASSWORD_CLIENT_SECRET),
        name: "Standard client without the password grant",
        grant_types: &[AUTHORIZATION_CODE, REFRESH_TOKEN, CLIENT_CREDENTIALS, DEVICE_CODE],
        redirects: true,
    },
];

/// The client registered as `id`.
pub(crate) fn client(id: &str) -> Option<&'static Client> {
    CLIENTS.iter().find(|c| c.id == id)
}

impl Client {
    /// Whether it may use `grant_type`.
    pub fn allows(&self, grant_type: &str) -> bool {
        self.grant_types.contains(&grant_type)
    }

    /// Whether it is confidential (has a secret).
    pub fn is_confidential(&self) -> bool {
        matches!(self.authentication, ClientAuthentication::Secret(_))
    }
}

/// Undoes `application/x-www-form-urlencoded` on one half of a Basic credential (RFC 6749
/// §2.3.1): `+` is a space, `%XX` a byte. `None` if the bytes are not UTF-8.
fn form_decode(half: &str) -> Option<String> {
    let bytes = half.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The `client_id` and secret of an `Authorization: Basic` header, if there is one.
fn basic_credentials(headers: &HeaderMap) -> Option<Result<(String, String), OAuthError>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let malformed = || OAuthError::invalid_client("The Authorization header is not valid HTTP Basic.");
    let Some((scheme, encoded)) = value.to_str().ok().and_then(|v| v.split_once(' ')) else {
        return Some(Err(malformed()));
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Some(Err(OAuthError::invalid_client("Only HTTP Basic client authentication is accepted here.")));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    let pair = decoded
        .as_deref()
        .and_then(|pair| pair.split_once(':'))
        .and_then(|(id, secret)| Some((form_decode(id)?, form_decode(secret)?)));
    Some(pair.ok_or_else(malformed))
}

impl StandardSandbox {
    /// Authenticates the client of a token, revocation, introspection or device authorization
    /// request. `public_allowed`: whether a public client may send its `client_id` alone.
    pub(crate) fn authenticate_client(
        &self,
        headers: &HeaderMap,
        form: &Form,
        public_allowed: bool,
    ) -> Result<&'static Client, OAuthError> {
        let (id, secret) = match basic_credentials(headers) {
            Some(pair) => {
                let (id, secret) = pair?;
                // RFC 6749 §2.3: one method only. A `client_id` in the body may repeat the header's.
                if form.get("client_secret").is_some() || form.get("client_id").is_some_and(|body| body != id) {
                    return Err(OAuthError::invalid_request("Use one client authentication method, not two."));
                }
                (id, Some(secret))
            }
            None => {
                let id = form.get("client_id").ok_or_else(|| {
                    OAuthError::invalid_client(
                        "Client authentication is required (HTTP Basic, or client_id in the body).",
                    )
                })?;
                (id.to_owned(), form.get("client_secret").map(str::to_owned))
            }
        };
        let unknown = || OAuthError::invalid_client("Client authentication failed.");
        let client = client(&id).ok_or_else(unknown)?;
        match (client.authentication, secret) {
            (ClientAuthentication::Secret(expected), Some(given)) => {
                self.failures.check(client.id).map_err(|wait| OAuthError::too_many("invalid_client", wait))?;
                if given == expected {
                    Ok(client)
                } else {
                    self.failures.failed(client.id);
                    Err(unknown())
                }
            }
            (ClientAuthentication::None, None) if public_allowed => Ok(client),
            // A confidential client without its secret, a public client with one, or a public
            // client where only confidential ones are served.
            _ => Err(unknown()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::form_decode;

    #[test]
    fn basic_halves_are_form_decoded() {
        assert_eq!(form_decode("standard%2Dclient").as_deref(), Some("standard-client"));
        assert_eq!(form_decode("a+b%20c%25").as_deref(), Some("a b c%"));
        assert_eq!(form_decode("100%").as_deref(), Some("100%"));
        assert_eq!(form_decode("%zz").as_deref(), Some("%zz"));
        assert_eq!(form_decode("%C3%A9").as_deref(), Some("é"));
        assert_eq!(form_decode("%FF"), None);
    }
}
