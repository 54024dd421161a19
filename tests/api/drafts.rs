//! Draft mode from the customer's side: what reaches the customer is held back for review, what
//! only the team sees is done, so a draft lands with the right team and tags — and a draft run
//! that fails still leaves its fallback's note and assignment.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::{TestApp, spawn_scenario};

const PRIYA: &str = "6762f1261bb69f9f21930001";
const REFUND: &str = "215000001";
const BILLING_TEAM: &str = "510002";
const REPLY: &str = "We have refunded the duplicate charge.";

fn playbook(name: &str, yaml: &str) -> (String, String) {
    (name.to_owned(), yaml.to_owned())
}

fn notes(app: &TestApp) -> Vec<String> {
    let bot = app.app.identity().admin_id.to_string();
    app.parts(REFUND)
        .into_iter()
        .filter(|p| p["part_type"] == "note" && p["author"]["id"].as_str() == Some(bot.as_str()))
        .map(|p| p["body"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn tags(conversation: &Value) -> Vec<String> {
    conversation["tags"]["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect()
}

/// Customer-visible parts that were not there before: the customer's own message is one.
fn customer_visible_bot_parts(app: &TestApp) -> Vec<Value> {
    let bot = app.app.identity().admin_id.to_string();
    app.parts(REFUND)
        .into_iter()
        .filter(|p| p["author"]["id"].as_str() == Some(bot.as_str()) && p["part_type"] != "note")
        .filter(|p| {
            // Assignment parts are internal events; anything else by the bot (a comment, a
            // close, a snooze) is something the customer sees or feels.
            !matches!(
                p["part_type"].as_str(),
                Some("assignment" | "default_assignment" | "team_assignment")
            )
        })
        .collect()
}

#[tokio::test]
async fn a_draft_run_tags_and_assigns_for_real_and_holds_the_reply_and_the_close_in_one_review_note()
 {
    let triage = playbook(
        "triage",
        &format!(
            r#"name: triage
description: Tag, answer, route and close refund requests.
priority: 1
mode: draft
trigger:
  topics: [conversation.user.replied]
steps:
  - tag: refund-requested
  - reply: "{REPLY}"
  - assign:
      team: Billing
  - close
"#
        ),
    );
    let app = spawn_scenario(&[triage], None, Duration::ZERO).await;
    let sandbox = app.sandbox();
    sandbox
        .customer_says(Some(REFUND), PRIYA, "I was charged twice, refund please")
        .await
        .unwrap();
    app.settle().await;

    let conversation = sandbox.conversation(REFUND).unwrap();
    assert!(
        tags(&conversation).contains(&"refund-requested".to_owned()),
        "the tag is applied in draft mode: {:?}",
        tags(&conversation)
    );
    assert_eq!(
        app.team_assignee(REFUND),
        BILLING_TEAM,
        "the assignment is performed in draft mode"
    );
    assert_eq!(conversation["state"], "open", "the close is only drafted");
    assert!(app.bot_replies(REFUND).is_empty(), "no reply was sent");
    assert_eq!(
        customer_visible_bot_parts(&app),
        Vec::<Value>::new(),
        "nothing customer-visible"
    );
    let notes = notes(&app);
    assert_eq!(notes.len(), 1, "exactly one review note: {notes:#?}");
    assert!(notes[0].contains(REPLY), "{}", notes[0]);
    assert!(notes[0].contains("close the conversation"), "{}", notes[0]);

    let runs = app.app.db().list_runs(None, 5).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0].status, "succeeded", "{runs:#?}");
}

#[tokio::test]
async fn a_failing_draft_run_leaves_its_fallbacks_note_and_assignment() {
    // No LLM is configured: the agent step fails (`llm_unavailable`) and the fallback runs.
    let assisted = playbook(
        "assisted",
        r#"name: assisted
description: Let the AI answer.
priority: 1
mode: draft
trigger:
  topics: [conversation.user.replied]
steps:
  - agent:
      instructions: Answer the customer.
      tools: [reply_to_conversation]
fallback:
  - note: "The bot could not handle this ({{failure.reason}}). Please take over."
  - assign:
      team: Billing
"#,
    );
    let app = spawn_scenario(&[assisted], None, Duration::ZERO).await;
    let sandbox = app.sandbox();
    sandbox
        .customer_says(Some(REFUND), PRIYA, "Where is my refund?")
        .await
        .unwrap();
    app.settle().await;

    assert_eq!(
        app.team_assignee(REFUND),
        BILLING_TEAM,
        "the fallback's assignment is performed although the playbook drafts"
    );
    assert_eq!(
        app.notes_containing(REFUND, "could not handle this (llm_unavailable)"),
        1,
        "the fallback's note reached the team: {:#?}",
        notes(&app)
    );
    assert!(app.bot_replies(REFUND).is_empty());
    let runs = app.app.db().list_runs(None, 5).await.unwrap();
    assert_eq!(runs[0].status, "failed", "{runs:#?}");
    assert_eq!(runs[0].reason.as_deref(), Some("llm_unavailable"));
}
