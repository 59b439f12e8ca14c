//! Reading the app's own forms strictly: `application/x-www-form-urlencoded`, every field valid
//! UTF-8 after percent-decoding (axum's `Form` would replace bad bytes with U+FFFD and carry on,
//! and the result would be sent upstream as if typed), each field at most once.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

/// A form read strictly; see the module's documentation.
pub struct StrictForm<T>(pub T);

/// Why a form could not be used.
#[derive(Debug)]
pub enum FormProblem {
    /// Over the body limit: 413.
    TooLarge,
    /// Not `application/x-www-form-urlencoded`.
    ContentType,
    /// Bad percent-encoding or UTF-8, a repeated field, or a field of the wrong shape.
    Unreadable,
}

impl FormProblem {
    /// The sentence the start page shows.
    pub fn describe(&self) -> &'static str {
        match self {
            FormProblem::TooLarge => "The form is larger than this app accepts.",
            FormProblem::ContentType => {
                "The form must be sent as application/x-www-form-urlencoded, as the form below does."
            }
            FormProblem::Unreadable => {
                "The form could not be read: each field (username, password) must appear once, as valid UTF-8 \
                 and valid percent-encoding."
            }
        }
    }
}

impl axum::response::IntoResponse for FormProblem {
    fn into_response(self) -> axum::response::Response {
        match self {
            FormProblem::TooLarge => StatusCode::PAYLOAD_TOO_LARGE.into_response(),
            FormProblem::ContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response(),
            FormProblem::Unreadable => StatusCode::BAD_REQUEST.into_response(),
        }
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for StrictForm<T> {
    type Rejection = FormProblem;

    async fn from_request(request: Request, state: &S) -> Result<Self, FormProblem> {
        let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let media_type = content_type.split(';').next().unwrap_or("").trim();
        if !media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(FormProblem::ContentType);
        }
        let body = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                FormProblem::TooLarge
            } else {
                FormProblem::Unreadable
            }
        })?;
        if !body
            .split(|b| *b == b'&')
            .all(|pair| percent_decode(pair).is_some_and(|bytes| std::str::from_utf8(&bytes).is_ok()))
        {
            return Err(FormProblem::Unreadable);
        }
        serde_urlencoded::from_bytes(&body).map(StrictForm).map_err(|_| FormProblem::Unreadable)
    }
}

/// Decodes `+` and `%XX`; `None` for a `%` not followed by two hex digits.
fn percent_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut bytes = input.iter();
    while let Some(&byte) = bytes.next() {
        out.push(match byte {
            b'+' => b' ',
            b'%' => {
                let hex = [*bytes.next()?, *bytes.next()?];
                u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?
            }
            other => other,
        });
    }
    Some(out)
}

/// True for a token that can go in an `Authorization: Bearer` header: visible ASCII, no spaces
/// (RFC 6750 §2.1's b64token and a little more). A token with a line break would otherwise split
/// the header.
pub fn is_sendable_token(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_is_strict_and_utf8_is_checked_by_the_caller() {
        assert_eq!(percent_decode(b"a+b%21").as_deref(), Some(&b"a b!"[..]));
        assert_eq!(percent_decode(b"%zz"), None);
        assert_eq!(percent_decode(b"%4"), None);
        assert!(std::str::from_utf8(&percent_decode(b"p%FFw").unwrap()).is_err());
    }

    #[test]
    fn tokens_with_line_breaks_or_spaces_are_not_sendable() {
        assert!(is_sendable_token("abc.DEF-123_~+/="));
        assert!(!is_sendable_token("abc\r\nX-Injected: 1"));
        assert!(!is_sendable_token("a b"));
        assert!(!is_sendable_token(""));
    }
}
