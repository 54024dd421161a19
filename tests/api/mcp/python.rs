//! A real MCP client, the official Python SDK (`mcp` 2.3.0 from PyPI, installed by
//! `tests/mcp/setup.sh`), against the daemon on the sandbox over real HTTP: a bearer token and a
//! path token, the 2026-07-28 protocol and the legacy initialize handshake.

use std::path::PathBuf;

use serde_json::Value;
use triaged::store::tokens::TokenScope;

use super::rpc::{Spec, start, token};
use crate::{helpers::TestApp, tools::REFUND};

/// The venv's python, set up by `tests/mcp/setup.sh` (run here if `.ci/run` has not already).
/// `None` only when there is no python3 at all.
fn python() -> Option<PathBuf> {
    crate::helpers::test_venv_python("TRIAGED_MCP_VENV", ".venv-mcp", "tests/mcp/setup.sh")
}

/// Runs `tests/mcp/client.py` against `url` in `mode`; its JSON report.
async fn client(python: &PathBuf, url: &str, mode: &str, bearer: Option<&str>) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/client.py");
    let mut command = tokio::process::Command::new(python);
    command
        .arg(script)
        .args([url, mode, REFUND, "charged twice"])
        .env_remove("TRIAGED_MCP_TOKEN");
    if let Some(token) = bearer {
        command.env("TRIAGED_MCP_TOKEN", token);
    }
    let out = command.output().await.expect("run the MCP client");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "client output is not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(out.status.success(), "{report}");
    report
}

/// What every session must have seen: the read tools only, a search that finds the refund
/// conversation, and that conversation as a timeline, both as structured results.
fn assert_read_session(report: &Value, protocol: &str) {
    assert_eq!(report["protocol_version"], protocol, "{report}");
    assert_eq!(report["server"], "triaged");
    let tools = report["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 11, "{report}");
    for t in tools {
        assert_eq!(t["read_only"], true, "{t}");
        assert_eq!(t["has_output_schema"], true, "{t}");
        assert!(t["title"].is_string(), "{t}");
    }
    assert!(!tools.iter().any(|t| t["name"] == "reply_to_conversation"));
    for call in ["search", "conversation"] {
        assert_eq!(report[call]["is_error"], false, "{report}");
        let structured = report[call]["structured"]["text"].as_str().unwrap();
        assert_eq!(structured, report[call]["text"], "the text copy matches");
    }
    let search = report["search"]["structured"]["text"].as_str().unwrap();
    assert!(search.contains(REFUND), "{search}");
    let timeline = report["conversation"]["structured"]["text"]
        .as_str()
        .unwrap();
    assert!(
        timeline.contains("charged twice") && timeline.contains("The second charge was on the 3rd"),
        "{timeline}"
    );
}

async fn skip_without_python() -> Option<(PathBuf, TestApp)> {
    let Some(python) = python() else {
        eprintln!(
            "\n!!!! SKIPPED: python3 is missing, so the real MCP client test cannot run !!!!\n"
        );
        return None;
    };
    Some((python, start().await))
}

#[tokio::test]
async fn the_python_sdk_reads_conversations_with_a_bearer_token_in_both_protocol_eras() {
    let Some((python, app)) = skip_without_python().await else {
        return;
    };
    let (read, _) = token(&app, "python-sdk", TokenScope::McpRead, Spec::default()).await;
    let url = format!("{}/mcp", app.base);
    let modern = client(&python, &url, "auto", Some(&read)).await;
    assert_read_session(&modern, "2026-07-28");
    let legacy = client(&python, &url, "legacy", Some(&read)).await;
    assert_read_session(&legacy, "2025-11-25");
    let calls = app
        .app
        .db()
        .list_mcp_calls(Some("python-sdk"), 10)
        .await
        .unwrap();
    assert_eq!(calls.len(), 4);
    let versions: Vec<&str> = calls
        .iter()
        .filter_map(|c| c.protocol_version.as_deref())
        .collect();
    assert!(
        versions.contains(&"2026-07-28") && versions.contains(&"2025-11-25"),
        "{versions:?}"
    );
    assert!(calls.iter().all(|c| c.status == "ok"), "{calls:#?}");
}

#[tokio::test]
async fn the_python_sdk_connects_through_the_path_token_url_and_not_without_its_api_key() {
    let Some((python, app)) = skip_without_python().await else {
        return;
    };
    let (path_token, _) = token(&app, "chatgpt", TokenScope::McpRead, Spec::default()).await;
    let url = format!("{}/mcp/t/{path_token}", app.base);
    assert_read_session(&client(&python, &url, "auto", None).await, "2026-07-28");
    assert_read_session(&client(&python, &url, "legacy", None).await, "2025-11-25");

    let (keyed, key) = token(
        &app,
        "chatgpt-keyed",
        TokenScope::McpRead,
        Spec {
            api_key: true,
            ..Spec::default()
        },
    )
    .await;
    let url = format!("{}/mcp/t/{keyed}", app.base);
    assert_read_session(
        &client(&python, &url, "legacy", key.as_deref()).await,
        "2025-11-25",
    );
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/client.py");
    let out = tokio::process::Command::new(&python)
        .arg(script)
        .args([url.as_str(), "legacy", REFUND, "charged twice"])
        .env_remove("TRIAGED_MCP_TOKEN")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["statuses"], serde_json::json!([401]), "{report}");
}
