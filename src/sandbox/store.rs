//! What the sandbox has issued: authorization codes, access tokens and refresh tokens, each kept
//! by value in a bounded [`Store`].

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use super::MAX_ISSUED;

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

/// Codes or tokens by value, at most [`MAX_ISSUED`]: past that, the oldest issued are forgotten
/// first, so the newest always work (a load test that issues millions keeps working).
#[derive(Debug, Default)]
pub(crate) struct Store {
    by_value: HashMap<String, Grant>,
    /// Values in the order they were issued; some may have been redeemed since.
    order: VecDeque<String>,
}

impl Store {
    pub(crate) fn insert(&mut self, value: String, grant: Grant) {
        while self.order.len() >= MAX_ISSUED {
            if let Some(oldest) = self.order.pop_front() {
                self.by_value.remove(&oldest);
            }
        }
        self.order.push_back(value.clone());
        self.by_value.insert(value, grant);
    }

    pub(crate) fn get(&self, value: &str) -> Option<&Grant> {
        self.by_value.get(value)
    }

    pub(crate) fn remove(&mut self, value: &str) -> Option<Grant> {
        self.by_value.remove(value)
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
}
