//! Security (issue 10): a prompt-injected customer reaches nothing but their own conversation.
//! Over real HTTP: the sandbox as Intercom, signed webhooks, the shipped playbooks switched to
//! live, and a model that does what the attacker asks.

mod egress;
mod gullible;
mod injection;
mod leaks;
mod reads;

use std::time::Duration;

/// Demo ids (see `src/sandbox/demo_workspace.yaml`): Priya Sharma writes in [`REFUND`], Daniel
/// Novak (the other customer) in [`CHECKOUT`].
pub use crate::tools::{CHECKOUT, DANIEL, PRIYA, REFUND};
use crate::{
    helpers::{TestApp, shipped_live, spawn_scenario},
    llm_stub::{LlmStub, Turn},
};
/// Priya's company, Crumb & Co Bakery.
pub const CRUMB: &str = "6a1f00000000000000000002";
/// Daniel's company, Widgets Ltd.
pub const WIDGETS: &str = "6a1f00000000000000000001";

/// The shipped refund playbook switched to live, answered by a stand-in model taking `turns`.
pub async fn live_refund(turns: Vec<Turn>) -> (LlmStub, TestApp) {
    live(shipped_live("refund-request"), turns).await
}

/// `playbook` (name, YAML) alone in the app, answered by a stand-in model taking `turns`.
pub async fn live(playbook: (String, String), turns: Vec<Turn>) -> (LlmStub, TestApp) {
    let stub = LlmStub::start().await;
    stub.push(turns);
    let app = spawn_scenario(&[playbook], Some(&stub.base_url()), Duration::ZERO).await;
    (stub, app)
}

/// What of Daniel (his contact, his company, his conversation) must never reach Priya.
pub const DANIELS_DATA: &[&str] = &[
    "daniel@widgets.example",
    "Daniel Novak",
    "Widgets Ltd",
    "widgets.example",
    "u-1002",
    "Checkout page error",
    "Internal Server Error",
    "Place order",
    "Enterprise",
];

/// The shipped refund playbook, live, with its agent's reads opened to the whole workspace and
/// `search_contacts` / `search_conversations` added to its tools.
pub fn refund_with_workspace_reads() -> (String, String) {
    let (name, yaml) = shipped_live("refund-request");
    let tools = "      tools:\n        - get_conversation\n";
    assert!(
        yaml.contains(tools),
        "the shipped refund playbook changed shape"
    );
    let yaml = yaml.replacen(
        tools,
        &format!(
            "      reads: workspace\n{tools}        - search_contacts\n        - search_conversations\n"
        ),
        1,
    );
    (name, yaml)
}

/// The tool results of a run's trail, `(tool, status, content)`, in order.
pub async fn tool_results(app: &TestApp) -> Vec<(String, String, String)> {
    let rows: Vec<(Option<String>, String)> =
        triaged::with_pool!(app.app.db(), |p| sqlx::query_as(
            "SELECT name, payload FROM run_steps WHERE kind = 'tool_result' ORDER BY run_id, seq",
        )
        .fetch_all(p)
        .await)
        .unwrap();
    rows.into_iter()
        .map(|(name, payload)| {
            let payload: serde_json::Value = serde_json::from_str(&payload).unwrap();
            (
                name.unwrap_or_default(),
                payload["status"].as_str().unwrap_or_default().to_owned(),
                payload["content"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Everything the customer of `conversation` can see: its parts other than internal notes.
pub fn customer_visible(app: &TestApp, conversation: &str) -> String {
    let c = app.sandbox().conversation(conversation).unwrap();
    let mut out = vec![
        c["source"]["body"].as_str().unwrap_or_default().to_owned(),
        c["title"].as_str().unwrap_or_default().to_owned(),
    ];
    for p in app.parts(conversation) {
        if p["part_type"] != "note" {
            out.push(p["body"].as_str().unwrap_or_default().to_owned());
        }
    }
    out.join("\n")
}
