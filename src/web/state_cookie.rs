//! The cookie that carries the authorization code grant's `state` (and PKCE verifier) from
//! `GET /authorize` to the callback: signed with HMAC-SHA-256, HttpOnly, SameSite=Lax, sent only
//! to `/oauth-callback`. It is signed, not encrypted: it holds nothing the browser may not see (the
//! verifier only proves that this browser started the sign-in), but nothing else can forge it.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256, Sha512};

/// The cookie's name.
pub const STATE_COOKIE: &str = "oauth_state";

/// The length of a signature in the cookie: 32 bytes of HMAC-SHA-256, base64url without padding.
const SIGNATURE_CHARS: usize = 43;

/// The key that signs and checks the state cookie.
#[derive(Clone)]
pub struct CookieKey([u8; 64]);

impl CookieKey {
    /// A fresh key from the operating system's random source: the cookies of this process only.
    pub fn random() -> CookieKey {
        let mut key = [0u8; 64];
        getrandom::getrandom(&mut key).expect("the operating system's random source is readable");
        CookieKey(key)
    }

    /// A key derived from `cookieSecret`, so that instances behind one address accept each
    /// other's cookies.
    pub fn from_secret(secret: &SecretString) -> CookieKey {
        let digest = Sha512::new()
            .chain_update(b"bitbucket-password-grant state cookie v3\0")
            .chain_update(secret.expose_secret().as_bytes())
            .finalize();
        CookieKey(digest.into())
    }

    fn mac(&self, value: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(STATE_COOKIE.as_bytes());
        mac.update(b"=");
        mac.update(value.as_bytes());
        mac
    }

    /// The `Set-Cookie` header that hands `value` to the browser for `max_age`. `value` must be
    /// cookie-safe (the callers' values are base64url tokens, digits, `.` and `-`).
    pub fn set_cookie(&self, value: &str, max_age: Duration) -> HeaderValue {
        debug_assert!(value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)), "{value:?}");
        let signature = URL_SAFE_NO_PAD.encode(self.mac(value).finalize().into_bytes());
        let cookie = format!(
            "{STATE_COOKIE}={signature}{value}; HttpOnly; SameSite=Lax; Path=/oauth-callback; Max-Age={}",
            max_age.as_secs()
        );
        HeaderValue::try_from(cookie).expect("a cookie of token characters is a valid header value")
    }

    /// The value of the request's state cookie, if it has one that this key signed. A cookie that
    /// is missing, malformed or forged reads as no cookie at all (the signature is compared in
    /// constant time). Every `oauth_state` the browser sends is tried: cookies ignore ports, so
    /// another app on this host may have set one of the same name.
    pub fn read(&self, headers: &HeaderMap) -> Option<String> {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|line| line.to_str().ok())
            .flat_map(|line| line.split(';'))
            .filter_map(|pair| pair.trim().strip_prefix(STATE_COOKIE)?.strip_prefix('='))
            .find_map(|signed| self.verify(signed))
    }

    fn verify(&self, signed: &str) -> Option<String> {
        let (signature, value) = (signed.get(..SIGNATURE_CHARS)?, signed.get(SIGNATURE_CHARS..)?);
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        self.mac(value).verify_slice(&signature).ok()?;
        Some(value.to_owned())
    }
}

/// The `Set-Cookie` header that removes the state cookie (the state is spent).
pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("oauth_state=; HttpOnly; SameSite=Lax; Path=/oauth-callback; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_with(cookie: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::try_from(cookie).unwrap());
        headers
    }

    /// The `name=value` part of a `Set-Cookie` header, as a browser sends it back.
    fn sent_back(set_cookie: &HeaderValue) -> String {
        set_cookie.to_str().unwrap().split(';').next().unwrap().to_owned()
    }

    #[test]
    fn a_signed_value_reads_back_among_other_cookies() {
        let key = CookieKey::random();
        let set = key.set_cookie("abc.1700000000.verifier.short-lived", Duration::from_secs(600));
        let text = set.to_str().unwrap();
        assert!(text.ends_with("; HttpOnly; SameSite=Lax; Path=/oauth-callback; Max-Age=600"), "{text}");
        let headers = request_with(&format!("theme=dark; {}; other=1", sent_back(&set)));
        assert_eq!(key.read(&headers).as_deref(), Some("abc.1700000000.verifier.short-lived"));
        // Another app on this host set a cookie of the same name, sent first: ours is still found.
        let headers = request_with(&format!("{STATE_COOKIE}=theirs; oauth_state2=x; {}", sent_back(&set)));
        assert_eq!(key.read(&headers).as_deref(), Some("abc.1700000000.verifier.short-lived"));
    }

    #[test]
    fn forged_altered_or_foreign_cookies_read_as_none() {
        let key = CookieKey::random();
        let good = sent_back(&key.set_cookie("state.1700000000..", Duration::from_secs(600)));
        let altered = good.replace("state.", "other.");
        let forged = format!("{STATE_COOKIE}={}state.1700000000..", "A".repeat(SIGNATURE_CHARS));
        let foreign = sent_back(&CookieKey::random().set_cookie("state.1700000000..", Duration::from_secs(600)));
        for cookie in [altered, forged, foreign, format!("{STATE_COOKIE}=short"), format!("{STATE_COOKIE}=")] {
            assert_eq!(key.read(&request_with(&cookie)), None, "{cookie}");
        }
        assert_eq!(key.read(&HeaderMap::new()), None);
        // The same secret gives the same key: instances behind one address agree.
        let secret = SecretString::from("a shared secret of at least thirty-two characters");
        let set = CookieKey::from_secret(&secret).set_cookie("s.1..", Duration::from_secs(1));
        assert_eq!(CookieKey::from_secret(&secret).read(&request_with(&sent_back(&set))).as_deref(), Some("s.1.."));
    }
}
