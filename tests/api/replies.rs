//! A reply is text, not HTML (issue 10 Build 4): the model's reply reaches the customer as
//! escaped Intercom HTML with paragraphs, line breaks and plain links to allowed domains only.
//! Over real HTTP: the customer writes through the sandbox's control API, the scripted model
//! replies with markup of its own, and the sandbox conversation part's body is read back.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, spawn_scenario_with},
    llm_stub::{LlmStub, Turn},
};

const CONVERSATION: &str = "215000001";
const CONTACT: &str = "6762f1261bb69f9f21930001";

const REPLY: &str = r#"name: answer
description: Answer the customer.
priority: 1
mode: live
trigger:
  topics: [conversation.user.replied]
steps:
  - agent:
      instructions: Answer the customer's newest message in one reply.
      tools: [reply_to_conversation]
fallback:
  - note: "could not answer: {{failure.reason}}"
"#;

/// The customer writes, the model sends `body`; returns the body of the bot's new part.
async fn reply_as_sent(body: &str, domains: Option<Vec<String>>) -> String {
    let stub = LlmStub::start().await;
    stub.push([
        Turn::tool(
            "reply_to_conversation",
            json!({"conversation_id": CONVERSATION, "body": body}),
        ),
        Turn::Text("answered".into()),
    ]);
    let app = spawn_scenario_with(
        &[("answer".to_owned(), REPLY.to_owned())],
        Some(&stub.base_url()),
        Duration::ZERO,
        |config| {
            if let Some(domains) = domains {
                config.reply_link_domains = domains;
            }
        },
    )
    .await;
    let sandbox = app.sandbox().base_url();
    let client = reqwest::Client::new();
    let said = client
        .post(format!(
            "{sandbox}/_sandbox/customer/conversations/{CONVERSATION}/reply"
        ))
        .json(&json!({"contact_id": CONTACT, "body": "Where is the refund article?"}))
        .send()
        .await
        .expect("customer writes");
    assert_eq!(said.status(), 200);
    app.settle().await;
    bot_bodies(&app, &sandbox, &client)
        .await
        .pop()
        .expect("the bot replied")
}

async fn bot_bodies(app: &TestApp, sandbox: &str, client: &reqwest::Client) -> Vec<String> {
    let bot = app.app.identity().admin_id.to_string();
    let conversation: Value = client
        .get(format!("{sandbox}/_sandbox/conversations/{CONVERSATION}"))
        .send()
        .await
        .expect("conversation")
        .json()
        .await
        .expect("json");
    conversation["conversation_parts"]["conversation_parts"]
        .as_array()
        .expect("parts")
        .iter()
        .filter(|p| p["part_type"] == "comment" && p["author"]["id"] == bot.as_str())
        .map(|p| p["body"].as_str().unwrap_or_default().to_owned())
        .collect()
}

const HOSTILE: &str = "Hi Priya,\n\nyour refund is explained here: \
https://intercom.help/acme/en/articles/910001-how-refunds-work.\n\
<script>alert(document.cookie)</script>\n\
<a href=\"https://evil.example/login\">Log in again</a> or https://evil.example/reset\n\n\n\
Thanks & regards";

#[tokio::test]
async fn the_models_markup_is_escaped_and_only_help_center_urls_become_links() {
    let body = reply_as_sent(HOSTILE, None).await;
    assert_eq!(
        body,
        "<p>Hi Priya,</p>\
         <p>your refund is explained here: \
         <a href=\"https://intercom.help/acme/en/articles/910001-how-refunds-work\">\
         https://intercom.help/acme/en/articles/910001-how-refunds-work</a>.<br>\
         &lt;script&gt;alert(document.cookie)&lt;/script&gt;<br>\
         &lt;a href=\"https://evil.example/login\"&gt;Log in again&lt;/a&gt; or https://evil.example/reset</p>\
         <p>Thanks &amp; regards</p>"
    );
    assert!(!body.contains("<script"), "{body}");
    assert!(!body.contains("<a href=\"https://evil"), "{body}");
}

#[tokio::test]
async fn configured_link_domains_replace_the_default_and_none_links_nothing() {
    let text = "See https://help.example.com/a and https://intercom.help/acme/b";
    let body = reply_as_sent(text, Some(vec!["help.example.com".to_owned()])).await;
    assert_eq!(
        body,
        "<p>See <a href=\"https://help.example.com/a\">https://help.example.com/a</a> \
         and https://intercom.help/acme/b</p>"
    );
    let body = reply_as_sent(text, Some(Vec::new())).await;
    assert_eq!(body, format!("<p>{text}</p>"));
}

#[tokio::test]
async fn a_link_domain_that_is_not_a_domain_stops_start_up_naming_the_variable() {
    let dir = tempfile::tempdir().expect("temp dir");
    // Start-up stops at the configuration, before any database is opened: a SQLite path does.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_triaged"))
        .args(["serve", "--sandbox"])
        .env_clear()
        .env(
            "TRIAGED_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("t.db").display()),
        )
        .env(
            "TRIAGED_REPLY_LINK_DOMAINS",
            "help.example.com,https://x.io/a",
        )
        .output()
        .await
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("TRIAGED_REPLY_LINK_DOMAINS") && stderr.contains("https://x.io/a"),
        "{stderr}"
    );
}
