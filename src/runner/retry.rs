//! When a transient failure is tried again.

use std::time::Duration;

/// Retry policy for transient errors.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Transient failures are retried for this long after the run's first attempt.
    pub retry_for: Duration,
    /// At most this many attempts, the first included (none: only the time counts).
    pub max_attempts: Option<u32>,
    /// Delay before the second attempt; doubled for each one after.
    pub base_delay: Duration,
    /// No delay is longer than this.
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// Back-off before attempt `next` (2, 3, …): exponential, capped, with up to 25 % jitter.
    pub fn delay_before(&self, next: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << next.saturating_sub(2).min(16));
        let capped = exp.min(self.max_delay);
        capped + capped.mul_f64(fastrand::f64() * 0.25)
    }

    /// Whether attempt `number`, `elapsed` after the run's first attempt began, is the last one:
    /// the next would start after `retry_for`, or past `max_attempts`.
    pub fn is_last(&self, number: u32, elapsed: Duration, next_delay: Duration) -> bool {
        self.max_attempts.is_some_and(|max| number >= max)
            || elapsed.saturating_add(next_delay) > self.retry_for
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_is_capped_and_jittered() {
        let policy = RetryPolicy {
            retry_for: Duration::from_secs(3600),
            max_attempts: Some(5),
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(10),
        };
        let d2 = policy.delay_before(2);
        let d3 = policy.delay_before(3);
        let d9 = policy.delay_before(9);
        assert!(d2 >= Duration::from_secs(2) && d2 <= Duration::from_millis(2500));
        assert!(d3 >= Duration::from_secs(4) && d3 <= Duration::from_secs(5));
        assert!(d9 >= Duration::from_secs(10) && d9 <= Duration::from_millis(12500));
    }
}
