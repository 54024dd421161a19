//! The product end to end: sandbox customer → signed webhook → playbook → scripted model → tools →
//! sandbox writes, over real HTTP. The model's turns are scripted; everything else is real.

use std::{sync::Arc, time::Duration};

use serde_json::{Value, json};

use crate::{
    helpers::{shipped_live, spawn_scenario},
    llm_stub::{LlmStub, Turn},
};

const PRIYA: &str = "6762f1261bb69f9f21930001";
const REFUND: &str = "215000001";
const CHECKOUT: &str = "215000002";
const CHECKOUT_CONTACT: &str = "6762f1261bb69f9f21930002";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The text of the last tool result the model was sent.
fn last_tool_result(request: &Value) -> String {
    request["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "tool"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_refund_request_gets_one_reply_and_is_snoozed_for_three_days() {
    let stub = LlmStub::start().await;
    stub.push([
        Turn::tool("get_conversation", json!({"conversation_id": REFUND})),
        Turn::tool("get_contact", json!({"contact_id": PRIYA})),
        Turn::tool(
            "reply_to_conversation",
            json!({"conversation_id": REFUND, "body": "Hi Priya, sorry about the double charge on your Starter plan. The refund is on its way and will reach you within 3-5 business days."}),
        ),
        Turn::tool(
            "add_note",
            json!({"conversation_id": REFUND, "body": "Duplicate charge (order #A-5531), Starter plan: refund promised."}),
        ),
        Turn::Text("Acknowledged the refund and left a note for Billing.".into()),
    ]);
    let app = spawn_scenario(
        &[shipped_live("refund-request")],
        Some(&stub.base_url()),
        Duration::ZERO,
    )
    .await;
    let before = app.sandbox().stats().requests;

    app.sandbox()
        .customer_says(Some(REFUND), PRIYA, "Any update on my refund?")
        .await
        .unwrap();
    app.settle().await;

    let runs = app.app.db().list_runs(None, 10).await.unwrap();
    assert_eq!(
        runs.len(),
        1,
        "the bot's own writes start no run: {runs:#?}"
    );
    assert_eq!(runs[0].status, "succeeded");
    assert_eq!(runs[0].outcome.as_deref(), Some("replied"));
    assert_eq!(runs[0].playbook.as_deref(), Some("refund-request"));

    let replies = app.bot_replies(REFUND);
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(replies[0].contains("3-5 business days"));
    let conversation = app.sandbox().conversation(REFUND).unwrap();
    assert_eq!(conversation["state"], "snoozed");
    let until = conversation["snoozed_until"].as_i64().unwrap();
    assert!(
        (until - now() - 72 * 3600).abs() < 600,
        "snoozed ~72 h ahead, got {}s",
        until - now()
    );
    let tags: Vec<&str> = conversation["tags"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(tags.contains(&"refund-requested"), "{tags:?}");

    let requests = stub.requests();
    let tools: Vec<&str> = requests[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    assert_eq!(
        tools,
        [
            "get_conversation",
            "get_contact",
            "get_company",
            "reply_to_conversation",
            "add_note"
        ]
    );
    assert!(requests[0].to_string().contains("Any update on my refund?"));
    let (prompt, completion): (i64, i64) =
        sqlx::query_as("SELECT prompt_tokens, completion_tokens FROM runs")
            .fetch_one(app.app.db().pool())
            .await
            .unwrap();
    assert!(prompt > 0 && completion > 0);
    eprintln!(
        "refund run: {} Intercom requests, {prompt} prompt + {completion} completion tokens (stand-in estimate)",
        app.sandbox().stats().requests - before
    );
    let echoes = app
        .count("SELECT COUNT(*) FROM webhook_events WHERE status = 'ignored' AND topic LIKE 'conversation.%.replied'")
        .await;
    assert!(
        echoes >= 2,
        "the reply echoed on admin and operator topics, both ignored"
    );
}

#[tokio::test]
async fn a_reproducible_bug_becomes_a_ticket_a_reply_naming_it_and_a_closed_conversation() {
    let stub = LlmStub::start().await;
    stub.push([
        Turn::tool("get_conversation", json!({"conversation_id": CHECKOUT})),
        Turn::tool("list_ticket_types", json!({})),
        Turn::tool(
            "create_ticket",
            json!({"conversation_id": CHECKOUT, "ticket_type": "Engineering bug",
                   "title": "Checkout returns 500 with Invoice payment",
                   "description": "Steps: 1) add any item to the cart 2) go to /checkout 3) choose Invoice 4) click Place order. Expected: order placed. Actual: 500 Internal Server Error."}),
        ),
        Turn::Dynamic(Arc::new(|request: &Value| {
            let result = last_tool_result(request);
            let number = result
                .split('#')
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
                .unwrap_or("?")
                .to_owned();
            Turn::tool(
                "reply_to_conversation",
                json!({"conversation_id": CHECKOUT,
                       "body": format!("Thanks for the steps! Engineering is on it as ticket #{number}.")}),
            )
        })),
        Turn::tool("close_conversation", json!({"conversation_id": CHECKOUT})),
        Turn::Text("Filed the bug and closed.".into()),
    ]);
    let app = spawn_scenario(
        &[shipped_live("bug-escalation")],
        Some(&stub.base_url()),
        Duration::ZERO,
    )
    .await;
    let before = app.sandbox().stats().requests;

    app.sandbox()
        .customer_says(
            Some(CHECKOUT),
            CHECKOUT_CONTACT,
            "It is still broken this afternoon.",
        )
        .await
        .unwrap();
    app.settle().await;

    let runs = app.app.db().list_runs(None, 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].outcome.as_deref(), Some("escalated"), "{runs:#?}");
    let reference: String = sqlx::query_scalar(
        "SELECT result_ref FROM actions WHERE tool = 'create_ticket' AND status = 'done'",
    )
    .fetch_one(app.app.db().pool())
    .await
    .unwrap();
    let (ticket_id, number) = reference.split_once('#').unwrap();
    let ticket: Value = reqwest::Client::new()
        .get(format!("{}/tickets/{ticket_id}", app.sandbox().base_url()))
        .bearer_auth(triaged::sandbox::DEMO_ACCESS_TOKEN)
        .header("intercom-version", "2.16")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ticket["ticket_type"]["id"], "810001", "{ticket:#}");
    assert!(
        ticket["ticket_attributes"]["_default_description_"]
            .as_str()
            .unwrap_or_default()
            .contains("Place order")
    );
    let replies = app.bot_replies(CHECKOUT);
    assert_eq!(replies.len(), 1);
    assert!(
        replies[0].contains(&format!("#{number}")),
        "{replies:?} names ticket {number}"
    );
    assert_eq!(
        app.sandbox().conversation(CHECKOUT).unwrap()["state"],
        "closed"
    );
    let (prompt, completion): (i64, i64) =
        sqlx::query_as("SELECT prompt_tokens, completion_tokens FROM runs")
            .fetch_one(app.app.db().pool())
            .await
            .unwrap();
    eprintln!(
        "bug run: {} Intercom requests, {prompt} prompt + {completion} completion tokens (stand-in estimate)",
        app.sandbox().stats().requests - before
    );
}

#[tokio::test]
async fn a_model_that_never_stops_fails_on_max_steps_and_the_fallback_hands_over() {
    let stub = LlmStub::start().await;
    stub.push([Turn::Forever(Box::new(Turn::tool(
        "get_conversation",
        json!({"conversation_id": REFUND}),
    )))]);
    let app = spawn_scenario(
        &[shipped_live("refund-request")],
        Some(&stub.base_url()),
        Duration::ZERO,
    )
    .await;

    app.sandbox()
        .customer_says(Some(REFUND), PRIYA, "I want my money back")
        .await
        .unwrap();
    app.settle().await;

    let run = &app.app.db().list_runs(None, 10).await.unwrap()[0];
    assert_eq!(run.status, "failed");
    assert_eq!(run.outcome.as_deref(), Some("failed"));
    assert_eq!(
        run.reason.as_deref(),
        Some("max_steps"),
        "never counted as resolved"
    );
    assert_eq!(stub.requests().len(), 6, "the playbook's max_steps");
    assert!(app.bot_replies(REFUND).is_empty());
    let conversation = app.sandbox().conversation(REFUND).unwrap();
    assert_eq!(
        conversation["team_assignee_id"], 510002,
        "fallback: assigned to Billing"
    );
    assert!(
        app.parts(REFUND)
            .iter()
            .any(|p| p["part_type"] == "note"
                && p["body"].as_str().unwrap_or("").contains("max_steps")),
        "fallback: a note with the reason"
    );
}

#[tokio::test]
async fn without_an_llm_matched_runs_take_the_fallback_with_llm_unavailable() {
    let app = spawn_scenario(&[shipped_live("refund-request")], None, Duration::ZERO).await;

    app.sandbox()
        .customer_says(Some(REFUND), PRIYA, "Please refund me")
        .await
        .unwrap();
    app.settle().await;

    let run = &app.app.db().list_runs(None, 10).await.unwrap()[0];
    assert_eq!(run.status, "failed");
    assert_eq!(run.reason.as_deref(), Some("llm_unavailable"));
    assert!(app.bot_replies(REFUND).is_empty());
    assert_eq!(
        app.sandbox().conversation(REFUND).unwrap()["team_assignee_id"],
        510002
    );
}

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
            let conversation = request
                .to_string()
                .split("conversation ")
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
                .unwrap_or_default()
                .trim_matches(|c: char| !c.is_ascii_digit())
                .to_owned();
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
        .arg(format!(
            "sqlite://{}",
            app._dir.path().join("triaged.db").display()
        ))
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
