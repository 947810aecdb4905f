//! Token buckets keyed by agent or by source address: how many failed session lookups
//! (unknown keys) and token requests are allowed, so that session keys cannot be guessed at
//! speed. Each bucket holds `burst` and refills `per_minute`; the map is bounded.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Buckets kept before full ones are dropped.
const MAX_BUCKETS: usize = 50_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// See the module documentation.
#[derive(Debug)]
pub struct Throttle {
    burst: f64,
    per_sec: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Throttle {
    pub fn new(burst: u32, per_minute: u32) -> Throttle {
        Throttle {
            burst: f64::from(burst.max(1)),
            per_sec: f64::from(per_minute.max(1)) / 60.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refilled(&self, b: Bucket, now: Instant) -> Bucket {
        let secs = now.saturating_duration_since(b.at).as_secs_f64();
        Bucket {
            tokens: (b.tokens + secs * self.per_sec).min(self.burst),
            at: now,
        }
    }

    /// Whether `key` may try once more (nothing is spent).
    pub fn allows(&self, key: &str) -> bool {
        let now = Instant::now();
        let map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key)
            .is_none_or(|b| self.refilled(*b, now).tokens >= 1.0)
    }

    /// Spends one try of `key`.
    pub fn spend(&self, key: &str) {
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        self.spend_in(&mut map, key, Instant::now());
    }

    /// Spends one try if there is one; returns whether there was. The check and the spend
    /// happen under one lock, so concurrent callers cannot both take the last try.
    pub fn take(&self, key: &str) -> bool {
        let now = Instant::now();
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let has = map
            .get(key)
            .is_none_or(|b| self.refilled(*b, now).tokens >= 1.0);
        if has {
            self.spend_in(&mut map, key, now);
        }
        has
    }

    fn spend_in(&self, map: &mut HashMap<String, Bucket>, key: &str, now: Instant) {
        if map.len() >= MAX_BUCKETS && !map.contains_key(key) {
            let burst = self.burst;
            map.retain(|_, b| self.refilled(*b, now).tokens < burst);
            if map.len() >= MAX_BUCKETS {
                // Every bucket is in use: forget the fullest half rather than grow.
                map.retain(|_, b| self.refilled(*b, now).tokens < burst / 2.0);
            }
        }
        let b = map.get(key).copied().unwrap_or(Bucket {
            tokens: self.burst,
            at: now,
        });
        let mut b = self.refilled(b, now);
        b.tokens = (b.tokens - 1.0).max(0.0);
        map.insert(key.to_string(), b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refuse_per_key() {
        let t = Throttle::new(3, 1);
        for _ in 0..3 {
            assert!(t.allows("a"));
            t.spend("a");
        }
        assert!(!t.allows("a"));
        assert!(!t.take("a"));
        assert!(t.allows("b"), "another key has its own bucket");
    }

    #[test]
    fn refills_over_time() {
        let t = Throttle::new(1, 6000); // 100 a second
        t.spend("a");
        assert!(!t.allows("a"));
        std::thread::sleep(std::time::Duration::from_millis(30));
        assert!(t.allows("a"));
    }
}
