//! Templates (compiled by askama from `templates/`) and the display-ready values they show.
//! Logic stays here; the templates only print.

use askama::Template;

use crate::bitbucket::UserProfile;
use crate::error::ErrorPage;
use crate::sandbox::{DEMO_PASSWORD, DEMO_USERNAME};
use crate::token::TokenResponse;

/// What every page shows about where the app gets its tokens (see `templates/base.html`).
#[derive(Clone, Debug)]
pub struct Layout {
    /// True when the built-in sandbox stands in for Bitbucket.
    pub sandbox: bool,
    /// The token endpoint the app calls.
    pub token_url: String,
    /// The sample API call's URL.
    pub api_url: String,
    /// The config file in use.
    pub config_path: String,
}

impl Layout {
    /// The demo credentials to type, in sandbox mode.
    pub fn demo_credentials(&self) -> Option<(&'static str, &'static str)> {
        self.sandbox.then_some((DEMO_USERNAME, DEMO_PASSWORD))
    }
}

/// `templates/index.html`: the start page, with the form.
#[derive(Template)]
#[template(path = "index.html")]
pub struct IndexTemplate<'a> {
    pub layout: &'a Layout,
    /// Why the last submission was refused.
    pub form_error: Option<String>,
    /// The username to put back in the form.
    pub username: String,
}

impl<'a> IndexTemplate<'a> {
    /// The start page with an empty form.
    pub fn new(layout: &'a Layout) -> Self {
        IndexTemplate {
            layout,
            form_error: None,
            username: String::new(),
        }
    }
}

/// A token response, ready to display.
pub struct TokenView {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: Option<u64>,
    /// The moment the access token expires, in UTC.
    pub expires_at: Option<String>,
    pub refresh_token: Option<String>,
    pub scopes: Vec<String>,
    /// Bitbucket's `state`: which grant produced the token.
    pub grant: Option<String>,
}

impl TokenView {
    /// Takes what is shown from a token response; the expiry is counted from now.
    pub fn new(token: &TokenResponse) -> TokenView {
        TokenView {
            access_token: token.access_token.clone(),
            token_type: token.token_type.clone(),
            expires_in: token.expires_in,
            expires_at: token.expires_in.map(expiry_time),
            refresh_token: token.refresh_token.clone(),
            scopes: token
                .granted_scopes()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            grant: token.state.clone(),
        }
    }
}

/// Now plus `seconds`, as `2026-11-23 05:30:00 UTC`.
fn expiry_time(seconds: u64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    let seconds = i64::try_from(seconds).unwrap_or(i64::MAX);
    time::OffsetDateTime::now_utc()
        .checked_add(time::Duration::seconds(seconds))
        .and_then(|t| t.format(format).ok())
        .unwrap_or_else(|| "far in the future".into())
}

/// `templates/result.html`: the token and the sample call's answer.
#[derive(Template)]
#[template(path = "result.html")]
pub struct ResultTemplate<'a> {
    pub layout: &'a Layout,
    pub token: TokenView,
    /// The account, when the API call worked.
    pub profile: Option<UserProfile>,
    /// Summary and details, when the API call failed.
    pub api_error: Option<(String, Vec<(String, String)>)>,
    /// The URL of the sample call.
    pub api_call: String,
}

/// `templates/error.html`: any error, in the site's layout.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorTemplate<'a> {
    pub layout: &'a Layout,
    pub page: &'a ErrorPage,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_time_is_formatted_in_utc() {
        let text = expiry_time(7200);
        assert!(
            text.ends_with(" UTC") && text.len() == "2026-11-23 05:30:00 UTC".len(),
            "{text}"
        );
    }
}
