//! Reading what a JSON Web Token (RFC 7519) says, for the result page: its header and its claims,
//! with the times as dates. Nothing here checks the signature: whoever relies on a token checks it
//! (the resource server for an access token; the client, against the server's published keys, for
//! an OpenID Connect `id_token`). A token that is not three base64url parts of JSON is opaque:
//! only the server that issued it knows what it means, as with Bitbucket's.

use base64::Engine;
use serde_json::Value;

/// A decoded JWT, ready to display.
#[derive(Clone, Debug)]
pub struct Decoded {
    /// The JOSE header, pretty-printed (`alg`, `kid`, `typ`).
    pub header: String,
    /// The claims, pretty-printed.
    pub claims: String,
    /// The time claims (`exp`, `iat`, `nbf`, `auth_time`) as dates: name, date.
    pub times: Vec<(String, String)>,
    /// The signing algorithm named in the header.
    pub algorithm: String,
    /// The `nonce` claim (OpenID Connect Core §2), if the token has one.
    pub nonce: Option<String>,
}

/// The claims that hold a time, as seconds since 1970 (RFC 7519 §4.1, OpenID Connect Core §2).
const TIME_CLAIMS: [&str; 4] = ["exp", "iat", "nbf", "auth_time"];

/// Decodes `token` if it is a JWT (JWS compact form); `None` if it is opaque.
pub fn decode(token: &str) -> Option<Decoded> {
    let mut parts = token.split('.');
    let (header, claims, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None; // five parts: an encrypted JWE, whose claims only the recipient can read
    }
    let json = |part: &str| -> Option<Value> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
        serde_json::from_slice::<Value>(&bytes).ok().filter(Value::is_object)
    };
    let (header, claims) = (json(header)?, json(claims)?);
    let times = TIME_CLAIMS
        .iter()
        .filter_map(|name| {
            let seconds = claims.get(*name)?.as_i64()?;
            let date = time::OffsetDateTime::from_unix_timestamp(seconds).ok()?;
            let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
            Some((name.to_string(), date.format(&format).ok()?))
        })
        .collect();
    let pretty = |value: &Value| serde_json::to_string_pretty(value).unwrap_or_default();
    Some(Decoded {
        algorithm: header.get("alg").and_then(Value::as_str).unwrap_or("none stated").to_owned(),
        nonce: claims.get("nonce").and_then(Value::as_str).map(str::to_owned),
        header: pretty(&header),
        claims: pretty(&claims),
        times,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(value: &serde_json::Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
    }

    #[test]
    fn a_jwt_is_decoded_with_its_times_as_dates() {
        let header = encode(&serde_json::json!({"alg": "RS256", "kid": "k1", "typ": "JWT"}));
        let claims = encode(&serde_json::json!({"sub": "alice", "iat": 1_764_000_000, "exp": 1_764_003_600}));
        let decoded = decode(&format!("{header}.{claims}.c2lnbmF0dXJl")).expect("a JWT");
        assert_eq!(decoded.algorithm, "RS256");
        assert!(decoded.claims.contains("\"sub\": \"alice\""), "{}", decoded.claims);
        assert_eq!(decoded.times[0], ("exp".to_owned(), "2025-11-24 17:00:00 UTC".to_owned()));
        assert_eq!(decoded.times[1].0, "iat");
    }

    #[test]
    fn opaque_tokens_and_near_misses_are_not_jwts() {
        assert!(decode("jMsIyjm0pzV4Zk1q0I618").is_none());
        assert!(decode("a.b.c").is_none());
        assert!(decode("e30.e30.x.y.z").is_none(), "five parts: JWE");
        let not_an_object = encode(&serde_json::json!([1, 2]));
        assert!(decode(&format!("{not_an_object}.{not_an_object}.x")).is_none());
    }
}
