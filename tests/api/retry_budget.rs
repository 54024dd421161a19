//! The retry budget is time (`TRIAGED_RETRY_FOR`): an Intercom outage is retried with back-off
//! for that long, then the playbook's fallback tells a human; `events replay --status failed`
//! re-runs what failed, in bulk, once the outage is over.

use std::time::Duration;

use triaged::sandbox::Faults;

use crate::helpers::{TestApp, spawn_scenario_with};

const PRIYA: &str = "6762f1261bb69f9f21930001";
const REFUND: &str = "215000001";
const BILLING_TEAM: &str = "510002";
const TAGGING: &str = "POST /conversations/{id}/tags";

fn tagging_playbook() -> (String, String) {
    (
        "tagger".into(),
        r#"name: tagger
description: Tag every customer message.
priority: 1
mode: live
trigger:
  topics: [conversation.user.replied]
steps:
  - tag: needs-review
fallback:
  - note: "The bot could not handle this ({{failure.reason}}). Please take over."
  - assign:
      team: Billing
"#
        .into(),
    )
}

/// The daemon with this retry budget; tagging is down in the sandbox and the customer writes.
async fn start_in_an_outage(retry_for: Duration) -> TestApp {
    let app = spawn_scenario_with(&[tagging_playbook()], None, Duration::ZERO, |config| {
        config.retry.retry_for = retry_for;
        config.retry.max_attempts = None;
    })
    .await;
    app.sandbox().set_faults(Faults {
        unavailable: vec![TAGGING.into()],
        ..Faults::default()
    });
    app.sandbox()
        .customer_says(Some(REFUND), PRIYA, "Hello, anyone there?")
        .await
        .unwrap();
    app
}

fn tags(app: &TestApp) -> Vec<String> {
    app.sandbox().conversation(REFUND).unwrap()["tags"]["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn an_outage_longer_than_the_retry_budget_ends_in_the_fallback_so_a_human_is_told() {
    let app = start_in_an_outage(Duration::from_secs(2)).await;
    let sandbox = app.sandbox();
    app.settle().await;

    let runs = app.app.db().list_runs(None, 5).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:#?}");
    let run = &runs[0];
    assert_eq!(run.status, "failed", "{run:#?}");
    assert_eq!(run.reason.as_deref(), Some("retries_exhausted"), "{run:#?}");
    assert!(
        run.attempts >= 2,
        "retried with back-off within the budget: {run:#?}"
    );
    assert_eq!(
        app.team_assignee(REFUND),
        BILLING_TEAM,
        "the fallback assigned it"
    );
    assert_eq!(
        app.notes_containing(REFUND, "could not handle this (retries_exhausted)"),
        1,
        "the fallback's note says why"
    );
    assert!(!tags(&app).contains(&"needs-review".to_owned()));

    // The outage is over: the support lead replays what failed in the last hour, in bulk.
    sandbox.set_faults(Faults::default());
    // (In-process: the CLI form is tested below on a database no daemon is writing to; run
    // beside a busy daemon it has met "database is locked" under load.)
    let replayed = triaged::ingest::replay_matching(
        app.app.db(),
        triaged::store::events::EventStatus::Failed,
        Some(Duration::from_secs(3600)),
    )
    .await
    .unwrap();
    assert_eq!(replayed.len(), 1, "{replayed:?}");
    assert!(replayed[0].is_ok(), "{replayed:?}");
    app.settle().await;
    assert!(tags(&app).contains(&"needs-review".to_owned()));
    let runs = app.app.db().list_runs(None, 5).await.unwrap();
    assert_eq!(runs[0].status, "succeeded", "{runs:#?}");
}

#[tokio::test]
async fn a_short_outage_within_the_budget_is_ridden_out_without_the_fallback() {
    let app = start_in_an_outage(Duration::from_secs(3600)).await;
    let sandbox = app.sandbox();
    sandbox.flush_webhooks().await;
    // Wait until the run has failed once and is waiting for its next attempt.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while app
        .count("SELECT COUNT(*) FROM runs WHERE status = 'retrying'")
        .await
        == 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the run never retried"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sandbox.set_faults(Faults::default());
    app.settle().await;

    let runs = app.app.db().list_runs(None, 5).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0].status, "succeeded", "{runs:#?}");
    assert!(runs[0].attempts >= 2);
    assert!(tags(&app).contains(&"needs-review".to_owned()));
    assert!(
        !app.parts(REFUND).iter().any(|p| p["part_type"] == "note"),
        "no fallback note"
    );
}

#[test]
fn replay_by_status_on_a_quiet_database_says_how_many_it_requeued() {
    let dir = tempfile::tempdir().unwrap();
    let db = crate::daemon::TestDb::new_blocking(dir.path());
    let url = db.url.clone();
    let triaged = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_triaged"))
            .args(args)
            .args(["--database-url", &url])
            .env("RUST_LOG", "off")
            .output()
            .unwrap()
    };
    assert!(triaged(&["migrate"]).status.success());
    let output = triaged(&["events", "replay", "--status", "failed", "--since", "1h"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("0 failed event(s) in the last 1h re-queued"),
        "{stdout}"
    );
}

#[test]
fn replay_needs_an_id_or_a_status() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_triaged"))
        .args(["events", "replay", "--since", "1h"])
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--status"), "{stderr}");
}
