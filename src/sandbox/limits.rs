//! The sandbox's limits on guessing, as a real authorization server has them, each keyed so that
//! one user cannot turn it against another:
//!
//! | what is guessed            | counted per                                  | answer past the limit            |
//! |----------------------------|----------------------------------------------|----------------------------------|
//! | a password (sign-in page, password grant) | end-user address, and account (×[`ACCOUNT_FACTOR`]) | `429`, naming which |
//! | a two-step code            | sign-in ticket ([`CODE_TRIES`], then spent)  | the sign-in page again           |
//! | a consumer secret          | consumer and end-user address                | `429` from the token endpoint    |
//! | an API token (HTTP Basic)  | e-mail and end-user address                  | `429` from the API               |
//!
//! **Whose address.** The browser reaches the sign-in page itself, so there the caller's address
//! is the end user's. The token endpoint and the API are called by the app, from its own address
//! for every user; the app therefore says whose request it is in the [`RELAY_HEADER`], which holds
//! the end user's address and a key random per process that only the app in this same process
//! knows (it hands it over in memory, never on a page or in a log). A header without the right
//! key is ignored: a client elsewhere cannot pose as another address.

use std::net::{IpAddr, SocketAddr};

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::attempts::{Attempt, AttemptLimiter};

/// The header in which the app names the end user: `<address> <key>`.
pub const RELAY_HEADER: &str = "x-sandbox-end-user";
/// An account may see this many times an address's failed sign-ins a minute, from all addresses
/// together, before it is locked for a while: one address alone cannot lock anyone out.
pub const ACCOUNT_FACTOR: u32 = 5;
/// The characters of a username (or an API token's e-mail) that its account's counter is keyed by.
const MAX_ACCOUNT_CHARS: usize = 64;
/// Wrong two-step codes a sign-in ticket survives; the next spends it.
pub const CODE_TRIES: u32 = 5;

/// The sandbox's counters (see the module's documentation).
#[derive(Debug)]
pub(crate) struct Limits {
    /// Known only to this process: the proof that a [`RELAY_HEADER`] comes from the app.
    relay_key: String,
    sign_ins_by_address: AttemptLimiter<IpAddr>,
    sign_ins_by_account: AttemptLimiter<String>,
    client_secrets: AttemptLimiter<(String, IpAddr)>,
    api_tokens: AttemptLimiter<(String, IpAddr)>,
}

/// A limit reached: which, and the seconds to wait.
#[derive(Debug)]
pub(crate) struct Limited {
    pub(crate) cause: &'static str,
    pub(crate) retry_after: u64,
}

/// A sign-in under way, counted by address and by account. Dropped, it counts as a failure.
#[must_use]
pub(crate) struct SignIn<'a>(Attempt<'a, IpAddr>, Attempt<'a, String>);

impl SignIn<'_> {
    /// The password was right: both counters give their place back.
    pub(crate) fn succeeded(self) {
        self.0.succeeded();
        self.1.succeeded();
    }
}

impl Limits {
    /// `per_minute` failures an address (and a consumer or e-mail from one address) may make.
    pub(crate) fn new(per_minute: u32) -> Limits {
        Limits {
            relay_key: crate::random_token(),
            sign_ins_by_address: AttemptLimiter::new(per_minute),
            sign_ins_by_account: AttemptLimiter::new(per_minute.saturating_mul(ACCOUNT_FACTOR)),
            client_secrets: AttemptLimiter::new(per_minute),
            api_tokens: AttemptLimiter::new(per_minute),
        }
    }

    /// The header the app adds to its requests to this sandbox on behalf of `end_user`.
    pub(crate) fn relay_header(&self, end_user: IpAddr) -> (HeaderName, HeaderValue) {
        let value = HeaderValue::try_from(format!("{end_user} {}", self.relay_key)).expect("an address and a token");
        (HeaderName::from_static(RELAY_HEADER), value)
    }

    /// The end user's address: the one the app relays, if the header carries this process's key,
    /// else the caller's own.
    pub(crate) fn end_user(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let relayed = headers.get(RELAY_HEADER).and_then(|v| v.to_str().ok()).and_then(|v| v.split_once(' '));
        match relayed {
            Some((address, key)) if constant_time_eq(key.as_bytes(), self.relay_key.as_bytes()) => {
                address.parse().unwrap_or(peer.ip())
            }
            _ => peer.ip(),
        }
    }

    /// Starts a sign-in of `username` from `end_user`.
    pub(crate) fn begin_sign_in(&self, end_user: IpAddr, username: &str) -> Result<SignIn<'_>, Limited> {
        let by_address = self
            .sign_ins_by_address
            .begin(end_user)
            .map_err(|retry_after| Limited { cause: "Too many failed sign-ins from this address", retry_after })?;
        // An account name is short: a longer one is counted by its first characters, so that the
        // table of accounts stays small whatever is posted.
        let account: String = username.trim().to_lowercase().chars().take(MAX_ACCOUNT_CHARS).collect();
        match self.sign_ins_by_account.begin(account) {
            Ok(by_account) => Ok(SignIn(by_address, by_account)),
            Err(retry_after) => {
                by_address.not_counted();
                Err(Limited {
                    cause: "Too many failed sign-ins for this account, from all addresses together",
                    retry_after,
                })
            }
        }
    }

    /// Starts a check of `consumer`'s secret sent from `end_user`.
    pub(crate) fn begin_client_secret(
        &self,
        consumer: &str,
        end_user: IpAddr,
    ) -> Result<Attempt<'_, (String, IpAddr)>, Limited> {
        self.client_secrets.begin((consumer.to_owned(), end_user)).map_err(|retry_after| Limited {
            cause: "Too many wrong secrets for this consumer from this address",
            retry_after,
        })
    }

    /// Starts a check of an API token for `email` sent from `end_user`.
    pub(crate) fn begin_api_token(
        &self,
        email: &str,
        end_user: IpAddr,
    ) -> Result<Attempt<'_, (String, IpAddr)>, Limited> {
        let email: String = email.to_lowercase().chars().take(MAX_ACCOUNT_CHARS).collect();
        self.api_tokens.begin((email, end_user)).map_err(|retry_after| Limited {
            cause: "Too many wrong API tokens for this account from this address",
            retry_after,
        })
    }
}

/// Compares two byte strings in time that depends on their lengths only.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        "127.0.0.1:4000".parse().unwrap()
    }

    #[test]
    fn a_relayed_address_counts_only_with_this_processs_key() {
        let limits = Limits::new(3);
        let (name, value) = limits.relay_header("127.0.0.9".parse().unwrap());
        let mut headers = HeaderMap::new();
        headers.insert(name.clone(), value);
        assert_eq!(limits.end_user(peer(), &headers), "127.0.0.9".parse::<IpAddr>().unwrap());
        headers.insert(name.clone(), HeaderValue::from_static("127.0.0.9 not-the-key"));
        assert_eq!(limits.end_user(peer(), &headers), peer().ip());
        headers.insert(name, HeaderValue::from_static("127.0.0.9"));
        assert_eq!(limits.end_user(peer(), &headers), peer().ip());
        assert_ne!(Limits::new(3).relay_key, limits.relay_key);
    }

    #[test]
    fn failed_sign_ins_lock_the_address_and_many_addresses_lock_the_account() {
        let limits = Limits::new(2);
        let address = |n: u8| IpAddr::from([127, 0, 0, n]);
        for _ in 0..2 {
            drop(limits.begin_sign_in(address(1), "demo").unwrap());
        }
        let refused = limits.begin_sign_in(address(1), "demo").err().unwrap();
        assert!(refused.cause.contains("from this address"), "{}", refused.cause);
        limits.begin_sign_in(address(2), "demo").unwrap().succeeded();
        for n in 2..6 {
            for _ in 0..2 {
                drop(limits.begin_sign_in(address(n), "Demo").unwrap());
            }
        }
        let refused = limits.begin_sign_in(address(7), "demo").err().unwrap();
        assert!(refused.cause.contains("for this account"), "{}", refused.cause);
        limits.begin_sign_in(address(7), "demo-2fa").unwrap().succeeded();
    }
}
