//! The process lifecycle: crash recovery and graceful shutdown, on the real binary. Runs on either
//! backend (the CI matrix runs it on PostgreSQL too).

use crate::{
    daemon::{Daemon, TestDb},
    helpers::{SECRET, notification},
};
use triaged::{ingest::signature, with_pool};

async fn post_events(daemon: &Daemon, prefix: &str, count: usize) {
    let client = reqwest::Client::new();
    for i in 0..count {
        let body = notification(
            &format!("notif_{prefix}_{i}"),
            "conversation.user.replied",
            &format!("{i}"),
        );
        let response = client
            .post(daemon.url("/webhooks/intercom"))
            .header("x-hub-signature", signature::sign(SECRET.as_bytes(), &body))
            .body(body)
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), 200);
    }
}

/// Runs per event, and events not yet processed.
async fn tally(db: &TestDb) -> (Vec<i64>, i64) {
    let watch = db.watch().await;
    let per_event: Vec<i64> = with_pool!(watch, |p| sqlx::query_scalar(
        "SELECT (SELECT COUNT(*) FROM runs r WHERE r.event_id = e.id) FROM webhook_events e ORDER BY e.id",
    )
    .fetch_all(p)
    .await)
    .expect("tally");
    let unprocessed: i64 = with_pool!(watch, |p| sqlx::query_scalar(
        "SELECT COUNT(*) FROM webhook_events WHERE status != 'processed'"
    )
    .fetch_one(p)
    .await)
    .expect("unprocessed");
    watch.close().await;
    (per_event, unprocessed)
}

/// The runs' statuses, oldest first.
async fn run_statuses(watch: &triaged::store::Db) -> Vec<String> {
    with_pool!(watch, |p| sqlx::query_scalar(
        "SELECT status FROM runs ORDER BY id"
    )
    .fetch_all(p)
    .await)
    .unwrap()
}

#[tokio::test]
async fn events_accepted_without_workers_survive_sigkill_and_each_gets_exactly_one_run() {
    triaged::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(dir.path()).await;

    let daemon = Daemon::start(&db, &[("TRIAGED_WORKERS", "0")]).await;
    post_events(&daemon, "kill", 20).await;
    daemon.kill().await;

    let mut daemon = Daemon::start(&db, &[("TRIAGED_WORKERS", "4")]).await;
    daemon.wait_for_message("run finished", 20).await;
    assert_eq!(daemon.terminate().await, Some(0));

    let (per_event, unprocessed) = tally(&db).await;
    assert_eq!(per_event.len(), 20);
    assert!(
        per_event.iter().all(|&n| n == 1),
        "runs per event: {per_event:?}"
    );
    assert_eq!(unprocessed, 0);
}

#[tokio::test]
async fn runs_in_flight_when_the_process_is_killed_are_finished_after_a_restart() {
    triaged::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(dir.path()).await;
    let holding = [
        ("TRIAGED_WORKERS", "4"),
        ("TRIAGED_JOB_HOLD", "60s"),
        ("TRIAGED_HEARTBEAT", "1s"),
        // A killed run's lease expires a ttl after its last renewal: keep the wait short.
        ("TRIAGED_LEASE_TTL", "2s"),
    ];

    let mut daemon = Daemon::start(&db, &holding).await;
    post_events(&daemon, "inflight", 4).await;
    daemon.wait_for_message("run started", 4).await;
    daemon.kill().await;
    let (_, unprocessed) = tally(&db).await;
    assert_eq!(unprocessed, 4, "the killed runs did not finish");

    let mut daemon = Daemon::start(
        &db,
        &[("TRIAGED_WORKERS", "4"), ("TRIAGED_HEARTBEAT", "1s")],
    )
    .await;
    daemon.wait_for_message("run finished", 4).await;
    assert_eq!(daemon.terminate().await, Some(0));

    let (per_event, unprocessed) = tally(&db).await;
    assert_eq!(
        per_event,
        vec![1, 1, 1, 1],
        "the interrupted run is resumed, not doubled"
    );
    assert_eq!(unprocessed, 0);
}

#[tokio::test]
async fn sigterm_lets_running_jobs_finish_and_exits_zero() {
    triaged::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(dir.path()).await;

    let mut daemon =
        Daemon::start(&db, &[("TRIAGED_WORKERS", "4"), ("TRIAGED_JOB_HOLD", "1s")]).await;
    post_events(&daemon, "term", 3).await;
    daemon.wait_for_message("run started", 3).await;
    assert_eq!(daemon.terminate().await, Some(0));

    let watch = db.watch().await;
    assert_eq!(
        run_statuses(&watch).await,
        vec!["succeeded"; 3],
        "no run is left half-done"
    );
    let queued: i64 = with_pool!(watch, |p| sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM {} WHERE status IN ('Pending', 'Queued', 'Running')",
        db.jobs_table()
    )))
    .fetch_one(p)
    .await)
    .unwrap();
    assert_eq!(queued, 0);
}

/// A daemon with `workers` workers, two 3 s runs in flight, just told to stop (it said it drains).
async fn draining_with_two_runs_in_flight(db: &TestDb, workers: &str) -> Daemon {
    triaged::install_crypto_provider();
    let mut daemon = Daemon::start(
        db,
        &[("TRIAGED_WORKERS", workers), ("TRIAGED_JOB_HOLD", "3s")],
    )
    .await;
    post_events(&daemon, "busy", 2).await;
    daemon.wait_for_message("run started", 2).await;
    daemon.send_sigterm();
    daemon
        .wait_for_message(triaged::app::DRAINING_MESSAGE, 1)
        .await;
    daemon
}

#[tokio::test]
async fn during_the_sigterm_drain_readyz_answers_503_and_webhooks_are_still_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(dir.path()).await;
    let daemon = draining_with_two_runs_in_flight(&db, "2").await;

    // The load balancer takes the pod out of rotation, but a webhook already on its way is
    // still stored, not refused.
    let ready = reqwest::get(daemon.url("/readyz")).await.expect("readyz");
    assert_eq!(ready.status(), 503);
    assert_eq!(ready.text().await.unwrap(), "draining");
    post_events(&daemon, "late", 1).await;
    assert_eq!(daemon.wait_exit().await, Some(0));

    let watch = db.watch().await;
    assert_eq!(
        run_statuses(&watch).await,
        vec!["succeeded"; 2],
        "the runs in flight finished"
    );
    let late: Vec<String> = with_pool!(watch, |p| sqlx::query_scalar(
        "SELECT status FROM webhook_events WHERE notification_id = 'notif_late_0'",
    )
    .fetch_all(p)
    .await)
    .unwrap();
    assert_eq!(
        late,
        vec!["queued"],
        "the late webhook waits for the next start"
    );
}

/// A webhook stored during the drain, with a worker slot free: the draining worker claims its
/// job, hands it back, and must not claim it again and again until the grace runs out (it did,
/// every few milliseconds, and a hand-over caught in flight as the worker stopped waited for the
/// write lock of apalis's parked claim query until the grace ran out: exit 1).
#[tokio::test]
async fn a_webhook_stored_during_the_drain_is_handed_back_a_few_times_at_most_and_the_exit_is_clean()
 {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(dir.path()).await;
    let mut daemon = draining_with_two_runs_in_flight(&db, "3").await;
    post_events(&daemon, "late", 1).await;
    daemon
        .wait_for_message("shutting down: job handed back to the queue", 1)
        .await;
    assert_eq!(
        daemon.wait_exit().await,
        Some(0),
        "a clean exit within the grace"
    );

    let watch = db.watch().await;
    assert_eq!(run_statuses(&watch).await, vec!["succeeded"; 2]);
    let (status, job_seq): (String, i64) = with_pool!(watch, |p| sqlx::query_as(
        "SELECT status, job_seq FROM webhook_events WHERE notification_id = 'notif_late_0'",
    )
    .fetch_one(p)
    .await)
    .unwrap();
    assert_eq!(status, "queued", "the late webhook waits for a live worker");
    // One job from ingest, then one hand-over a second at most during the 3 s drain.
    assert!(
        job_seq <= 6,
        "the late event's job was handed back {} times during a 3 s drain",
        job_seq - 1
    );
}

#[tokio::test]
async fn serve_sandbox_needs_no_credentials_and_runs_a_customer_message_it_signs() {
    triaged::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(dir.path()).await;
    let mut daemon = Daemon::start_with(
        &["serve", "--sandbox"],
        &db,
        &[
            ("INTERCOM_CLIENT_SECRET", ""),
            ("TRIAGED_WORKERS", "2"),
            (
                "TRIAGED_PLAYBOOKS",
                concat!(env!("CARGO_MANIFEST_DIR"), "/playbooks"),
            ),
        ],
    )
    .await;
    let sandbox = daemon.sandbox.clone().expect("the sandbox URL is logged");

    let started = reqwest::Client::new()
        .post(format!("{sandbox}/_sandbox/customer/conversations"))
        .json(&serde_json::json!({
            "contact_id": "6762f1261bb69f9f21930001",
            "body": "Hello, my invoice looks wrong."
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 200);
    daemon.wait_for_message("run finished", 1).await;
    assert_eq!(daemon.terminate().await, Some(0));

    let (topic, status): (String, String) = with_pool!(db.watch().await, |p| sqlx::query_as(
        "SELECT topic, status FROM webhook_events ORDER BY id LIMIT 1"
    )
    .fetch_one(p)
    .await)
    .unwrap();
    assert_eq!(topic, "conversation.user.created");
    assert_eq!(
        status, "processed",
        "signed with the demo secret, accepted and run"
    );
}

#[tokio::test]
async fn serve_with_a_token_intercom_refuses_exits_with_one_line_naming_it() {
    triaged::install_crypto_provider();
    let sandbox = triaged::sandbox::Sandbox::start(triaged::sandbox::SandboxConfig::demo(
        "127.0.0.1:0".parse().unwrap(),
    ))
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(dir.path()).await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_triaged"))
        .arg("serve")
        .env_clear()
        .env("TRIAGED_DATABASE_URL", &db.url)
        .env("TRIAGED_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "off")
        .env("INTERCOM_CLIENT_SECRET", "s")
        .env("INTERCOM_ACCESS_TOKEN", "not-the-token")
        .env("INTERCOM_BASE_URL", sandbox.base_url())
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("INTERCOM_ACCESS_TOKEN"), "{stderr}");
}
