//! The limiter's unit tests: header parsing, waits, and the share left to MCP clients.

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
