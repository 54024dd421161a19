//! A job that takes its process down on every attempt stops after its attempts: apalis's orphan
//! recovery puts it back `Pending` with one more attempt each time and ignores `max_attempts`;
//! the reconciler stops it and fails its event and run (issue 12 Build 3). Runs on either backend
//! (the CI matrix runs it on PostgreSQL too).

use triaged::{store::Backend, with_pool};

use crate::helpers::{SECRET, TestApp, notification, spawn_app_with, test_config};

/// An app with no workers (jobs wait in the queue) that has accepted these notifications.
async fn queued(ids: &[&str]) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(&dir, &[SECRET]);
    config.queue.workers = 0;
    let app = spawn_app_with(dir, config).await;
    for id in ids {
        let body = notification(id, "conversation.user.replied", id);
        assert_eq!(app.post_signed_webhook(&body).await.status(), 200);
    }
    app
}

/// apalis's job table on the app's backend.
fn jobs(app: &TestApp) -> &'static str {
    match app.app.db().backend() {
        Backend::Sqlite => "Jobs",
        Backend::Postgres => "apalis.jobs",
    }
}

/// Runs `sql` (an update the test stages) on the app's database.
async fn stage(app: &TestApp, sql: String) {
    with_pool!(app.app.db(), |p| sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(p)
        .await
        .map(|_| ()))
    .unwrap();
}

#[tokio::test]
async fn a_job_orphaned_on_every_attempt_is_stopped_and_its_event_fails_while_others_wait() {
    let app = queued(&["notif_loop_1", "notif_loop_2"]).await;
    let jobs = jobs(&app);
    // Processes kept dying running the first event's job: orphan recovery left it Pending with
    // an attempt per recovery (as `reenqueue_orphaned` does), as many as make a crash loop.
    let sql = format!(
        "UPDATE {jobs} SET attempts = {} WHERE idempotency_key = \
         (SELECT job_key FROM webhook_events WHERE notification_id = 'notif_loop_1')",
        triaged::queue::CRASH_LOOP_ATTEMPTS
    );
    stage(&app, sql).await;

    let reenqueued = triaged::queue::reconcile(app.app.db()).await.unwrap();
    assert_eq!(
        reenqueued, 0,
        "a stopped job's event is not given a new job"
    );

    let events: Vec<(String, String)> = with_pool!(app.app.db(), |p| sqlx::query_as(
        "SELECT notification_id, status FROM webhook_events ORDER BY id"
    )
    .fetch_all(p)
    .await)
    .unwrap();
    assert_eq!(
        events,
        [
            ("notif_loop_1".to_owned(), "failed".to_owned()),
            ("notif_loop_2".to_owned(), "queued".to_owned())
        ]
    );
    let runs = app.app.db().list_runs(None, 10).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0].status, "failed");
    assert_eq!(runs[0].reason.as_deref(), Some("crashed_repeatedly"));
    let statuses: Vec<String> = with_pool!(app.app.db(), |p| sqlx::query_scalar(
        sqlx::AssertSqlSafe(format!("SELECT status FROM {jobs} ORDER BY attempts DESC"))
    )
    .fetch_all(p)
    .await)
    .unwrap();
    assert_eq!(
        statuses,
        ["Killed", "Pending"],
        "the healthy job still waits"
    );
    app.app.shutdown().await.unwrap();
}

/// Two restarts in a row (a deploy, then a node failure) can each kill the process while the same
/// job runs: orphan recovery leaves it `Pending` with two attempts, which is no crash loop. It
/// must run again, not fail the customer's event.
#[tokio::test]
async fn a_job_orphaned_by_two_restarts_in_a_row_is_not_stopped() {
    let app = queued(&["notif_twice_1"]).await;
    let jobs = jobs(&app);
    // What two orphan recoveries of the job leave behind.
    stage(&app, format!("UPDATE {jobs} SET attempts = 2")).await;

    assert_eq!(triaged::queue::reconcile(app.app.db()).await.unwrap(), 0);
    let event = app.app.db().list_events(None, 1).await.unwrap().remove(0);
    assert_eq!(event.status, "queued", "the event still waits for its run");
    assert!(app.app.db().list_runs(None, 5).await.unwrap().is_empty());
    let status: String = with_pool!(app.app.db(), |p| sqlx::query_scalar(sqlx::AssertSqlSafe(
        format!("SELECT status FROM {jobs}")
    ))
    .fetch_one(p)
    .await)
    .unwrap();
    assert_eq!(status, "Pending", "the job runs again");
    app.app.shutdown().await.unwrap();
}

/// A job handed to a replica that is draining is given back as a new job (another replica takes it
/// a second later, not at the next janitor tick or the next start); a stale one is dropped.
#[tokio::test]
async fn a_job_handed_to_a_draining_replica_is_given_back_as_a_new_job() {
    let app = queued(&["notif_drain_1"]).await;
    let event = app.app.db().list_events(None, 1).await.unwrap()[0].id;
    let job = |seq| triaged::queue::Job {
        v: triaged::queue::JOB_VERSION,
        event_id: event,
        attempt: 1,
        seq,
        due_ms: None,
    };
    let runner = app.app.runner();
    runner.begin_drain();
    runner.run_job(job(1)).await;
    // The hand-over runs in a task of its own; it counts as in flight.
    assert!(runner.wait_idle(std::time::Duration::from_secs(10)).await);
    let row = app.app.db().event(event).await.unwrap().unwrap();
    assert_eq!(row.status, "queued");
    assert_eq!(
        row.job_key.as_deref(),
        Some("evt:1:2"),
        "a new job carries the event"
    );
    // The old job is stale now: handing it over again changes nothing.
    runner.run_job(job(1)).await;
    assert!(runner.wait_idle(std::time::Duration::from_secs(10)).await);
    let row = app.app.db().event(event).await.unwrap().unwrap();
    assert_eq!(row.job_key.as_deref(), Some("evt:1:2"));
    assert_eq!(app.count("SELECT COUNT(*) FROM webhook_events").await, 1);
    assert!(
        app.app.db().list_runs(None, 5).await.unwrap().is_empty(),
        "nothing ran here"
    );
}
