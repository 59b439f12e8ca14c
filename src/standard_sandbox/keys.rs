//! The signing key, JWTs and the JWKS. A P-256 key pair is generated at start with ring
//! (`EcdsaKeyPair::generate_pkcs8`); access tokens (RFC 9068) and `id_token`s are signed with it,
//! ES256 (RFC 7518 §3.4: the signature is `r ‖ s`, 64 bytes); `GET /jwks` publishes its public
//! half (RFC 7517, RFC 7518 §6.2.1): `x` and `y` are the two 32-byte halves of the uncompressed
//! point `04 ‖ x ‖ y`. Its `kid` is its JWK thumbprint (RFC 7638).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};
use sha2::Digest;

use super::StandardSandbox;

/// The server's ES256 key.
pub(crate) struct SigningKey {
    pair: EcdsaKeyPair,
    random: SystemRandom,
    /// The public key as a JWK (with `kid`, `use`, `alg`).
    jwk: Value,
    kid: String,
}

impl SigningKey {
    /// A new P-256 key pair.
    pub(crate) fn generate() -> SigningKey {
        let random = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &random)
            .expect("the operating system's random source is readable");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &random)
            .expect("a key ring just generated is valid");
        let point = pair.public_key().as_ref();
        let (x, y) = (URL_SAFE_NO_PAD.encode(&point[1..33]), URL_SAFE_NO_PAD.encode(&point[33..65]));
        // RFC 7638 §3.2: the required members, in lexicographic order, no spaces.
        let thumbprint_input = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(thumbprint_input.as_bytes()));
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "use": "sig", "alg": "ES256"});
        SigningKey { pair, random, jwk, kid }
    }

    /// A JWS in compact form: `header.claims.signature`, with `typ` in the header.
    pub(crate) fn sign(&self, typ: &str, claims: &Value) -> String {
        let header = json!({"alg": "ES256", "typ": typ, "kid": self.kid});
        let signing_input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let signature =
            self.pair.sign(&self.random, signing_input.as_bytes()).expect("signing with a valid key cannot fail");
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }

    /// The claims of `token` if it is a JWS of type `typ` that this key signed.
    pub(crate) fn verify(&self, typ: &str, token: &str) -> Option<Value> {
        let (signing_input, signature) = token.rsplit_once('.')?;
        let (header, claims) = signing_input.split_once('.')?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let public = ring::signature::UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, self.pair.public_key().as_ref());
        public.verify(signing_input.as_bytes(), &signature).ok()?;
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
        if header["alg"] != "ES256" || header["typ"] != typ || header["kid"] != self.kid.as_str() {
            return None;
        }
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).ok()?).ok()
    }
}

/// `GET /jwks`: the JSON Web Key Set (RFC 7517 §5), one key.
pub(super) async fn jwks(State(sandbox): State<Arc<StandardSandbox>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/jwk-set+json")], Json(json!({"keys": [sandbox.keys.jwk]})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_token_verifies_and_a_tampered_one_does_not() {
        let key = SigningKey::generate();
        let token = key.sign("at+jwt", &json!({"sub": "demo"}));
        assert_eq!(key.verify("at+jwt", &token).expect("verifies")["sub"], "demo");
        assert!(key.verify("JWT", &token).is_none(), "another typ");
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(json!({"sub": "admin"}).to_string());
        parts[1] = &forged;
        assert!(key.verify("at+jwt", &parts.join(".")).is_none());
        assert!(SigningKey::generate().verify("at+jwt", &token).is_none(), "another key");
    }
}
