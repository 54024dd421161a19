//! Supervised background tasks and retention.

use std::{process::Command, time::Duration};

use crate::helpers::{PATIENCE, TestApp, shipped_live, spawn_app, spawn_scenario};

#[tokio::test]
async fn a_dead_worker_makes_readyz_503_and_the_daemon_stop_with_an_error() {
    let TestApp {
        app,
        base,
        client,
        _dir,
        _pg,
        database_url: _,
    } = spawn_app().await;
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    assert!(app.health().kill("worker"), "the worker task is supervised");
    let reason = tokio::time::timeout(PATIENCE, app.health().failed())
        .await
        .expect("the supervisor notices the dead worker");
    assert!(reason.contains("worker"), "{reason}");

    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.text().await.unwrap().contains("worker"));

    // What `triaged serve` does: serve until a signal (none comes here) or a dead task; a dead task
    // is an error, which the binary turns into a non-zero exit status.
    let ended = tokio::time::timeout(PATIENCE, app.run_until(std::future::pending()))
        .await
        .expect("the daemon stops on its own");
    let error = ended.expect_err("a dead task is an error").to_string();
    assert!(error.contains("worker task"), "{error}");
}

const REFUND: &str = "215000001";
const PRIYA: &str = "6762f1261bb69f9f21930001";
const CHECKOUT: &str = "215000002";
const CHECKOUT_CONTACT: &str = "6762f1261bb69f9f21930002";

#[tokio::test]
async fn prune_deletes_bodies_and_trails_older_than_the_retention_and_nothing_newer() {
    // No model: the agent step takes the fallback, so each run has a trail and writes (drafts).
    let app = spawn_scenario(&[shipped_live("refund-request")], None, Duration::ZERO).await;
    app.sandbox()
        .customer_says(Some(REFUND), PRIYA, "I want a refund please")
        .await
        .unwrap();
    app.settle().await;
    app.sandbox()
        .customer_says(Some(CHECKOUT), CHECKOUT_CONTACT, "refund for my checkout")
        .await
        .unwrap();
    app.settle().await;
    let runs = app.app.db().list_runs(None, 10).await.unwrap();
    let ran: Vec<_> = runs.iter().filter(|r| r.playbook.is_some()).collect();
    assert_eq!(ran.len(), 2, "{runs:#?}");
    let (new, old) = (ran[0], ran[1]);
    let old_conversation = old.conversation_id.clone().unwrap();
    // The first run happened 40 days ago.
    let forty_days_ago = app.ago(40 * 86_400);
    for sql in [
        format!(
            "UPDATE runs SET started_at = {forty_days_ago} \
             WHERE conversation_id = '{old_conversation}'"
        ),
        format!(
            "UPDATE webhook_events SET received_at = {forty_days_ago} \
             WHERE conversation_id = '{old_conversation}'"
        ),
    ] {
        triaged::with_pool!(app.app.db(), |p| sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(p)
            .await
            .map(|_| ()))
        .unwrap();
    }
    let steps = |run: i64| format!("SELECT COUNT(*) FROM run_steps WHERE run_id = {run}");
    assert!(app.count(&steps(old.id)).await > 0);
    // Every run of the old conversation with a trail is past the retention (a loaded machine can
    // add a follow-up run there; each of its trails counts).
    let old_trails = app
        .count(&format!(
            "SELECT COUNT(DISTINCT r.id) FROM runs r JOIN run_steps s ON s.run_id = r.id \
             WHERE r.conversation_id = '{old_conversation}'"
        ))
        .await;
    let new_steps = app.count(&steps(new.id)).await;
    assert!(new_steps > 0);
    let args = |run: i64| {
        format!("SELECT COUNT(*) FROM actions WHERE run_id = {run} AND arguments <> '{{}}'")
    };
    assert!(app.count(&args(old.id)).await > 0, "the old run wrote");
    let new_args = app.count(&args(new.id)).await;
    let bodies = |conversation: &str| {
        format!(
            "SELECT COUNT(*) FROM webhook_events WHERE conversation_id = '{conversation}' \
             AND length(raw_body) > 0"
        )
    };
    let new_conversation = new.conversation_id.clone().unwrap();
    let new_bodies = app.count(&bodies(&new_conversation)).await;
    assert!(new_bodies > 0);

    // `triaged prune` on the database file, as an operator runs it (here with the daemon stopped,
    // so the command is alone on the file).
    let TestApp {
        app: daemon,
        database_url: url,
        ..
    } = app;
    daemon.shutdown().await.unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_triaged"))
        .args(["prune", "--json"])
        .env("TRIAGED_DATABASE_URL", &url)
        .env("TRIAGED_RETENTION", "30d")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(old_trails >= 1);
    assert_eq!(report["run_trails"], old_trails, "{report}");
    assert!(report["event_bodies"].as_u64().unwrap() >= 1, "{report}");
    let db = triaged::store::Db::open(&url, triaged::config::Durability::Full)
        .await
        .unwrap();
    let count = |sql: String| {
        let db = db.clone();
        async move {
            triaged::with_pool!(db, |p| sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(
                sql
            ))
            .fetch_one(p)
            .await)
            .unwrap()
        }
    };

    // Older: gone (bodies, trail, write arguments); the run's summary stays.
    assert_eq!(count(bodies(&old_conversation)).await, 0);
    assert_eq!(count(steps(old.id)).await, 0);
    assert_eq!(count(args(old.id)).await, 0);
    let kept = db.run(old.id).await.unwrap().expect("the run row stays");
    assert_eq!(kept.outcome, old.outcome);
    assert_eq!(kept.playbook.as_deref(), Some("refund-request"));
    // Newer: untouched.
    assert_eq!(count(bodies(&new_conversation)).await, new_bodies);
    assert_eq!(count(steps(new.id)).await, new_steps);
    assert_eq!(count(args(new.id)).await, new_args);

    // Pruning again deletes nothing more.
    let again = db.prune(Duration::from_secs(30 * 86_400)).await.unwrap();
    assert!(again.is_empty(), "{again:?}");
}
