//! A run held past its lease: the daemon running it is frozen (SIGSTOP) while its model thinks; a
//! second daemon on the same database takes the job over, but may write only once the frozen
//! run's lease has expired; when the first daemon is thawed, its run is fenced and writes nothing.
//! Runs on either backend (the CI matrix runs it on PostgreSQL too).

use std::sync::Arc;

use serde_json::json;
use triaged::{
    sandbox::{DEMO_ACCESS_TOKEN, Sandbox, SandboxConfig},
    store::{Backend, Db},
    with_pool,
};

use crate::{
    daemon::{Daemon, TestDb},
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

async fn start_daemon(db: &TestDb, playbooks: &str, sandbox: &str, llm: &str) -> Daemon {
    Daemon::start_with(
        &["serve"],
        db,
        &[
            ("TRIAGED_PLAYBOOKS", playbooks),
            ("TRIAGED_WORKERS", "2"),
            ("TRIAGED_HEARTBEAT", "1s"),
            ("TRIAGED_LEASE_TTL", "3s"),
            // A daemon frozen inside a write transaction holds SQLite's lock until it thaws, so
            // the second one could not even start. Ingest wakes the worker for new jobs; a slow
            // poll (each one is a write) makes freezing one mid-transaction unlikely.
            ("TRIAGED_POLL_INTERVAL", "500ms"),
            ("INTERCOM_BASE_URL", sandbox),
            ("INTERCOM_ACCESS_TOKEN", DEMO_ACCESS_TOKEN),
            ("TRIAGED_LLM_BASE_URL", llm),
            ("TRIAGED_LLM_API_KEY", "scripted"),
            ("TRIAGED_LLM_MODEL", "scripted-model"),
        ],
    )
    .await
}

/// A temporary directory with the test's database and a playbook folder holding [`ANSWER`].
async fn workspace() -> (tempfile::TempDir, TestDb, String) {
    triaged::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(dir.path()).await;
    let playbooks = dir.path().join("playbooks");
    std::fs::create_dir_all(&playbooks).unwrap();
    std::fs::write(playbooks.join("answer.yaml"), ANSWER).unwrap();
    let playbooks = playbooks.display().to_string();
    (dir, db, playbooks)
}

/// A sandbox of its own, outliving the daemons the test starts and kills.
async fn sandbox() -> Sandbox {
    let mut config = SandboxConfig::demo("127.0.0.1:0".parse().unwrap());
    config.client_secret = SECRET.into();
    Sandbox::start(config).await.unwrap()
}

/// The bot's customer-visible replies in the refund conversation, oldest first.
fn bot_replies(sandbox: &Sandbox) -> Vec<String> {
    let bot = sandbox.bot_admin_id();
    sandbox.conversation(REFUND).unwrap()["conversation_parts"]["conversation_parts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["part_type"] == "comment" && p["author"]["id"].as_str() == Some(&bot))
        .map(|p| p["body"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// SQL for the Unix milliseconds of the stored time `started_at` (RFC 3339 text).
fn started_ms(watch: &Db) -> &'static str {
    match watch.backend() {
        Backend::Sqlite => "CAST(ROUND((julianday(started_at) - 2440587.5) * 86400000) AS INTEGER)",
        Backend::Postgres => {
            "CAST(ROUND(EXTRACT(EPOCH FROM started_at::timestamptz) * 1000) AS BIGINT)"
        }
    }
}

#[tokio::test]
async fn a_run_frozen_past_its_lease_is_taken_over_only_after_expiry_and_writes_nothing_once_thawed()
 {
    let (_dir, db, playbooks) = workspace().await;

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
    let sandbox = sandbox().await;

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
    let watch = db.watch().await;
    let (epoch, frozen_until): (i64, i64) = with_pool!(watch, |p| sqlx::query_as(
        "SELECT epoch, expires_at FROM conversation_leases WHERE conversation_id = $1",
    )
    .bind(REFUND)
    .fetch_one(p)
    .await)
    .unwrap();

    let mut second = start_daemon(&db, &playbooks, &sandbox.base_url(), &stub.base_url()).await;
    second.wait_for_message("run finished", 1).await;
    let (took_over, wrote_at): (i64, i64) =
        with_pool!(watch, |p| sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT (SELECT epoch FROM conversation_leases WHERE conversation_id = $1), \
                    (SELECT {} FROM actions WHERE conversation_id = $1 \
                     AND tool = 'reply_to_conversation')",
            started_ms(&watch)
        )))
        .bind(REFUND)
        .fetch_one(p)
        .await)
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
    let replies = bot_replies(&sandbox);
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(replies[0].contains("Reply from the run that took over."));
    let (status, outcome): (String, String) = with_pool!(watch, |p| sqlx::query_as(
        "SELECT status, outcome FROM runs ORDER BY id DESC LIMIT 1"
    )
    .fetch_one(p)
    .await)
    .unwrap();
    assert_eq!(
        (status.as_str(), outcome.as_str()),
        ("succeeded", "replied")
    );
    assert_eq!(first.terminate().await, Some(0));
    assert_eq!(second.terminate().await, Some(0));
}

/// The scripted model of the two-message tests: the first run's reply (held at `thinking` until
/// the customer has written again) answers the first message; `next`, if any, is the first run's
/// following turn; any later run answers the newest message it sees.
fn two_messages(thinking: &Arc<Gate>, next: Option<Turn>) -> Vec<Turn> {
    let mut turns = vec![Turn::Gate(thinking.clone())];
    turns.extend(next);
    turns.push(Turn::Forever(Box::new(Turn::Dynamic(Arc::new(
        |request: &serde_json::Value| {
            let answered = request["messages"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["role"] == "tool"));
            if answered {
                Turn::Text("answered".into())
            } else if request.to_string().contains("Second message") {
                Turn::tool(
                    "reply_to_conversation",
                    json!({"conversation_id": REFUND, "body": "Answer to the second message."}),
                )
            } else {
                Turn::tool(
                    "reply_to_conversation",
                    json!({"conversation_id": REFUND, "body": "A reply that did not see it."}),
                )
            }
        },
    )))));
    turns
}

fn first_answer() -> Arc<Gate> {
    Gate::new(Turn::tool(
        "reply_to_conversation",
        json!({"conversation_id": REFUND, "body": "Answer to the first message."}),
    ))
}

/// The customer writes, the daemon's run asks the model (held at `thinking`), the customer writes
/// again.
async fn second_message_mid_run(sandbox: &Sandbox, daemon: &Daemon, thinking: &Gate) {
    sandbox.set_webhook_url(Some(daemon.url("/webhooks/intercom")));
    sandbox
        .customer_says(Some(REFUND), PRIYA, "First message: where is my refund?")
        .await
        .unwrap();
    sandbox.flush_webhooks().await;
    tokio::time::timeout(crate::helpers::PATIENCE, thinking.entered())
        .await
        .expect("the first run asks the model");
    sandbox
        .customer_says(Some(REFUND), PRIYA, "Second message: it was order 42.")
        .await
        .unwrap();
    sandbox.flush_webhooks().await;
}

/// After the first daemon was killed: a second one (Intercom at `intercom`) takes over; once every
/// event has ended (the bot's own echoes included), each customer message has exactly one answer.
async fn each_message_answered_once_after_a_restart(
    db: &TestDb,
    playbooks: &str,
    sandbox: &Sandbox,
    intercom: &str,
    llm: &str,
) {
    let mut second = start_daemon(db, playbooks, intercom, llm).await;
    sandbox.set_webhook_url(Some(second.url("/webhooks/intercom")));
    second.wait_for_message("run finished", 1).await;
    sandbox.flush_webhooks().await;
    let watch = db.watch().await;
    let deadline = std::time::Instant::now() + crate::helpers::PATIENCE;
    loop {
        let (queued, open): (i64, i64) = with_pool!(watch, |p| sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM webhook_events WHERE status = 'queued'), \
                    (SELECT COUNT(*) FROM runs WHERE status IN ('running', 'retrying'))"
        )
        .fetch_one(p)
        .await)
        .unwrap();
        if queued == 0 && open == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon never drained"
        );
        second.wait_for_message("run finished", 1).await;
    }
    let replies = bot_replies(sandbox);
    assert_eq!(replies.len(), 2, "each message answered once: {replies:?}");
    assert!(
        replies[0].contains("Answer to the first message."),
        "{replies:?}"
    );
    assert!(
        replies[1].contains("Answer to the second message."),
        "{replies:?}"
    );
    assert_eq!(second.terminate().await, Some(0));
}

/// The customer writes again while the bot is answering their first message; the daemon is
/// SIGKILLed right after the reply reached Intercom, before the run was recorded. The reply answers
/// only the first message (it landed after the second, but was written from a snapshot without
/// it): after the restart the second message must still get its own answer.
#[tokio::test]
async fn a_run_killed_after_replying_to_an_older_snapshot_leaves_the_newer_message_answered() {
    let (_dir, db, playbooks) = workspace().await;
    let stub = LlmStub::start().await;
    let thinking = first_answer();
    let replied = Gate::new(Turn::Text("answered".into()));
    stub.push(two_messages(&thinking, Some(Turn::Gate(replied.clone()))));
    let sandbox = sandbox().await;

    let first = start_daemon(&db, &playbooks, &sandbox.base_url(), &stub.base_url()).await;
    second_message_mid_run(&sandbox, &first, &thinking).await;
    thinking.open();
    // The reply is in Intercom and recorded `done`; the model is asked what next: kill now.
    tokio::time::timeout(crate::helpers::PATIENCE, replied.entered())
        .await
        .expect("the first run replied");
    first.kill().await;
    each_message_answered_once_after_a_restart(
        &db,
        &playbooks,
        &sandbox,
        &sandbox.base_url(),
        &stub.base_url(),
    )
    .await;
}

/// The same, but the daemon dies after Intercom applied the reply and before it answered: the
/// reply stays unconfirmed (`started`), and its event is then covered by the second message's.
/// The reply is in the conversation all the same; the second message must still get its answer.
#[tokio::test]
async fn a_run_killed_before_its_reply_was_confirmed_leaves_the_newer_message_answered() {
    let (_dir, db, playbooks) = workspace().await;
    let stub = LlmStub::start().await;
    let thinking = first_answer();
    // Killed before it hears back: the first run asks the model nothing more.
    stub.push(two_messages(&thinking, None));
    let sandbox = sandbox().await;
    let intercom = crate::hold_proxy::HoldProxy::start(&sandbox.base_url()).await;

    let first = start_daemon(&db, &playbooks, &intercom.url, &stub.base_url()).await;
    second_message_mid_run(&sandbox, &first, &thinking).await;
    let applied = intercom.hold_next_reply();
    thinking.open();
    tokio::time::timeout(crate::helpers::PATIENCE, applied)
        .await
        .expect("the first run's reply reached Intercom")
        .expect("the proxy reports it");
    first.kill().await;
    each_message_answered_once_after_a_restart(
        &db,
        &playbooks,
        &sandbox,
        &intercom.url,
        &stub.base_url(),
    )
    .await;
}
