//! The sandbox's cases: lessons a learner can only watch with an account on a real server
//! (two-step verification, a token expiring, a rate limit, a missing scope), picked on the start
//! page without editing `config.json`. Each is one of the sandbox's consumers or users, whose
//! secrets are public.

use crate::sandbox::{self, Consumer, RATE_LIMIT_PER_MINUTE, TWO_STEP_USERNAME};

/// A sandbox case; [`SandboxCase::Demo`] is the consumer from the settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SandboxCase {
    /// Everything works: the consumer in `config.json`.
    #[default]
    Demo,
    /// The user `demo-2fa` has two-step verification.
    TwoStep,
    /// Tokens that live 60 seconds.
    ShortLived,
    /// A consumer allowed a few API calls a minute.
    RateLimited,
    /// A consumer without the `email` scope.
    NoEmail,
}

impl SandboxCase {
    /// Every case, in the order the start page lists them.
    pub const ALL: [SandboxCase; 5] = [
        SandboxCase::Demo,
        SandboxCase::TwoStep,
        SandboxCase::ShortLived,
        SandboxCase::RateLimited,
        SandboxCase::NoEmail,
    ];

    /// The case a form or query names (`case=short-lived`); anything else is the demo.
    pub fn from_param(param: Option<&str>) -> SandboxCase {
        SandboxCase::ALL.into_iter().find(|case| Some(case.param()) == param).unwrap_or_default()
    }

    /// Its name in forms and URLs.
    pub fn param(self) -> &'static str {
        match self {
            SandboxCase::Demo => "demo",
            SandboxCase::TwoStep => "two-step",
            SandboxCase::ShortLived => "short-lived",
            SandboxCase::RateLimited => "rate-limited",
            SandboxCase::NoEmail => "no-email",
        }
    }

    /// The sandbox consumer it uses instead of the configured one, if any.
    pub fn consumer(self) -> Option<&'static Consumer> {
        let key = match self {
            SandboxCase::Demo | SandboxCase::TwoStep => return None,
            SandboxCase::ShortLived => "sandbox-short-lived-key",
            SandboxCase::RateLimited => "sandbox-rate-limited-key",
            SandboxCase::NoEmail => "sandbox-no-email-key",
        };
        sandbox::consumer(key)
    }

    /// A short title.
    pub fn title(self) -> &'static str {
        match self {
            SandboxCase::Demo => "Everything works",
            SandboxCase::TwoStep => "A user with two-step verification",
            SandboxCase::ShortLived => "Tokens that expire in 60 seconds",
            SandboxCase::RateLimited => "A tiny rate limit",
            SandboxCase::NoEmail => "A consumer without the email scope",
        }
    }

    /// What to do and what to watch.
    pub fn lesson(self) -> String {
        match self {
            SandboxCase::Demo => "demo / demo, the configured consumer: every grant works.".into(),
            SandboxCase::TwoStep => format!(
                "Sign in as {TWO_STEP_USERNAME} / demo. The password grant is refused with Bitbucket's answer for such \
                 accounts (the same as for a wrong password); \"Sign in with Bitbucket\" works, with a second step \
                 (the code 246810) on the authorization server's page."
            ),
            SandboxCase::ShortLived => "The access token lives 60 seconds: watch the countdown reach zero, call the \
                API again to see 401 \"Access token expired.\", then refresh to cure it."
                .into(),
            SandboxCase::RateLimited => format!(
                "The consumer may make {RATE_LIMIT_PER_MINUTE} API calls a minute: call the API again a few times to \
                 see 429 and its explanation."
            ),
            SandboxCase::NoEmail => "The consumer lacks the email scope: GET /2.0/user/emails answers 403 with the \
                scopes required and granted."
                .into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_round_trips_through_its_param_and_has_its_consumer() {
        for case in SandboxCase::ALL {
            assert_eq!(SandboxCase::from_param(Some(case.param())), case);
        }
        assert_eq!(SandboxCase::from_param(Some("nonsense")), SandboxCase::Demo);
        assert!(SandboxCase::ShortLived.consumer().is_some_and(|c| c.short_lived));
        assert!(SandboxCase::RateLimited.consumer().is_some_and(|c| c.rate_limited));
        assert!(SandboxCase::NoEmail.consumer().is_some_and(|c| !c.scopes.contains("email")));
    }
}
