//! Templates (compiled by askama from `templates/`) and the display-ready values they show.
//! Logic stays here; the templates only print.

use askama::Template;

use crate::bitbucket::UserProfile;
use crate::diagnosis::{ApiDiagnosis, Grant};
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
    /// The server refuses the password grant (bitbucket.org, or the sandbox imitating it).
    pub password_grant_removed: bool,
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

impl TokenView {
    /// The token a refresh replaced: only the two token values are known.
    pub fn previous(access_token: String, refresh_token: String) -> TokenView {
        TokenView {
            access_token,
            token_type: String::new(),
            expires_in: None,
            expires_at: None,
            refresh_token: Some(refresh_token),
            scopes: Vec::new(),
            grant: None,
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

/// `templates/result.html`: the token and the sample call's answer, for any grant.
#[derive(Template)]
#[template(path = "result.html")]
pub struct ResultTemplate<'a> {
    pub layout: &'a Layout,
    /// The grant that produced the token.
    pub grant: Grant,
    pub token: TokenView,
    /// After a refresh: the tokens it replaced.
    pub previous: Option<TokenView>,
    /// The account, when the API call worked.
    pub profile: Option<UserProfile>,
    /// What went wrong, when the API call failed.
    pub api_error: Option<ApiDiagnosis>,
    /// The sample call, e.g. `GET https://api.bitbucket.org/2.0/user`.
    pub api_call: String,
}

impl ResultTemplate<'_> {
    /// The opening sentence: what just happened, for this grant.
    pub fn lead(&self) -> &'static str {
        match self.grant {
            Grant::Password => {
                "The authorization server accepted the username and password, together with this \
                app's consumer key and secret, and answered with the token below. The password was used for that \
                one request and is not kept."
            }
            Grant::AuthorizationCode => {
                "You granted access on the authorization server's own page; it sent your \
                browser back here with a one-time code, and the app exchanged that code (with its consumer key and \
                secret) for the token below. The app never saw your password."
            }
            Grant::ClientCredentials => {
                "The consumer asked for a token for itself, with only its key and secret: \
                no user took part. On Bitbucket such a token acts as the consumer's owner, and there is no refresh \
                token."
            }
            Grant::RefreshToken => {
                "The refresh token was traded for a new access token, without the password. \
                The server rotates refresh tokens: the answer carries a new one, and the old one no longer works."
            }
        }
    }

    /// True when the refresh returned a different refresh token (rotation).
    pub fn rotated(&self) -> bool {
        match &self.previous {
            Some(previous) => previous.refresh_token != self.token.refresh_token,
            None => false,
        }
    }
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
