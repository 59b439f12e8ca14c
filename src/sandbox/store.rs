//! What the sandbox has issued: authorization codes, access tokens and refresh tokens, each kept
//! by value in a bounded [`Store`].

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use super::{MAX_ISSUED, MAX_STORE_BYTES};

#[derive(Debug, Default)]
pub(crate) struct Issued {
    pub(crate) codes: Store,
    pub(crate) access: Store,
    pub(crate) refresh: Store,
}

/// What a code or token stands for.
#[derive(Clone, Debug)]
pub(crate) struct Grant {
    pub(crate) username: String,
    pub(crate) consumer: &'static str,
    pub(crate) scopes: String,
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
    by_value: HashMap<String, Grant>,
    /// Values in the order they were issued; some may have been redeemed since.
    order: VecDeque<String>,
    /// What the entries weigh, by [`weight`].
    bytes: usize,
}

/// About what one entry costs: its value twice (map and order), its grant's strings, and the
/// tables' own overhead per entry.
fn weight(value: &str, grant: &Grant) -> usize {
    let strings = grant.username.len()
        + grant.scopes.len()
        + grant.redirect_uri.as_ref().map_or(0, String::len)
        + grant.pkce_challenge.as_ref().map_or(0, String::len);
    2 * value.len() + strings + 160
}

impl Store {
    pub(crate) fn insert(&mut self, value: String, grant: Grant) {
        let added = weight(&value, &grant);
        while self.order.len() >= MAX_ISSUED || (self.bytes + added > MAX_STORE_BYTES && !self.order.is_empty()) {
            if let Some(oldest) = self.order.pop_front() {
                let grant = self.by_value.remove(&oldest);
                self.bytes -= grant.map_or(oldest.len() + 80, |g| weight(&oldest, &g));
            }
        }
        self.bytes += added;
        self.order.push_back(value.clone());
        self.by_value.insert(value, grant);
        // Give memory back once most of it is free again (after a burst of load).
        if self.by_value.capacity() > 1024 && self.by_value.len() < self.by_value.capacity() / 4 {
            self.by_value.shrink_to_fit();
            self.order.shrink_to_fit();
        }
    }

    pub(crate) fn get(&self, value: &str) -> Option<&Grant> {
        self.by_value.get(value)
    }

    /// Takes an entry out; its value stays in the order list (and its weight counted) until it
    /// comes round to be forgotten.
    pub(crate) fn remove(&mut self, value: &str) -> Option<Grant> {
        let grant = self.by_value.remove(value)?;
        self.bytes -= weight(value, &grant) - (value.len() + 80);
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
            username: "demo".into(),
            consumer: SANDBOX_CONSUMER_KEY,
            scopes: String::new(),
            expires_at: Instant::now(),
            redirect_uri: None,
            pkce_challenge: None,
        }
    }

    #[test]
    fn a_full_store_forgets_the_oldest_first_and_keeps_the_newest() {
        let mut store = Store::default();
        for i in 0..MAX_ISSUED + 10 {
            store.insert(i.to_string(), grant());
        }
        assert!(store.get("0").is_none());
        assert!(store.get("9").is_none());
        assert!(store.get("10").is_some());
        assert!(store.get(&(MAX_ISSUED + 9).to_string()).is_some());
        assert!(store.by_value.len() <= MAX_ISSUED && store.order.len() <= MAX_ISSUED);
    }

    #[test]
    fn a_store_stays_within_its_bytes_and_still_keeps_the_newest() {
        let mut store = Store::default();
        let mut big = grant();
        big.scopes = "s".repeat(10_000);
        for i in 0..2_000 {
            store.insert(format!("token-{i}"), big.clone());
        }
        assert!(store.bytes() <= MAX_STORE_BYTES, "{} bytes", store.bytes());
        assert!(store.get("token-1999").is_some());
        assert!(store.get("token-0").is_none());
        for i in 1500..2000 {
            store.remove(&format!("token-{i}"));
        }
        assert!(store.bytes() <= MAX_STORE_BYTES);
    }
}
