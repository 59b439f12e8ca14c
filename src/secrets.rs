//! Secrets on display: how a token or the password is masked on a page, and how text that came
//! from elsewhere (an upstream's answer) is scrubbed of every secret before it is shown or logged.

use crate::token::{OAuthError, TokenError};

/// What stands in for the password, whatever its length.
pub const PASSWORD_MASK: &str = "••••••••";

/// A secret shown as its first 4 and last 4 characters: `abcd…wxyz` (short ones fully masked).
pub fn partial(secret: &str) -> String {
    if secret.chars().nth(12).is_none() {
        return "••••".to_owned();
    }
    // Byte offsets of the 5th character and of the 4th from the end (a token may not be ASCII).
    let head_end = secret.char_indices().nth(4).map_or(secret.len(), |(at, _)| at);
    let tail_start = secret.char_indices().nth_back(3).map_or(0, |(at, _)| at);
    [&secret[..head_end], "…", &secret[tail_start..]].concat()
}

/// Removes secrets from text that came from elsewhere (an upstream's answer), before it is
/// shown or logged: each secret, and its URL-encoded and Basic-auth forms, becomes `[redacted]`.
#[derive(Default)]
pub struct Scrubber {
    needles: Vec<String>,
}

impl Scrubber {
    /// Adds a secret to remove (empty and very short values are ignored: they would match anywhere).
    pub fn secret(mut self, secret: &str) -> Scrubber {
        if secret.len() >= 3 {
            self.needles.push(secret.to_owned());
            let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
            if encoded != secret {
                self.needles.push(encoded);
            }
        }
        self
    }

    /// Adds a Basic-auth pair: the pair's base64 forms are secrets too, the one RFC 6749 §2.3.1
    /// sends (each half form-urlencoded first) and the raw one.
    pub fn basic_pair(self, user: &str, password: &str) -> Scrubber {
        use base64::Engine;
        let raw = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let header = crate::token::ClientCredentials::basic(user, password).basic_authorization();
        let sent = header.trim_start_matches("Basic ").to_owned();
        self.secret(password).secret(&raw).secret(&sent)
    }

    /// The text with every secret replaced.
    pub fn scrub(&self, text: &str) -> String {
        self.needles.iter().fold(text.to_owned(), |text, needle| text.replace(needle, "[redacted]"))
    }

    /// A token error with every text field scrubbed.
    pub fn token_error(&self, error: TokenError) -> TokenError {
        match error {
            TokenError::Refused(e) => TokenError::Refused(OAuthError {
                error: self.scrub(&e.error),
                error_description: e.error_description.map(|d| self.scrub(&d)),
                error_uri: e.error_uri.map(|u| self.scrub(&u)),
                status: e.status,
            }),
            TokenError::NoResponse { timed_out, connect, message } => {
                TokenError::NoResponse { timed_out, connect, message: self.scrub(&message) }
            }
            TokenError::UnexpectedResponse { status, problem, excerpt } => {
                TokenError::UnexpectedResponse { status, problem: self.scrub(&problem), excerpt: self.scrub(&excerpt) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_keeps_first_and_last_four() {
        assert_eq!(partial("abcdefghijklmnopqrstuvwxyz"), "abcd…wxyz");
        assert_eq!(partial("short"), "••••");
        // 12 characters are fully masked, 13 show 4 + 4; characters, not bytes.
        assert_eq!(partial("abcdefghijkl"), "••••");
        assert_eq!(partial("abcdefghijklm"), "abcd…jklm");
        assert_eq!(partial("ééééabcdefghïïïï"), "éééé…ïïïï");
    }

    #[test]
    fn scrubber_removes_plain_url_encoded_and_basic_forms() {
        let scrubber = Scrubber::default().secret("p@ss word").basic_pair("key", "consumer-secret");
        let text = "echo: p@ss word / p%40ss+word / a2V5OmNvbnN1bWVyLXNlY3JldA== / consumer-secret";
        let clean = scrubber.scrub(text);
        assert_eq!(clean, "echo: [redacted] / [redacted] / [redacted] / [redacted]");
    }
}
