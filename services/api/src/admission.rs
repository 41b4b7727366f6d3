//! What the HTTP server admits beyond the SQL budgets (`parwatch_auth::Budgets`: per token,
//! and the server's running statements over both protocols): a rate per viewer's token for
//! panel data; a rate per embed token (all the portal visitors it serves together) and per
//! client address on `/embed/api/*`. Refusals are 429 with `Retry-After`.

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;

/// Limits on the SQL and dashboard work the HTTP server admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionLimits {
    /// Panel data requests one viewer's token may make per minute.
    pub viewer_panels_per_minute: NonZeroU32,
    /// Panel data requests one embed token may make per minute, its visitors together.
    pub embed_token_per_minute: NonZeroU32,
    /// Requests one client address may make to `/embed/api/*` per minute.
    pub embed_client_per_minute: NonZeroU32,
    /// Behind a reverse proxy on this host: the client of a request from a loopback address
    /// is the last address its proxy appended to `X-Forwarded-For`.
    pub forwarded_for: bool,
}

/// A page of 16 panels redrawn every 5 s while data lands asks about 200 times a minute: a
/// viewer has room for a few such pages, a visitor's address for two or three, an embed token
/// for some 60 visitors at once.
impl Default for AdmissionLimits {
    fn default() -> Self {
        let n = |n| NonZeroU32::new(n).expect("non-zero");
        Self {
            viewer_panels_per_minute: n(1200),
            embed_token_per_minute: n(12_000),
            embed_client_per_minute: n(600),
            forwarded_for: false,
        }
    }
}

/// The server's admission state.
#[derive(Debug)]
pub(crate) struct Admission {
    limits: AdmissionLimits,
    viewers: DefaultKeyedRateLimiter<String>,
    embed_tokens: DefaultKeyedRateLimiter<String>,
    embed_clients: DefaultKeyedRateLimiter<IpAddr>,
}

impl Admission {
    pub(crate) fn new(limits: AdmissionLimits) -> Self {
        Self {
            limits,
            viewers: RateLimiter::keyed(Quota::per_minute(limits.viewer_panels_per_minute)),
            embed_tokens: RateLimiter::keyed(Quota::per_minute(limits.embed_token_per_minute)),
            embed_clients: RateLimiter::keyed(Quota::per_minute(limits.embed_client_per_minute)),
        }
    }

    /// One panel request of the viewer's token `token_id`.
    pub(crate) fn viewer_panel(&self, token_id: &str) -> Result<(), ApiError> {
        check(
            &self.viewers,
            &token_id.to_owned(),
            self.limits.viewer_panels_per_minute,
            "panel requests per minute for this token",
        )
    }

    /// One panel request of an embed token (keyed by its signature, unique to the token).
    pub(crate) fn embed_panel(&self, token: &str) -> Result<(), ApiError> {
        let key = token.rsplit('.').next().unwrap_or(token).to_owned();
        check(
            &self.embed_tokens,
            &key,
            self.limits.embed_token_per_minute,
            "panel requests per minute for this embed",
        )
    }

    /// The client a request counts against: its peer, or behind a trusted proxy on this
    /// host, the address the proxy saw (the last of `X-Forwarded-For`).
    pub(crate) fn client(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        if !(self.limits.forwarded_for && peer.is_loopback()) {
            return peer;
        }
        forwarded_for
            .and_then(|list| list.rsplit(',').next())
            .and_then(|last| last.trim().parse().ok())
            .unwrap_or(peer)
    }

    /// One `/embed/api/*` request from `client`.
    pub(crate) fn embed_client(&self, client: IpAddr) -> Result<(), ApiError> {
        check(
            &self.embed_clients,
            &client,
            self.limits.embed_client_per_minute,
            "embed requests per minute from one address",
        )
    }

    /// Forgets the keys whose budgets are full again, so the maps hold only recent callers.
    pub(crate) fn forget_idle(&self) {
        for limiter in [&self.viewers, &self.embed_tokens] {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        self.embed_clients.retain_recent();
        self.embed_clients.shrink_to_fit();
    }
}

fn check<K: Hash + Eq + Clone>(
    limiter: &DefaultKeyedRateLimiter<K>,
    key: &K,
    limit: NonZeroU32,
    what: &str,
) -> Result<(), ApiError> {
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        ApiError::TooManyRequests {
            message: format!("rate limit: {limit} {what}; retry in {} s", seconds.max(1)),
            retry_after: Some(seconds.max(1)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(n: u32) -> AdmissionLimits {
        let n = NonZeroU32::new(n).unwrap();
        AdmissionLimits {
            viewer_panels_per_minute: n,
            embed_token_per_minute: n,
            embed_client_per_minute: n,
            forwarded_for: false,
        }
    }

    #[test]
    fn rates_are_per_key_and_say_when_to_retry() {
        let admission = Admission::new(limits(2));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        admission.embed_client(a).unwrap();
        admission.embed_client(a).unwrap();
        let refused = admission.embed_client(a).unwrap_err();
        match refused {
            ApiError::TooManyRequests {
                retry_after: Some(s),
                ..
            } => assert!((1..=60).contains(&s), "{s}"),
            other => panic!("{other:?}"),
        }
        admission.embed_client(b).unwrap();
        // Tokens are keyed by their signature: two tokens, two budgets.
        admission.embed_panel("h.p.sig1").unwrap();
        admission.embed_panel("h.p.sig1").unwrap();
        assert!(admission.embed_panel("h.p.sig1").is_err());
        admission.embed_panel("h.p.sig2").unwrap();
        admission.viewer_panel("t1").unwrap();
        admission.forget_idle();
    }

    #[test]
    fn forwarded_for_is_trusted_from_this_host_only_and_when_asked() {
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let remote: IpAddr = "192.0.2.9".parse().unwrap();
        let header = Some("198.51.100.1, 203.0.113.7");
        let proxied = Admission::new(AdmissionLimits {
            forwarded_for: true,
            ..limits(1)
        });
        assert_eq!(
            proxied.client(local, header),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            proxied.client(remote, header),
            remote,
            "only a proxy on this host"
        );
        assert_eq!(proxied.client(local, Some("not an address")), local);
        assert_eq!(Admission::new(limits(1)).client(local, header), local);
    }
}
