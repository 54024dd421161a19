//! What the shipped playbooks' runs cost in Intercom calls, per endpoint, once the directory cache
//! is warm.

use std::{collections::BTreeMap, time::Duration};

use serde_json::json;

use super::{
    PRIYA, REFUND_TEXT, delta, endpoints, every_run, new_conversation, refund_app, tool_results,
    workspace_has_tags,
};
use crate::{
    helpers::{TestApp, shipped_live, spawn_scenario},
    llm_stub::{LlmStub, Turn},
};

/// Runs one conversation to warm the directory cache, then another; returns the second one's
/// requests per endpoint and asserts its run ended as `outcome`.
async fn steady_state_calls(app: &TestApp, text: &str, outcome: &str) -> BTreeMap<String, u64> {
    new_conversation(app, text).await;
    let before = endpoints(app);
    let measured = new_conversation(app, text).await;
    let calls = delta(&before, &endpoints(app));
    let runs = app.app.db().list_runs(None, 10).await.unwrap();
    let run = runs
        .iter()
        .find(|r| r.conversation_id.as_deref() == Some(measured.as_str()))
        .unwrap_or_else(|| panic!("a run for {measured}: {runs:#?}"));
    assert_eq!(
        run.outcome.as_deref(),
        Some(outcome),
        "{run:#?}; calls {calls:?}"
    );
    calls
}

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
}

#[tokio::test]
async fn a_live_refund_run_reads_the_conversation_and_the_contact_once_and_makes_three_writes() {
    let stub = LlmStub::start().await;
    // The model reads the conversation and the contact, replies once and stops.
    stub.push([every_run(|id| {
        vec![
            Turn::tool("get_conversation", json!({"conversation_id": id})),
            Turn::tool("get_contact", json!({"contact_id": PRIYA})),
            Turn::tool(
                "reply_to_conversation",
                json!({"conversation_id": id, "body": "Sorry about the double charge: the refund reaches you within 3-5 business days."}),
            ),
            Turn::Text("Replied.".into()),
        ]
    })]);
    let app = refund_app(Some(&stub.base_url())).await;

    let calls = steady_state_calls(&app, REFUND_TEXT, "replied").await;
    assert_eq!(
        calls,
        counts(&[
            ("GET /conversations/{id}", 1),
            ("GET /contacts/{id}", 1),
            ("POST /conversations/{id}/tags", 1),
            ("POST /conversations/{id}/reply", 1),
            ("POST /conversations/{id}/parts", 1),
        ]),
        "conversation, contact, tag, reply, snooze"
    );
    let results = tool_results(&stub.requests());
    assert!(
        results[0].contains("refund-requested") && results[0].contains("charged twice"),
        "get_conversation answers from the run's copy, with the tag the run added: {}",
        results[0]
    );
    assert!(results[1].contains("Priya Sharma"), "{}", results[1]);
    let prompt = stub.requests()[0]["messages"].to_string();
    assert!(
        prompt.contains("charged twice") && !prompt.contains("get_conversation"),
        "the prompt holds the conversation and does not send the model to fetch it: {prompt}"
    );
}

#[tokio::test]
async fn a_refund_run_without_a_model_takes_its_fallback_in_five_calls() {
    let app = refund_app(None).await;

    let calls = steady_state_calls(&app, REFUND_TEXT, "failed").await;
    assert_eq!(
        calls,
        counts(&[
            ("GET /conversations/{id}", 1),
            // The fallback note names the customer.
            ("GET /contacts/{id}", 1),
            ("POST /conversations/{id}/tags", 1),
            ("POST /conversations/{id}/reply", 1),
            ("POST /conversations/{id}/parts", 1),
        ]),
        "conversation, contact, tag, note, assign"
    );
    let runs = app.app.db().list_runs(None, 1).await.unwrap();
    let id = runs[0].conversation_id.as_deref().unwrap();
    let note = app.parts(id).into_iter().find(|p| p["part_type"] == "note");
    assert!(
        note.as_ref()
            .is_some_and(|n| n["body"].to_string().contains("Priya Sharma")),
        "the note names the customer: {note:?}"
    );
}

#[tokio::test]
async fn a_bug_escalation_that_files_a_ticket_makes_one_read_and_its_writes() {
    let stub = LlmStub::start().await;
    stub.push([every_run(|id| {
        vec![
            Turn::tool("get_conversation", json!({"conversation_id": id})),
            Turn::tool("list_ticket_types", json!({})),
            Turn::tool(
                "create_ticket",
                json!({"conversation_id": id, "ticket_type": "Engineering bug",
                       "title": "Checkout returns 500", "description": "Cart, checkout, Invoice: 500."}),
            ),
            Turn::tool(
                "reply_to_conversation",
                json!({"conversation_id": id, "body": "Thanks! Engineering has it as a ticket."}),
            ),
            Turn::tool("close_conversation", json!({"conversation_id": id})),
            Turn::Text("Filed and closed.".into()),
        ]
    })]);
    let app = spawn_scenario(
        &[shipped_live("bug-escalation")],
        Some(&stub.base_url()),
        Duration::ZERO,
    )
    .await;
    workspace_has_tags(&app, &["bug-reported"]).await;

    let calls = steady_state_calls(
        &app,
        "Checkout gives a 500 error: I add an item, choose Invoice and click Place order.",
        "escalated",
    )
    .await;
    assert_eq!(
        calls,
        counts(&[
            // No condition, template, tool or prompt of this playbook needs the contact.
            ("GET /conversations/{id}", 1),
            ("POST /tickets", 1),
            // The reply and the closing note.
            ("POST /conversations/{id}/reply", 2),
            ("POST /conversations/{id}/parts", 1),
            ("POST /conversations/{id}/tags", 1),
        ]),
        "conversation, ticket, reply, close, tag, note"
    );
}
