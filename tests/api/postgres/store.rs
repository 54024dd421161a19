//! The store's operations give the same answers on PostgreSQL as on SQLite: the console's reports,
//! tokens, sessions, usage, writes and the conversation's standing, on the same rows.

use std::time::Duration;

use serde_json::{Value, json};
use triaged::{
    store::{Backend, Db, Durability, actions::NewAction, stats::RunFilter, usage::RunUsage},
    with_pool,
};

use super::{TestPg, read_commands::seed};

/// Everything the operations answered, as one JSON document (times left out by the caller).
async fn exercise(db: &Db) -> Value {
    seed(db).await;
    let arguments = json!({"conversation_id": "7001", "body": "Hi"});
    db.begin_action(&NewAction {
        key: "k2",
        run_id: 1,
        conversation_id: "7001",
        tool: "reply_to_conversation",
        arguments: &arguments,
        mode: "live",
        status: "started",
    })
    .await
    .unwrap();
    db.end_action("k2", "done", Some("part_2"), Some("{}"), None)
        .await
        .unwrap();
    db.record_usage(
        1,
        &RunUsage {
            playbook: "refund-request",
            version: "abc123",
            mode: "live",
            model: Some("gpt-4.1-mini"),
            prompt_tokens: 10,
            cached_tokens: 4,
            completion_tokens: 5,
            cost_usd: 0.5,
        },
    )
    .await
    .unwrap();
    db.hand_off("7002", "asked for a human").await.unwrap();
    let handed_off = db.conversation_status("7002").await.unwrap();
    db.reactivate("7002").await.unwrap();
    let (cookie, session) = db
        .create_session(Some("lead"), "lead", Duration::from_secs(3600))
        .await
        .unwrap();
    let found = db.session(&cookie).await.unwrap().map(|s| s.subject);
    db.end_session(&cookie).await.unwrap();
    let overview = db.overview(86_400, true).await.unwrap();
    let token = db.token("claude").await.unwrap().unwrap();
    let revoked = db.revoke_token("claude").await.unwrap();
    json!({
        "action": db.action("k2").await.unwrap(),
        "run_actions": db.run_actions(1).await.unwrap(),
        "run_replies": db.run_replies(1).await.unwrap(),
        "bot_replies_last_hour": db.bot_replies_last_hour("7001").await.unwrap(),
        "handed_off": handed_off,
        "after_reactivate": db.conversation_status("7002").await.unwrap(),
        "never_seen": db.conversation_status("7003").await.unwrap(),
        "watermark": db.watermark("7001").await.unwrap(),
        "replied_snapshot": db.replied_snapshot("7001").await.unwrap(),
        "session": found,
        "session_expires_later": session.expires_at > overview.buckets[0].label,
        "after_logout": db.session(&cookie).await.unwrap().map(|s| s.subject),
        "overview": overview,
        "rates": db.overview(86_400, false).await.unwrap().rate(&["replied"]),
        "playbooks": db.playbook_stats(86_400).await.unwrap(),
        "find_runs": db.find_runs(&RunFilter { playbook: Some("refund-request".into()), ..RunFilter::default() }, 10).await.unwrap(),
        "find_none": db.find_runs(&RunFilter { outcome: Some("failed".into()), ..RunFilter::default() }, 10).await.unwrap(),
        "find_events": db.find_events(Some("processed"), None, None, 10).await.unwrap(),
        "event_ids_since": db.event_ids_since("processed", 3600).await.unwrap(),
        "event_ids": db.event_ids("processed", Some("2000-01-01T00:00:00.000Z")).await.unwrap(),
        "event": db.event(1).await.unwrap().map(|e| (e.topic, e.raw_body)),
        "newest_event": db.newest_event("7001").await.unwrap(),
        "queued": db.queued_events().await.unwrap(),
        "run_cost": db.run_cost(1).await.unwrap(),
        "spent_today": db.llm_spent_today().await.unwrap(),
        "token": token,
        "revoked": revoked.revoked_at.is_some(),
        "recent_mcp_calls": db.recent_mcp_calls(10).await.unwrap(),
        "ping": db.ping().await.is_ok(),
    })
}

/// `value` without times (object keys ending in `_at`, and bucket labels).
fn timeless(mut value: Value) -> Value {
    match &mut value {
        Value::Object(map) => {
            map.retain(|k, _| !k.ends_with("_at") && k != "label" && k != "day");
            for v in map.values_mut() {
                *v = timeless(v.take());
            }
        }
        Value::Array(items) => {
            for v in items {
                *v = timeless(v.take());
            }
        }
        _ => {}
    }
    value
}

#[tokio::test]
async fn the_store_answers_the_same_on_postgres_as_on_sqlite() {
    let pg = TestPg::new().await;
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("t.db").display());
    let mut answers = Vec::new();
    for url in [&sqlite, &pg.url] {
        let db = Db::open(url, Durability::Normal).await.unwrap();
        answers.push(timeless(exercise(&db).await));
        db.close().await;
    }
    let on_sqlite = &answers[0];
    assert_eq!(on_sqlite["bot_replies_last_hour"], 2, "{on_sqlite:#}");
    assert_eq!(on_sqlite["handed_off"], "handed_off");
    assert_eq!(on_sqlite["after_reactivate"], "active");
    assert_eq!(on_sqlite["session"], "lead");
    assert_eq!(on_sqlite["session_expires_later"], true);
    assert_eq!(on_sqlite["after_logout"], Value::Null);
    assert_eq!(on_sqlite["playbooks"][0]["replied"], 1, "{on_sqlite:#}");
    assert_eq!(on_sqlite["playbooks"][0]["tokens"], 165);
    assert_eq!(on_sqlite["overview"]["totals"]["replied"], 1);
    assert_eq!(on_sqlite["event_ids_since"], json!([1]));
    assert_eq!(on_sqlite["spent_today"], 0.75);
    assert_eq!(on_sqlite["find_runs"][0]["id"], 1);
    assert_eq!(on_sqlite["find_none"], json!([]));
    assert_eq!(on_sqlite["revoked"], true);
    for (key, value) in on_sqlite.as_object().unwrap() {
        assert_eq!(&answers[1][key], value, "{key}: PostgreSQL vs SQLite");
    }
}

/// Three queued events with a job each; the first two claimed by `worker-a` (one `Queued`, one
/// `Running`), the third by `worker-b`. Returns how many jobs `release_claimed("worker-a")`
/// released and each job's key, status and claimant afterwards.
async fn release(db: &Db) -> (u64, Vec<(String, String, Option<String>)>) {
    db.migrate().await.unwrap();
    let (jobs, workers) = match db.backend() {
        Backend::Sqlite => ("Jobs", "Workers"),
        Backend::Postgres => ("apalis.jobs", "apalis.workers"),
    };
    for id in 1..=3 {
        with_pool!(db, |p| sqlx::query(
            "INSERT INTO webhook_events (id, dedupe_key, topic, conversation_id, status, raw_body) \
             VALUES ($1, $2, 'conversation.user.replied', '7001', 'queued', $3)"
        )
        .bind(id)
        .bind(format!("notif_{id}"))
        .bind(&b"{}"[..])
        .execute(p)
        .await
        .map(|_| ()))
        .unwrap();
        let mut tx = db.begin_write().await.unwrap();
        triaged::queue::enqueue(&mut tx, id, 1, Duration::ZERO)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    for (key, status, worker) in [
        ("evt:1:1", "Queued", "worker-a"),
        ("evt:2:1", "Running", "worker-a"),
        ("evt:3:1", "Queued", "worker-b"),
    ] {
        for sql in [
            format!(
                "INSERT INTO {workers} (id, worker_type, storage_name) VALUES ($1, $2, 'test') \
                 ON CONFLICT DO NOTHING"
            ),
            format!(
                "UPDATE {jobs} SET status = $3, lock_by = $1 \
                 WHERE job_type = $2 AND idempotency_key = $4"
            ),
        ] {
            with_pool!(db, |p| sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .bind(worker)
                .bind(triaged::queue::QUEUE)
                .bind(status)
                .bind(key)
                .execute(p)
                .await
                .map(|_| ()))
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }
    let released = triaged::queue::release_claimed(db, "worker-a")
        .await
        .unwrap();
    let sql =
        format!("SELECT idempotency_key, status, lock_by FROM {jobs} ORDER BY idempotency_key");
    let after = with_pool!(db, |p| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(p)
        .await)
    .unwrap();
    (released, after)
}

#[tokio::test]
async fn a_stopped_worker_hands_back_only_its_own_claimed_jobs_on_both_backends() {
    let pg = TestPg::new().await;
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite://{}", dir.path().join("t.db").display());
    for url in [&sqlite, &pg.url] {
        let db = Db::open(url, Durability::Normal).await.unwrap();
        let (released, after) = release(&db).await;
        db.close().await;
        assert_eq!(released, 2, "{url}");
        let pending = |key: &str| (key.to_owned(), "Pending".to_owned(), None);
        assert_eq!(
            after,
            vec![
                pending("evt:1:1"),
                pending("evt:2:1"),
                (
                    "evt:3:1".to_owned(),
                    "Queued".to_owned(),
                    Some("worker-b".to_owned())
                ),
            ],
            "{url}"
        );
    }
}
