//! The sample Bitbucket REST call: `GET {api_url}/2.0/user` with `Authorization: Bearer …`.
//!
//! It reads the answer with the token module's size-capped reader and classifies failures the
//! same way: no answer, an API error (`{"type": "error", "error": {"message": …}}`), or an
//! answer that is not the JSON expected.

use serde::Deserialize;
use serde_json::Value;

use crate::token::{self, RawResponse, TokenError};

/// The most an API answer may weigh.
pub const MAX_API_RESPONSE_BYTES: usize = 1024 * 1024;

/// What `GET /2.0/user` tells about the account, ready to display.
#[derive(Clone, Debug)]
pub struct UserProfile {
    /// `display_name`.
    pub display_name: Option<String>,
    /// `account_id`, Atlassian's stable account identifier.
    pub account_id: Option<String>,
    /// `uuid`.
    pub uuid: Option<String>,
    /// `username` (may be absent since Bitbucket's privacy changes).
    pub username: Option<String>,
    /// `links.avatar.href`.
    pub avatar_url: Option<String>,
    /// The whole answer, pretty-printed.
    pub raw_json: String,
}

/// Why the API call did not give an answer to show.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The call did not complete or its answer was unusable (timeout, refused, not JSON, too big).
    #[error(transparent)]
    Transport(TokenError),
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

/// Calls `GET {url}` with the access token and returns the JSON answer.
pub async fn get_json(
    http: &reqwest::Client,
    url: &str,
    access_token: &str,
) -> Result<Value, ApiError> {
    let sent = http
        .get(url)
        .bearer_auth(access_token)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await;
    let response = token::read_response(sent, MAX_API_RESPONSE_BYTES)
        .await
        .map_err(ApiError::Transport)?;
    parse_api_response(&response)
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
        let error = parsed.and_then(|json| serde_json::from_value::<ApiErrorBody>(json).ok());
        return Err(match error {
            Some(body) => ApiError::Status {
                status: response.status,
                message: body.error.message,
                detail: body.error.detail,
            },
            None => ApiError::Status {
                status: response.status,
                message: format!(
                    "no Bitbucket error body; the answer began: {}",
                    response.excerpt()
                ),
                detail: None,
            },
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

/// The sample call of this app: `GET {api_url}/2.0/user`.
pub async fn current_user(
    http: &reqwest::Client,
    api_url: &url::Url,
    access_token: &str,
) -> Result<UserProfile, ApiError> {
    let url = crate::settings::join(api_url, "/2.0/user");
    let json = get_json(http, &url, access_token).await?;
    Ok(UserProfile::from_json(json))
}

impl UserProfile {
    /// Picks the displayed fields out of a `/2.0/user` answer; all are optional.
    pub fn from_json(json: Value) -> UserProfile {
        let text = |pointer: &str| {
            json.pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        UserProfile {
            display_name: text("/display_name"),
            account_id: text("/account_id"),
            uuid: text("/uuid"),
            username: text("/username"),
            avatar_url: text("/links/avatar/href"),
            raw_json: pretty(&json),
        }
    }
}

/// Pretty-prints JSON with two-space indentation.
pub fn pretty(json: &Value) -> String {
    serde_json::to_string_pretty(json).unwrap_or_else(|_| json.to_string())
}
