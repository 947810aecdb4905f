//! Budgets that keep one hostile client from locking everyone else out (issue 18): the
//! `[limits]` table of the config file ([`LimitsConfig`]), connections per source address and
//! in all ([`conn::ConnBudget`]), session starts per address and per visitor token and an
//! address's share of a group's session limit ([`starts::StartBudget`]), and what may be
//! written to the log about a client's bytes ([`logsafe`]). docs/DECISIONS.md gives the
//! figures behind the defaults.

pub mod conn;
pub mod logsafe;
pub mod starts;

use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;

use crate::error::ServerError;

/// `[limits]`: per-client budgets. Every field has a default; see docs/DECISIONS.md.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Connections one source address (an IPv6 /64) may hold open at once, over both
    /// listeners and every socket kind.
    pub connections_per_address: usize,
    /// Connections open at once in all; 0: the process's file limit less a reserve of
    /// [`conn::FD_RESERVE`] descriptors (never more than the limit less that reserve).
    pub max_connections: usize,
    /// New connections one address may open at once, then per second (TLS handshakes cost
    /// the server CPU; connections beyond are closed at accept, before any handshake).
    pub accepts_per_address_burst: u32,
    pub accepts_per_address_per_second: u32,
    /// Seconds an HTTP request may take from its first byte to its response, body included
    /// (a body trickled slowly is cut like a slow header).
    pub request_timeout_secs: u64,
    /// Session starts (and restarts) one address may make at once, then per minute.
    pub starts_per_address_burst: u32,
    pub starts_per_address_per_minute: u32,
    /// The same for one non-empty visitor token (all of a group's visitors share its token,
    /// so this is set higher).
    pub starts_per_token_burst: u32,
    pub starts_per_token_per_minute: u32,
    /// The share (percent) of a group's `max_sessions` that the sessions of one address may
    /// hold at once ...
    pub address_session_percent: u32,
    /// ... but at least this many (small groups, offices behind one NAT).
    pub address_min_sessions: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            connections_per_address: 256,
            max_connections: 0,
            accepts_per_address_burst: 200,
            accepts_per_address_per_second: 100,
            request_timeout_secs: 10,
            starts_per_address_burst: 20,
            starts_per_address_per_minute: 30,
            starts_per_token_burst: 200,
            starts_per_token_per_minute: 600,
            address_session_percent: 10,
            address_min_sessions: 20,
        }
    }
}

impl LimitsConfig {
    /// Checks every field; the error names the bad one.
    pub fn validate(&self) -> Result<(), ServerError> {
        let positive: [(&str, u64); 9] = [
            (
                "connections_per_address",
                self.connections_per_address as u64,
            ),
            (
                "accepts_per_address_burst",
                self.accepts_per_address_burst.into(),
            ),
            (
                "accepts_per_address_per_second",
                self.accepts_per_address_per_second.into(),
            ),
            ("request_timeout_secs", self.request_timeout_secs),
            (
                "starts_per_address_burst",
                self.starts_per_address_burst.into(),
            ),
            (
                "starts_per_address_per_minute",
                self.starts_per_address_per_minute.into(),
            ),
            ("starts_per_token_burst", self.starts_per_token_burst.into()),
            (
                "starts_per_token_per_minute",
                self.starts_per_token_per_minute.into(),
            ),
            ("address_min_sessions", self.address_min_sessions as u64),
        ];
        for (field, v) in positive {
            if v == 0 {
                return Err(ServerError::Config(format!(
                    "limits.{field}: must be at least 1"
                )));
            }
        }
        if self.address_session_percent == 0 || self.address_session_percent > 100 {
            return Err(ServerError::Config(format!(
                "limits.address_session_percent: must be between 1 and 100, got {}",
                self.address_session_percent
            )));
        }
        if self.request_timeout_secs > 3600 {
            return Err(ServerError::Config(
                "limits.request_timeout_secs: must be at most 3600".into(),
            ));
        }
        Ok(())
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    /// How many live sessions of a group with `max_sessions` one address may hold.
    pub fn address_sessions(&self, max_sessions: usize) -> usize {
        let share = (max_sessions * self.address_session_percent as usize).div_ceil(100);
        share.max(self.address_min_sessions).min(max_sessions)
    }
}

/// The budget key of a source address: IPv4 as is, IPv6 by its /64 (one host usually holds
/// a whole /64), IPv4-mapped IPv6 as the IPv4 address.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_share_has_a_floor_and_a_ceiling() {
        let l = LimitsConfig::default();
        assert_eq!(l.address_sessions(1000), 100);
        assert_eq!(l.address_sessions(50), 20);
        assert_eq!(l.address_sessions(3), 3);
    }

    #[test]
    fn ipv6_is_keyed_by_its_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let m: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(address_key(m), "10.1.2.3".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn zero_budgets_are_refused_by_name() {
        let l = LimitsConfig {
            starts_per_address_burst: 0,
            ..Default::default()
        };
        let e = l.validate().unwrap_err().to_string();
        assert!(e.contains("starts_per_address_burst"), "{e}");
    }
}
