//! Rate-limited warnings: a refused webhook can come from anyone on the internet, so logging each
//! one would let a stranger flood the logs. At most one line per window is written, and it says
//! how many refusals it stands for; the metric still counts every one. Pure and clock-injected.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

/// At most one warning line per this long.
pub const WINDOW: Duration = Duration::from_secs(10);

/// Decides which occurrences of a warning are logged.
#[derive(Debug, Default)]
pub struct LogThrottle {
    /// When the last line was written, and how many occurrences were not logged since.
    state: Mutex<Option<(Instant, u64)>>,
}

impl LogThrottle {
    /// `Some(n)` when this occurrence is to be logged, `n` being how many were left out since the
    /// last logged one; `None` when it is only counted.
    pub fn allow(&self, now: Instant) -> Option<u64> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match *state {
            Some((last, ref mut skipped)) if now.duration_since(last) < WINDOW => {
                *skipped += 1;
                None
            }
            Some((_, skipped)) => {
                *state = Some((now, 0));
                Some(skipped)
            }
            None => {
                *state = Some((now, 0));
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_window_and_it_counts_the_ones_left_out() {
        let throttle = LogThrottle::default();
        let t0 = Instant::now();
        assert_eq!(throttle.allow(t0), Some(0));
        for i in 1..=99 {
            assert_eq!(throttle.allow(t0 + Duration::from_millis(i * 10)), None);
        }
        assert_eq!(throttle.allow(t0 + WINDOW), Some(99));
        assert_eq!(throttle.allow(t0 + WINDOW + Duration::from_secs(1)), None);
        assert_eq!(throttle.allow(t0 + WINDOW * 3), Some(1));
    }
}
