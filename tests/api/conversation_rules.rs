//! When the bot speaks and when it stays silent, end to end over the sandbox with a scripted
//! model: coalescing quick messages, human takeover, harmless replays, the hourly reply cap, and
//! playbooks that re-engage; plus the transcript a run leaves.

use std::{sync::Arc, time::Duration};

use serde_json::{Value, json};

use crate::{
    helpers::spawn_scenario,
    llm_stub::{LlmStub, Turn},
};

const PRIYA: &str = "6762f1261bb69f9f21930001";
const REFUND: &str = "215000001";

/// A live playbook answering every customer message with one reply.
fn answer_everything() -> (String, String) {
    (
        "answer".into(),
        r#"name: answer
description: Answer customers.
priority: 1
mode: live
trigger:
  topics: [conversation.user.created, conversation.user.replied]
steps:
  - agent:
      instructions: Answer the customer's latest message in one reply.
      tools: [get_conversation, reply_to_conversation]
fallback:
  - note: "could not answer: {{failure.reason}}"
"#
        .into(),
    )
}

#[tokio::test]
async fn three_quick_messages_get_one_run_and_one_reply_that_sees_the_last() {
    let stub = LlmStub::start().await;
    stub.push([
        Turn::Dynamic(Arc::new(|request: &Value| {
            let conversation = crate::llm_stub::conversation_of(request);
            Turn::tool(
                "reply_to_conversation",
                json!({"conversation_id": conversation, "body": "Order 42 is on its way."}),
            )
        })),
        Turn::Text("answered".into()),
    ]);
    let app = spawn_scenario(
        &[answer_everything()],
        Some(&stub.base_url()),
        Duration::from_secs(2),
    )
    .await;
    let sandbox = app.sandbox();

    let id = sandbox.customer_says(None, PRIYA, "Hello?").await.unwrap();
    sandbox
        .customer_says(Some(&id), PRIYA, "I have a question")
        .await
        .unwrap();
    sandbox
        .customer_says(Some(&id), PRIYA, "Where is my order 42?")
        .await
        .unwrap();
    app.settle().await;

    assert_eq!(app.count("SELECT COUNT(*) FROM runs").await, 1);
    assert_eq!(app.bot_replies(&id).len(), 1);
    assert_eq!(stub.requests().len(), 2);
    assert!(
        stub.requests()[0]
            .to_string()
            .contains("Where is my order 42?"),
        "the one run sees the latest message"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM webhook_events WHERE status = 'coalesced'")
            .await,
        2
    );
}

#[tokio::test]
async fn after_a_teammate_replies_the_bot_stays_silent_as_human_active() {
    let stub = LlmStub::start().await;
    stub.push([
        Turn::tool(
            "reply_to_conversation",
            json!({"conversation_id": REFUND, "body": "We are looking into it."}),
        ),
        Turn::Text("answered".into()),
    ]);
    let app = spawn_scenario(
        &[answer_everything()],
        Some(&stub.base_url()),
        Duration::ZERO,
    )
    .await;
    let sandbox = app.sandbox();

    sandbox
        .customer_says(Some(REFUND), PRIYA, "Hi again")
        .await
        .unwrap();
    app.settle().await;
    assert_eq!(app.bot_replies(REFUND).len(), 1);

    sandbox
        .teammate_replies(
            REFUND,
            "991200002",
            "Hi Priya, Maya here, I'll take it from here.",
        )
        .await
        .unwrap();
    sandbox
        .customer_says(Some(REFUND), PRIYA, "Thanks Maya!")
        .await
        .unwrap();
    app.settle().await;

    let runs = app.app.db().list_runs(None, 10).await.unwrap();
    assert_eq!(runs[0].status, "skipped");
    assert_eq!(runs[0].reason.as_deref(), Some("human_active"));
    assert_eq!(
        app.bot_replies(REFUND).len(),
        1,
        "no write after the teammate"
    );
    assert_eq!(stub.requests().len(), 2, "the model was not even asked");
}

#[tokio::test]
async fn replaying_a_handled_event_changes_nothing_in_intercom() {
    let stub = LlmStub::start().await;
    stub.push([
        Turn::tool(
            "reply_to_conversation",
            json!({"conversation_id": REFUND, "body": "Refund within 3-5 business days."}),
        ),
        Turn::Text("done".into()),
    ]);
    let app = spawn_scenario(
        &[answer_everything()],
        Some(&stub.base_url()),
        Duration::ZERO,
    )
    .await;
    app.sandbox()
        .customer_says(Some(REFUND), PRIYA, "refund please")
        .await
        .unwrap();
    app.settle().await;
    let before = app.sandbox().conversation(REFUND).unwrap();
    let event: i64 = app
        .count("SELECT id FROM webhook_events WHERE topic = 'conversation.user.replied'")
        .await;

    triaged::ingest::replay(app.app.db(), event).await.unwrap();
    app.settle().await;

    assert_eq!(app.sandbox().conversation(REFUND).unwrap(), before);
    let last = &app.app.db().list_runs(None, 1).await.unwrap()[0];
    assert_eq!(last.event_id, event);
    assert_eq!(last.status, "skipped");
}

#[tokio::test]
async fn a_conversation_past_the_hourly_reply_cap_is_handed_to_humans_instead() {
    let stub = LlmStub::start().await;
    stub.push([
        Turn::tool(
            "reply_to_conversation",
            json!({"conversation_id": REFUND, "body": "First answer."}),
        ),
        Turn::Text("answered".into()),
        Turn::tool(
            "reply_to_conversation",
            json!({"conversation_id": REFUND, "body": "Second answer."}),
        ),
        Turn::Text("answered".into()),
    ]);
    let app = crate::helpers::spawn_scenario_with(
        &[answer_everything()],
        Some(&stub.base_url()),
        Duration::ZERO,
        |config| config.max_bot_replies_per_hour = 1,
    )
    .await;
    let sandbox = app.sandbox();
    sandbox
        .customer_says(Some(REFUND), PRIYA, "one")
        .await
        .unwrap();
    app.settle().await;
    sandbox
        .customer_says(Some(REFUND), PRIYA, "two")
        .await
        .unwrap();
    app.settle().await;

    let runs = app.app.db().list_runs(None, 5).await.unwrap();
    assert_eq!(runs[0].status, "skipped");
    assert_eq!(runs[0].reason.as_deref(), Some("loop_guard"));
    assert_eq!(app.bot_replies(REFUND).len(), 1);
    assert_eq!(
        app.app.db().conversation_status(REFUND).await.unwrap(),
        "handed_off"
    );
}

#[tokio::test]
async fn runs_show_prints_the_whole_transcript_of_a_run() {
    let stub = LlmStub::start().await;
    stub.push([
        Turn::tool("get_conversation", json!({"conversation_id": REFUND})),
        Turn::tool(
            "reply_to_conversation",
            json!({"conversation_id": REFUND, "body": "Your refund arrives within 3-5 business days."}),
        ),
        Turn::Text("Replied about the refund.".into()),
    ]);
    let app = spawn_scenario(
        &[answer_everything()],
        Some(&stub.base_url()),
        Duration::ZERO,
    )
    .await;
    app.sandbox()
        .customer_says(Some(REFUND), PRIYA, "refund?")
        .await
        .unwrap();
    app.settle().await;
    let run = app.app.db().list_runs(None, 1).await.unwrap()[0].id;

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_triaged"))
        .args(["runs", "show", &run.to_string(), "--database-url"])
        .arg(&app.database_url)
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "playbook answer · status succeeded · outcome replied",
        "llm_request",
        "[system] You are triaged",
        "→ get_conversation",
        "tool_result get_conversation",
        "→ reply_to_conversation",
        "Your refund arrives within 3-5 business days.",
        "agent_finished",
        "Replied about the refund.",
        "writes:",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[tokio::test]
async fn only_a_playbook_that_reengages_speaks_after_a_human_took_over() {
    let stub = LlmStub::start().await;
    stub.push([
        Turn::tool(
            "reply_to_conversation",
            json!({"conversation_id": REFUND, "body": "We are on it."}),
        ),
        Turn::Text("answered".into()),
        Turn::tool(
            "reply_to_conversation",
            json!({"conversation_id": REFUND, "body": "Sorry it is still broken, reopening for you."}),
        ),
        Turn::Text("answered".into()),
    ]);
    let reengage = (
        "still-broken".to_owned(),
        r#"name: still-broken
description: The customer says it is still broken, even after a teammate answered.
priority: 10
mode: live
trigger:
  topics: [conversation.user.replied]
  conditions:
    contains: { any: [still broken] }
  reengage: true
steps:
  - agent:
      instructions: Apologise once.
      tools: [reply_to_conversation]
fallback:
  - note: "failed: {{failure.reason}}"
"#
        .to_owned(),
    );
    let app = spawn_scenario(
        &[answer_everything(), reengage],
        Some(&stub.base_url()),
        Duration::ZERO,
    )
    .await;
    let sandbox = app.sandbox();
    sandbox
        .customer_says(Some(REFUND), PRIYA, "Hi")
        .await
        .unwrap();
    app.settle().await;
    sandbox
        .teammate_replies(REFUND, "991200002", "Maya here, I've got this.")
        .await
        .unwrap();
    sandbox
        .customer_says(Some(REFUND), PRIYA, "Thanks")
        .await
        .unwrap();
    app.settle().await;
    assert_eq!(
        app.app.db().list_runs(None, 1).await.unwrap()[0]
            .reason
            .as_deref(),
        Some("human_active")
    );

    sandbox
        .customer_says(Some(REFUND), PRIYA, "It is still broken!")
        .await
        .unwrap();
    app.settle().await;
    let run = &app.app.db().list_runs(None, 1).await.unwrap()[0];
    assert_eq!(run.playbook.as_deref(), Some("still-broken"), "{run:#?}");
    assert_eq!(run.outcome.as_deref(), Some("replied"));
    assert_eq!(app.bot_replies(REFUND).len(), 2);
}
