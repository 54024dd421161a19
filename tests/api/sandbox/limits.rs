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

/// A raw REST call that skips the contract check (a load balancer's page is not in the spec).
async fn raw_post(sim: &Sim, token: &str, path: &str, body: Value) -> (u16, String, String) {
    let resp = sim
        .client
        .post(format!("{}{path}", sim.base))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, content_type, resp.text().await.expect("body"))
}

#[tokio::test]
async fn error_after_write_applies_the_write_then_answers_a_load_balancer_502() {
    let sim = Sim::start().await;
    sim.sandbox.set_faults(Faults {
        error_after_write: 1,
        ..Faults::default()
    });
    assert_eq!(sim.get("/me").await.status, 200, "reads are untouched");
    let path = format!("/conversations/{REFUND_CONVERSATION}/reply");
    let reply = json!({"type": "admin", "admin_id": MAYA, "message_type": "comment", "body": "applied anyway"});
    let (status, content_type, page) = raw_post(&sim, &sim.token, &path, reply).await;
    assert_eq!(status, 502);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(page.contains("502 Bad Gateway"), "{page}");
    let state = sim.sandbox.conversation(REFUND_CONVERSATION).unwrap();
    assert_eq!(
        parts(&state).last().unwrap()["body"],
        "<p>applied anyway</p>",
        "the write was applied before the 502"
    );
    assert_eq!(sim.sandbox.stats().errors_after_write, 1);
    let next = sim
        .post(
            &path,
            json!({"type": "admin", "admin_id": MAYA, "message_type": "note", "body": "n"}),
        )
        .await;
    assert_eq!(next.status, 200, "only the next N writes are answered 502");
}

#[tokio::test]
async fn error_after_write_from_the_control_api_answers_504_and_skips_refused_writes() {
    let sim = Sim::start().await;
    let set = sim
        .control(
            Method::PUT,
            "/_sandbox/faults",
            json!({"error_after_write": 1, "error_after_write_status": 504}),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(set.body["error_after_write_status"], 504);
    let refused = sim
        .post(
            "/conversations/999999/reply",
            json!({"type": "admin", "admin_id": MAYA, "message_type": "comment", "body": "x"}),
        )
        .await;
    assert_error(&refused, 404, "not_found");
    let path = format!("/conversations/{REFUND_CONVERSATION}/parts");
    let close = json!({"message_type": "close", "type": "admin", "admin_id": MAYA});
    let (status, _, page) = raw_post(&sim, &sim.token, &path, close).await;
    assert_eq!(status, 504, "the refused write did not use up the fault");
    assert!(page.contains("504 Gateway Timeout"), "{page}");
    assert_eq!(
        sim.sandbox.conversation(REFUND_CONVERSATION).unwrap()["state"],
        "closed"
    );
    let bad = sim
        .control(
            Method::PUT,
            "/_sandbox/faults",
            json!({"error_after_write": 1, "error_after_write_status": 503}),
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
}

#[tokio::test]
async fn a_second_app_writes_parts_with_its_own_package_code() {
    let sim = Sim::start().await;
    let unknown = raw_post(
        &sim,
        "other-token",
        &format!("/conversations/{REFUND_CONVERSATION}/reply"),
        json!({"type": "user", "intercom_user_id": PRIYA, "message_type": "comment", "body": "x"}),
    )
    .await;
    assert_eq!(unknown.0, 401, "an unregistered token is refused");
    let added = sim
        .control(
            Method::POST,
            "/_sandbox/apps",
            json!({"access_token": "whatsapp-token", "package_code": "whatsapp-connector"}),
        )
        .await;
    assert_eq!(added.status, 200, "{}", added.body);
    let (status, _, body) = raw_post(
        &sim,
        "whatsapp-token",
        &format!("/conversations/{REFUND_CONVERSATION}/reply"),
        json!({"type": "user", "intercom_user_id": PRIYA, "message_type": "comment", "body": "Sent from WhatsApp"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let own = sim
        .post(
            &format!("/conversations/{REFUND_CONVERSATION}/reply"),
            json!({"type": "admin", "admin_id": MAYA, "message_type": "note", "body": "ours"}),
        )
        .await;
    assert_eq!(own.status, 200);
    sim.sandbox.add_app("mail-token", "mail-bridge");
    let mail = sim
        .client
        .post(format!(
            "{}/conversations/{REFUND_CONVERSATION}/parts",
            sim.base
        ))
        .bearer_auth("mail-token")
        .json(&json!({"message_type": "assignment", "type": "admin", "admin_id": MAYA, "assignee_id": TOM}))
        .send()
        .await
        .unwrap();
    assert_eq!(mail.status(), 200);
    let state = sim.sandbox.conversation(REFUND_CONVERSATION).unwrap();
    let last: Vec<(Value, Value)> = parts(&state)
        .iter()
        .rev()
        .take(3)
        .rev()
        .map(|p| (p["author"]["type"].clone(), p["app_package_code"].clone()))
        .collect();
    assert_eq!(
        last,
        [
            (json!("user"), json!("whatsapp-connector")),
            (json!("admin"), json!(APP_PACKAGE_CODE)),
            (json!("admin"), json!("mail-bridge")),
        ]
    );
}

#[tokio::test]
async fn control_api_messages_can_come_through_another_integration() {
    let sim = Sim::start().await;
    let reply = sim
        .control(
            Method::POST,
            &format!("/_sandbox/customer/conversations/{REFUND_CONVERSATION}/reply"),
            json!({"contact_id": PRIYA, "body": "via connector", "app_package_code": "whatsapp-connector"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let teammate = sim
        .control(
            Method::POST,
            &format!("/_sandbox/teammate/conversations/{REFUND_CONVERSATION}/reply"),
            json!({"admin_id": MAYA, "body": "answered from Slack", "app_package_code": "slack-bridge"}),
        )
        .await;
    assert_eq!(teammate.status, 200, "{}", teammate.body);
    sim.sandbox
        .customer_says_via_app(REFUND_CONVERSATION, PRIYA, "again", "whatsapp-connector")
        .await
        .unwrap();
    sim.sandbox
        .teammate_via_app(
            REFUND_CONVERSATION,
            MAYA,
            TeammateAction::Reply {
                note: true,
                body: "from Slack".into(),
            },
            "slack-bridge",
        )
        .await
        .unwrap();
    sim.sandbox
        .customer_says(Some(REFUND_CONVERSATION), PRIYA, "from the Messenger")
        .await
        .unwrap();
    let state = sim.sandbox.conversation(REFUND_CONVERSATION).unwrap();
    let codes: Vec<Value> = parts(&state)
        .iter()
        .rev()
        .take(5)
        .rev()
        .map(|p| p["app_package_code"].clone())
        .collect();
    assert_eq!(
        codes,
        [
            json!("whatsapp-connector"),
            json!("slack-bridge"),
            json!("whatsapp-connector"),
            json!("slack-bridge"),
            Value::Null
        ]
    );
    assert_eq!(parts(&state).last().unwrap()["author"]["type"], "user");
}
