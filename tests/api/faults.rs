//! Fault tests: scripted model faults and Intercom (sandbox) faults. Every job completes or ends
//! failed with a reason; none is lost; nothing is written twice.

use std::time::Duration;

use serde_json::json;
use triaged::sandbox::Faults;

use crate::{
    helpers::{spawn_scenario, spawn_scenario_with},
    llm_stub::{LlmStub, Turn},
};

const PRIYA: &str = "6762f1261bb69f9f21930001";
const REFUND: &str = "215000001";

fn replier(wall_time: &str) -> (String, String) {
    (
        "reply".into(),
        format!(
            r#"name: reply
description: Reply once.
priority: 1
mode: live
trigger:
  topics: [conversation.user.created, conversation.user.replied]
steps:
  - agent:
      instructions: Reply to the customer once.
      tools: [get_conversation, reply_to_conversation]
      max_steps: 8
      wall_time: {wall_time}
fallback:
  - note: "bot failed: {{{{failure.reason}}}}"
"#
        ),
    )
}

async fn statuses(app: &crate::helpers::TestApp) -> Vec<String> {
    triaged::with_pool!(app.app.db(), |p| sqlx::query_scalar(
        "SELECT payload FROM run_steps WHERE kind = 'tool_result' ORDER BY seq"
    )
    .fetch_all(p)
    .await)
    .unwrap()
    .into_iter()
    .map(|p: String| {
        serde_json::from_str::<serde_json::Value>(&p).unwrap_or_default()["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    })
    .collect()
}

#[tokio::test]
async fn a_rate_limited_model_that_sends_broken_calls_recovers_and_replies_once() {
    let stub = LlmStub::start().await;
    stub.push([
        Turn::Fault {
            status: 429,
            retry_after: Some(1),
        },
        Turn::ToolCalls(vec![("reply_to_conversation".into(), "{not json".into())]),
        Turn::tool("delete_everything", json!({"conversation_id": REFUND})),
        Turn::tool(
            "reply_to_conversation",
            json!({"conversation_id": 215, "body": 5}),
        ),
        Turn::tool(
            "reply_to_conversation",
            json!({"conversation_id": REFUND, "body": "Thanks, we are on it."}),
        ),
        Turn::Text("replied".into()),
    ]);
    let app = spawn_scenario(&[replier("60s")], Some(&stub.base_url()), Duration::ZERO).await;
    app.sandbox()
        .customer_says(Some(REFUND), PRIYA, "Hello?")
        .await
        .unwrap();
    app.settle().await;

    let run = &app.app.db().list_runs(None, 5).await.unwrap()[0];
    assert_eq!(run.status, "succeeded", "{run:#?}");
    assert_eq!(run.outcome.as_deref(), Some("replied"));
    let payloads: Vec<String> = triaged::with_pool!(app.app.db(), |p| sqlx::query_scalar(
        "SELECT payload FROM run_steps WHERE kind = 'tool_result' ORDER BY seq"
    )
    .fetch_all(p)
    .await)
    .unwrap();
    assert_eq!(payloads.len(), 4);
    assert!(payloads[0].contains("not valid JSON"), "{}", payloads[0]);
    assert!(
        payloads[1].contains("there is no tool `delete_everything`"),
        "{}",
        payloads[1]
    );
    assert!(payloads[2].contains("invalid type"), "{}", payloads[2]);
    assert_eq!(
        statuses(&app).await,
        ["invalid", "invalid", "invalid", "ok"]
    );
    assert_eq!(app.bot_replies(REFUND).len(), 1);
    assert_eq!(
        stub.requests().len(),
        6,
        "the 429 was retried after Retry-After"
    );
}

#[tokio::test]
async fn a_model_that_keeps_failing_or_hangs_ends_failed_with_its_reason_and_the_fallback() {
    // Persistent 500s: unavailable after the retries.
    let stub = LlmStub::start().await;
    stub.push([Turn::Forever(Box::new(Turn::Fault {
        status: 500,
        retry_after: Some(0),
    }))]);
    let app = spawn_scenario(&[replier("60s")], Some(&stub.base_url()), Duration::ZERO).await;
    app.sandbox()
        .customer_says(Some(REFUND), PRIYA, "Hello?")
        .await
        .unwrap();
    app.settle().await;
    let run = &app.app.db().list_runs(None, 5).await.unwrap()[0];
    assert_eq!(
        (run.status.as_str(), run.reason.as_deref()),
        ("failed", Some("llm_unavailable"))
    );
    assert!(app.bot_replies(REFUND).is_empty());
    assert!(app.parts(REFUND).iter().any(|p| p["part_type"] == "note"
        && p["body"].as_str().unwrap_or("").contains("llm_unavailable")));

    // A model that does not answer within the playbook's wall time.
    let stub = LlmStub::start().await;
    stub.push([
        Turn::Delay(Duration::from_secs(30)),
        Turn::Text("too late".into()),
    ]);
    let app = spawn_scenario(&[replier("2s")], Some(&stub.base_url()), Duration::ZERO).await;
    app.sandbox()
        .customer_says(Some(REFUND), PRIYA, "Hello?")
        .await
        .unwrap();
    app.settle().await;
    let run = &app.app.db().list_runs(None, 5).await.unwrap()[0];
    assert_eq!(
        (run.status.as_str(), run.reason.as_deref()),
        ("failed", Some("wall_time"))
    );
    assert!(app.bot_replies(REFUND).is_empty());
}

#[tokio::test]
async fn with_a_share_of_intercom_5xx_and_latency_every_run_ends_and_no_reply_is_doubled() {
    let stub = LlmStub::start().await;
    // Each run: read, reply, done (the same script for every conversation).
    stub.push([Turn::Forever(Box::new(Turn::Dynamic(std::sync::Arc::new(
        |request: &serde_json::Value| {
            let conversation = crate::llm_stub::conversation_of(request);
            let replied = request["messages"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["role"] == "tool"));
            if replied {
                Turn::Text("done".into())
            } else {
                Turn::tool(
                    "reply_to_conversation",
                    json!({"conversation_id": conversation, "body": "We got your message."}),
                )
            }
        },
    ))))]);
    // The production retry budget: transient failures are retried for an hour (not a number of
    // attempts), so every conversation is answered in the end.
    let app = spawn_scenario_with(
        &[replier("60s")],
        Some(&stub.base_url()),
        Duration::ZERO,
        |config| {
            config.retry.retry_for = Duration::from_secs(3600);
            config.retry.max_attempts = None;
        },
    )
    .await;
    let sandbox = app.sandbox();
    let mut conversations = Vec::new();
    for i in 0..12 {
        conversations.push(
            sandbox
                .customer_says(None, PRIYA, &format!("Question {i}"))
                .await
                .unwrap(),
        );
    }
    sandbox.set_faults(Faults {
        error_share: 0.3,
        latency: Duration::from_millis(20),
        ..Faults::default()
    });
    app.settle().await;
    sandbox.set_faults(Faults::default());
    app.settle().await;

    let open: i64 = app
        .count("SELECT COUNT(*) FROM runs WHERE status NOT IN ('succeeded', 'failed', 'skipped')")
        .await;
    assert_eq!(open, 0, "every run ended");
    let unexplained: i64 = app
        .count("SELECT COUNT(*) FROM runs WHERE status = 'failed' AND reason IS NULL")
        .await;
    assert_eq!(unexplained, 0, "every failure has a reason");
    let answered: Vec<usize> = conversations
        .iter()
        .map(|id| app.bot_replies(id).len())
        .collect();
    assert_eq!(
        answered,
        vec![1; 12],
        "every conversation answered exactly once (replies per conversation)"
    );
    let injected = sandbox.stats().injected_errors;
    assert!(injected > 0, "the fault switch fired");
    let retried = app
        .count("SELECT COUNT(*) FROM runs WHERE attempts > 1")
        .await;
    eprintln!("faults: {injected} injected 5xx, {retried} runs retried; 12 of 12 answered once");
}

/// A deterministic playbook: one reply and a close per customer message.
fn reply_and_close() -> (String, String) {
    (
        "ack".into(),
        r#"name: ack
description: Acknowledge and close.
priority: 1
mode: live
trigger:
  topics: [conversation.user.created, conversation.user.replied]
steps:
  - reply: "Thanks, we have your message and will get back to you."
  - close
"#
        .into(),
    )
}

#[tokio::test]
async fn a_reply_applied_by_intercom_and_answered_502_reaches_the_customer_exactly_once() {
    let app = spawn_scenario(&[reply_and_close()], None, Duration::ZERO).await;
    let sandbox = app.sandbox();
    sandbox.set_faults(Faults {
        error_after_write: 1,
        error_after_write_status: 502,
        ..Faults::default()
    });
    sandbox
        .customer_says(Some(REFUND), PRIYA, "Hello, anyone?")
        .await
        .unwrap();
    app.settle().await;

    assert_eq!(sandbox.stats().errors_after_write, 1, "the 502 was served");
    assert_eq!(
        app.bot_replies(REFUND).len(),
        1,
        "the reply was applied before the 502: sending it again doubles it"
    );
    assert_eq!(
        sandbox.conversation(REFUND).unwrap()["state"],
        "closed",
        "the rest of the playbook ran"
    );
    let run = &app.app.db().list_runs(None, 5).await.unwrap()[0];
    assert_eq!(run.status, "succeeded", "{run:#?}");
}

#[tokio::test]
async fn a_close_applied_by_intercom_and_answered_504_is_confirmed_from_the_conversation() {
    let app = spawn_scenario(&[reply_and_close()], None, Duration::ZERO).await;
    let sandbox = app.sandbox();
    sandbox
        .customer_says(Some(REFUND), PRIYA, "Hello, anyone?")
        .await
        .unwrap();
    app.settle().await;
    let closes = |app: &crate::helpers::TestApp| {
        app.parts(REFUND)
            .iter()
            .filter(|p| p["part_type"] == "close")
            .count()
    };
    assert_eq!(closes(&app), 1);
    sandbox
        .customer_says(Some(REFUND), PRIYA, "One more thing")
        .await
        .unwrap();
    // Both writes of the second run are applied and answered 504.
    sandbox.set_faults(Faults {
        error_after_write: 2,
        error_after_write_status: 504,
        ..Faults::default()
    });
    app.settle().await;
    assert_eq!(sandbox.stats().errors_after_write, 2);
    assert_eq!(app.bot_replies(REFUND).len(), 2, "one reply per message");
    assert_eq!(closes(&app), 2, "one close per run");
    let runs = app.app.db().list_runs(None, 5).await.unwrap();
    assert!(runs.iter().all(|r| r.status == "succeeded"), "{runs:#?}");
}
