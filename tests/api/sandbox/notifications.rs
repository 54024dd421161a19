//! Signed notifications and the control API.

use super::*;

#[tokio::test]
async fn control_api_changes_emit_signed_notifications_with_real_topics_and_plain_text() {
    let (url, got) = receiver().await;
    let sim = Sim::start_with(|c| c.webhook_url = Some(url)).await;
    let started = sim
        .control(
            Method::POST,
            "/_sandbox/customer/conversations",
            json!({"contact_id": PRIYA, "body": "My <b>invoice</b> is wrong"}),
        )
        .await;
    let id = started.body["conversation_id"].as_str().unwrap().to_owned();
    for (action, body) in [
        (
            "reply",
            json!({"admin_id": MAYA, "body": "Looking into it"}),
        ),
        ("note", json!({"admin_id": MAYA, "body": "check billing"})),
        ("assign", json!({"admin_id": MAYA, "assignee_id": TOM})),
        (
            "snooze",
            json!({"admin_id": MAYA, "snoozed_until": chrono_now() + 600}),
        ),
        ("open", json!({"admin_id": MAYA})),
        ("close", json!({"admin_id": MAYA})),
    ] {
        let a = sim
            .control(
                Method::POST,
                &format!("/_sandbox/teammate/conversations/{id}/{action}"),
                body,
            )
            .await;
        assert_eq!(a.status, 200, "{action}: {}", a.body);
    }
    sim.sandbox
        .customer_says(Some(&id), PRIYA, "Still wrong")
        .await
        .unwrap();
    sim.sandbox.flush_webhooks().await;
    let got = got.lock().unwrap().clone();
    let topics: Vec<String> = got
        .iter()
        .map(|r| r.json()["topic"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        topics,
        [
            "conversation.user.created",
            "conversation.admin.replied",
            "conversation.admin.noted",
            "conversation.admin.assigned",
            "conversation.admin.snoozed",
            "conversation.admin.opened",
            "conversation.admin.closed",
            "conversation.user.replied",
        ]
    );
    for r in &got {
        verify(r);
        let n = r.json();
        assert_eq!(n["type"], "notification_event");
        assert!(n["id"].as_str().unwrap().starts_with("notif_"));
        assert_eq!(n["app_id"], "sandbox1");
        assert_eq!(n["delivery_attempts"], 1);
        assert!(n["created_at"].is_i64() && n["first_sent_at"].is_i64());
        assert_eq!(n["data"]["type"], "notification_event_data");
        assert_eq!(n["data"]["item"]["id"], id.as_str());
    }
    let created = got[0].json();
    assert_eq!(
        created["data"]["item"]["source"]["body"], "My <b>invoice</b> is wrong",
        "escaped text comes back as typed"
    );
    assert_eq!(
        created["data"]["item"]["conversation_parts"]["total_count"],
        0
    );
    let replied = got[1].json();
    let item_parts = &replied["data"]["item"]["conversation_parts"];
    assert_eq!(item_parts["total_count"], 1, "only the new part");
    assert_eq!(
        item_parts["conversation_parts"][0]["body"], "Looking into it",
        "plain text in webhooks"
    );
    assert_eq!(
        item_parts["conversation_parts"][0]["app_package_code"],
        Value::Null,
        "a human in the UI"
    );
    let reopened = got[7].json();
    assert_eq!(
        reopened["data"]["item"]["conversation_parts"]["conversation_parts"][0]["part_type"],
        "open"
    );
    assert_eq!(sim.sandbox.stats().webhooks_delivered, 8);
}

#[tokio::test]
async fn a_bot_reply_through_rest_is_notified_on_both_admin_and_operator_topics() {
    let (url, got) = receiver().await;
    let sim = Sim::start().await;
    sim.sandbox.set_webhook_url(Some(url));
    let bot = sim.sandbox.bot_admin_id();
    let reply = sim.post(&format!("/conversations/{REFUND_CONVERSATION}/reply"), json!({"type": "admin", "admin_id": bot, "message_type": "comment", "body": "Refund on its way"})).await;
    assert_eq!(parts(&reply.body)[0]["author"]["type"], "bot");
    let close = sim
        .post(
            &format!("/conversations/{REFUND_CONVERSATION}/parts"),
            json!({"message_type": "close", "type": "admin", "admin_id": bot}),
        )
        .await;
    assert_eq!(close.status, 200);
    sim.sandbox.flush_webhooks().await;
    let got = got.lock().unwrap().clone();
    let notes: Vec<Value> = got.iter().map(Received::json).collect();
    let topics: Vec<&str> = notes.iter().map(|n| n["topic"].as_str().unwrap()).collect();
    assert_eq!(
        topics,
        [
            "conversation.admin.replied",
            "conversation.operator.replied",
            "conversation.admin.closed"
        ]
    );
    let part = |n: &Value| n["data"]["item"]["conversation_parts"]["conversation_parts"][0].clone();
    assert_eq!(
        part(&notes[0])["id"],
        part(&notes[1])["id"],
        "the same part on both topics"
    );
    assert_ne!(notes[0]["id"], notes[1]["id"], "two notifications");
    assert_eq!(part(&notes[0])["app_package_code"], APP_PACKAGE_CODE);
    got.iter().for_each(verify);
}

#[tokio::test]
async fn the_control_api_reads_full_state_and_stats() {
    let sim = Sim::start().await;
    let id = sim
        .sandbox
        .customer_says(None, PRIYA, "hello")
        .await
        .unwrap();
    sim.get("/me").await;
    let state = sim
        .control(
            Method::GET,
            &format!("/_sandbox/conversations/{id}"),
            Value::Null,
        )
        .await;
    assert_eq!(state.body["source"]["body"], "<p>hello</p>");
    let stats = sim
        .control(Method::GET, "/_sandbox/stats", Value::Null)
        .await;
    assert_eq!(
        stats.body["requests"], 1,
        "control calls are not REST requests"
    );
    assert_eq!(stats.body["per_endpoint"]["GET /me"], 1);
    let bad = sim
        .control(
            Method::POST,
            "/_sandbox/customer/conversations",
            json!({"contact_id": MERGED_AIKO, "body": "x"}),
        )
        .await;
    assert_eq!(bad.status, 410);
}

#[tokio::test]
async fn a_teammate_closing_in_the_inbox_is_notified_without_the_app_code() {
    let (url, got) = receiver().await;
    let sim = Sim::start_with(|c| c.webhook_url = Some(url)).await;
    let close = TeammateAction::Close {
        body: Some("Solved on the phone".into()),
    };
    sim.sandbox
        .teammate(REFUND_CONVERSATION, MAYA, close)
        .await
        .unwrap();
    let err = sim
        .sandbox
        .teammate(REFUND_CONVERSATION, "1", TeammateAction::Open)
        .await;
    assert!(err.unwrap_err().to_string().contains("admin_not_found"));
    sim.sandbox.flush_webhooks().await;
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "a refused action emits nothing");
    let n = got[0].json();
    assert_eq!(n["topic"], "conversation.admin.closed");
    let part = &n["data"]["item"]["conversation_parts"]["conversation_parts"][0];
    assert_eq!(part["part_type"], "close");
    assert_eq!(part["body"], "Solved on the phone");
    assert_eq!(part["app_package_code"], Value::Null);
    assert_eq!(
        sim.sandbox.conversation(REFUND_CONVERSATION).unwrap()["state"],
        "closed"
    );
}

#[tokio::test]
async fn shutdown_delivers_pending_notifications_then_stops_serving() {
    let (url, got) = receiver().await;
    let sim = Sim::start_with(|c| c.webhook_url = Some(url)).await;
    sim.sandbox
        .customer_says(None, PRIYA, "last words")
        .await
        .unwrap();
    let base = sim.base.clone();
    sim.sandbox.shutdown().await;
    assert_eq!(
        got.lock().unwrap().len(),
        1,
        "the pending notification went out first"
    );
    assert!(
        sim.client.get(format!("{base}/me")).send().await.is_err(),
        "the port is closed"
    );
}

/// A webhook receiver that answers 503 to its first `failures` notifications, then 200.
async fn flaky_receiver(failures: usize) -> (String, Arc<Mutex<Vec<Received>>>) {
    type Got = Arc<Mutex<Vec<Received>>>;
    async fn hook(
        State((got, failures)): State<(Got, usize)>,
        headers: HeaderMap,
        body: Bytes,
    ) -> axum::http::StatusCode {
        let mut got = got.lock().unwrap();
        got.push(Received { headers, body });
        if got.len() <= failures {
            axum::http::StatusCode::SERVICE_UNAVAILABLE
        } else {
            axum::http::StatusCode::OK
        }
    }
    let got: Got = Arc::default();
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state((got.clone(), failures));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), got)
}

#[tokio::test]
async fn a_failed_notification_is_redelivered_once_after_the_delay_with_the_same_id() {
    let (url, got) = flaky_receiver(1).await;
    let sim = Sim::start_with(|c| {
        c.webhook_url = Some(url);
        c.redeliver_after = Some(Duration::from_millis(200));
    })
    .await;
    let started = std::time::Instant::now();
    let id = sim
        .sandbox
        .customer_says(None, PRIYA, "Anyone there?")
        .await
        .unwrap();
    sim.sandbox.flush_webhooks().await;
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "flush waited for the redelivery"
    );
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "one failed attempt, one redelivery");
    let (first, second) = (got[0].json(), got[1].json());
    verify(&got[1]);
    assert_eq!(first["id"], second["id"], "the same notification");
    assert_eq!(first["delivery_attempts"], 1);
    assert_eq!(second["delivery_attempts"], 2);
    assert_eq!(first["first_sent_at"], second["first_sent_at"]);
    assert_eq!(second["data"]["item"]["id"], id.as_str());
    let stats = sim.sandbox.stats();
    assert_eq!(
        (
            stats.webhooks_failed,
            stats.webhooks_delivered,
            stats.webhooks_redelivered
        ),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn a_redelivery_that_fails_too_is_not_tried_again_and_without_a_delay_nothing_is_redelivered()
{
    let (url, got) = flaky_receiver(usize::MAX).await;
    let sim = Sim::start_with(|c| c.webhook_url = Some(url)).await;
    sim.sandbox
        .customer_says(None, PRIYA, "first")
        .await
        .unwrap();
    sim.sandbox.flush_webhooks().await;
    assert_eq!(got.lock().unwrap().len(), 1, "redelivery is off by default");
    let set = sim
        .control(
            Method::PUT,
            "/_sandbox/webhooks/redelivery",
            json!({"after_ms": 50}),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    sim.sandbox
        .customer_says(None, PRIYA, "second")
        .await
        .unwrap();
    sim.sandbox.flush_webhooks().await;
    let got = got.lock().unwrap().clone();
    assert_eq!(
        got.len(),
        3,
        "the second notification: two attempts, no more"
    );
    assert_eq!(got[2].json()["delivery_attempts"], 2);
    assert_eq!(sim.sandbox.stats().webhooks_failed, 3);
    let off = sim
        .control(
            Method::PUT,
            "/_sandbox/webhooks/redelivery",
            json!({"after_ms": null}),
        )
        .await;
    assert_eq!(off.status, 200);
}

#[tokio::test]
async fn notifications_to_several_urls_go_to_each_in_turn_one_notification_each() {
    let (first, got_first) = receiver().await;
    let (second, got_second) = receiver().await;
    let sim = Sim::start().await;
    sim.sandbox.set_webhook_urls(vec![first, second]);
    let mut sent = Vec::new();
    for text in ["one", "two", "three"] {
        sent.push(sim.sandbox.customer_says(None, PRIYA, text).await.unwrap());
    }
    sim.sandbox.flush_webhooks().await;
    let ids = |got: &Mutex<Vec<Received>>| -> Vec<String> {
        got.lock()
            .unwrap()
            .iter()
            .map(|r| {
                verify(r);
                r.json()["data"]["item"]["id"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    assert_eq!(ids(&got_first), [sent[0].clone(), sent[2].clone()]);
    assert_eq!(ids(&got_second), [sent[1].clone()]);
    assert_eq!(sim.sandbox.stats().webhooks_delivered, 3);
}
