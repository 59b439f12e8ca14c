//! What the sandbox has issued: authorization codes, access tokens and refresh tokens, each kept
//! by value in a bounded [`Store`].
//!
//! An entry makes no allocation of its own (but a code's `redirect_uri` and PKCE challenge): its
//! key is the token's 43 bytes inline, its names are `&'static str`. So a store is two tables,
//! and after a burst of load its memory is not scattered in small blocks between the requests'
//! (which kept the allocator from giving the requests' memory back).

use std::collections::{HashMap, VecDeque};
use std::mem::size_of;
use std::time::Instant;

use super::{MAX_ISSUED, MAX_STORE_BYTES};

#[derive(Debug, Default)]
pub(crate) struct Issued {
    pub(crate) codes: Store,
    pub(crate) access: Store,
    pub(crate) refresh: Store,
}

/// The length of the sandbox's codes and tokens ([`crate::random_token`]: 32 random bytes in
/// base64url).
pub(crate) const TOKEN_LEN: usize = 43;

/// A code or token as a store keeps it.
type Key = [u8; TOKEN_LEN];

/// The key of `value`; `None` when it cannot be one of the sandbox's tokens.
fn key(value: &str) -> Option<Key> {
    value.as_bytes().try_into().ok()
}

/// What a code or token stands for.
#[derive(Clone, Debug)]
pub(crate) struct Grant {
    pub(crate) username: &'static str,
    pub(crate) consumer: &'static str,
    pub(crate) scopes: &'static str,
    pub(crate) expires_at: Instant,
    /// For a code: the `redirect_uri` of its authorization request, which the exchange must repeat.
    pub(crate) redirect_uri: Option<String>,
    /// For a code: the PKCE `code_challenge` (S256) its exchange must answer.
    pub(crate) pkce_challenge: Option<String>,
}

/// Codes or tokens by value, at most [`MAX_ISSUED`] and about [`MAX_STORE_BYTES`]: past either,
/// the oldest issued are forgotten first, so the newest always work (a load test that issues
/// millions keeps working, in bounded memory).
#[derive(Debug, Default)]
pub(crate) struct Store {
    by_value: HashMap<Key, Grant>,
    /// Values in the order they were issued; some may have been redeemed since.
    order: VecDeque<Key>,
    /// What the entries weigh, by [`weight`].
    bytes: usize,
}

/// About what one entry costs: its key twice (map and order), its grant, a code's strings, and
/// the tables' spare room (a hash table is at most 7/8 full, and grows by doubling).
fn weight(grant: &Grant) -> usize {
    let strings =
        grant.redirect_uri.as_ref().map_or(0, String::len) + grant.pkce_challenge.as_ref().map_or(0, String::len);
    (2 * size_of::<Key>() + size_of::<Grant>()) * 3 / 2 + strings
}

/// What a key in the order list weighs once its entry is gone.
const ORDER_WEIGHT: usize = size_of::<Key>() * 3 / 2;

impl Store {
    /// Keeps `value` (one of the sandbox's tokens: [`TOKEN_LEN`] bytes; anything else is not kept).
    pub(crate) fn insert(&mut self, value: &str, grant: Grant) {
        let Some(value) = key(value) else { return };
        let added = weight(&grant);
        while self.order.len() >= MAX_ISSUED || (self.bytes + added > MAX_STORE_BYTES && !self.order.is_empty()) {
            if let Some(oldest) = self.order.pop_front() {
                let grant = self.by_value.remove(&oldest);
                self.bytes -= grant.map_or(ORDER_WEIGHT, |g| weight(&g));
            }
        }
        self.bytes += added;
        self.order.push_back(value);
        self.by_value.insert(value, grant);
        // Give memory back once most of it is free again (after a burst of load).
        if self.by_value.capacity() > 1024 && self.by_value.len() < self.by_value.capacity() / 4 {
            self.by_value.shrink_to_fit();
            self.order.shrink_to_fit();
        }
    }

    pub(crate) fn get(&self, value: &str) -> Option<&Grant> {
        self.by_value.get(&key(value)?)
    }

    /// Takes an entry out; its value stays in the order list (and its weight counted) until it
    /// comes round to be forgotten.
    pub(crate) fn remove(&mut self, value: &str) -> Option<Grant> {
        let grant = self.by_value.remove(&key(value)?)?;
        self.bytes -= weight(&grant) - ORDER_WEIGHT;
        Some(grant)
    }

    /// What the entries weigh now.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::SANDBOX_CONSUMER_KEY;

    fn grant() -> Grant {
        Grant {
            username: "demo",
            consumer: SANDBOX_CONSUMER_KEY,
            scopes: "",
            expires_at: Instant::now(),
            redirect_uri: None,
            pkce_challenge: None,
        }
    }

    #[test]
    fn a_full_store_forgets_the_oldest_first_and_keeps_the_newest() {
        let mut store = Store::default();
        let value = |i: usize| format!("{i:043}");
        for i in 0..MAX_ISSUED + 10 {
            store.insert(&value(i), grant());
        }
        assert!(store.get(&value(0)).is_none());
        assert!(store.get(&value(9)).is_none());
        assert!(store.get(&value(MAX_ISSUED + 9)).is_some());
        let kept = store.by_value.len();
        assert!(store.get(&value(MAX_ISSUED + 10 - kept)).is_some(), "the newest {kept} are all kept");
        assert!(kept <= MAX_ISSUED && store.order.len() <= MAX_ISSUED);
        assert!(store.bytes() <= MAX_STORE_BYTES);
        // Not one of the sandbox's tokens: never kept, never found.
        store.insert("short", grant());
        assert!(store.get("short").is_none());
    }

    #[test]
    fn a_store_stays_within_its_bytes_and_still_keeps_the_newest() {
        let mut store = Store::default();
        let value = |i: usize| format!("token-{i:037}");
        let mut big = grant();
        big.redirect_uri = Some("s".repeat(10_000));
        for i in 0..2_000 {
            store.insert(&value(i), big.clone());
        }
        assert!(store.bytes() <= MAX_STORE_BYTES, "{} bytes", store.bytes());
        assert!(store.get(&value(1999)).is_some());
        assert!(store.get(&value(0)).is_none());
        for i in 1500..2000 {
            store.remove(&value(i));
        }
        assert!(store.bytes() <= MAX_STORE_BYTES);
    }
}
