//! Secrets (the Intercom token, the webhook client secrets, the LLM keys) never leave the process
//! except where they are sent: not in `--help` (flags, environment or config file), not in a
//! `Debug` of the parsed arguments or the configuration, not in logs at `debug` level during a
//! whole run, and not in error messages.

use std::path::Path;

use clap::Parser;
use serde_json::{Value, json};

use crate::{
    daemon::{Daemon, TestDb},
    llm_stub::{LlmStub, Turn},
};

const TOKEN: &str = "tok-SECRET-7f3a91c2";
const CLIENT_SECRET: &str = "cs-SECRET-b2c4d6e8";
const OLD_CLIENT_SECRET: &str = "cs-OLD-SECRET-e5f6a7";
const LLM_KEY: &str = "sk-SECRET-0a1b2c3d";
const OPENAI_KEY: &str = "sk-OPENAI-SECRET-9d8e7f";
const ALL: [&str; 5] = [TOKEN, CLIENT_SECRET, OLD_CLIENT_SECRET, LLM_KEY, OPENAI_KEY];

fn client_secrets() -> String {
    format!("{CLIENT_SECRET},{OLD_CLIENT_SECRET}")
}

/// Every secret in the environment (as a deployment would set them).
fn secret_env() -> Vec<(&'static str, String)> {
    vec![
        ("INTERCOM_ACCESS_TOKEN", TOKEN.to_owned()),
        ("INTERCOM_CLIENT_SECRET", client_secrets()),
        ("TRIAGED_LLM_API_KEY", LLM_KEY.to_owned()),
        ("OPENAI_API_KEY", OPENAI_KEY.to_owned()),
    ]
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in ALL {
        assert!(!text.contains(secret), "{what} shows {secret}:\n{text}");
        // The first characters alone are enough to narrow a guess.
        assert!(
            !text.contains(&secret[..secret.len() - 2]),
            "{what} shows part of {secret}:\n{text}"
        );
    }
}

/// Runs the binary to completion; stdout and stderr together. On a SQLite file whatever the
/// matrix says: what help and error messages show does not depend on the backend.
async fn run(args: &[&str], env: &[(&str, String)], dir: &Path) -> (Option<i32>, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_triaged"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "TRIAGED_DATABASE_URL",
            format!("sqlite://{}", dir.join("t.db").display()),
        )
        .env("TRIAGED_LISTEN", "127.0.0.1:0")
        .env("TRIAGED_PLAYBOOKS", dir)
        .env("RUST_LOG", "debug")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("run triaged");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

#[tokio::test]
async fn help_never_shows_a_secret_from_the_environment_or_the_config_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("triaged.yaml");
    let yaml: String = secret_env()
        .iter()
        .map(|(k, v)| format!("{k}: \"{v}\"\n"))
        .collect();
    std::fs::write(&file, yaml).expect("config file");
    let file = file.display().to_string();
    for args in [
        vec!["serve", "--help"],
        vec!["sandbox", "--help"],
        vec!["tools", "call", "--help"],
        vec!["--help"],
    ] {
        let (code, text) = run(&args, &secret_env(), dir.path()).await;
        assert_eq!(code, Some(0), "{args:?}: {text}");
        assert!(text.contains("Usage"), "{args:?}: {text}");
        assert_no_secret(
            &format!("{args:?} with the secrets in the environment"),
            &text,
        );

        let mut with_file = vec!["--config", file.as_str()];
        with_file.extend(&args);
        let (code, text) = run(&with_file, &[], dir.path()).await;
        assert_eq!(code, Some(0), "{with_file:?}: {text}");
        assert_no_secret(&format!("{with_file:?}"), &text);
    }
}

#[tokio::test]
async fn error_messages_never_show_a_secret() {
    triaged::install_crypto_provider();
    let dir = tempfile::tempdir().expect("temp dir");
    // Intercom refuses the token: the start-up error names the variable, not its value.
    let sandbox = triaged::sandbox::Sandbox::start(triaged::sandbox::SandboxConfig::demo(
        "127.0.0.1:0".parse().expect("addr"),
    ))
    .await
    .expect("sandbox");
    let mut env = secret_env();
    env.push(("INTERCOM_BASE_URL", sandbox.base_url()));
    let (code, text) = run(&["serve"], &env, dir.path()).await;
    assert_ne!(code, Some(0), "{text}");
    assert!(text.contains("INTERCOM_ACCESS_TOKEN"), "{text}");
    assert_no_secret("a refused token", &text);

    let (code, text) = run(
        &[
            "tools",
            "call",
            "get_conversation",
            "--input",
            r#"{"conversation_id":"1"}"#,
        ],
        &env,
        dir.path(),
    )
    .await;
    assert_ne!(code, Some(0), "{text}");
    assert_no_secret("`tools call` with a refused token", &text);

    // Secrets given as flags next to a bad setting, and a bad setting beside them in the env.
    let (code, text) = run(
        &[
            "serve",
            "--access-token",
            TOKEN,
            "--client-secret",
            &client_secrets(),
            "--llm-api-key",
            LLM_KEY,
            "--workers",
            "many",
        ],
        &[],
        dir.path(),
    )
    .await;
    assert_eq!(code, Some(2), "{text}");
    assert_no_secret("a bad flag", &text);
    let mut bad = secret_env();
    bad.push(("TRIAGED_DATABASE_URL", "garbage".to_owned()));
    let (code, text) = run(&["serve"], &bad, dir.path()).await;
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("TRIAGED_DATABASE_URL"), "{text}");
    assert_no_secret("a bad setting", &text);
}

#[test]
fn debug_of_the_parsed_arguments_and_the_configuration_hides_every_secret() {
    let secrets = client_secrets();
    let cli = triaged::cli::Cli::try_parse_from([
        "triaged",
        "serve",
        "--access-token",
        TOKEN,
        "--client-secret",
        &secrets,
        "--llm-api-key",
        LLM_KEY,
        "--openai-api-key",
        OPENAI_KEY,
    ])
    .expect("parses");
    let debug = format!("{cli:?} {cli:#?}");
    assert!(debug.contains("REDACTED"), "{debug}");
    assert_no_secret("Debug of the arguments", &debug);
    let triaged::cli::Command::Serve(args) = cli.command else {
        panic!("serve")
    };
    let config = triaged::config::Config::from_serve_args(*args).expect("valid");
    assert_no_secret("Debug of the configuration", &format!("{config:?}"));

    let sandbox = triaged::cli::Cli::try_parse_from([
        "triaged",
        "sandbox",
        "--access-token",
        TOKEN,
        "--client-secret",
        &secrets,
    ])
    .expect("parses");
    assert_no_secret("Debug of the sandbox arguments", &format!("{sandbox:?}"));
    let triaged::cli::Command::Sandbox(args) = sandbox.command else {
        panic!("sandbox")
    };
    let settings = args.into_settings().expect("valid");
    assert_no_secret("Debug of the sandbox settings", &format!("{settings:?}"));
    let config = triaged::app::sandbox_config(settings);
    assert_no_secret("Debug of the sandbox config", &format!("{config:?}"));
}

const REPLY: &str = r#"name: answer
description: Answer the customer.
priority: 1
mode: live
trigger:
  topics: [conversation.user.created, conversation.user.replied]
steps:
  - agent:
      instructions: Answer the customer's newest message in one reply.
      tools: [get_conversation, reply_to_conversation]
fallback:
  - note: "could not answer: {{failure.reason}}"
"#;

#[tokio::test]
async fn a_whole_run_logged_at_debug_level_never_shows_a_secret() {
    triaged::install_crypto_provider();
    let stub = LlmStub::start().await;
    stub.push([
        Turn::tool("get_conversation", json!({"conversation_id": "215000001"})),
        Turn::tool(
            "reply_to_conversation",
            json!({"conversation_id": "215000001", "body": "Your refund is on its way."}),
        ),
        Turn::Text("answered".into()),
    ]);
    let dir = tempfile::tempdir().expect("temp dir");
    let playbooks = dir.path().join("playbooks");
    std::fs::create_dir_all(&playbooks).expect("dir");
    std::fs::write(playbooks.join("answer.yaml"), REPLY).expect("playbook");
    let playbooks = playbooks.display().to_string();
    let llm = stub.base_url();
    let mut env: Vec<(&str, &str)> = vec![
        ("RUST_LOG", "debug"),
        ("TRIAGED_PLAYBOOKS", &playbooks),
        ("TRIAGED_LLM_BASE_URL", &llm),
        ("TRIAGED_LLM_MODEL", "scripted-model"),
    ];
    let secrets = secret_env();
    env.extend(secrets.iter().map(|(k, v)| (*k, v.as_str())));
    let db = TestDb::new(dir.path()).await;
    let mut daemon = Daemon::start(&db, &env).await;
    let sandbox = daemon.sandbox.clone().expect("sandbox URL");
    let client = reqwest::Client::new();
    let said = client
        .post(format!(
            "{sandbox}/_sandbox/customer/conversations/215000001/reply"
        ))
        .json(&json!({"contact_id": "6762f1261bb69f9f21930001", "body": "Any news?"}))
        .send()
        .await
        .expect("customer replies");
    assert_eq!(said.status(), 200);
    // A badly signed webhook too: its refusal is logged.
    let refused = client
        .post(daemon.url("/webhooks/intercom"))
        .header("x-hub-signature", "sha1=0000")
        .body(r#"{"type":"notification_event"}"#)
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), 401);
    let finished = daemon.wait_for_message("run finished", 1).await;
    assert_eq!(finished[0]["fields"]["outcome"], "replied", "{finished:?}");
    let mut lines: Vec<Value> = daemon.startup.clone();
    lines.extend(finished);
    lines.extend(daemon.terminate_collecting().await);

    let debug = lines.iter().filter(|l| l["level"] == "DEBUG").count();
    assert!(debug > 10, "debug logging is on: {debug} debug lines");
    assert!(!stub.requests().is_empty(), "the LLM key was used");
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    assert_no_secret("debug logs", &text);
}
