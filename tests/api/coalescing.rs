//! One conversation, one run at a time; quick messages coalesce; replays re-run safely.

use std::time::Duration;

use triaged::store::leases::{self, Claim, Lease};

use crate::helpers::{PATIENCE, SECRET, notification, spawn_app, spawn_app_with, test_config};

#[tokio::test]
async fn three_quick_messages_in_one_conversation_make_one_run_on_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(&dir, &[SECRET]);
    config.debounce = Duration::from_secs(2);
    let app = spawn_app_with(dir, config).await;

    for i in 1..=3 {
        let body = notification(
            &format!("notif_quick_{i}"),
            "conversation.user.replied",
            "c-quick",
        );
        assert_eq!(app.post_signed_webhook(&body).await.status(), 200);
    }
    app.drain_queue().await;

    let runs = app.app.db().list_runs(None, 10).await.unwrap();
    assert_eq!(runs.len(), 1, "one run for three quick messages: {runs:?}");
    let last_event: i64 = app
        .count("SELECT MAX(id) FROM webhook_events WHERE conversation_id = 'c-quick'")
        .await;
    assert_eq!(
        runs[0].event_id, last_event,
        "the run answers the latest message"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM webhook_events WHERE status = 'coalesced' AND coalesced_into IS NOT NULL")
            .await,
        2
    );
}

#[tokio::test]
async fn a_new_message_is_taken_at_once_not_on_the_workers_next_poll() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(&dir, &[SECRET]);
    config.queue.poll_interval = Duration::from_secs(60);
    config.queue.heartbeat = Duration::from_secs(60);
    let app = spawn_app_with(dir, config).await;

    for i in 1..=3 {
        let body = notification(
            &format!("notif_at_once_{i}"),
            "conversation.user.created",
            &format!("c-at-once-{i}"),
        );
        assert_eq!(app.post_signed_webhook(&body).await.status(), 200);
        // Well inside the minute between polls: only ingest's wake-up gets it run.
        app.drain_queue_within(Duration::from_secs(20)).await;
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM runs").await, 3);
}

#[tokio::test]
async fn a_debounced_run_starts_no_sooner_than_its_window_even_a_fraction_of_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(&dir, &[SECRET]);
    config.debounce = Duration::from_millis(1_500);
    let app = spawn_app_with(dir, config).await;

    for i in 1..=3 {
        let body = notification(
            &format!("notif_window_{i}"),
            "conversation.user.replied",
            &format!("c-window-{i}"),
        );
        assert_eq!(app.post_signed_webhook(&body).await.status(), 200);
    }
    app.drain_queue().await;

    assert_eq!(app.count("SELECT COUNT(*) FROM runs").await, 3);
    // Milliseconds from each message's arrival to its run's start; apalis alone schedules to the
    // second, which would start some runs up to a second early.
    let earliest = app
        .count(&format!(
            "SELECT MIN(CAST(ROUND({}) AS BIGINT)) FROM runs r \
             JOIN webhook_events e ON e.id = r.event_id",
            app.millis_between("r.started_at", "e.received_at")
        ))
        .await;
    assert!(
        earliest >= 1_500,
        "a run started {earliest} ms after its message, inside the 1.5 s debounce"
    );
}

#[tokio::test]
async fn a_conversation_busy_with_a_run_makes_its_next_event_wait_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(&dir, &[SECRET]);
    config.job_hold = Duration::from_millis(1500);
    let app = spawn_app_with(dir, config).await;
    let mut activity = app.app.runner().subscribe();

    let first = notification("notif_busy_1", "conversation.user.replied", "c-busy");
    app.post_signed_webhook(&first).await;
    tokio::time::timeout(PATIENCE, activity.wait_for(|a| a.runs_started >= 1))
        .await
        .expect("first run starts")
        .unwrap();
    let second = notification("notif_busy_2", "conversation.user.replied", "c-busy");
    app.post_signed_webhook(&second).await;
    app.drain_queue().await;

    let spans: Vec<(String, String)> = triaged::with_pool!(app.app.db(), |p| sqlx::query_as(
        "SELECT started_at, finished_at FROM runs ORDER BY started_at"
    )
    .fetch_all(p)
    .await)
    .unwrap();
    assert_eq!(spans.len(), 2, "the later message gets its own run");
    assert!(
        spans[1].0 >= spans[0].1,
        "runs of one conversation never overlap: {spans:?}"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM conversation_leases WHERE expires_at > 0")
            .await,
        0,
        "leases are released"
    );
}

/// Claims conversation `c-lease` for `event` as job `holder` of process `owner` (no debounce) and
/// commits.
async fn claim(
    db: &triaged::store::Db,
    event: i64,
    holder: &str,
    owner: &str,
    ttl: Duration,
) -> Claim {
    claim_in(db, "c-lease", event, holder, owner, ttl).await
}

/// Claims `conversation` for `event` in a write transaction of its own (no debounce).
pub(crate) async fn claim_in(
    db: &triaged::store::Db,
    conversation: &str,
    event: i64,
    holder: &str,
    owner: &str,
    ttl: Duration,
) -> Claim {
    let mut tx = db.begin_write().await.unwrap();
    let claim = leases::claim(
        &mut tx,
        &leases::ClaimRequest {
            conversation_id: conversation,
            event_id: event,
            holder,
            owner,
            ttl,
            debounce: Duration::ZERO,
            max_wait: Duration::ZERO,
            listened: None,
            mine_listened: true,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    claim
}

fn acquired(epoch: i64, owner: &str) -> Claim {
    Claim::Acquired {
        lease: Lease {
            conversation_id: "c-lease".into(),
            owner: owner.into(),
            epoch,
        },
        covered: vec![],
    }
}

#[tokio::test]
async fn a_lease_excludes_everyone_until_released_or_expired_and_each_holder_gets_a_new_epoch() {
    // A conversation no worker touches: the test alone holds and takes its lease.
    let app = spawn_app().await;
    let db = app.app.db();
    let long = Duration::from_secs(60);

    let first = claim(db, 1, "evt:1:1", "proc-a", long).await;
    assert_eq!(first, acquired(1, "proc-a"));
    assert_eq!(
        claim(db, 2, "evt:2:1", "proc-b", long).await,
        Claim::Busy { holder_event: 1 }
    );
    assert_eq!(
        claim(db, 1, "evt:1:1", "proc-b", long).await,
        Claim::Busy { holder_event: 1 },
        "the same job redelivered to another process waits too"
    );
    let Claim::Acquired { lease: a, .. } = first else {
        unreachable!()
    };
    assert!(a.holds(db).await.unwrap());
    assert!(leases::renew(db, &a, long).await.unwrap());
    let mut tx = db.begin_write().await.unwrap();
    leases::release(&mut tx, &a).await.unwrap();
    tx.commit().await.unwrap();
    assert!(
        !a.holds(db).await.unwrap(),
        "a released lease fences its run"
    );

    let b = claim(db, 2, "evt:2:1", "proc-b", Duration::ZERO).await;
    assert_eq!(b, acquired(2, "proc-b"));
    assert_eq!(
        claim(db, 1, "evt:1:2", "proc-c", long).await,
        acquired(3, "proc-c"),
        "an expired lease (a holder that stopped renewing) can be taken over"
    );
    let Claim::Acquired { lease: b, .. } = b else {
        unreachable!()
    };
    assert!(!b.holds(db).await.unwrap());
    assert!(
        !leases::renew(db, &b, long).await.unwrap(),
        "the old holder cannot renew a lease that changed hands"
    );
}

#[tokio::test]
async fn replaying_an_event_runs_it_again_and_an_unparsable_one_says_why() {
    let app = spawn_app().await;
    let body = notification("notif_replay", "conversation.user.replied", "c-replay");
    let response: serde_json::Value = app.post_signed_webhook(&body).await.json().await.unwrap();
    let id = response["event_id"].as_i64().unwrap();
    app.drain_queue().await;

    triaged::ingest::replay(app.app.db(), id).await.unwrap();
    app.drain_queue().await;
    assert_eq!(
        app.count("SELECT COUNT(*) FROM runs WHERE status = 'succeeded'")
            .await,
        2
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM webhook_events WHERE status = 'processed'")
            .await,
        1
    );

    let junk: serde_json::Value = app
        .post_signed_webhook(b"{not json")
        .await
        .json()
        .await
        .unwrap();
    let junk_id = junk["event_id"].as_i64().unwrap();
    let error = triaged::ingest::replay(app.app.db(), junk_id)
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("still does not parse"),
        "{error}"
    );
    let missing = triaged::ingest::replay(app.app.db(), 9999)
        .await
        .unwrap_err();
    assert_eq!(missing.to_string(), "no event 9999");
}
