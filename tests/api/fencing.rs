//! A run held past its lease: the daemon running it is frozen (SIGSTOP) while its model thinks; a
//! second daemon on the same database takes the job over, but may write only once the frozen
//! run's lease has expired; when the first daemon is thawed, its run is fenced and writes nothing.

use std::path::Path;

use serde_json::json;
use triaged::sandbox::{DEMO_ACCESS_TOKEN, Sandbox, SandboxConfig};

use crate::{
    daemon::Daemon,
    helpers::SECRET,
    llm_stub::{Gate, LlmStub, Turn},
};

const PRIYA: &str = "6762f1261bb69f9f21930001";
const REFUND: &str = "215000001";

const ANSWER: &str = r#"name: answer
description: Answer customers.
priority: 1
mode: live
trigger:
  topics: [conversation.user.replied]
steps:
  - agent:
      instructions: Answer the customer's latest message in one reply.
      tools: [reply_to_conversation]
fallback:
  - note: "could not answer: {{failure.reason}}"
"#;

async fn start_daemon(db: &Path, playbooks: &str, sandbox: &str, llm: &str) -> Daemon {
    Daemon::start_with(
        &["serve"],
        db,
        &[
            ("TRIAGED_PLAYBOOKS", playbooks),
            ("TRIAGED_WORKERS", "2"),
            ("TRIAGED_HEARTBEAT", "1s"),
            ("TRIAGED_LEASE_TTL", "3s"),
            ("INTERCOM_BASE_URL", sandbox),
            ("INTERCOM_ACCESS_TOKEN", DEMO_ACCESS_TOKEN),
            ("TRIAGED_LLM_BASE_URL", llm),
            ("TRIAGED_LLM_API_KEY", "scripted"),
            ("TRIAGED_LLM_MODEL", "scripted-model"),
        ],
    )
    .await
}

/// Unix milliseconds of an RFC 3339 timestamp stored by SQLite.
const MS: &str = "CAST(ROUND((julianday(started_at) - 2440587.5) * 86400000) AS INTEGER)";

#[tokio::test]
async fn a_run_frozen_past_its_lease_is_taken_over_only_after_expiry_and_writes_nothing_once_thawed()
 {
    triaged::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("triaged.db");
    let playbooks = dir.path().join("playbooks");
    std::fs::create_dir_all(&playbooks).unwrap();
    std::fs::write(playbooks.join("answer.yaml"), ANSWER).unwrap();
    let playbooks = playbooks.display().to_string();

    let stub = LlmStub::start().await;
    let gate = Gate::new(Turn::tool(
        "reply_to_conversation",
        json!({"conversation_id": REFUND, "body": "Stale reply from the frozen run."}),
    ));
    stub.push([
        Turn::Gate(gate.clone()),
        Turn::tool(
            "reply_to_conversation",
            json!({"conversation_id": REFUND, "body": "Reply from the run that took over."}),
        ),
        Turn::Text("answered".into()),
    ]);
    let mut config = SandboxConfig::demo("127.0.0.1:0".parse().unwrap());
    config.client_secret = SECRET.into();
    let sandbox = Sandbox::start(config).await.unwrap();

    let mut first = start_daemon(&db, &playbooks, &sandbox.base_url(), &stub.base_url()).await;
    sandbox.set_webhook_url(Some(first.url("/webhooks/intercom")));
    sandbox
        .customer_says(Some(REFUND), PRIYA, "Where is my refund?")
        .await
        .unwrap();
    sandbox.flush_webhooks().await;
    tokio::time::timeout(crate::helpers::PATIENCE, gate.entered())
        .await
        .expect("the first run asks the model");
    first.pause();
    let watch = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let (epoch, frozen_until): (i64, i64) = sqlx::query_as(
        "SELECT epoch, expires_at FROM conversation_leases WHERE conversation_id = ?",
    )
    .bind(REFUND)
    .fetch_one(&watch)
    .await
    .unwrap();

    let mut second = start_daemon(&db, &playbooks, &sandbox.base_url(), &stub.base_url()).await;
    second.wait_for_message("run finished", 1).await;
    let (took_over, wrote_at): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT (SELECT epoch FROM conversation_leases WHERE conversation_id = ?1), \
                (SELECT {MS} FROM actions WHERE conversation_id = ?1 \
                 AND tool = 'reply_to_conversation')"
    )))
    .bind(REFUND)
    .fetch_one(&watch)
    .await
    .unwrap();
    assert!(took_over > epoch, "the lease changed hands");
    assert!(
        wrote_at >= frozen_until,
        "the second run wrote at {wrote_at}, before the frozen run's lease expired ({frozen_until})"
    );

    first.resume();
    gate.open();
    first
        .wait_for_message(
            "the run lost its conversation lease; stopped without writing",
            1,
        )
        .await;
    let bot = sandbox.bot_admin_id();
    let replies: Vec<String> =
        sandbox.conversation(REFUND).unwrap()["conversation_parts"]["conversation_parts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["part_type"] == "comment" && p["author"]["id"].as_str() == Some(&bot))
            .map(|p| p["body"].as_str().unwrap_or_default().to_owned())
            .collect();
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(replies[0].contains("Reply from the run that took over."));
    let (status, outcome): (String, String) =
        sqlx::query_as("SELECT status, outcome FROM runs ORDER BY id DESC LIMIT 1")
            .fetch_one(&watch)
            .await
            .unwrap();
    assert_eq!(
        (status.as_str(), outcome.as_str()),
        ("succeeded", "replied")
    );
    assert_eq!(first.terminate().await, Some(0));
    assert_eq!(second.terminate().await, Some(0));
}
