//! Notification ids are kept exactly as Intercom sent them; an empty or missing id is no id.

use crate::helpers::{TestApp, spawn_app};

/// The `notification_id` column of every stored event, oldest first.
async fn stored_notification_ids(app: &TestApp) -> Vec<Option<String>> {
    triaged::with_pool!(app.app.db(), |p| sqlx::query_scalar(
        "SELECT notification_id FROM webhook_events ORDER BY id"
    )
    .fetch_all(p)
    .await)
    .unwrap()
}

/// An envelope whose `id` is the JSON text `id` (a string literal or a bare number).
fn envelope_with_raw_id(id: &str, conversation: &str) -> Vec<u8> {
    format!(
        r#"{{"type":"notification_event","id":{id},"topic":"conversation.user.replied","app_id":"a86dr8yl","created_at":1734537561,"delivery_attempts":1,"data":{{"type":"notification_event_data","item":{{"type":"conversation","id":"{conversation}"}}}}}}"#
    )
    .into_bytes()
}

#[tokio::test]
async fn two_thirty_digit_numeric_notification_ids_are_two_events_stored_digit_for_digit() {
    let app = spawn_app().await;
    let ids = [
        "123456789012345678901234567890",
        "123456789012345678901234567891",
    ];
    let mut statuses = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let response = app
            .post_signed_webhook(&envelope_with_raw_id(id, &format!("{}", 100 + n)))
            .await;
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        statuses.push(body["status"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(statuses, ["accepted", "accepted"], "neither is a duplicate");
    let stored = stored_notification_ids(&app).await;
    assert_eq!(
        stored,
        ids.iter()
            .map(|i| Some((*i).to_owned()))
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_numeric_and_a_string_notification_id_keep_their_exact_spelling() {
    let app = spawn_app().await;
    for (raw, conversation) in [("42", "1"), ("\"notif_7\"", "2"), ("1.50", "3")] {
        let response = app
            .post_signed_webhook(&envelope_with_raw_id(raw, conversation))
            .await;
        assert_eq!(response.status(), 200);
    }
    let stored = stored_notification_ids(&app).await;
    assert_eq!(
        stored,
        [
            Some("42".into()),
            Some("notif_7".into()),
            Some("1.50".into())
        ]
    );
}

#[tokio::test]
async fn an_empty_or_missing_notification_id_is_stored_unparsed_with_the_reason_and_never_deduplicates()
 {
    let app = spawn_app().await;
    let missing = br#"{"type":"notification_event","topic":"conversation.user.replied","data":{"item":{"type":"conversation","id":"9"}}}"#;
    let bodies = [
        envelope_with_raw_id("\"\"", "1"),
        envelope_with_raw_id("\"\"", "2"),
        envelope_with_raw_id("\"  \"", "3"),
        missing.to_vec(),
    ];
    for body in &bodies {
        let response = app.post_signed_webhook(body).await;
        assert_eq!(response.status(), 200, "Intercom must not retry forever");
        let answer: serde_json::Value = response.json().await.unwrap();
        assert_eq!(answer["status"], "unparsed");
    }
    let rows: Vec<(String, Option<String>, Option<String>)> =
        triaged::with_pool!(app.app.db(), |p| sqlx::query_as(
            "SELECT status, notification_id, parse_error FROM webhook_events ORDER BY id",
        )
        .fetch_all(p)
        .await)
        .unwrap();
    assert_eq!(
        rows.len(),
        bodies.len(),
        "no body is a duplicate of another"
    );
    for (status, id, error) in &rows {
        assert_eq!(status, "unparsed");
        assert_eq!(id, &None);
        let error = error.as_deref().unwrap_or_default();
        assert!(error.contains("id"), "the reason names the id: {error}");
    }
    assert!(rows[0].2.as_deref().unwrap_or_default().contains("empty"));
    assert_eq!(app.count("SELECT COUNT(*) FROM runs").await, 0);
}
