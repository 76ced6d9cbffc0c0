//! Rate limits per token and per client address: a number of requests per fixed window,
//! windows aligned on the clock so that a client can tell when its quota resets (GitHub's
//! `x-ratelimit-*` headers say so on every answer). Counted in this process's memory: with
//! several server processes behind a balancer each counts what it serves.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use uuid::Uuid;

/// Default requests a token may make per window: a CI job reporting one result per request
/// for a large suite stays well below it, a runaway loop does not.
pub const DEFAULT_PER_TOKEN: u32 = 10_000;

/// Default requests one client address may make per window, whatever token they carry or
/// none (a whole office or CI fleet behind one address shares it).
pub const DEFAULT_PER_ADDRESS: u32 = 20_000;

/// Default length of a window.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);

/// Clients counted at once; past it the counts of past windows are dropped, and if that is
/// not enough the new client is served uncounted (the limiter only protects, it never fails
/// a request by itself).
const MAX_TRACKED: usize = 100_000;

/// The configured limits; 0 turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Requests per window and token.
    pub per_token: u32,
    /// Requests per window and client address.
    pub per_address: u32,
    /// Length of a window.
    pub window: Duration,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            per_token: DEFAULT_PER_TOKEN,
            per_address: DEFAULT_PER_ADDRESS,
            window: DEFAULT_WINDOW,
        }
    }
}

impl RateLimits {
    /// No limits.
    pub fn off() -> Self {
        Self {
            per_token: 0,
            per_address: 0,
            window: DEFAULT_WINDOW,
        }
    }
}

/// Who is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Client {
    /// A token, by its id.
    Token(Uuid),
    /// A client address.
    Address(IpAddr),
}

/// Where a client stands in the current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::SimpleObject)]
#[graphql(name = "RateLimit")]
pub struct Quota {
    /// Requests allowed per window.
    pub limit: u32,
    /// Requests left in this window.
    pub remaining: u32,
    /// Requests made in this window (this one included).
    pub used: u32,
    /// When the window ends and the count starts again, in seconds since the Unix epoch.
    pub reset: u64,
    /// Whom the quota counts: `token` or `address`.
    pub resource: &'static str,
}

/// The counts of the current windows.
pub struct RateLimiter {
    limits: RateLimits,
    counts: Mutex<HashMap<Client, (u64, u32)>>,
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> Self {
        Self {
            limits,
            counts: Mutex::new(HashMap::new()),
        }
    }

    pub fn limits(&self) -> RateLimits {
        self.limits
    }

    fn limit_of(&self, client: Client) -> u32 {
        match client {
            Client::Token(_) => self.limits.per_token,
            Client::Address(_) => self.limits.per_address,
        }
    }

    /// The current window's number and when it ends (seconds since the epoch).
    fn window(&self) -> (u64, u64) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let len = self.limits.window.as_secs().max(1);
        let index = now / len;
        (index, (index + 1) * len)
    }

    /// Counts one request of `client`: its quota after it, or, when the quota was already
    /// spent, the spent quota as the error (the request is not counted). None when the
    /// client's limit is off.
    pub fn take(&self, client: Client) -> Option<Result<Quota, Quota>> {
        let limit = self.limit_of(client);
        if limit == 0 {
            return None;
        }
        let (index, reset) = self.window();
        let resource = match client {
            Client::Token(_) => "token",
            Client::Address(_) => "address",
        };
        let quota = |used: u32| Quota {
            limit,
            remaining: limit.saturating_sub(used),
            used,
            reset,
            resource,
        };
        let mut counts = match self.counts.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        if counts.len() >= MAX_TRACKED && !counts.contains_key(&client) {
            counts.retain(|_, (w, _)| *w == index);
            if counts.len() >= MAX_TRACKED {
                return Some(Ok(quota(0)));
            }
        }
        let entry = counts.entry(client).or_insert((index, 0));
        if entry.0 != index {
            *entry = (index, 0);
        }
        if entry.1 >= limit {
            return Some(Err(quota(entry.1)));
        }
        entry.1 += 1;
        Some(Ok(quota(entry.1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_gets_its_limit_then_is_refused_until_the_window_ends() {
        let limiter = RateLimiter::new(RateLimits {
            per_token: 3,
            per_address: 0,
            window: Duration::from_secs(3600),
        });
        let token = Client::Token(Uuid::new_v4());
        let used: Vec<u32> = (0..3)
            .map(|_| limiter.take(token).and_then(Result::ok).map(|q| q.used))
            .map(|u| u.unwrap_or_default())
            .collect();
        assert_eq!(used, vec![1, 2, 3]);
        let refused = limiter.take(token).expect("limited");
        let spent = refused.expect_err("spent");
        assert_eq!((spent.remaining, spent.used, spent.limit), (0, 3, 3));
        assert!(spent.reset > 0);
        // another token has its own quota; addresses are not limited here
        assert!(matches!(
            limiter.take(Client::Token(Uuid::new_v4())),
            Some(Ok(Quota { used: 1, .. }))
        ));
        assert_eq!(
            limiter.take(Client::Address(IpAddr::from([127, 0, 0, 1]))),
            None
        );
    }
}
