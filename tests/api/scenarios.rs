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
    let (prompt, completion): (i64, i64) = triaged::with_pool!(app.app.db(), |p| sqlx::query_as(
        "SELECT prompt_tokens, completion_tokens FROM runs"
    )
    .fetch_one(p)
    .await)
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
    let reference: String = triaged::with_pool!(app.app.db(), |p| sqlx::query_scalar(
        "SELECT result_ref FROM actions WHERE tool = 'create_ticket' AND status = 'done'",
    )
    .fetch_one(p)
    .await)
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
    let (prompt, completion): (i64, i64) = triaged::with_pool!(app.app.db(), |p| sqlx::query_as(
        "SELECT prompt_tokens, completion_tokens FROM runs"
    )
    .fetch_one(p)
    .await)
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

/// Build 11 of the conversation-model issue: a customer's follow-up that no playbook takes (the
/// refund playbook has tagged the conversation and will not run twice) reaches a human through
/// the shipped catch-all, once; later messages stay with the team.
#[tokio::test]
async fn a_follow_up_no_playbook_takes_is_handed_to_support_once() {
    let stub = LlmStub::start().await;
    stub.push([
        Turn::tool(
            "reply_to_conversation",
            json!({"conversation_id": REFUND, "body": "Your refund will reach you within 3-5 business days."}),
        ),
        Turn::Text("Promised the refund.".into()),
    ]);
    let app = spawn_scenario(
        &[shipped_live("refund-request"), shipped_live("hand-off")],
        Some(&stub.base_url()),
        Duration::ZERO,
    )
    .await;
    let sandbox = app.sandbox();
    sandbox
        .customer_says(Some(REFUND), PRIYA, "I need a refund for the double charge")
        .await
        .unwrap();
    app.settle().await;
    sandbox
        .customer_says(
            Some(REFUND),
            PRIYA,
            "Thanks! And can I also change my plan?",
        )
        .await
        .unwrap();
    app.settle().await;

    let runs = app.app.db().list_runs(None, 10).await.unwrap();
    let ran: Vec<(Option<&str>, Option<&str>)> = runs
        .iter()
        .rev()
        .map(|r| (r.playbook.as_deref(), r.outcome.as_deref()))
        .collect();
    assert_eq!(
        ran,
        [
            (Some("refund-request"), Some("replied")),
            (Some("hand-off"), Some("handed_off"))
        ],
        "{runs:#?}"
    );
    assert_eq!(app.team_assignee(REFUND), "510001", "assigned to Support");

    // The team has it now: another message starts no bot run and no second hand-off note.
    sandbox
        .customer_says(Some(REFUND), PRIYA, "Hello?")
        .await
        .unwrap();
    app.settle().await;
    assert_eq!(
        app.notes_containing(REFUND, "No playbook matched"),
        1,
        "handed over once"
    );
    assert_eq!(app.bot_replies(REFUND).len(), 1, "the bot answered once");
    let acted = app
        .count("SELECT COUNT(*) FROM runs WHERE outcome IN ('replied', 'handed_off')")
        .await;
    assert_eq!(acted, 2);
}
