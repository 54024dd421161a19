//! Intercom-style rate limiting: a budget of requests per fixed window (Intercom splits its
//! per-minute allowance into 10-second windows). Pure: the caller passes the time.

/// The outcome for one request, and the values of the `X-RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// `X-RateLimit-Limit`: the budget per window.
    pub limit: u32,
    /// `X-RateLimit-Remaining`: what is left in the current window.
    pub remaining: u32,
    /// `X-RateLimit-Reset`: Unix seconds when the window refills.
    pub reset: i64,
    /// Requests received in the current window so far, this one and refused ones included.
    pub arrived: u32,
}

/// A fixed-window counter.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    limit: u32,
    window_ms: i64,
    window_start: i64,
    used: u32,
    arrived: u32,
}

impl RateLimiter {
    /// `limit` requests per `window_ms` milliseconds (windows aligned on the epoch).
    pub fn new(limit: u32, window_ms: i64) -> Self {
        Self {
            limit,
            window_ms: window_ms.max(1),
            window_start: i64::MIN,
            used: 0,
            arrived: 0,
        }
    }

    /// Counts one request at `now_ms`.
    pub fn check(&mut self, now_ms: i64) -> Decision {
        let start = now_ms - now_ms.rem_euclid(self.window_ms);
        if start != self.window_start {
            self.window_start = start;
            self.used = 0;
            self.arrived = 0;
        }
        self.arrived = self.arrived.saturating_add(1);
        let allowed = self.used < self.limit;
        if allowed {
            self.used += 1;
        }
        let end_ms = start + self.window_ms;
        Decision {
            allowed,
            limit: self.limit,
            remaining: self.limit - self.used,
            reset: (end_ms + 999).div_euclid(1000),
            arrived: self.arrived,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_spent_then_refills_in_the_next_window() {
        let mut rl = RateLimiter::new(2, 10_000);
        let t = 1_700_000_003_000;
        let a = rl.check(t);
        assert!(a.allowed);
        assert_eq!(a.remaining, 1);
        assert_eq!(a.reset, 1_700_000_010);
        assert!(rl.check(t + 1).allowed);
        let c = rl.check(t + 2);
        assert!(!c.allowed);
        assert_eq!(c.remaining, 0);
        assert_eq!(c.arrived, 3, "a refused request still arrived");
        let d = rl.check(t + 7_000);
        assert!(d.allowed, "a new window refills the budget");
        assert_eq!(d.reset, 1_700_000_020);
        assert_eq!(d.arrived, 1);
    }
}
