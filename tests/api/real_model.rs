//! One end-to-end run with a real model: SmolLM2-135M behind llama.cpp's OpenAI-compatible server
//! (installed by `tests/llm/setup.sh`, served by `tests/llm/serve_smollm2.py`). It proves the
//! protocol path — a real tool call executed through the guard, its result sent back, a final
//! answer, the run recorded — never the wording (a 135M model cannot triage).

use std::{path::PathBuf, process::Stdio, time::Duration};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::spawn_scenario;

const PLAYBOOK: &str = r#"name: summarise
description: Read the conversation and summarise it.
priority: 1
mode: live
trigger:
  topics: [conversation.user.created]
steps:
  - agent:
      instructions: Read the conversation with get_conversation, then summarise it in one sentence.
      tools: [get_conversation]
      max_steps: 4
      wall_time: 240s
      temperature: 0
fallback:
  - note: "summary failed: {{failure.reason}}"
"#;

/// The venv's python, set up by `tests/llm/setup.sh` (run here if `.ci/run` has not already).
/// `None` only when there is no python3 at all.
fn python() -> Option<PathBuf> {
    crate::helpers::test_venv_python("TRIAGED_LLM_VENV", ".venv-llm", "tests/llm/setup.sh")
}

#[tokio::test]
async fn a_real_small_model_calls_a_tool_through_the_guard_and_answers() {
    let Some(python) = python() else {
        eprintln!(
            "\n!!!! SKIPPED: python3 is missing, so the real-model end-to-end test cannot run !!!!\n"
        );
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let started = std::time::Instant::now();
    let mut server = tokio::process::Command::new(python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/llm/serve_smollm2.py"
        ))
        .args(["--port", &port.to_string(), "--exit-with-parent"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the model server");
    let mut stdout = BufReader::new(server.stdout.take().unwrap()).lines();
    let base_url = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(line) = stdout.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix("READY ") {
                return url.to_owned();
            }
        }
        panic!("the model server exited before READY");
    })
    .await
    .expect("the model server is ready within 2 minutes");

    let app = spawn_scenario(
        &[("summarise".into(), PLAYBOOK.into())],
        Some(&base_url),
        Duration::ZERO,
    )
    .await;
    let id = app
        .sandbox()
        .customer_says(
            None,
            "6762f1261bb69f9f21930001",
            "Hello, my parcel has not arrived.",
        )
        .await
        .unwrap();
    app.settle_within(Duration::from_secs(300)).await;

    let steps: Vec<(String, Option<String>, String)> =
        triaged::with_pool!(app.app.db(), |p| sqlx::query_as(
            "SELECT kind, name, payload FROM run_steps ORDER BY seq"
        )
        .fetch_all(p)
        .await)
        .unwrap();
    let kinds: Vec<&str> = steps.iter().map(|(k, _, _)| k.as_str()).collect();
    let call = steps
        .iter()
        .find(|(k, _, _)| k == "tool_call")
        .unwrap_or_else(|| panic!("the model called a tool: {kinds:?}"));
    assert_eq!(call.1.as_deref(), Some("get_conversation"));
    let args: Value = serde_json::from_str(
        serde_json::from_str::<Value>(&call.2).unwrap()["arguments"]
            .as_str()
            .unwrap(),
    )
    .expect("the arguments are JSON");
    assert!(args.get("conversation_id").is_some(), "{args}");
    assert!(kinds.contains(&"tool_result"), "{kinds:?}");
    assert!(
        kinds.contains(&"agent_finished"),
        "a final message came back: {kinds:?}"
    );
    let runs = app.app.db().list_runs(None, 5).await.unwrap();
    assert_eq!(runs[0].conversation_id.as_deref(), Some(id.as_str()));
    assert_eq!(runs[0].status, "succeeded", "{runs:#?}");
    let (prompt, completion): (i64, i64) = triaged::with_pool!(app.app.db(), |p| sqlx::query_as(
        "SELECT prompt_tokens, completion_tokens FROM runs ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(p)
    .await)
    .unwrap();
    eprintln!("real model: {prompt} prompt + {completion} completion tokens");
    let _ = server.start_kill();
    eprintln!(
        "real-model end-to-end: {:.1}s",
        started.elapsed().as_secs_f64()
    );
}
