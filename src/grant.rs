//! The grants this app performs (RFC 6749's, and RFC 8628's device grant), named once for every layer.

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
    /// The device authorization grant (RFC 8628): the poll of the token endpoint with a device code.
    DeviceCode,
}

impl Grant {
    /// The `grant_type` value sent to the token endpoint.
    pub fn grant_type(self) -> &'static str {
        match self {
            Grant::Password => "password",
            Grant::AuthorizationCode => "authorization_code",
            Grant::ClientCredentials => "client_credentials",
            Grant::RefreshToken => "refresh_token",
            Grant::DeviceCode => crate::token::DEVICE_CODE_GRANT_TYPE,
        }
    }

    /// The grant's name in a sentence.
    pub fn name(self) -> &'static str {
        match self {
            Grant::Password => "password grant",
            Grant::AuthorizationCode => "authorization code grant",
            Grant::ClientCredentials => "client credentials grant",
            Grant::RefreshToken => "refresh token grant",
            Grant::DeviceCode => "device authorization grant",
        }
    }
}
