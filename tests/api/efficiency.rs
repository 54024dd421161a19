//! What a run costs in Intercom calls: the shared directory cache, refreshed on a miss, and the
//! per-endpoint counts of the shipped playbooks' runs ([`shipped`]), read from the sandbox's stats.

mod shipped;

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

pub(crate) const REFUND_TEXT: &str = "Hello, I was charged twice this month. Can I get a refund?";

/// The shipped refund playbook, live, on a workspace that already has its tag; with the model at
/// `model` (else none: agent steps take their fallback).
pub(crate) async fn refund_app(model: Option<&str>) -> TestApp {
    let app = spawn_scenario(&[shipped_live("refund-request")], model, Duration::ZERO).await;
    workspace_has_tags(&app, &["refund-requested"]).await;
    app
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
