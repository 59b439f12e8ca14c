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
///
/// Every text an exchange shows goes through it, so it is built for speed: one pass over the text
/// for all the secrets together (a byte that starts no secret is passed over after one bit test),
/// and no copy at all when the text holds none, which is nearly always.
#[derive(Default)]
pub struct Scrubber {
    secrets: Replacer,
}

/// Secrets, each with what stands in for it, replaced in one pass over a text (see [`Scrubber`]).
#[derive(Default)]
pub struct Replacer {
    /// The secrets and their replacements, longest secret first, so the longest match wins.
    needles: Vec<(String, String)>,
    /// The bytes a secret starts with, as a 256-bit set.
    starts: [u64; 4],
}

impl Replacer {
    /// Adds `needle`, replaced by `replacement` (ignored when empty, or already there).
    pub fn add(&mut self, needle: String, replacement: &str) {
        if needle.is_empty() || self.needles.iter().any(|(n, _)| *n == needle) {
            return;
        }
        let first = needle.as_bytes()[0];
        self.starts[usize::from(first >> 6)] |= 1 << (first & 63);
        let at = self.needles.partition_point(|(n, _)| n.len() >= needle.len());
        self.needles.insert(at, (needle, replacement.to_owned()));
    }

    /// `text` with every needle replaced; a copy only when it holds one.
    pub fn replace<'t>(&self, text: &'t str) -> std::borrow::Cow<'t, str> {
        let bytes = text.as_bytes();
        let mut replaced: Option<String> = None;
        let (mut copied, mut at) = (0, 0);
        while at < bytes.len() {
            let byte = bytes[at];
            if self.starts[usize::from(byte >> 6)] & (1 << (byte & 63)) != 0
                && let Some((needle, replacement)) =
                    self.needles.iter().find(|(n, _)| bytes[at..].starts_with(n.as_bytes()))
            {
                // A needle starts with a whole character, so `at` and its end are character boundaries.
                let out = replaced.get_or_insert_with(|| String::with_capacity(text.len()));
                out.push_str(&text[copied..at]);
                out.push_str(replacement);
                at += needle.len();
                copied = at;
                continue;
            }
            at += 1;
        }
        match replaced {
            None => std::borrow::Cow::Borrowed(text),
            Some(mut out) => {
                out.push_str(&text[copied..]);
                std::borrow::Cow::Owned(out)
            }
        }
    }
}

impl Scrubber {
    /// Adds a secret to remove (empty and very short values are ignored: they would match anywhere).
    pub fn secret(mut self, secret: &str) -> Scrubber {
        if secret.len() >= 3 {
            let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
            self.secrets.add(secret.to_owned(), "[redacted]");
            self.secrets.add(encoded, "[redacted]");
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

    /// The text with every secret replaced by `[redacted]`.
    pub fn scrub(&self, text: &str) -> String {
        self.secrets.replace(text).into_owned()
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
    fn scrubbing_finds_every_secret_in_one_pass_and_the_longest_first() {
        let scrubber = Scrubber::default().secret("abc").secret("abcdef").secret("p@ss word");
        assert_eq!(scrubber.scrub("xabcdefy abc z"), "x[redacted]y [redacted] z");
        assert_eq!(scrubber.scrub("p%40ss+word and p@ss word"), "[redacted] and [redacted]");
        assert_eq!(scrubber.scrub("é abc é"), "é [redacted] é");
        assert_eq!(scrubber.scrub("nothing here"), "nothing here");
        assert_eq!(scrubber.scrub(""), "");
        assert_eq!(scrubber.scrub("ab"), "ab");
        let unicode = Scrubber::default().secret("clé-secrète");
        assert_eq!(unicode.scrub("a clé-secrète b"), "a [redacted] b");
    }

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
