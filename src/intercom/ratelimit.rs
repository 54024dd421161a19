//! Rate limiting: one [`RateLimiter`] state machine per access token, fed with the
//! `X-RateLimit-*` headers of every response and consulted before every request.
//!
//! The state machine is pure (time is an argument), so its decisions are unit-tested; the client
//! wraps it in a mutex shared by all clones and does the sleeping. It must never sleep or read the
//! clock itself, and never hold its lock across an `.await`.
//!
//! Intercom splits the per-minute allowance into 10-second windows; `X-RateLimit-Remaining` is
//! what is left in the current window and `X-RateLimit-Reset` the Unix second it refills
//! (API_FACTS §7). Between responses the limiter keeps a local estimate: each request reserves a
//! slot (decrements `remaining`), so concurrent workers do not all fire into a spent window.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The rate-limit headers of one response (each may be missing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateHeaders {
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    /// Unix seconds at which the window refills, by Intercom's clock.
    pub reset: Option<u64>,
    /// Intercom's clock when it answered (the `Date` header), Unix seconds: lets the limiter
    /// translate `reset` to the local clock when the two disagree.
    pub date: Option<u64>,
}

impl RateHeaders {
    /// Reads `X-RateLimit-Limit/Remaining/Reset`; unparsable values count as missing.
    pub fn from_headers(headers: &reqwest::header::HeaderMap) -> Self {
        let num = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        Self {
            limit: num("x-ratelimit-limit"),
            remaining: num("x-ratelimit-remaining"),
            reset: num("x-ratelimit-reset"),
            date: headers
                .get(reqwest::header::DATE)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_http_date),
        }
    }

    /// `reset` on the local clock: shifted by the difference between Intercom's `Date` and `now`
    /// (a local clock a minute slow would otherwise wait a minute too long).
    fn local_reset(&self, now: SystemTime) -> Option<u64> {
        let reset = self.reset?;
        let Some(date) = self.date else {
            return Some(reset);
        };
        let skew = i128::from(date) - i128::from(unix_secs(now));
        u64::try_from(i128::from(reset) - skew).ok()
    }
}

/// Parses an HTTP `Date` (IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`) into Unix seconds.
pub fn parse_http_date(text: &str) -> Option<u64> {
    let mut parts = text.split_whitespace();
    let _weekday = parts.next()?;
    let day: i64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if parts.next()? != "GMT" || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + m * 60 + sec).ok()
}

/// What to do before sending a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Send now (a slot was reserved).
    Go,
    /// The window is spent; wait this long (until the reset) and ask again.
    Wait(Duration),
}

/// The window length Intercom documents; assumed after a 429 that carries no `Reset`.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(10);

/// The most jitter added to a wait for the window's reset, so that workers released by the same
/// reset do not all fire in the same millisecond (a tenth of the 10-second window).
pub const MAX_JITTER: Duration = Duration::from_secs(1);

/// The local view of the current rate-limit window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimiter {
    limit: Option<u64>,
    /// Slots left in the window as far as we know (Intercom's count minus our reservations).
    remaining: Option<u64>,
    /// Unix seconds of the current window's reset.
    reset_at: Option<u64>,
    /// Requests let go while the window was unknown (no slot to reserve). The first answer about
    /// the new window counts only itself, so the others are taken off its `remaining`; without
    /// this, concurrent callers overshoot every cold start by their number.
    unreserved: u64,
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// How long until `reset_secs`; a reset beyond what the clock can hold (a garbled
/// `X-RateLimit-Reset` such as 18446740730795511616) waits one [`DEFAULT_WINDOW`] instead of
/// panicking (found by the `ratelimit_headers` fuzz target).
/// `percent` (at most 100) of `limit`, rounded down; any limit Intercom sends (up to `u64::MAX`).
fn share(limit: u64, percent: u8) -> u64 {
    let percent = u64::from(percent);
    limit / 100 * percent + limit % 100 * percent / 100
}

fn until(now: SystemTime, reset_secs: u64) -> Duration {
    match UNIX_EPOCH.checked_add(Duration::from_secs(reset_secs)) {
        Some(reset) => reset.duration_since(now).unwrap_or(Duration::ZERO),
        None => DEFAULT_WINDOW,
    }
}

impl RateLimiter {
    /// A limiter that knows nothing yet (the first requests go straight out).
    pub fn new() -> Self {
        Self::default()
    }

    /// The last `X-RateLimit-Limit` seen.
    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// The local estimate of slots left in the current window.
    pub fn remaining(&self) -> Option<u64> {
        self.remaining
    }

    /// Decides whether a request may go now, reserving a slot if so.
    pub fn before_send(&mut self, now: SystemTime) -> Decision {
        self.before_send_leaving(now, 0)
    }

    /// [`Self::before_send`] for a caller that must leave `percent` of each window to others (MCP
    /// clients leave a share to the workers): once no more than that share of the window's limit
    /// is left, it waits for the reset. An unknown window lets it go, as for everyone.
    pub fn before_send_leaving(&mut self, now: SystemTime, percent: u8) -> Decision {
        if self.reset_at.is_some_and(|reset| unix_secs(now) >= reset) {
            // A new window began; its allowance is unknown until the next response says.
            self.remaining = None;
            self.reset_at = None;
            self.unreserved = 0;
        }
        let keep = self.limit.map_or(0, |limit| share(limit, percent.min(100)));
        match (self.remaining, self.reset_at) {
            (Some(n), Some(reset)) if n == 0 || n <= keep => Decision::Wait(until(now, reset)),
            (Some(n), _) => {
                self.remaining = Some(n - 1);
                Decision::Go
            }
            (None, _) => {
                self.unreserved += 1;
                Decision::Go
            }
        }
    }

    /// Gives back a slot reserved by [`Self::before_send`] for a request that never left (a
    /// connection failure), so the estimate does not drift low.
    pub fn release(&mut self) {
        match self.remaining {
            Some(n) => self.remaining = Some(n.saturating_add(1)),
            None => self.unreserved = self.unreserved.saturating_sub(1),
        }
    }

    /// Folds in the headers of a response (any status).
    pub fn on_response(&mut self, now: SystemTime, headers: RateHeaders) {
        if headers.limit.is_some() {
            self.limit = headers.limit;
        }
        let (Some(remaining), Some(reset)) = (headers.remaining, headers.local_reset(now)) else {
            return;
        };
        if reset <= unix_secs(now) {
            // Describes a window that is already over (a slow response): nothing to learn.
            return;
        }
        match self.reset_at {
            Some(current) if reset == current => {
                // Same window: Intercom's count may be lower (other apps share the workspace
                // limit), ours may be lower (requests reserved but not answered yet).
                self.remaining = Some(self.remaining.map_or(remaining, |r| r.min(remaining)));
            }
            Some(current) if reset < current => {} // an older window answering late
            _ => {
                // This answer is one of the unreserved requests; the others may not be counted yet.
                let others = self.unreserved.saturating_sub(1);
                self.remaining = Some(remaining.saturating_sub(others));
                self.reset_at = Some(reset);
                self.unreserved = 0;
            }
        }
    }

    /// A 429: the window is spent until its `Reset` (at least the next second; without a
    /// `Reset`, for [`DEFAULT_WINDOW`]). The next [`Self::before_send`] says how long to wait.
    pub fn on_rate_limited(&mut self, now: SystemTime, headers: RateHeaders) {
        self.on_response(now, headers);
        let now_secs = unix_secs(now);
        let reset = match headers.local_reset(now) {
            Some(reset) => reset.max(now_secs + 1),
            None => now_secs + DEFAULT_WINDOW.as_secs(),
        };
        self.remaining = Some(0);
        self.reset_at = Some(self.reset_at.map_or(reset, |r| r.max(reset)));
    }
}

/// `wait` plus up to [`MAX_JITTER`]; `unit` is a random number in `[0, 1)`.
pub fn with_jitter(wait: Duration, unit: f64) -> Duration {
    wait + MAX_JITTER.mul_f64(unit.clamp(0.0, 1.0))
}

/// The first back-off after a 5xx or a transport error; doubled per attempt.
pub const BACKOFF_BASE: Duration = Duration::from_millis(250);

/// The longest back-off between two attempts: keeps a worker's total retry time to a few seconds.
pub const BACKOFF_CAP: Duration = Duration::from_secs(4);

/// Back-off before retry number `retry` (1, 2, …): exponential from [`BACKOFF_BASE`], capped at
/// [`BACKOFF_CAP`], "equal jitter" (half fixed, half random; `unit` in `[0, 1)`).
pub fn backoff(retry: u32, unit: f64) -> Duration {
    let exp = BACKOFF_BASE
        .saturating_mul(1u32 << retry.saturating_sub(1).min(16))
        .min(BACKOFF_CAP);
    exp / 2 + (exp / 2).mul_f64(unit.clamp(0.0, 1.0))
}

/// Counters of one client (all clones together), for tests and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests sent (retries included).
    pub requests: u64,
    /// 429 answers received.
    pub rate_limited: u64,
    /// Times a request waited for a window's reset.
    pub waits: u64,
    /// Total time spent waiting for resets.
    pub total_wait: Duration,
    /// Retries after a 429, a 5xx or a transport error.
    pub retries: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_beyond_the_clock_waits_one_window_instead_of_panicking() {
        // The fuzz target's crash input: Remaining -1 (ignored), Reset near u64::MAX.
        let now = UNIX_EPOCH + Duration::from_secs(1_767_000_000);
        let mut limiter = RateLimiter::new();
        let headers = RateHeaders {
            limit: Some(2),
            remaining: Some(0),
            reset: Some(18_446_740_730_795_511_616),
            date: None,
        };
        limiter.on_response(now, headers);
        assert_eq!(limiter.before_send(now), Decision::Wait(DEFAULT_WINDOW));
        limiter.on_rate_limited(now, headers);
        assert_eq!(limiter.before_send(now), Decision::Wait(DEFAULT_WINDOW));
    }

    #[test]
    fn a_limit_near_u64_max_leaves_its_share_to_others_instead_of_panicking() {
        // The fuzz target's crash input: X-RateLimit-Limit 8474464073709551608 (times 20% overflowed).
        let now = UNIX_EPOCH + Duration::from_secs(1_767_000_000);
        let mut limiter = RateLimiter::new();
        let headers = RateHeaders {
            limit: Some(8_474_464_073_709_551_608),
            remaining: Some(12),
            reset: Some(1_767_000_060),
            date: None,
        };
        limiter.on_response(now, headers);
        assert_eq!(
            limiter.before_send_leaving(now, 20),
            Decision::Wait(Duration::from_secs(60))
        );
        assert_eq!(limiter.before_send_leaving(now, 0), Decision::Go);
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn headers(remaining: u64, reset: u64) -> RateHeaders {
        RateHeaders {
            limit: Some(166),
            remaining: Some(remaining),
            reset: Some(reset),
            date: None,
        }
    }

    #[test]
    fn a_caller_leaving_a_share_waits_once_only_that_share_is_left_and_others_still_go() {
        let mut l = RateLimiter::new();
        // Limit 166 per window, 50% left to the workers: keep 83.
        l.on_response(at(1000), headers(85, 1004));
        assert_eq!(l.before_send_leaving(at(1000), 50), Decision::Go);
        assert_eq!(l.before_send_leaving(at(1000), 50), Decision::Go);
        assert_eq!(
            l.before_send_leaving(at(1000), 50),
            Decision::Wait(Duration::from_secs(4))
        );
        // The workers still have their 83.
        for _ in 0..83 {
            assert_eq!(l.before_send(at(1001)), Decision::Go);
        }
        assert!(matches!(l.before_send(at(1001)), Decision::Wait(_)));
        // A new window: the share-leaving caller goes again.
        assert_eq!(l.before_send_leaving(at(1004), 50), Decision::Go);
    }

    #[test]
    fn an_unknown_window_lets_requests_go() {
        let mut l = RateLimiter::new();
        assert_eq!(l.before_send(at(1000)), Decision::Go);
        assert_eq!(l.before_send(at(1000)), Decision::Go);
    }

    #[test]
    fn eight_concurrent_callers_share_the_five_slots_left_then_wait_for_the_reset() {
        let mut l = RateLimiter::new();
        l.on_response(at(1000), headers(5, 1003));
        let decisions: Vec<Decision> = (0..8).map(|_| l.before_send(at(1000))).collect();
        let go = decisions.iter().filter(|d| **d == Decision::Go).count();
        assert_eq!(go, 5);
        for d in &decisions[5..] {
            assert_eq!(*d, Decision::Wait(Duration::from_secs(3)));
        }
        // Halfway through, the wait shrinks; at the reset everyone may go again.
        assert_eq!(
            l.before_send(at(1002)),
            Decision::Wait(Duration::from_secs(1))
        );
        assert_eq!(l.before_send(at(1003)), Decision::Go);
    }

    #[test]
    fn requests_sent_before_the_window_was_known_are_taken_off_its_first_count() {
        let mut l = RateLimiter::new();
        for _ in 0..8 {
            assert_eq!(l.before_send(at(1000)), Decision::Go);
        }
        // The first answer counted only itself: 49 of 50 left, but 7 more are on their way.
        l.on_response(at(1000), headers(49, 1001));
        assert_eq!(l.remaining(), Some(42));
        // The others' answers say less than 49 but no less than what is really left.
        l.on_response(at(1000), headers(43, 1001));
        assert_eq!(l.remaining(), Some(42));
    }

    #[test]
    fn a_late_response_with_more_remaining_does_not_undo_reservations() {
        let mut l = RateLimiter::new();
        l.on_response(at(1000), headers(3, 1010));
        for _ in 0..3 {
            assert_eq!(l.before_send(at(1001)), Decision::Go);
        }
        // The answer to the first of the three says 2 were left when it was counted.
        l.on_response(at(1001), headers(2, 1010));
        assert_eq!(l.remaining(), Some(0));
        assert!(matches!(l.before_send(at(1001)), Decision::Wait(_)));
    }

    #[test]
    fn a_lower_count_from_intercom_wins_within_the_same_window() {
        let mut l = RateLimiter::new();
        l.on_response(at(1000), headers(100, 1010));
        l.on_response(at(1001), headers(0, 1010));
        assert_eq!(
            l.before_send(at(1001)),
            Decision::Wait(Duration::from_secs(9))
        );
    }

    #[test]
    fn a_new_window_replaces_the_old_one_but_a_stale_one_is_ignored() {
        let mut l = RateLimiter::new();
        l.on_response(at(1000), headers(0, 1010));
        l.on_response(at(1011), headers(50, 1020));
        assert_eq!(l.remaining(), Some(50));
        l.on_response(at(1012), headers(0, 1010));
        assert_eq!(l.remaining(), Some(50));
        assert_eq!(l.limit(), Some(166));
    }

    #[test]
    fn a_429_with_reset_waits_until_reset_and_jitter_stays_bounded() {
        let mut l = RateLimiter::new();
        l.on_rate_limited(at(2000), headers(0, 2007));
        let Decision::Wait(wait) = l.before_send(at(2000)) else {
            panic!("expected a wait after a 429");
        };
        assert_eq!(wait, Duration::from_secs(7));
        assert_eq!(with_jitter(wait, 0.0), Duration::from_secs(7));
        let most = with_jitter(wait, 0.999_999);
        assert!(most > Duration::from_secs(7) && most <= Duration::from_secs(8));
        assert_eq!(with_jitter(wait, 7.0), Duration::from_secs(8));
    }

    #[test]
    fn a_429_without_headers_waits_one_documented_window() {
        let mut l = RateLimiter::new();
        l.on_rate_limited(at(2000), RateHeaders::default());
        assert_eq!(l.before_send(at(2000)), Decision::Wait(DEFAULT_WINDOW));
    }

    #[test]
    fn a_429_whose_reset_already_passed_waits_one_second_not_a_window() {
        let mut l = RateLimiter::new();
        l.on_rate_limited(at(2000), headers(0, 1999));
        assert_eq!(
            l.before_send(at(2000)),
            Decision::Wait(Duration::from_secs(1))
        );
    }

    #[test]
    fn a_429_with_remaining_left_still_spends_the_window() {
        // The 429 may come from another limit (workspace-wide, export jobs): trust the 429.
        let mut l = RateLimiter::new();
        l.on_rate_limited(at(2000), headers(40, 2005));
        assert_eq!(
            l.before_send(at(2001)),
            Decision::Wait(Duration::from_secs(4))
        );
    }

    #[test]
    fn a_released_slot_can_be_used_again() {
        let mut l = RateLimiter::new();
        l.on_response(at(1000), headers(1, 1010));
        assert_eq!(l.before_send(at(1000)), Decision::Go);
        l.release();
        assert_eq!(l.before_send(at(1000)), Decision::Go);
        assert!(matches!(l.before_send(at(1000)), Decision::Wait(_)));
    }

    #[test]
    fn rate_headers_are_read_and_garbage_is_ignored() {
        let mut map = reqwest::header::HeaderMap::new();
        map.insert(
            "X-RateLimit-Limit",
            "10000".parse().unwrap_or_else(|_| panic!()),
        );
        map.insert(
            "X-RateLimit-Remaining",
            "42".parse().unwrap_or_else(|_| panic!()),
        );
        map.insert(
            "X-RateLimit-Reset",
            "soon".parse().unwrap_or_else(|_| panic!()),
        );
        assert_eq!(
            RateHeaders::from_headers(&map),
            RateHeaders {
                limit: Some(10000),
                remaining: Some(42),
                reset: None,
                date: None,
            }
        );
    }

    #[test]
    fn http_dates_parse_to_unix_seconds() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Sat, 29 Feb 2020 12:00:00 GMT"),
            Some(1_582_977_600)
        );
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("garbage"), None);
    }

    #[test]
    fn a_local_clock_a_minute_slow_still_waits_only_until_intercoms_reset() {
        let mut l = RateLimiter::new();
        let mut h = headers(0, 1067);
        h.date = Some(1060); // Intercom's clock; ours says 1000.
        l.on_response(at(1000), h);
        assert_eq!(
            l.before_send(at(1000)),
            Decision::Wait(Duration::from_secs(7))
        );
        let mut l = RateLimiter::new();
        l.on_rate_limited(at(1000), h);
        assert_eq!(
            l.before_send(at(1000)),
            Decision::Wait(Duration::from_secs(7))
        );
    }

    #[test]
    fn back_off_doubles_is_capped_and_jittered_within_half() {
        assert_eq!(backoff(1, 0.0), Duration::from_millis(125));
        assert_eq!(backoff(2, 0.0), Duration::from_millis(250));
        assert!(backoff(2, 0.99) < Duration::from_millis(500));
        assert_eq!(backoff(30, 0.0), BACKOFF_CAP / 2);
        assert!(backoff(30, 0.99) <= BACKOFF_CAP);
    }
}
