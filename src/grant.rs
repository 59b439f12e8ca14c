//! The grants of RFC 6749 this app performs, named once for every layer.

/// A grant type of RFC 6749, as this app uses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant {
    /// Resource Owner Password Credentials (§4.3).
    Password,
    /// Authorization code (§4.1).
    AuthorizationCode,
    /// Client credentials (§4.4).
    ClientCredentials,
    /// Refreshing an access token (§6).
    RefreshToken,
}

impl Grant {
    /// The `grant_type` value sent to the token endpoint.
    pub fn grant_type(self) -> &'static str {
        match self {
            Grant::Password => "password",
            Grant::AuthorizationCode => "authorization_code",
            Grant::ClientCredentials => "client_credentials",
            Grant::RefreshToken => "refresh_token",
        }
    }

    /// The grant's name in a sentence.
    pub fn name(self) -> &'static str {
        match self {
            Grant::Password => "password grant",
            Grant::AuthorizationCode => "authorization code grant",
            Grant::ClientCredentials => "client credentials grant",
            Grant::RefreshToken => "refresh token grant",
        }
    }
}
