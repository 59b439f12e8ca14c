//! What the server has issued, in memory: authorization codes, access tokens (by `jti`), refresh
//! tokens, device codes (and their user codes), and the consents users gave. Each kind is a
//! bounded [`Store`]: past [`MAX_ISSUED`] entries the oldest are forgotten, so the newest always
//! work.
//!
//! Everything issued from one authorization (a code, a password grant, a device approval) shares
//! a `grant_id`, so that a replayed code or a revoked refresh token can revoke them all.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::MAX_ISSUED;

#[derive(Debug, Default)]
pub(crate) struct Issued {
    pub(crate) codes: Store<Code>,
    pub(crate) access: Store<AccessToken>,
    pub(crate) refresh: Store<RefreshToken>,
    pub(crate) devices: Store<DeviceGrant>,
    /// User code (normalized: 8 letters) → device code.
    pub(crate) user_codes: Store<String>,
    /// `user client scope…` → (), the consents given, so consent is asked once unless the
    /// request says `prompt=consent` (or asks for `offline_access`).
    pub(crate) consents: Store<()>,
}

impl Issued {
    /// Revokes every access and refresh token issued from the authorization `grant_id`.
    pub(crate) fn revoke_grant(&mut self, grant_id: &str) {
        self.access.retain(|token| token.grant_id.as_deref() != Some(grant_id));
        self.refresh.retain(|token| token.grant_id != grant_id);
    }
}

/// An authorization code (RFC 6749 §4.1.2) and the request it answers.
#[derive(Clone, Debug)]
pub(crate) struct Code {
    pub(crate) client_id: &'static str,
    pub(crate) username: &'static str,
    pub(crate) scopes: Vec<&'static str>,
    /// The request's `redirect_uri`, which the exchange must repeat (§4.1.3).
    pub(crate) redirect_uri: String,
    /// The PKCE `code_challenge` (S256).
    pub(crate) code_challenge: String,
    /// The OpenID Connect `nonce`, copied into the `id_token`.
    pub(crate) nonce: Option<String>,
    pub(crate) auth_time: u64,
    pub(crate) expires_at: Instant,
    pub(crate) grant_id: String,
    /// Redeemed already: a second use is a replay (§4.1.2: revoke what it gave).
    pub(crate) used: bool,
}

/// An access token, by its `jti`: what introspection reports and revocation removes.
#[derive(Clone, Debug)]
pub(crate) struct AccessToken {
    pub(crate) client_id: &'static str,
    /// The user's `sub`, or the client's id for client credentials.
    pub(crate) subject: String,
    pub(crate) username: Option<&'static str>,
    pub(crate) scope: String,
    pub(crate) iat: u64,
    pub(crate) exp: u64,
    pub(crate) grant_id: Option<String>,
}

/// A refresh token (opaque).
#[derive(Clone, Debug)]
pub(crate) struct RefreshToken {
    pub(crate) client_id: &'static str,
    pub(crate) username: &'static str,
    pub(crate) scopes: Vec<&'static str>,
    pub(crate) auth_time: u64,
    pub(crate) iat: u64,
    pub(crate) exp: u64,
    pub(crate) grant_id: String,
    /// Rotated out: refused from now on, and a second use revokes the grant (RFC 9700 §4.14.2).
    pub(crate) used: bool,
}

/// Where a device authorization stands (RFC 8628 §3.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DeviceStatus {
    Pending,
    Approved {
        username: &'static str,
        auth_time: u64,
    },
    Denied,
    /// Exchanged for tokens already.
    Redeemed,
}

/// A device code and its user code (RFC 8628 §3.2).
#[derive(Clone, Debug)]
pub(crate) struct DeviceGrant {
    pub(crate) client_id: &'static str,
    pub(crate) scopes: Vec<&'static str>,
    pub(crate) expires_at: Instant,
    /// The interval the client must keep between polls, raised 5 s by each `slow_down`.
    pub(crate) interval: Duration,
    pub(crate) last_poll: Option<Instant>,
    pub(crate) status: DeviceStatus,
}

/// Entries by value, at most [`MAX_ISSUED`]: past it, the oldest issued are forgotten first.
#[derive(Debug)]
pub(crate) struct Store<T> {
    by_key: HashMap<String, T>,
    /// Keys in the order they were inserted; some may have been removed since.
    order: VecDeque<String>,
}

impl<T> Default for Store<T> {
    fn default() -> Self {
        Store { by_key: HashMap::new(), order: VecDeque::new() }
    }
}

impl<T> Store<T> {
    pub(crate) fn insert(&mut self, key: String, value: T) {
        while self.order.len() >= MAX_ISSUED {
            if let Some(oldest) = self.order.pop_front() {
                self.by_key.remove(&oldest);
            }
        }
        if self.by_key.insert(key.clone(), value).is_none() {
            self.order.push_back(key);
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&T> {
        self.by_key.get(key)
    }

    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut T> {
        self.by_key.get_mut(key)
    }

    pub(crate) fn contains(&self, key: &str) -> bool {
        self.by_key.contains_key(key)
    }

    /// Takes an entry out; its key leaves the order list when it comes round.
    pub(crate) fn remove(&mut self, key: &str) -> Option<T> {
        self.by_key.remove(key)
    }

    /// Keeps only the entries `keep` says to keep.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.by_key.retain(|_, value| keep(value));
        let by_key = &self.by_key;
        self.order.retain(|key| by_key.contains_key(key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_store_forgets_the_oldest_first() {
        let mut store = Store::default();
        for i in 0..MAX_ISSUED + 10 {
            store.insert(i.to_string(), i);
        }
        assert!(store.get("9").is_none());
        assert_eq!(store.get("10"), Some(&10));
        assert!(store.contains(&(MAX_ISSUED + 9).to_string()));
        assert!(store.order.len() <= MAX_ISSUED && store.by_key.len() <= MAX_ISSUED);
        store.retain(|i| i % 2 == 0);
        assert!(store.get("11").is_none() && store.get("12").is_some());
    }
}
