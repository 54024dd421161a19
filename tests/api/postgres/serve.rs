//! `triaged serve` on PostgreSQL: webhooks stored with their jobs before the 200 in group-commit
//! batches, duplicates never failing a batch, and runs made of them.

use futures::future::join_all;
use triaged::with_pool;

use super::TestPg;
use crate::helpers::{SECRET, TestApp, notification, spawn_app_with, test_config};

async fn spawn_on(pg: &TestPg, workers: usize) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(&dir, &[SECRET]);
    config.database_url.clone_from(&pg.url);
    config.queue.workers = workers;
    spawn_app_with(dir, config).await
}

async fn scalar(app: &TestApp, sql: &'static str) -> i64 {
    with_pool!(app.app.db(), |p| sqlx::query_scalar(sql).fetch_one(p).await).unwrap()
}

#[tokio::test]
async fn a_burst_with_redeliveries_is_stored_once_each_with_one_job_and_every_request_gets_200() {
    let pg = TestPg::new().await;
    let app = spawn_on(&pg, 0).await;
    // 60 notifications, each delivered three times at once: the writer batches whatever has
    // queued up, so copies of one id land in the same transaction.
    let bodies: Vec<Vec<u8>> = (0..60)
        .flat_map(|i| {
            let body = notification(
                &format!("notif_pg_burst_{i}"),
                "conversation.user.replied",
                &format!("c{}", i % 7),
            );
            [body.clone(), body.clone(), body]
        })
        .collect();
    let responses = join_all(bodies.iter().map(|b| app.post_signed_webhook(b))).await;
    crate::webhooks::accepted_once_then_duplicates(&bodies, responses, 3).await;
    assert_eq!(
        scalar(&app, "SELECT COUNT(*) FROM webhook_events").await,
        60
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM apalis.jobs WHERE job_type = 'triaged.event.v1'"
        )
        .await,
        60,
        "one job per new event, none for a redelivery"
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM webhook_events e JOIN apalis.jobs j \
             ON j.idempotency_key = e.job_key WHERE e.status = 'queued'"
        )
        .await,
        60,
        "each event's current job is the one in the queue"
    );
    app.app.shutdown().await.unwrap();
}

#[tokio::test]
async fn stored_events_run_on_postgres_and_the_queue_drains() {
    let pg = TestPg::new().await;
    let app = spawn_on(&pg, 2).await;
    for i in 0..6 {
        let body = notification(
            &format!("notif_pg_run_{i}"),
            "conversation.user.replied",
            &format!("r{i}"),
        );
        assert_eq!(app.post_signed_webhook(&body).await.status(), 200);
    }
    app.drain_queue().await;
    let runs = app.app.db().list_runs(None, 50).await.unwrap();
    assert_eq!(runs.len(), 6, "{runs:#?}");
    assert!(
        runs.iter()
            .all(|r| r.status == "succeeded" || r.status == "skipped"),
        "{runs:#?}"
    );
    assert_eq!(
        scalar(
            &app,
            "SELECT COUNT(*) FROM webhook_events WHERE status = 'queued'"
        )
        .await,
        0
    );
    app.app.shutdown().await.unwrap();
}
