//! Session starts per client: token buckets per source address (checked before anything
//! else, so token and key guessing are slowed alike) and per valid visitor token. The share
//! of a group's session limit one address may hold is counted by the registry, which knows
//! the live sessions.

use std::net::IpAddr;

use super::{address_key, LimitsConfig};
use crate::auth::throttle::Throttle;

/// See the module documentation.
#[derive(Debug)]
pub struct StartBudget {
    by_address: Throttle,
    by_token: Throttle,
}

impl StartBudget {
    pub fn new(l: &LimitsConfig) -> StartBudget {
        StartBudget {
            by_address: Throttle::new(l.starts_per_address_burst, l.starts_per_address_per_minute),
            by_token: Throttle::new(l.starts_per_token_burst, l.starts_per_token_per_minute),
        }
    }

    /// Spends one start of `ip`; false when its bucket is empty.
    pub fn take_address(&self, ip: IpAddr) -> bool {
        self.by_address.take(&address_key(ip).to_string())
    }

    /// Spends one start of the (valid, non-empty) visitor token of `group`.
    pub fn take_token(&self, group: u32, token: &str) -> bool {
        self.by_token.take(&format!("{group}/{token}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_tokens_have_their_own_buckets() {
        let b = StartBudget::new(&LimitsConfig {
            starts_per_address_burst: 2,
            starts_per_address_per_minute: 1,
            starts_per_token_burst: 3,
            starts_per_token_per_minute: 1,
            ..Default::default()
        });
        let a: IpAddr = "127.0.0.66".parse().unwrap();
        assert!(b.take_address(a) && b.take_address(a));
        assert!(!b.take_address(a));
        assert!(b.take_address("127.0.0.1".parse().unwrap()));
        for _ in 0..3 {
            assert!(b.take_token(1, "t"));
        }
        assert!(!b.take_token(1, "t"));
        assert!(b.take_token(2, "t"));
    }
}
