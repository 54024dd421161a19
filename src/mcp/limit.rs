//! The per-token rate limit of MCP tool calls: a token bucket per token, refilled continuously
//! (a limit of 120 a minute is two calls a second, with bursts of up to 120).
//!
//! The bucket is a pure state machine (time is an argument); [`TokenLimits`] keeps one per token
//! behind a mutex that is never held across an `.await`. Limits are per process: with several
//! replicas behind a load balancer a token gets up to the limit on each.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// One token's bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bucket {
    /// Calls that may go now (fractional while refilling).
    available: f64,
    at: Instant,
}

impl Bucket {
    fn full(per_minute: u32, now: Instant) -> Self {
        Self {
            available: f64::from(per_minute),
            at: now,
        }
    }

    /// Takes one call, or says how long until one is available.
    fn take(&mut self, per_minute: u32, now: Instant) -> Result<(), Duration> {
        let capacity = f64::from(per_minute.max(1));
        let per_second = capacity / 60.0;
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.available = (self.available + elapsed * per_second).min(capacity);
        self.at = now;
        if self.available >= 1.0 {
            self.available -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.available) / per_second))
        }
    }
}

/// Every token's bucket.
#[derive(Debug, Default)]
pub struct TokenLimits {
    buckets: Mutex<HashMap<i64, Bucket>>,
}

impl TokenLimits {
    /// Takes one call for `token_id` at `per_minute`, or returns how long to wait.
    pub fn take(&self, token_id: i64, per_minute: u32, now: Instant) -> Result<(), Duration> {
        let mut buckets = match self.buckets.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        buckets
            .entry(token_id)
            .or_insert_with(|| Bucket::full(per_minute, now))
            .take(per_minute, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_allows_a_burst_then_refills_at_the_rate() {
        let start = Instant::now();
        let limits = TokenLimits::default();
        for _ in 0..3 {
            assert_eq!(limits.take(7, 3, start), Ok(()));
        }
        let wait = limits.take(7, 3, start).unwrap_err();
        assert!(
            (19..=20).contains(&wait.as_secs()),
            "3 a minute: one every 20s, got {wait:?}"
        );
        // Another token has its own bucket.
        assert_eq!(limits.take(8, 3, start), Ok(()));
        // 20 seconds later exactly one more call is allowed.
        let later = start + Duration::from_secs(20);
        assert_eq!(limits.take(7, 3, later), Ok(()));
        assert!(limits.take(7, 3, later).is_err());
    }

    #[test]
    fn an_idle_bucket_never_holds_more_than_its_limit() {
        let start = Instant::now();
        let limits = TokenLimits::default();
        assert_eq!(limits.take(1, 2, start), Ok(()));
        let much_later = start + Duration::from_secs(3600);
        assert_eq!(limits.take(1, 2, much_later), Ok(()));
        assert_eq!(limits.take(1, 2, much_later), Ok(()));
        assert!(limits.take(1, 2, much_later).is_err());
    }
}
