//! The shared rate limiter under concurrency, and what a 429 does.

use std::time::{Duration, Instant, SystemTime};

use secrecy::SecretString;
use triaged::intercom::{IntercomClient, IntercomError};

use super::{client, unix_now};
use crate::sandbox::Sim;

/// The `X-RateLimit-Reset` of an answer.
fn reset_of(answer: &crate::sandbox::Answer) -> i64 {
    answer.headers["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Spends the sandbox's current window from outside the client (raw HTTP, so the client's limiter
/// knows nothing) and returns the window's reset from the first 429.
async fn exhaust_window(sim: &Sim) -> i64 {
    for _ in 0..100 {
        let answer = sim.get("/me").await;
        if answer.status == 429 {
            return reset_of(&answer);
        }
    }
    panic!("the sandbox never answered 429");
}

#[tokio::test]
async fn eight_tasks_sharing_one_client_make_1000_calls_within_a_budget_of_50_per_window() {
    // One-second windows: the shortest X-RateLimit-Reset (whole Unix seconds) can describe.
    let sim = Sim::start_with(|c| {
        c.rate_limit = 50;
        c.rate_window = Duration::from_secs(1);
    })
    .await;
    let client = client(&sim);
    let started = Instant::now();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move {
                for _ in 0..125 {
                    client.me().await?;
                }
                Ok::<_, IntercomError>(())
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().expect("no call fails");
    }
    let elapsed = started.elapsed();
    let stats = sim.sandbox.stats();
    let mine = client.stats();
    eprintln!(
        "1000 calls in {elapsed:?}; sandbox: {} requests, {} throttled, peak {} per window; client: {mine:?}",
        stats.requests, stats.throttled, stats.peak_window_requests
    );
    assert_eq!(stats.requests, 1000 + stats.throttled);
    assert_eq!(mine.requests, stats.requests);
    assert_eq!(mine.rate_limited, stats.throttled);
    assert!(stats.throttled <= 8, "{} 429s", stats.throttled);
    assert!(
        stats.peak_window_requests <= 50 + stats.throttled,
        "{} requests in one window",
        stats.peak_window_requests
    );
    assert!(mine.waits > 0, "the client paced itself");
    // 1000 calls at 50 per one-second window span at least 20 windows: the first may be entered
    // at its very end, the last left at its very start, so at least 18 s pass.
    assert!(elapsed >= Duration::from_secs(18), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(40), "{elapsed:?}");
}

#[tokio::test]
async fn a_429_waits_until_x_ratelimit_reset_then_succeeds() {
    let sim = Sim::start_with(|c| {
        c.rate_limit = 3;
        c.rate_window = Duration::from_secs(2);
    })
    .await;
    // If the window turns over between spending it and the client's call, the client sees no
    // 429: try again in the next window.
    for _ in 0..3 {
        let reset = exhaust_window(&sim).await;
        let client = client(&sim);
        let called_at = SystemTime::now();
        let started = Instant::now();
        let me = client.me().await.expect("succeeds after the wait");
        let elapsed = started.elapsed();
        let stats = client.stats();
        if stats.rate_limited == 0 {
            continue;
        }
        assert_eq!(me.id.as_str(), sim.sandbox.bot_admin_id());
        let until_reset = (std::time::UNIX_EPOCH + Duration::from_secs(reset as u64))
            .duration_since(called_at)
            .unwrap_or(Duration::ZERO);
        eprintln!("reset in {until_reset:?}, waited {elapsed:?}, client {stats:?}");
        assert!(
            elapsed + Duration::from_millis(20) >= until_reset,
            "retried before the reset: {elapsed:?} < {until_reset:?}"
        );
        // The wait is the reset plus at most 1 s of jitter (and a second of Date rounding).
        assert!(
            elapsed <= until_reset + Duration::from_millis(2_500),
            "{elapsed:?} vs {until_reset:?}"
        );
        assert_eq!(stats.rate_limited, 1);
        assert_eq!(stats.requests, 2);
        assert_eq!(stats.waits, 1);
        assert!(stats.total_wait + Duration::from_millis(20) >= until_reset);
        return;
    }
    panic!("three windows turned over before the client's call");
}

#[tokio::test]
async fn after_the_sandbox_clock_moves_a_429_still_waits_for_the_sandbox_window_not_the_offset() {
    let sim = Sim::start_with(|c| {
        c.rate_limit = 3;
        c.rate_window = Duration::from_secs(2);
    })
    .await;
    sim.sandbox.advance_clock(Duration::from_secs(3600));
    let date = sim.get("/me").await.headers["date"]
        .to_str()
        .unwrap()
        .to_owned();
    let date = triaged::intercom::ratelimit::parse_http_date(&date).unwrap() as i64;
    assert!(
        (date - (unix_now() + 3600)).abs() <= 2,
        "Date is the sandbox's clock: {date}"
    );
    for _ in 0..3 {
        exhaust_window(&sim).await;
        let client = client(&sim);
        let started = Instant::now();
        client
            .me()
            .await
            .expect("succeeds after the sandbox window");
        if client.stats().rate_limited == 0 {
            continue; // the window turned over first
        }
        // Reset is an hour ahead of the wall clock, and so is Date: the wait is the window's.
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        return;
    }
    panic!("three windows turned over before the client's call");
}

#[tokio::test]
async fn a_429_whose_wait_exceeds_max_wait_returns_retry_later_at_once() {
    let sim = Sim::start_with(|c| {
        c.rate_limit = 1;
        c.rate_window = Duration::from_secs(3600);
    })
    .await;
    if unix_now() % 3600 > 3590 {
        // Too close to the end of the window: move the sandbox into the next one.
        sim.sandbox.advance_clock(Duration::from_secs(20));
    }
    exhaust_window(&sim).await;
    let client = IntercomClient::builder(
        sim.sandbox.base_url(),
        SecretString::from(sim.token.clone()),
    )
    .max_wait(Duration::from_secs(1))
    .build()
    .unwrap();
    let started = Instant::now();
    let result = client.me().await;
    let elapsed = started.elapsed();
    let Err(IntercomError::RetryLater { after }) = result else {
        panic!("expected RetryLater, got {result:?}");
    };
    assert!(after > Duration::from_secs(1), "{after:?}");
    assert!(
        elapsed < Duration::from_millis(500),
        "returned at once: {elapsed:?}"
    );
    let stats = client.stats();
    assert_eq!((stats.requests, stats.rate_limited, stats.waits), (1, 1, 0));
    assert!(IntercomError::RetryLater { after }.is_transient());
}
