//! Login throttling per client address: a fixed one-minute window of attempts. It sits in front of
//! the per-account lockout (kept in the database, so it holds across nodes) and stops one address
//! from trying many accounts. In memory on purpose: it is a brake on a single node's CPU (Argon2 is
//! expensive by design), not a record.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use jiff::Timestamp;

/// Most addresses remembered; beyond that, old windows are dropped first.
const MAX_TRACKED: usize = 100_000;

#[derive(Debug)]
pub(crate) struct RateLimiter {
    per_minute: u32,
    windows: Mutex<HashMap<IpAddr, (i64, u32)>>,
}

impl RateLimiter {
    pub(crate) fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one attempt; false once the address has used up this minute's allowance.
    pub(crate) fn allow(&self, addr: IpAddr, now: Timestamp) -> bool {
        let minute = now.as_second().div_euclid(60);
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= MAX_TRACKED {
            windows.retain(|_, (m, _)| *m == minute);
        }
        let entry = windows.entry(addr).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        entry.1 += 1;
        entry.1 <= self.per_minute
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_held_to_its_allowance_until_the_next_minute() {
        let rl = RateLimiter::new(3);
        let a: IpAddr = "127.0.0.1".parse().expect("ip");
        let b: IpAddr = "127.0.0.2".parse().expect("ip");
        let t: Timestamp = "2026-11-23T12:00:05Z".parse().expect("ts");
        assert!((0..3).all(|_| rl.allow(a, t)));
        assert!(!rl.allow(a, t));
        assert!(rl.allow(b, t), "other addresses are unaffected");
        assert!(rl.allow(a, t + jiff::SignedDuration::from_secs(60)));
    }
}
