//! `triaged tools list|call` as the real binary; `call` against an in-process sandbox.

use std::process::Output;

use serde_json::Value;
use triaged::sandbox::DEMO_ACCESS_TOKEN;

use super::{PRIYA, REFUND, Rig};

/// Runs `triaged ARGS…` against the rig's sandbox and database, without blocking the runtime the
/// sandbox serves on.
async fn triaged(rig: Option<&Rig>, args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_triaged"));
    cmd.args(args)
        .env_remove("TRIAGED_CONFIG")
        .env_remove("INTERCOM_ADMIN_ID")
        .env_remove("INTERCOM_ACCESS_TOKEN")
        .env_remove("INTERCOM_BASE_URL")
        .env("TRIAGED_LOG_FORMAT", "text");
    if let Some(rig) = rig {
        cmd.env("INTERCOM_BASE_URL", rig.sandbox.base_url())
            .env("INTERCOM_ACCESS_TOKEN", DEMO_ACCESS_TOKEN)
            .env("TRIAGED_DATABASE_URL", &rig.db_url);
    }
    cmd.output().await.expect("run triaged")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn tools_list_json_describes_all_21_tools_and_exactly_the_10_writes() {
    let out = triaged(None, &["tools", "list", "--json"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let tools: Vec<Value> = serde_json::from_slice(&out.stdout).expect("one JSON array");
    assert_eq!(tools.len(), 21);
    for t in &tools {
        let name = t["name"].as_str().unwrap();
        assert!(
            matches!(t["access"].as_str(), Some("read" | "write")),
            "{name}"
        );
        assert!(!t["tags"].as_array().unwrap().is_empty(), "{name}");
        assert!(!t["description"].as_str().unwrap().is_empty(), "{name}");
        assert_eq!(t["input_schema"]["type"], "object", "{name}");
        assert_eq!(
            t["hints"]["read_only"].as_bool(),
            Some(t["access"] == "read"),
            "{name}"
        );
    }
    let mut writes: Vec<&str> = tools
        .iter()
        .filter(|t| t["access"] == "write")
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    writes.sort_unstable();
    assert_eq!(
        writes,
        [
            "add_note",
            "assign_conversation",
            "close_conversation",
            "create_ticket",
            "hand_off",
            "open_conversation",
            "reply_to_conversation",
            "snooze_conversation",
            "tag_conversation",
            "untag_conversation",
        ]
    );

    // The table names every tool too.
    let table = triaged(None, &["tools", "list"]).await;
    assert_eq!(table.status.code(), Some(0));
    let table = text(&table.stdout);
    for t in &tools {
        assert!(table.contains(t["name"].as_str().unwrap()), "{table}");
    }
}

#[tokio::test]
async fn tools_call_get_conversation_prints_the_timeline_and_records_a_cli_run() {
    let rig = Rig::start().await;
    let out = triaged(
        Some(&rig),
        &[
            "tools",
            "call",
            "get_conversation",
            "--args",
            r#"{"conversation_id":"215000001"}"#,
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("conversation 215000001 · open"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("contact {PRIYA} · Priya Sharma")),
        "{stdout}"
    );
    assert!(stdout.contains("order #A-5531"), "{stdout}");
    let runs = rig.db.list_runs(None, 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].topic.as_deref(), Some("cli"));
    assert_eq!(runs[0].status, "succeeded");
}

#[tokio::test]
async fn tools_call_writes_only_with_a_conversation_and_records_the_action() {
    let rig = Rig::start().await;
    let before = rig.parts(REFUND).len();
    let out = triaged(
        Some(&rig),
        &[
            "tools",
            "call",
            "reply_to_conversation",
            "--args",
            r#"{"conversation_id":"215000001","body":"Hello"}"#,
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("`reply_to_conversation` is a write tool: give --conversation ID"),
        "{stderr}"
    );
    assert_eq!(rig.parts(REFUND).len(), before, "nothing was sent");

    let out = triaged(
        Some(&rig),
        &[
            "tools",
            "call",
            "add_note",
            "--conversation",
            REFUND,
            "--args",
            r#"{"conversation_id":"215000001","body":"Checked by hand."}"#,
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("Done (part "),
        "{}",
        text(&out.stdout)
    );
    let notes = rig.bot_parts(REFUND, "note");
    assert_eq!(notes.len(), 1);
    let runs = rig.db.list_runs(None, 10).await.unwrap();
    let actions = rig.db.run_actions(runs[0].id).await.unwrap();
    assert_eq!(actions.len(), 1);
    assert_eq!(
        (actions[0].tool.as_str(), actions[0].status.as_str()),
        ("add_note", "done")
    );

    // A guard refusal is exit 1 with the refusal on stderr.
    let out = triaged(
        Some(&rig),
        &[
            "tools",
            "call",
            "close_conversation",
            "--conversation",
            REFUND,
            "--args",
            r#"{"conversation_id":"215000002"}"#,
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("may only change conversation 215000001"),
        "{stderr}"
    );
    assert!(
        stderr.trim_end().ends_with("(refused: other_conversation)"),
        "{stderr}"
    );
    assert_eq!(rig.conversation("215000002")["state"], "open");
}

#[tokio::test]
async fn tools_call_with_bad_arguments_names_the_fields_expected_in_one_line_without_a_schema() {
    let rig = Rig::start().await;
    let out = triaged(
        Some(&rig),
        &[
            "tools",
            "call",
            "add_note",
            "--conversation",
            REFUND,
            "--args",
            r#"{"conversation_id":"215000001","text":"Checked by hand."}"#,
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let all = text(&out.stderr);
    // Log lines aside (the start-up check logs one), the error is one line.
    let errors: Vec<&str> = all.lines().filter(|l| l.starts_with("triaged: ")).collect();
    assert_eq!(errors.len(), 1, "{all}");
    let stderr = errors[0];
    assert!(stderr.contains("unknown field `text`"), "{stderr}");
    assert!(
        stderr.contains("`body` (string, required)")
            && stderr.contains("`conversation_id` (string, required)"),
        "{stderr}"
    );
    for schema_text in [
        "additionalProperties",
        "\"properties\"",
        "\"type\"",
        "Invalid",
    ] {
        assert!(!stderr.contains(schema_text), "{schema_text} in {stderr}");
    }
    assert!(stderr.trim_end().ends_with("(invalid call)"), "{stderr}");
    assert!(
        rig.bot_parts(REFUND, "note").is_empty(),
        "nothing was written"
    );
}
