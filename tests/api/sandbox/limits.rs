//! Rate limits and fault injection.

use super::*;

#[tokio::test]
async fn rate_limit_headers_count_down_and_a_spent_budget_answers_429_until_the_window_refills() {
    // A long window so the test never straddles a window boundary; the clock moves it on.
    let sim = Sim::start_with(|c| {
        c.rate_limit = 3;
        c.rate_window = Duration::from_secs(3600);
    })
    .await;
    let first = sim.get("/me").await;
    assert_eq!(first.headers["x-ratelimit-limit"], "3");
    assert_eq!(first.headers["x-ratelimit-remaining"], "2");
    let reset: i64 = first.headers["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        reset > chrono_now() - 1 && reset <= chrono_now() + 3601,
        "reset {reset} is a Unix time within the window"
    );
    sim.get("/me").await;
    sim.get("/teams").await;
    let throttled = sim.get("/me").await;
    assert_error(&throttled, 429, "rate_limit_exceeded");
    assert_eq!(throttled.headers["x-ratelimit-remaining"], "0");
    let stats = sim.sandbox.stats();
    assert_eq!(stats.requests, 4);
    assert_eq!(stats.throttled, 1);
    assert_eq!(
        stats.per_endpoint.get("GET /me"),
        Some(&2),
        "a throttled request reaches no endpoint"
    );
    sim.sandbox.advance_clock(Duration::from_secs(3600));
    assert_eq!(
        sim.get("/me").await.status,
        200,
        "the next window refills the budget"
    );
}

#[tokio::test]
async fn an_error_share_of_one_answers_500_and_latency_delays_answers() {
    let sim = Sim::start().await;
    sim.sandbox.set_faults(Faults {
        error_share: 1.0,
        ..Faults::default()
    });
    assert_error(&sim.get("/me").await, 500, "server_error");
    assert_eq!(sim.sandbox.stats().injected_errors, 1);
    sim.sandbox.set_faults(Faults {
        latency: Duration::from_millis(150),
        ..Faults::default()
    });
    let started = std::time::Instant::now();
    assert_eq!(sim.get("/me").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
    let set = sim
        .control(Method::PUT, "/_sandbox/faults", json!({"error_share": 2.0}))
        .await;
    assert_eq!(set.status, 400);
}

#[tokio::test]
async fn drop_after_write_applies_the_write_but_the_client_sees_no_response() {
    let sim = Sim::start().await;
    sim.sandbox.set_faults(Faults {
        drop_after_write: 1,
        ..Faults::default()
    });
    assert_eq!(sim.get("/me").await.status, 200, "reads are not dropped");
    let result = sim
        .client
        .post(format!("{}/conversations/{REFUND_CONVERSATION}/reply", sim.base))
        .bearer_auth(&sim.token)
        .json(&json!({"type": "admin", "admin_id": MAYA, "message_type": "comment", "body": "lost answer"}))
        .send()
        .await;
    let failed = match result {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(failed, "the client must see a lost response");
    let state = sim.sandbox.conversation(REFUND_CONVERSATION).unwrap();
    assert_eq!(
        parts(&state).last().unwrap()["body"],
        "<p>lost answer</p>",
        "the write happened"
    );
    assert_eq!(sim.sandbox.stats().dropped_responses, 1);
    let next = sim
        .post(
            &format!("/conversations/{REFUND_CONVERSATION}/reply"),
            json!({"type": "admin", "admin_id": MAYA, "message_type": "note", "body": "n"}),
        )
        .await;
    assert_eq!(next.status, 200, "only the next N writes are dropped");
}
