//! The sample Bitbucket REST calls (`GET {api_url}/2.0/user` and a few more, with
//! `Authorization: Bearer …`) and how their answers are read: an account to show, an API error
//! (`{"type": "error", "error": {"message": …}}`), or an answer that is not the JSON expected.
//! The calls themselves are made in [`crate::exchange::api_call`], which records them.

use serde::Deserialize;
use serde_json::Value;

use crate::token::{RawResponse, TokenError};

/// The most an API answer may weigh.
pub const MAX_API_RESPONSE_BYTES: usize = 1024 * 1024;

/// What the user call tells about the account, ready to display: Bitbucket's fields from
/// `GET /2.0/user`, or an OpenID Connect userinfo answer's standard claims.
#[derive(Clone, Debug)]
pub struct UserProfile {
    /// Each field shown, by its name in the answer, with its value (`None`: not in the answer).
    pub fields: Vec<(&'static str, Option<String>)>,
    /// `links.avatar.href` (Bitbucket) or `picture` (OpenID).
    pub avatar_url: Option<String>,
}

/// Why the API call did not give an answer to show.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The call did not complete or its answer was unusable (timeout, refused, not JSON, too big).
    #[error("{}", .0.describe("the API call"))]
    Transport(TokenError),
    /// The API refused the token in RFC 6750's terms (§3.1): `invalid_token`, `insufficient_scope`,
    /// …, from a JSON body `{"error": "…"}` or from the `WWW-Authenticate: Bearer error="…"` header.
    #[error("the API answered HTTP {status}: {error}")]
    Bearer {
        /// HTTP status.
        status: u16,
        /// The RFC 6750 error code.
        error: String,
        /// `error_description`, if any.
        description: Option<String>,
        /// The scope the resource needs (`scope` in the header or body), if given.
        scope: Option<String>,
    },
    /// The API answered with an error status.
    #[error("the API answered HTTP {status}: {message}")]
    Status {
        /// HTTP status.
        status: u16,
        /// `error.message`, or a short excerpt of the body.
        message: String,
        /// `error.detail`, if any (for a missing scope: `{"required": […], "granted": […]}`).
        detail: Option<Value>,
    },
}

#[derive(Deserialize)]
struct ApiErrorBody {
    error: ApiErrorInner,
}

#[derive(Deserialize)]
struct ApiErrorInner {
    message: String,
    #[serde(default)]
    detail: Option<Value>,
}

/// Turns an API answer into its JSON, or the matching [`ApiError`].
pub fn parse_api_response(response: &RawResponse) -> Result<Value, ApiError> {
    let unexpected = |problem: String| {
        ApiError::Transport(TokenError::UnexpectedResponse {
            status: response.status,
            problem,
            excerpt: response.excerpt(),
        })
    };
    let parsed: Option<Value> = if response.is_json() || response.media_type().is_none() {
        serde_json::from_slice(&response.body).ok()
    } else {
        None
    };
    if !(200..300).contains(&response.status) {
        let status = response.status;
        if let Some(body) = parsed.clone().and_then(|json| serde_json::from_value::<ApiErrorBody>(json).ok()) {
            return Err(ApiError::Status { status, message: body.error.message, detail: body.error.detail });
        }
        let text = |json: &Value, key: &str| json.get(key).and_then(Value::as_str).map(str::to_owned);
        if let Some(json) = parsed.filter(|json| json.get("error").is_some_and(Value::is_string)) {
            let error = text(&json, "error").unwrap_or_default();
            let (description, scope) = (text(&json, "error_description"), text(&json, "scope"));
            return Err(ApiError::Bearer { status, error, description, scope });
        }
        if let Some(bearer) = bearer_challenge(&response.headers) {
            return Err(bearer(status));
        }
        return Err(ApiError::Status {
            status,
            message: format!("no error body; the answer began: {}", response.excerpt()),
            detail: None,
        });
    }
    match parsed {
        Some(json) => Ok(json),
        None => Err(unexpected(match response.media_type() {
            Some(t) if !response.is_json() => format!("a body of type {t} where JSON was expected"),
            _ => "a body that is not valid JSON".to_owned(),
        })),
    }
}

/// Reads `WWW-Authenticate: Bearer error="…", error_description="…", scope="…"` (RFC 6750 §3), the
/// header a resource server refuses a token with, if it names an error.
fn bearer_challenge(headers: &reqwest::header::HeaderMap) -> Option<impl FnOnce(u16) -> ApiError> {
    let challenge = headers
        .get_all(reqwest::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.len() > 6 && v[..6].eq_ignore_ascii_case("bearer"))?
        .to_owned();
    let param = |name: &str| {
        let start = challenge.find(&format!("{name}=\""))? + name.len() + 2;
        Some(challenge[start..].split('"').next()?.to_owned())
    };
    let error = param("error")?;
    let (description, scope) = (param("error_description"), param("scope"));
    Some(move |status| ApiError::Bearer { status, error, description, scope })
}

/// The API calls the result page offers, and nothing else: the page cannot be made to call an
/// arbitrary URL with the user's token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleCall {
    /// `GET /2.0/user`: the account (needs the `account` scope).
    User,
    /// `GET /2.0/user/emails`: its addresses (needs `email`).
    Emails,
    /// `GET /2.0/user/workspaces`: the workspaces it can reach (needs `account`).
    Workspaces,
    /// `GET /2.0/repositories?role=member`: removed by Bitbucket in 2026; answers 410.
    RepositoriesMember,
}

impl SampleCall {
    /// Every call, in the order the page offers them.
    pub const ALL: [SampleCall; 4] =
        [SampleCall::User, SampleCall::Emails, SampleCall::Workspaces, SampleCall::RepositoriesMember];

    /// The path and query under the API's base URL.
    pub fn path(self) -> &'static str {
        match self {
            SampleCall::User => "/2.0/user",
            SampleCall::Emails => "/2.0/user/emails",
            SampleCall::Workspaces => "/2.0/user/workspaces",
            SampleCall::RepositoriesMember => "/2.0/repositories?role=member",
        }
    }

    /// The call named by `path`, if it is one of these.
    pub fn from_path(path: &str) -> Option<SampleCall> {
        SampleCall::ALL.into_iter().find(|call| call.path() == path)
    }

    /// A note shown beside the button.
    pub fn note(self) -> &'static str {
        match self {
            SampleCall::User => "the account",
            SampleCall::Emails => "its e-mail addresses",
            SampleCall::Workspaces => "its workspaces",
            SampleCall::RepositoriesMember => "removed by Bitbucket in 2026: see what it answers",
        }
    }
}

impl UserProfile {
    /// Bitbucket's fields (`display_name`, `account_id`, `uuid`, `username`) out of a `/2.0/user`
    /// answer, or, from any other server, OpenID Connect's standard claims (`sub`, `name`,
    /// `preferred_username`, `email`; Core §5.1). All are optional.
    pub fn from_json(json: &Value, bitbucket: bool) -> UserProfile {
        let text = |pointer: &str| match json.pointer(pointer) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let names: &[&'static str] = if bitbucket {
            &["display_name", "account_id", "uuid", "username"]
        } else {
            &["sub", "name", "preferred_username", "email"]
        };
        UserProfile {
            fields: names.iter().map(|name| (*name, text(&format!("/{name}")))).collect(),
            avatar_url: if bitbucket { text("/links/avatar/href") } else { text("/picture") },
        }
    }
}

/// Pretty-prints JSON with two-space indentation.
pub fn pretty(json: &Value) -> String {
    serde_json::to_string_pretty(json).unwrap_or_else(|_| json.to_string())
}
