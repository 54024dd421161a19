//! `runs show` tells what a run cost: its Intercom requests by endpoint and its model usage, the
//! same figures the sandbox and the model saw.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::{
    efficiency::{PRIYA, REFUND_TEXT, delta, endpoints, every_run, new_conversation, refund_app},
    helpers::TestApp,
    llm_stub::{LlmStub, Turn},
};

fn runs_show(app: &TestApp, run: i64, json: bool) -> String {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_triaged"));
    command
        .args(["runs", "show", &run.to_string(), "--database-url"])
        .arg(&app.database_url)
        .env("RUST_LOG", "off");
    if json {
        command.arg("--json");
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn runs_show_heads_a_run_with_its_intercom_requests_and_model_usage_as_they_happened() {
    let stub = LlmStub::start().await;
    stub.push([every_run(|id| {
        vec![
            Turn::tool("get_contact", json!({"contact_id": PRIYA})),
            Turn::tool(
                "reply_to_conversation",
                json!({"conversation_id": id, "body": "Sorry about the double charge: the refund is on its way."}),
            ),
            Turn::Text("Replied.".into()),
        ]
    })]);
    let app = refund_app(Some(&stub.base_url())).await;
    new_conversation(&app, REFUND_TEXT).await;

    let before = endpoints(&app);
    let model_before = stub.requests().len();
    let measured = new_conversation(&app, REFUND_TEXT).await;
    let sent = delta(&before, &endpoints(&app));
    let model_requests = stub.requests().len() - model_before;
    let run = app
        .app
        .db()
        .list_runs(None, 10)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.conversation_id.as_deref() == Some(measured.as_str()))
        .unwrap();

    let text = runs_show(&app, run.id, false);
    let total: u64 = sent.values().sum();
    let routes: Vec<String> = sent.iter().map(|(r, n)| format!("{r} {n}")).collect();
    let expected = format!("intercom {total} requests: {}", routes.join(", "));
    assert!(
        text.lines().any(|l| l == expected),
        "the header counts what the sandbox received ({expected}):\n{text}"
    );
    let model_line = text
        .lines()
        .find(|l| l.starts_with("model "))
        .unwrap_or_else(|| panic!("a model line:\n{text}"));
    assert!(
        model_line.contains(&format!(": {model_requests} requests, ")) && model_requests >= 3,
        "{model_requests} model requests reached the stand-in: {model_line}"
    );

    let doc: Value = serde_json::from_str(&runs_show(&app, run.id, true)).unwrap();
    let recorded: BTreeMap<String, u64> =
        serde_json::from_value(doc["intercom_requests"].clone()).unwrap();
    assert_eq!(recorded, sent, "--json carries the same counts");
    assert!(
        doc["usage"]["prompt_tokens"].as_i64().unwrap_or(0) > 0,
        "{}",
        doc["usage"]
    );
}
