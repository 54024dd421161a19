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
mod tests;
