//! What a run costs in Intercom calls: the shared directory cache, refreshed on a miss, and the
//! per-endpoint counts of the shipped playbooks' runs, read from the sandbox's stats.

use std::{collections::BTreeMap, time::Duration};

use secrecy::SecretString;
use serde_json::{Value, json};
use triaged::{config::DEMO_ACCESS_TOKEN, intercom::IntercomClient};

use crate::{
    helpers::{TestApp, shipped_live, spawn_scenario},
    llm_stub::{Gate, LlmStub, Turn, conversation_of},
};

pub(crate) const PRIYA: &str = "6762f1261bb69f9f21930001";

/// Requests per `METHOD /route` the sandbox received so far.
pub(crate) fn endpoints(app: &TestApp) -> BTreeMap<String, u64> {
    app.sandbox().stats().per_endpoint
}

/// Requests per endpoint between two readings (endpoints with none left out).
pub(crate) fn delta(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, n)| (k.clone(), n - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// A customer starts a conversation; returns its id once its run (and the echoes) are done.
pub(crate) async fn new_conversation(app: &TestApp, text: &str) -> String {
    let id = app
        .sandbox()
        .customer_says(None, PRIYA, text)
        .await
        .unwrap();
    app.settle().await;
    id
}

fn sorter() -> (String, String) {
    (
        "sorter".to_owned(),
        r#"
name: sorter
description: Tags every new conversation and routes it to a team.
mode: live
trigger:
  topics: [conversation.user.created]
steps:
  - agent:
      instructions: Tag the conversation and assign it to the right team.
      tools: [list_tags, tag_conversation, assign_conversation]
fallback:
  - note: "The sorter failed: {{failure.reason}}"
"#
        .to_owned(),
    )
}

fn tag_and_assign(conversation: &str, tag: &str, team: &str) -> [Turn; 3] {
    [
        Turn::tool(
            "tag_conversation",
            json!({"conversation_id": conversation, "tag": tag}),
        ),
        Turn::tool(
            "assign_conversation",
            json!({"conversation_id": conversation, "team": team}),
        ),
        Turn::Text("Tagged and routed.".into()),
    ]
}

/// The conversation's tag names and its team, as the sandbox has them.
fn tags_and_team(app: &TestApp, conversation: &str) -> (Vec<String>, String) {
    let c = app.sandbox().conversation(conversation).unwrap();
    let tags = c["tags"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_owned))
        .collect();
    // Intercom sends the team id as a number here.
    (
        tags,
        c["team_assignee_id"]
            .to_string()
            .trim_matches('"')
            .to_owned(),
    )
}

#[tokio::test]
async fn a_tag_and_a_team_created_in_intercom_a_moment_ago_are_found_after_one_refresh() {
    let stub = LlmStub::start().await;
    let app = spawn_scenario(&[sorter()], Some(&stub.base_url()), Duration::ZERO).await;
    // The next conversation's id is predictable only after it exists: the model's turns decide
    // from the request instead.
    let script = |tag: &'static str, team: &'static str| {
        Turn::Dynamic(std::sync::Arc::new(move |request: &Value| {
            let id = conversation_of(request);
            let done = |name: &str| {
                request["messages"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m["tool_calls"][0]["function"]["name"].as_str() == Some(name))
            };
            if !done("tag_conversation") {
                tag_and_assign(&id, tag, team)[0].clone()
            } else if !done("assign_conversation") {
                tag_and_assign(&id, tag, team)[1].clone()
            } else {
                Turn::Text("Tagged and routed.".into())
            }
        }))
    };
    // Run 1 warms the cache with the workspace's tags and teams.
    stub.push([
        script("vip", "Billing"),
        script("vip", "Billing"),
        script("vip", "Billing"),
    ]);
    let warm = new_conversation(&app, "Hello, a question about my invoice").await;
    assert_eq!(
        tags_and_team(&app, &warm),
        (vec!["vip".to_owned()], "510002".to_owned())
    );

    // A teammate creates a tag (through the API) and a team (in the settings) meanwhile.
    let teammate = IntercomClient::builder(
        app.sandbox().base_url(),
        SecretString::from(DEMO_ACCESS_TOKEN),
    )
    .build()
    .unwrap();
    let tag = teammate
        .create_or_find_tag("priority-refund")
        .await
        .unwrap();
    let team = app.sandbox().add_team("Refund desk").unwrap();

    let before = endpoints(&app);
    let s = || script("priority-refund", "Refund desk");
    stub.push([s(), s(), s()]);
    let fresh = new_conversation(&app, "Hello, I need help with a refund").await;
    let calls = delta(&before, &endpoints(&app));
    assert_eq!(
        tags_and_team(&app, &fresh),
        (vec!["priority-refund".to_owned()], team),
        "the new names are found, not refused; calls: {calls:?}"
    );
    assert_eq!(tag.name.as_deref(), Some("priority-refund"));
    assert_eq!(
        (calls.get("GET /tags"), calls.get("GET /teams")),
        (Some(&1), Some(&1)),
        "one refresh of each list: {calls:?}"
    );
    let runs = app.app.db().list_runs(None, 10).await.unwrap();
    assert!(runs.iter().all(|r| r.status == "succeeded"), "{runs:#?}");

    // Steady state: no directory request at all, but the conversation is read afresh.
    let before = endpoints(&app);
    stub.push([s(), s(), s()]);
    new_conversation(&app, "Hello again").await;
    let calls = delta(&before, &endpoints(&app));
    for list in [
        "GET /tags",
        "GET /teams",
        "GET /admins",
        "GET /ticket_types",
    ] {
        assert_eq!(
            calls.get(list),
            None,
            "{list} came from the cache: {calls:?}"
        );
    }
    assert_eq!(
        calls.get("GET /conversations/{id}"),
        Some(&1),
        "conversations are never cached across runs: {calls:?}"
    );
}

#[tokio::test]
async fn a_tag_triaged_creates_is_in_the_next_runs_list_without_a_refresh() {
    let stub = LlmStub::start().await;
    let playbook = (
        "labeller".to_owned(),
        r#"
name: labeller
description: Looks at the tags, then labels the conversation.
mode: live
trigger:
  topics: [conversation.user.created]
steps:
  - agent:
      instructions: Look at the tags.
      tools: [list_tags]
  - tag: brand-new-label
fallback:
  - note: "failed: {{failure.reason}}"
"#
        .to_owned(),
    );
    let app = spawn_scenario(&[playbook], Some(&stub.base_url()), Duration::ZERO).await;
    let look = || {
        [
            Turn::tool("list_tags", json!({})),
            Turn::Text("Looked.".into()),
        ]
    };
    stub.push(look());
    new_conversation(&app, "first").await;
    let first_list = last_tool_result(&stub.requests());
    assert!(!first_list.contains("brand-new-label"), "{first_list}");

    let before = endpoints(&app);
    stub.push(look());
    new_conversation(&app, "second").await;
    let calls = delta(&before, &endpoints(&app));
    let second_list = last_tool_result(&stub.requests());
    assert!(
        second_list.contains("brand-new-label"),
        "creating the tag invalidated the cached list: {second_list}"
    );
    assert_eq!(calls.get("GET /tags"), Some(&1), "{calls:?}");
    assert_eq!(
        calls.get("POST /tags"),
        None,
        "the tag exists now: {calls:?}"
    );
}

/// The text of the last tool result the model was sent.
fn last_tool_result(requests: &[Value]) -> String {
    requests
        .iter()
        .rev()
        .filter_map(|r| r["messages"].as_array())
        .find_map(|m| m.iter().rev().find(|m| m["role"] == "tool"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// A model that, in every run, takes `turns(conversation id)` in order (the n-th request of a
/// run, counted by the assistant turns it carries, gets the n-th turn).
pub(crate) fn every_run(turns: fn(&str) -> Vec<Turn>) -> Turn {
    Turn::Forever(Box::new(Turn::Dynamic(std::sync::Arc::new(
        move |request: &Value| {
            let taken = request["messages"]
                .as_array()
                .map_or(0, |m| m.iter().filter(|m| m["role"] == "assistant").count());
            turns(&conversation_of(request))
                .into_iter()
                .nth(taken)
                .unwrap_or(Turn::Text("Done.".into()))
        },
    ))))
}

/// Creates the tags the shipped playbooks' steps add, as a workspace that ran them before has.
pub(crate) async fn workspace_has_tags(app: &TestApp, names: &[&str]) {
    let teammate = IntercomClient::builder(
        app.sandbox().base_url(),
        SecretString::from(DEMO_ACCESS_TOKEN),
    )
    .build()
    .unwrap();
    for name in names {
        teammate.create_or_find_tag(name).await.unwrap();
    }
}

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

pub(crate) const REFUND_TEXT: &str = "Hello, I was charged twice this month. Can I get a refund?";

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
    let app = spawn_scenario(
        &[shipped_live("refund-request")],
        Some(&stub.base_url()),
        Duration::ZERO,
    )
    .await;
    workspace_has_tags(&app, &["refund-requested"]).await;

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
    let app = spawn_scenario(&[shipped_live("refund-request")], None, Duration::ZERO).await;
    workspace_has_tags(&app, &["refund-requested"]).await;

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

fn reader() -> (String, String) {
    (
        "reader".to_owned(),
        r#"
name: reader
description: Reads the conversation and answers it.
mode: live
trigger:
  topics: [conversation.user.created]
steps:
  - agent:
      instructions: Read the conversation, answer it, and read it again.
      tools: [get_conversation, reply_to_conversation]
fallback:
  - note: "failed: {{failure.reason}}"
"#
        .to_owned(),
    )
}

/// The contents of the tool results in the last request the model got, in order.
fn tool_results(requests: &[Value]) -> Vec<String> {
    requests
        .last()
        .and_then(|r| r["messages"].as_array())
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == "tool")
        .filter_map(|m| m["content"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn the_model_gets_its_conversation_afresh_after_a_new_message_and_after_its_own_reply() {
    let stub = LlmStub::start().await;
    let read = || {
        Turn::Dynamic(std::sync::Arc::new(|request: &Value| {
            Turn::tool(
                "get_conversation",
                json!({"conversation_id": conversation_of(request)}),
            )
        }))
    };
    // The model thinks until the customer wrote again, then reads, replies, reads again.
    let gate = Gate::new(read());
    stub.push([
        Turn::Gate(gate.clone()),
        every_run(|id| {
            vec![
                Turn::Text("(the gate's turn)".into()),
                Turn::tool(
                    "reply_to_conversation",
                    json!({"conversation_id": id, "body": "Looking into it right now."}),
                ),
                Turn::tool("get_conversation", json!({"conversation_id": id})),
                Turn::Text("Answered.".into()),
            ]
        }),
    ]);
    let app = spawn_scenario(&[reader()], Some(&stub.base_url()), Duration::ZERO).await;
    let before = endpoints(&app);
    let sandbox = app.sandbox();
    let id = sandbox
        .customer_says(None, PRIYA, "My order has not arrived.")
        .await
        .unwrap();
    sandbox.flush_webhooks().await;
    tokio::time::timeout(crate::helpers::PATIENCE, gate.entered())
        .await
        .expect("the run asks the model");
    sandbox
        .customer_says(Some(&id), PRIYA, "It was order 42, by the way.")
        .await
        .unwrap();
    sandbox.flush_webhooks().await;
    gate.open();
    app.settle().await;

    let results = tool_results(&stub.requests());
    assert_eq!(results.len(), 3, "{results:#?}");
    assert!(
        results[0].contains("order 42"),
        "a newer event: read afresh: {}",
        results[0]
    );
    assert!(
        results[2].contains("Looking into it right now."),
        "after its own reply: read afresh: {}",
        results[2]
    );
    let calls = delta(&before, &endpoints(&app));
    assert_eq!(
        calls.get("GET /conversations/{id}"),
        Some(&3),
        "the run's snapshot, then twice afresh: {calls:?}"
    );
}
