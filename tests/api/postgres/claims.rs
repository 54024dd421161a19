//! What the database itself guarantees to several processes (issue 12 Build 3), on both backends,
//! with two connection pools standing for two replicas: a write to Intercom is won by one run
//! attempt only, a stale lease (a replica paused past its ttl) sends nothing, a `done` write is
//! never re-opened, and an event has at most one open run.

use std::time::{Duration, Instant};

use serde_json::json;
use triaged::{
    store::{
        Db, Durability,
        actions::{ActionClaim, NewAction},
        leases::{Claim, Lease},
        runs,
    },
    with_pool,
};

use super::TestPg;

const CONVERSATION: &str = "7101";

/// Both backends: a fresh SQLite file and a fresh PostgreSQL database, each opened twice.
async fn backends(dir: &tempfile::TempDir, pg: &TestPg) -> Vec<(Db, Db)> {
    let sqlite = format!("sqlite://{}", dir.path().join("claims.db").display());
    let mut out = Vec::new();
    for url in [&sqlite, &pg.url] {
        let a = Db::open(url, Durability::Normal).await.unwrap();
        a.migrate().await.unwrap();
        let b = Db::open(url, Durability::Normal).await.unwrap();
        out.push((a, b));
    }
    out
}

/// A queued customer message of the conversation, as ingest stores it; its id.
async fn event(db: &Db, n: u32) -> i64 {
    with_pool!(db, |p| sqlx::query_scalar(
        "INSERT INTO webhook_events (dedupe_key, notification_id, topic, app_id, conversation_id, \
           created_at, delivery_attempts, status, raw_body, job_seq) \
         VALUES ($1, $1, 'conversation.user.replied', 'a86dr8yl', $2, 1734537561, 1, 'queued', \
           $3, $4) RETURNING id",
    )
    .bind(format!("notif_claims_{n}"))
    .bind(CONVERSATION)
    .bind(&br#"{"type":"notification_event"}"#[..])
    .bind(i64::from(n))
    .fetch_one(p)
    .await)
    .unwrap()
}

async fn try_lease(db: &Db, event_id: i64, owner: &str, ttl: Duration) -> Option<Lease> {
    let holder = format!("job-{event_id}");
    match crate::coalescing::claim_in(db, CONVERSATION, event_id, &holder, owner, ttl).await {
        Claim::Acquired { lease, .. } => Some(lease),
        _ => None,
    }
}

fn reply<'a>(key: &'a str, run_id: i64, arguments: &'a serde_json::Value) -> NewAction<'a> {
    NewAction {
        key,
        run_id,
        conversation_id: CONVERSATION,
        tool: "reply_to_conversation",
        arguments,
        mode: "live",
        status: "started",
    }
}

async fn action_row(db: &Db, key: &str) -> (String, Option<String>, Option<i64>) {
    with_pool!(db, |p| sqlx::query_as(
        "SELECT status, claimed_by, claim_epoch FROM actions WHERE idempotency_key = $1"
    )
    .bind(key)
    .fetch_one(p)
    .await)
    .unwrap()
}

#[tokio::test]
async fn a_write_is_won_by_one_attempt_and_a_replica_paused_past_its_lease_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pg = TestPg::new().await;
    for (a, b) in backends(&dir, &pg).await {
        let backend = format!("{:?}", a.backend());
        let event_id = event(&a, 1).await;
        let run_id = runs::start_or_resume(&a, event_id, Some(CONVERSATION), None, 1)
            .await
            .unwrap();
        let arguments = json!({"conversation_id": CONVERSATION, "body": "Refunded."});
        let key = "claims-k1";

        // Replica A holds the conversation for a short ttl and claims the reply.
        let lease_a = try_lease(&a, event_id, "replica-a", Duration::from_millis(300))
            .await
            .expect("the lease is free");
        let won = a
            .claim_action(&reply(key, run_id, &arguments), Some(&lease_a))
            .await
            .unwrap();
        assert!(
            matches!(won, ActionClaim::Claimed { until: Some(until) } if until <= Instant::now() + Duration::from_millis(300)),
            "{backend}: {won:?}"
        );
        // A is paused (SIGSTOP) before sending; its lease expires and B takes the job over.
        let deadline = Instant::now() + Duration::from_secs(10);
        let lease_b = loop {
            if let Some(lease) = try_lease(&b, event_id, "replica-b", Duration::from_secs(60)).await
            {
                break lease;
            }
            assert!(
                Instant::now() < deadline,
                "{backend}: A's lease never expired"
            );
            tokio::task::yield_now().await;
        };
        assert_eq!(lease_b.epoch, lease_a.epoch + 1, "{backend}");

        // B finds the write `started` (it checks the conversation first; nothing landed) and
        // claims it under the newer epoch.
        let won = b
            .claim_action(&reply(key, run_id, &arguments), Some(&lease_b))
            .await
            .unwrap();
        assert!(
            matches!(won, ActionClaim::Claimed { until: Some(_) }),
            "{backend}: {won:?}"
        );
        assert_eq!(
            action_row(&b, key).await,
            (
                "started".to_owned(),
                Some("replica-b".to_owned()),
                Some(lease_b.epoch)
            ),
            "{backend}"
        );
        // A wakes up and retries its claim: refused, so it does not send a second reply.
        let stale = a
            .claim_action(&reply(key, run_id, &arguments), Some(&lease_a))
            .await
            .unwrap();
        assert_eq!(
            stale,
            ActionClaim::Fenced,
            "{backend}: a stale lease won the write"
        );
        assert_eq!(
            action_row(&a, key).await.1.as_deref(),
            Some("replica-b"),
            "{backend}"
        );

        // B sends it. Any later claim, leased or not, finds it done and what it made.
        b.end_action(key, "done", Some("part_9"), Some("{}"), None)
            .await
            .unwrap();
        for lease in [Some(&lease_b), None] {
            let again = b
                .claim_action(&reply(key, run_id, &arguments), lease)
                .await
                .unwrap();
            assert_eq!(
                again,
                ActionClaim::Done {
                    result_ref: Some("part_9".to_owned())
                },
                "{backend}: a done write was re-opened"
            );
        }
        assert_eq!(action_row(&a, key).await.0, "done", "{backend}");
        a.close().await;
        b.close().await;
    }
}

#[tokio::test]
async fn an_event_has_one_open_run_however_many_replicas_resume_it_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let pg = TestPg::new().await;
    for (a, b) in backends(&dir, &pg).await {
        let backend = format!("{:?}", a.backend());
        let event_id = event(&a, 2).await;
        let attempts = (0..16u32).map(|n| {
            let db = if n % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move {
                runs::start_or_resume(&db, event_id, Some(CONVERSATION), None, 1 + n % 3).await
            })
        });
        let mut ids = Vec::new();
        for attempt in attempts {
            ids.push(attempt.await.unwrap().unwrap());
        }
        ids.dedup();
        assert_eq!(ids.len(), 1, "{backend}: several open runs {ids:?}");

        // The database refuses a second open run of the event, whoever writes it.
        let second = with_pool!(a, |p| sqlx::query(
            "INSERT INTO runs (event_id, conversation_id, status) VALUES ($1, $2, 'retrying')"
        )
        .bind(event_id)
        .bind(CONVERSATION)
        .execute(p)
        .await
        .map(|_| ()));
        let error = second
            .expect_err("a second open run was stored")
            .to_string();
        assert!(
            error.to_lowercase().contains("unique"),
            "{backend}: {error}"
        );

        // Once the run has ended, a new attempt of the event opens a new run.
        with_pool!(a, |p| sqlx::query(
            "UPDATE runs SET status = 'failed' WHERE id = $1"
        )
        .bind(ids[0])
        .execute(p)
        .await
        .map(|_| ()))
        .unwrap();
        let next = runs::start_or_resume(&b, event_id, Some(CONVERSATION), None, 1)
            .await
            .unwrap();
        assert_ne!(next, ids[0], "{backend}");
        a.close().await;
        b.close().await;
    }
}
