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

/// Clients counted at once in a window. Past it, every client not counted yet shares one
/// count with the limit of an address: many addresses at once (a flood from a whole IPv6
/// range) cannot buy themselves uncounted requests, nor memory.
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
    /// A client address: an IPv4 address, or an IPv6 address's /64 (what one site is given,
    /// so that one host cannot be many clients).
    Address(IpAddr),
    /// Every client past [`MAX_TRACKED`] in a window, counted together.
    Overflow,
}

impl Client {
    /// The client of address `ip`.
    pub fn address(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Client::Address(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Client::Address(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    Client::Address(IpAddr::V6(prefix.into()))
                }
            },
        }
    }
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

/// The counts of the current window.
pub struct RateLimiter {
    limits: RateLimits,
    counts: Mutex<Counts>,
}

/// The counts of one window.
#[derive(Default)]
struct Counts {
    window: u64,
    used: HashMap<Client, u32>,
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> Self {
        Self {
            limits,
            counts: Mutex::new(Counts::default()),
        }
    }

    pub fn limits(&self) -> RateLimits {
        self.limits
    }

    fn limit_of(&self, client: Client) -> u32 {
        match client {
            Client::Token(_) => self.limits.per_token,
            Client::Address(_) | Client::Overflow => self.limits.per_address,
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
            Client::Address(_) | Client::Overflow => "address",
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
        if counts.window != index {
            // a new window: every count starts again (once per window, not per request)
            counts.window = index;
            counts.used.clear();
        }
        let client = if counts.used.len() >= MAX_TRACKED && !counts.used.contains_key(&client) {
            Client::Overflow
        } else {
            client
        };
        let entry = counts.used.entry(client).or_insert(0);
        if *entry >= limit {
            return Some(Err(quota(*entry)));
        }
        *entry += 1;
        Some(Ok(quota(*entry)))
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

    #[test]
    fn an_ipv6_site_is_one_client_and_an_ipv4_address_mapped_into_ipv6_is_itself() {
        let one: IpAddr = "2001:db8:1:2::1".parse().expect("v6");
        let other: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("v6");
        assert_eq!(Client::address(one), Client::address(other));
        let next_site: IpAddr = "2001:db8:1:3::1".parse().expect("v6");
        assert_ne!(Client::address(one), Client::address(next_site));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().expect("mapped");
        assert_eq!(
            Client::address(mapped),
            Client::Address(IpAddr::from([192, 0, 2, 7]))
        );
    }
}
