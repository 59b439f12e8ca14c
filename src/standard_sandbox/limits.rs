//! A limit on failed secrets per client and failed passwords per account, so that neither can be
//! brute-forced (RFC 6749 §10.10, §4.3.2). Only registered clients and existing accounts are
//! counted (the keys are theirs, `'static`): a name that does not exist fails anyway, and the
//! table cannot grow past the clients and users there are.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures per key over a sliding minute.
#[derive(Debug)]
pub(crate) struct FailureLimiter {
    per_minute: usize,
    window: Duration,
    failures: Mutex<HashMap<&'static str, VecDeque<Instant>>>,
}

impl FailureLimiter {
    pub(crate) fn new(per_minute: u32) -> FailureLimiter {
        FailureLimiter { per_minute: per_minute as usize, window: Duration::from_secs(60), failures: Mutex::default() }
    }

    /// `Ok` if `key` may try again now; otherwise the seconds to wait.
    pub(crate) fn check(&self, key: &'static str) -> Result<(), u64> {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let Some(times) = failures.get_mut(key) else { return Ok(()) };
        while times.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
            times.pop_front();
        }
        if times.len() < self.per_minute {
            return Ok(());
        }
        let oldest = times.front().copied().unwrap_or(now);
        Err(self.window.saturating_sub(now.duration_since(oldest)).as_secs().max(1))
    }

    /// Counts a failure of `key`.
    pub(crate) fn failed(&self, key: &'static str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let times = failures.entry(key).or_default();
        times.push_back(Instant::now());
        while times.len() > self.per_minute {
            times.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_refused_after_its_failures_and_others_are_not() {
        let limiter = FailureLimiter::new(2);
        assert!(limiter.check("a").is_ok());
        limiter.failed("a");
        assert!(limiter.check("a").is_ok());
        limiter.failed("a");
        let wait = limiter.check("a").expect_err("two failures");
        assert!((1..=60).contains(&wait));
        assert!(limiter.check("b").is_ok());
    }
}
