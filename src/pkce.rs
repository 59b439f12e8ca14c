//! PKCE, Proof Key for Code Exchange (RFC 7636), with the S256 method: a fresh secret
//! `code_verifier` per sign-in, whose hash (`code_challenge`) goes on the authorization request and
//! which itself goes on the code exchange. A code intercepted on its way back is useless without it.
//! RFC 9700 §2.1.1 recommends it for every client, confidential ones included.

use base64::Engine;
use sha2::Digest;

/// The only method this app sends; `plain` offers no protection if the request is seen.
pub const METHOD: &str = "S256";

/// `BASE64URL(SHA256(verifier))`, without padding (RFC 7636 §4.2).
pub fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

/// A new verifier: 32 random bytes as 43 URL-safe characters (RFC 7636 §4.1 asks for 43 to 128).
pub fn new_verifier() -> String {
    crate::random_token()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of RFC 7636 Appendix B.
    #[test]
    fn challenge_matches_the_rfc_example() {
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(new_verifier().len(), 43);
    }
}
