//! A limit on password attempts per client address, or per any other key (RFC 6749 §4.3.2 asks the authorization
//! server to guard the password grant against brute force; this app, which takes passwords too,
//! does the same, and so does its sandbox).
//!
//! An attempt counts from the moment it **starts**: requests in flight hold their place, so a
//! hundred guesses sent at once get no further than the limit. A success gives its place back; a
//! refusal of the credentials keeps it for a minute. That also bounds how many attempts one
//! address can have in flight: at most the limit.
//!
//! The table of addresses is bounded. When it is full, the addresses that are not blocked and have
//! nothing in flight go first, the least recently seen first, a few at a time; an address whose
//! block is still running is never forgotten. If every tracked address is blocked, a new address
//! is refused too (fail closed) until places free up.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most this many addresses are tracked.
pub const MAX_TRACKED_CLIENTS: usize = 10_000;

/// Password attempts per client over a sliding minute. A client is an address unless said
/// otherwise: the sandbox also counts per account, and per consumer and address.
#[derive(Debug)]
pub struct AttemptLimiter<K = IpAddr> {
    per_minute: u32,
    window: Duration,
    capacity: usize,
    clients: Mutex<HashMap<K, Client>>,
}

#[derive(Debug)]
struct Client {
    /// When each counted attempt started (in flight, or refused within the window).
    attempts: VecDeque<Instant>,
    /// Attempts not finished yet.
    in_flight: u32,
    last_seen: Instant,
}

impl Client {
    fn prune(&mut self, now: Instant, window: Duration) {
        while self.attempts.front().is_some_and(|t| now.duration_since(*t) >= window) {
            self.attempts.pop_front();
        }
    }
}

/// An attempt in progress; say how it ended with [`Attempt::succeeded`] or [`Attempt::not_counted`].
/// Dropped without either, it counts as a failure.
#[must_use]
pub struct Attempt<'a, K: Hash + Eq + Clone = IpAddr> {
    limiter: &'a AttemptLimiter<K>,
    client: K,
    started: Instant,
    counts: bool,
}

impl<K: Hash + Eq + Clone> AttemptLimiter<K> {
    /// Allows `per_minute` attempts a minute per client (a success gives its place back).
    pub fn new(per_minute: u32) -> AttemptLimiter<K> {
        AttemptLimiter::with_capacity(per_minute, MAX_TRACKED_CLIENTS)
    }

    /// As [`AttemptLimiter::new`], tracking at most `capacity` addresses.
    pub fn with_capacity(per_minute: u32, capacity: usize) -> AttemptLimiter<K> {
        AttemptLimiter { per_minute, window: Duration::from_secs(60), capacity, clients: Mutex::default() }
    }

    fn clients(&self) -> std::sync::MutexGuard<'_, HashMap<K, Client>> {
        self.clients.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts an attempt by `client`, or says how many seconds it must wait.
    pub fn begin(&self, client: K) -> Result<Attempt<'_, K>, u64> {
        let now = Instant::now();
        let mut clients = self.clients();
        if !clients.contains_key(&client) && clients.len() >= self.capacity {
            self.evict(&mut clients, now);
            if clients.len() >= self.capacity {
                return Err(self.window.as_secs());
            }
        }
        let entry = clients.entry(client.clone()).or_insert_with(|| Client {
            attempts: VecDeque::new(),
            in_flight: 0,
            last_seen: now,
        });
        entry.prune(now, self.window);
        entry.last_seen = now;
        if entry.attempts.len() >= self.per_minute as usize {
            let oldest = entry.attempts.front().copied().unwrap_or(now);
            return Err(self.window.saturating_sub(now.duration_since(oldest)).as_secs().max(1));
        }
        entry.attempts.push_back(now);
        entry.in_flight += 1;
        Ok(Attempt { limiter: self, client, started: now, counts: true })
    }

    /// Forgets up to 1% of the table (at least one): addresses neither blocked nor busy, least
    /// recently seen first.
    fn evict(&self, clients: &mut HashMap<K, Client>, now: Instant) {
        let mut idle: Vec<(Instant, K)> = clients
            .iter_mut()
            .filter_map(|(key, c)| {
                c.prune(now, self.window);
                (c.in_flight == 0 && c.attempts.len() < self.per_minute as usize).then(|| (c.last_seen, key.clone()))
            })
            .collect();
        idle.sort_unstable_by_key(|(seen, _)| *seen);
        for (_, ip) in idle.into_iter().take((self.capacity / 100).max(1)) {
            clients.remove(&ip);
        }
    }

    /// How many addresses are tracked now.
    pub fn tracked(&self) -> usize {
        self.clients().len()
    }
}

impl<K: Hash + Eq + Clone> Attempt<'_, K> {
    /// The credentials were accepted: the attempt gives its place back.
    pub fn succeeded(mut self) {
        self.counts = false;
    }

    /// The attempt says nothing about the password (the server failed or was unreachable): it
    /// gives its place back too.
    pub fn not_counted(mut self) {
        self.counts = false;
    }
}

impl<K: Hash + Eq + Clone> Drop for Attempt<'_, K> {
    fn drop(&mut self) {
        let mut clients = self.limiter.clients();
        if let Some(client) = clients.get_mut(&self.client) {
            client.in_flight = client.in_flight.saturating_sub(1);
            if !self.counts
                && let Some(at) = client.attempts.iter().position(|t| *t == self.started)
            {
                client.attempts.remove(at);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u32) -> IpAddr {
        IpAddr::from(n.to_be_bytes())
    }

    #[test]
    fn attempts_in_flight_count_so_parallel_guesses_stop_at_the_limit() {
        let limiter: AttemptLimiter = AttemptLimiter::new(3);
        let held: Vec<_> = (0..3).map(|_| limiter.begin(ip(1)).expect("under the limit")).collect();
        assert!(limiter.begin(ip(1)).is_err(), "a fourth attempt while three are in flight");
        assert!(limiter.begin(ip(2)).is_ok(), "another address is not affected");
        drop(held); // three refusals
        let wait = limiter.begin(ip(1)).err().expect("still blocked after three failures");
        assert!((1..=60).contains(&wait), "{wait}");
    }

    #[test]
    fn successes_and_server_failures_give_their_place_back() {
        let limiter: AttemptLimiter = AttemptLimiter::new(2);
        for _ in 0..10 {
            limiter.begin(ip(1)).unwrap().succeeded();
            limiter.begin(ip(1)).unwrap().not_counted();
        }
        assert!(limiter.begin(ip(1)).is_ok());
    }

    #[test]
    fn a_full_table_forgets_idle_addresses_first_never_blocked_ones_and_never_all() {
        let limiter: AttemptLimiter = AttemptLimiter::with_capacity(1, 200);
        drop(limiter.begin(ip(1)).unwrap()); // ip(1) is blocked now
        for n in 2..=200 {
            limiter.begin(ip(n)).unwrap().succeeded();
        }
        assert_eq!(limiter.tracked(), 200);
        for n in 1000..1100 {
            limiter.begin(ip(n)).unwrap().succeeded();
        }
        assert!(limiter.tracked() > 150, "forgot too many at once: {}", limiter.tracked());
        assert!(limiter.begin(ip(1)).is_err(), "the blocked address was forgotten");
    }

    #[test]
    fn a_table_full_of_blocked_addresses_refuses_newcomers() {
        let limiter: AttemptLimiter = AttemptLimiter::with_capacity(1, 3);
        for n in 1..=3 {
            drop(limiter.begin(ip(n)).unwrap());
        }
        assert!(limiter.begin(ip(4)).is_err());
    }
}
