//! The conversation model, end to end over the sandbox: the bot acts on every customer message it
//! has not seen (its watermark), a message sent while a run is in flight gets its own answer, a
//! run resumes its own writes after a transient failure, a non-stop typist is answered within
//! `max_wait`, and the loop guard tells a human in Intercom itself.

use std::{sync::Arc, time::Duration};

use serde_json::{Value, json};
use triaged::sandbox::Faults;

use crate::{
    helpers::{PATIENCE, spawn_scenario, spawn_scenario_with},
    llm_stub::{Gate, LlmStub, Turn},
};

const PRIYA: &str = "6762f1261bb69f9f21930001";
const REFUND: &str = "215000001";
const BILLING_TEAM: &str = "510002";

fn playbook(name: &str, yaml: &str) -> (String, String) {
    (name.to_owned(), yaml.to_owned())
}

/// A live agent playbook answering every customer message with one reply.
fn answer_everything() -> (String, String) {
    playbook(
        "answer",
        r#"name: answer
description: Answer customers.
priority: 1
mode: live
trigger:
  topics: [conversation.user.created, conversation.user.replied]
steps:
  - agent:
      instructions: Answer the customer's latest message in one reply.
      tools: [reply_to_conversation]
fallback:
  - note: "could not answer: {{failure.reason}}"
"#,
    )
}

#[tokio::test]
async fn a_message_sent_while_the_run_is_in_flight_gets_its_own_answer_from_a_run_that_saw_it() {
    let stub = LlmStub::start().await;
    let gate = Gate::new(Turn::tool(
        "reply_to_conversation",
        json!({"conversation_id": REFUND, "body": "Answer to the first message."}),
    ));
    stub.push([
        Turn::Gate(gate.clone()),
        Turn::Text("answered".into()),
        Turn::Dynamic(Arc::new(|request: &Value| {
            let body = if request.to_string().contains("Second message") {
                "Answer to the second message."
            } else {
                "An answer that did not see the second message."
            };
            Turn::tool(
                "reply_to_conversation",
                json!({"conversation_id": REFUND, "body": body}),
            )
        })),
        Turn::Text("answered".into()),
    ]);
    let app = spawn_scenario(
        &[answer_everything()],
        Some(&stub.base_url()),
        Duration::from_millis(300),
    )
    .await;
    let sandbox = app.sandbox();
    sandbox
        .customer_says(Some(REFUND), PRIYA, "First message: where is my refund?")
        .await
        .unwrap();
    sandbox.flush_webhooks().await;
    // The run has read the conversation and the model is thinking: the customer writes again.
    tokio::time::timeout(PATIENCE, gate.entered())
        .await
        .expect("the first run asks the model");
    sandbox
        .customer_says(Some(REFUND), PRIYA, "Second message: it was order 42.")
        .await
        .unwrap();
    sandbox.flush_webhooks().await;
    gate.open();
    app.settle().await;

    let replies = app.bot_replies(REFUND);
    assert_eq!(replies.len(), 2, "{replies:?}");
    assert!(
        replies[0].contains("Answer to the first message."),
        "{replies:?}"
    );
    assert!(
        replies[1].contains("Answer to the second message."),
        "{replies:?}"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM runs WHERE reason = 'own_action'")
            .await,
        0
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM runs WHERE outcome = 'replied'")
            .await,
        2
    );
}

#[tokio::test]
async fn hi_then_a_refund_request_then_thanks_in_one_window_match_the_refund_playbook() {
    let refund = playbook(
        "refund",
        r#"name: refund
description: Refund requests.
priority: 10
mode: live
trigger:
  topics: [conversation.user.created, conversation.user.replied]
  conditions:
    contains: { any: [refund] }
steps:
  - reply: "Your refund request is registered."
"#,
    );
    // Generous, so the three messages fall in one window even on a loaded machine.
    let app = spawn_scenario(&[refund], None, Duration::from_secs(5)).await;
    let sandbox = app.sandbox();
    let id = sandbox.customer_says(None, PRIYA, "Hi").await.unwrap();
    sandbox
        .customer_says(Some(&id), PRIYA, "I would like a refund")
        .await
        .unwrap();
    sandbox
        .customer_says(Some(&id), PRIYA, "thanks!")
        .await
        .unwrap();
    app.settle().await;

    let runs = app.app.db().list_runs(None, 10).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0].playbook.as_deref(), Some("refund"), "{runs:#?}");
    assert_eq!(runs[0].outcome.as_deref(), Some("replied"));
    assert_eq!(app.bot_replies(&id).len(), 1);
}

#[tokio::test]
async fn a_transient_failure_on_the_second_write_resumes_the_run_and_finishes_the_hand_off_once() {
    let billing = playbook(
        "billing",
        r#"name: billing
description: Billing questions go to the billing team.
priority: 1
mode: live
trigger:
  topics: [conversation.user.replied]
steps:
  - hand_off:
      team: Billing
"#,
    );
    let app = spawn_scenario(&[billing], None, Duration::ZERO).await;
    let sandbox = app.sandbox();
    let mut activity = app.app.runner().subscribe();
    // The hand-off's note goes through; its assignment meets an outage.
    sandbox.set_faults(Faults {
        fail_writes_after: Some(1),
        ..Faults::default()
    });
    sandbox
        .customer_says(Some(REFUND), PRIYA, "Why was I charged twice?")
        .await
        .unwrap();
    sandbox.flush_webhooks().await;
    // Re-checked each time a job ends, never on a timer.
    tokio::time::timeout(PATIENCE, async {
        while app
            .count("SELECT COUNT(*) FROM runs WHERE status = 'retrying'")
            .await
            == 0
        {
            activity.changed().await.unwrap();
        }
    })
    .await
    .expect("the first attempt fails transiently and waits for its retry");
    sandbox.set_faults(Faults::default());
    app.settle().await;

    let runs = app.app.db().list_runs(None, 10).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0].status, "succeeded", "{runs:#?}");
    assert_eq!(runs[0].outcome.as_deref(), Some("handed_off"));
    let conversation = sandbox.conversation(REFUND).unwrap();
    assert_eq!(
        conversation["team_assignee_id"]
            .to_string()
            .trim_matches('"'),
        BILLING_TEAM
    );
    let notes = app
        .parts(REFUND)
        .into_iter()
        .filter(|p| {
            p["part_type"] == "note"
                && p["body"]
                    .as_str()
                    .is_some_and(|b| b.contains("Handed over by triaged"))
        })
        .count();
    assert_eq!(notes, 1, "the note is not written twice");
    assert_eq!(
        app.app.db().conversation_status(REFUND).await.unwrap(),
        "handed_off"
    );
}

#[tokio::test]
async fn a_customer_writing_non_stop_gets_a_run_within_max_wait() {
    let ack = playbook(
        "ack",
        r#"name: ack
description: Acknowledge.
priority: 1
mode: live
trigger:
  topics: [conversation.user.replied]
steps:
  - reply: "We are reading your messages."
"#,
    );
    // Jobs are due to the whole second, so D is a few seconds for the chain to stay unbroken.
    let debounce = Duration::from_secs(3);
    let max_wait = debounce * 4;
    // The worker looks for due jobs on its heartbeat too: keep it short so jobs run when due.
    let app = spawn_scenario_with(&[ack], None, debounce, |config| {
        config.queue.heartbeat = Duration::from_secs(1);
    })
    .await;
    let sandbox = app.sandbox();
    // One message every D/2 for 6 D: the debounce window never closes on its own.
    for i in 0..12 {
        sandbox
            .customer_says(Some(REFUND), PRIYA, &format!("line {i}"))
            .await
            .unwrap();
        sandbox.flush_webhooks().await;
        tokio::time::sleep(debounce / 2).await;
    }
    app.settle().await;

    let sql = format!(
        "SELECT CAST({} AS DOUBLE PRECISION) / 1000.0",
        app.millis_between(
            "(SELECT MIN(started_at) FROM runs)",
            "(SELECT MIN(received_at) FROM webhook_events \
              WHERE topic = 'conversation.user.replied')"
        )
    );
    let waited: f64 = triaged::with_pool!(app.app.db(), |p| sqlx::query_scalar(
        sqlx::AssertSqlSafe(sql)
    )
    .fetch_one(p)
    .await)
    .unwrap();
    assert!(
        waited <= (max_wait + debounce).as_secs_f64(),
        "the first run started {waited:.1}s after the first message (max_wait {max_wait:?})"
    );
}

#[tokio::test]
async fn the_loop_guard_leaves_a_note_and_an_assignment_and_counts_draft_runs() {
    let drafting = playbook(
        "drafting",
        r#"name: drafting
description: Draft an answer to every message.
priority: 1
mode: draft
trigger:
  topics: [conversation.user.replied]
steps:
  - reply: "Thanks, we are on it."
fallback:
  - hand_off:
      team: Billing
"#,
    );
    let app = spawn_scenario_with(&[drafting], None, Duration::ZERO, |config| {
        config.max_bot_replies_per_hour = 1;
    })
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
    assert_eq!(runs[0].reason.as_deref(), Some("loop_guard"), "{runs:#?}");
    let conversation = sandbox.conversation(REFUND).unwrap();
    assert_eq!(
        conversation["team_assignee_id"]
            .to_string()
            .trim_matches('"'),
        BILLING_TEAM,
        "the loop guard assigned the conversation to the fallback team"
    );
    let guard_notes: Vec<Value> = app
        .parts(REFUND)
        .into_iter()
        .filter(|p| {
            p["part_type"] == "note" && p["body"].as_str().is_some_and(|b| b.contains("loop guard"))
        })
        .collect();
    assert_eq!(guard_notes.len(), 1, "one note says why");
    assert!(
        app.bot_replies(REFUND).is_empty(),
        "draft mode sends nothing"
    );
    assert_eq!(
        app.app.db().conversation_status(REFUND).await.unwrap(),
        "handed_off"
    );
}

#[tokio::test]
async fn a_customer_message_through_another_integration_after_the_bot_replied_starts_a_run() {
    let ack = playbook(
        "ack",
        r#"name: ack
description: Acknowledge.
priority: 1
mode: live
trigger:
  topics: [conversation.user.replied]
steps:
  - reply: "Thanks, we are looking into it."
"#,
    );
    let app = spawn_scenario(&[ack], None, Duration::ZERO).await;
    let sandbox = app.sandbox();
    sandbox
        .customer_says(Some(REFUND), PRIYA, "Hi, about my refund")
        .await
        .unwrap();
    app.settle().await;
    assert_eq!(app.bot_replies(REFUND).len(), 1);

    // The customer follows up on WhatsApp: the part carries the connector's package code.
    sandbox
        .customer_says_via_app(REFUND, PRIYA, "Any news?", "whatsapp-connector")
        .await
        .unwrap();
    app.settle().await;

    assert_eq!(
        app.bot_replies(REFUND).len(),
        2,
        "another app's part is the customer's, not the bot's"
    );
    let runs = app.app.db().list_runs(None, 5).await.unwrap();
    assert_eq!(runs[0].outcome.as_deref(), Some("replied"), "{runs:#?}");
}
