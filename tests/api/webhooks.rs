//! The walking skeleton: signed webhooks → durable queue → worker → audit trail.

use crate::helpers::{example, notification, spawn_app, spawn_app_with, test_config};

#[tokio::test]
async fn a_signed_notification_is_accepted_and_ends_as_a_recorded_run() {
    let app = spawn_app().await;
    let body = example("webhook_conversation_user_replied.assembled.json");

    let response = app.post_signed_webhook(&body).await;
    assert_eq!(response.status(), 200);
    app.drain_queue().await;

    let stored: Vec<u8> = triaged::with_pool!(app.app.db(), |p| sqlx::query_scalar(
        "SELECT raw_body FROM webhook_events"
    )
    .fetch_one(p)
    .await)
    .unwrap();
    assert_eq!(stored, body, "the raw body is kept byte-for-byte");
    let runs = app.app.db().list_runs(None, 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, "succeeded");
    assert_eq!(runs[0].outcome.as_deref(), Some("no_playbook"));
    assert_eq!(runs[0].conversation_id.as_deref(), Some("524"));
    let events = app.app.db().list_events(None, 10).await.unwrap();
    assert_eq!(events[0].status, "processed");
    assert_eq!(
        events[0].topic.as_deref(),
        Some("conversation.user.replied")
    );
}

#[tokio::test]
async fn missing_wrong_or_foreign_signatures_get_401_and_a_rotated_key_gets_200() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(&dir, &["current-key", "next-key"]);
    let app = spawn_app_with(dir, config).await;
    let body = notification("notif_sig_1", "conversation.user.created", "1");
    let url = format!("{}/webhooks/intercom", app.base);

    let missing = app
        .client
        .post(&url)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);
    let garbage = app
        .client
        .post(&url)
        .header("x-hub-signature", "sha1=not-hex")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 401);
    let other_body = notification("notif_sig_other", "conversation.user.created", "1");
    let over_other_body = app
        .client
        .post(&url)
        .header(
            "x-hub-signature",
            triaged::ingest::signature::sign(b"current-key", &other_body),
        )
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(over_other_body.status(), 401);
    let old_key = app.post_signed_webhook_with("retired-key", &body).await;
    assert_eq!(old_key.status(), 401);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM webhook_events").await,
        0,
        "nothing refused is stored"
    );

    let second_key = app.post_signed_webhook_with("next-key", &body).await;
    assert_eq!(second_key.status(), 200);
    app.drain_queue().await;
    assert_eq!(app.count("SELECT COUNT(*) FROM runs").await, 1);

    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"outcome="bad_signature""#),
        "refusals are counted: {metrics}"
    );
}

#[tokio::test]
async fn a_redelivered_notification_is_processed_once() {
    let app = spawn_app().await;
    let body = notification("notif_dup_1", "conversation.user.replied", "77");

    let first = app.post_signed_webhook(&body).await;
    let first_json: serde_json::Value = first.json().await.unwrap();
    let second = app.post_signed_webhook(&body).await;
    assert_eq!(second.status(), 200);
    let second_json: serde_json::Value = second.json().await.unwrap();
    assert_eq!(second_json["status"], "duplicate");
    assert_eq!(first_json["event_id"], second_json["event_id"]);
    app.drain_queue().await;
    // A third delivery after the run finished is still a duplicate.
    app.post_signed_webhook(&body).await;
    app.drain_queue().await;

    assert_eq!(app.count("SELECT COUNT(*) FROM webhook_events").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM runs").await, 1);
}

#[tokio::test]
async fn ping_is_recorded_without_a_run_head_answers_and_big_bodies_get_413() {
    let app = spawn_app().await;
    let ping = serde_json::to_vec(&serde_json::json!({
        "type": "notification_event", "id": "notif_ping_1", "topic": "ping",
        "app_id": "a86dr8yl", "created_at": 1, "delivery_attempts": 1,
        "data": {"type": "notification_event_data", "item": {"type": "ping", "message": "hi"}}
    }))
    .unwrap();
    let response = app.post_signed_webhook(&ping).await;
    assert_eq!(response.status(), 200);
    app.drain_queue().await;
    assert_eq!(
        app.count(
            "SELECT COUNT(*) FROM webhook_events WHERE topic = 'ping' AND status = 'ignored'"
        )
        .await,
        1
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM runs").await, 0);

    let head = app
        .client
        .head(format!("{}/webhooks/intercom", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);

    let big = vec![b' '; 2 * 1024 * 1024];
    let response = app.post_signed_webhook(&big).await;
    assert_eq!(response.status(), 413);
    assert_eq!(app.count("SELECT COUNT(*) FROM webhook_events").await, 1);
}

#[tokio::test]
async fn signed_bodies_that_do_not_parse_are_kept_as_unparsed_and_answered_200() {
    let app = spawn_app().await;
    for body in [&b"this is not json"[..], br#"{"hello":"world"}"#] {
        let response = app.post_signed_webhook(body).await;
        assert_eq!(response.status(), 200);
    }
    let rows: Vec<(String, Vec<u8>, Option<String>)> =
        triaged::with_pool!(app.app.db(), |p| sqlx::query_as(
            "SELECT status, raw_body, parse_error FROM webhook_events ORDER BY id"
        )
        .fetch_all(p)
        .await)
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .all(|(status, _, error)| status == "unparsed" && error.is_some())
    );
    assert_eq!(rows[0].1, b"this is not json");
    assert_eq!(app.count("SELECT COUNT(*) FROM runs").await, 0);
}

#[tokio::test]
async fn readyz_answers_503_once_the_database_is_unreachable() {
    let app = spawn_app().await;
    let url = format!("{}/readyz", app.base);
    assert_eq!(app.client.get(&url).send().await.unwrap().status(), 200);

    app.app.db().close().await;

    let response = app.client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.text().await.unwrap(), "database unreachable");
    let health = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200, "the process itself is still up");
}

#[tokio::test]
async fn a_failing_database_write_answers_503_so_intercom_retries() {
    let app = spawn_app().await;
    app.app.db().close().await;
    let body = notification("notif_503", "conversation.user.replied", "1");
    let response = app.post_signed_webhook(&body).await;
    assert_eq!(response.status(), 503, "never 200 for what was not stored");
}

#[tokio::test]
async fn copies_of_a_notification_in_one_group_commit_are_stored_once_and_answered_duplicate() {
    let app = spawn_app().await;
    // 40 notifications, each delivered three times at once: the writer batches whatever has
    // queued up, so copies of one id land in the same transaction.
    let bodies: Vec<Vec<u8>> = (0..40)
        .flat_map(|i| {
            let body = notification(
                &format!("notif_burst_{i}"),
                "conversation.user.replied",
                &format!("c{i}"),
            );
            [body.clone(), body.clone(), body]
        })
        .collect();
    let responses =
        futures::future::join_all(bodies.iter().map(|b| app.post_signed_webhook(b))).await;
    accepted_once_then_duplicates(&bodies, responses, 3).await;
    assert_eq!(app.count("SELECT COUNT(*) FROM webhook_events").await, 40);
    app.drain_queue().await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM runs").await,
        40,
        "one run per event"
    );
}

/// Checks that every delivery got a 200 and that, of the `copies` deliveries of each
/// notification in `bodies`, one was answered `accepted` and the others `duplicate`, all naming
/// the same event.
pub async fn accepted_once_then_duplicates(
    bodies: &[Vec<u8>],
    responses: Vec<reqwest::Response>,
    copies: usize,
) {
    let mut answers = std::collections::BTreeMap::<String, Vec<(String, i64)>>::new();
    for (body, response) in bodies.iter().zip(responses) {
        assert_eq!(response.status(), 200, "every delivery is acknowledged");
        let id = serde_json::from_slice::<serde_json::Value>(body).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let answer: serde_json::Value = response.json().await.unwrap();
        answers.entry(id).or_default().push((
            answer["status"].as_str().unwrap_or_default().to_owned(),
            answer["event_id"].as_i64().unwrap_or_default(),
        ));
    }
    assert_eq!(answers.len() * copies, bodies.len());
    for (id, mut got) in answers {
        got.sort();
        let event = got[0].1;
        let mut expected = vec![("accepted".to_owned(), event)];
        expected.extend(vec![("duplicate".to_owned(), event); copies - 1]);
        assert_eq!(got, expected, "{id}");
    }
}
