//! The console in a real browser: Debian's headless Chromium, driven over WebDriver, against the
//! real daemon with the sandbox as Intercom and the scripted model. Screenshots are saved under
//! `target/console-screenshots/` (CI keeps them as artifacts; the path is printed at the end).

use std::{path::PathBuf, time::Duration};

use serde_json::json;
use triaged::llm::scripted::{ScriptedLlm, ScriptedTurn, Turn};

use super::webdriver::Browser;
use crate::helpers::spawn_scenario_with;

const CONTACT: &str = "6762f1261bb69f9f21930001";
/// What Intercom stores when a customer types `<script>alert('pwned')</script> I need a refund` in
/// the Messenger: the message body is HTML, so the customer's angle brackets arrive as entities and
/// every reader (the timeline, the transcript) decodes them back into the text the customer typed.
const HOSTILE: &str = "&lt;script&gt;alert('pwned')&lt;/script&gt; I need a refund";

/// A playbook whose agent always runs out of steps: every run fails and leaves a failed event.
const DESK: &str = r#"name: refund-desk
description: Refunds, handled by a model allowed a single step
priority: 10
mode: live
trigger:
  topics: [conversation.user.created, conversation.user.replied]
  conditions:
    contains:
      any: [refund]
steps:
  - agent:
      instructions: Read the conversation, then answer.
      tools: [get_conversation]
      max_steps: 1
fallback:
  - note: "The bot could not finish ({{failure.reason}})."
"#;

fn screenshots_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots")
}

#[tokio::test]
async fn a_support_lead_signs_in_reads_a_transcript_and_replays_a_failed_event_in_chromium() {
    let llm = ScriptedLlm::start(vec![ScriptedTurn {
        turn: Turn::Tool {
            name: "get_conversation".into(),
            args: json!({"conversation_id": "{{conversation_id}}"}),
        },
        forever: true,
    }])
    .await
    .unwrap();
    let app = spawn_scenario_with(
        &[("refund-desk".to_owned(), DESK.to_owned())],
        Some(&llm.base_url()),
        Duration::ZERO,
        |_| {},
    )
    .await;
    let conversation = app
        .sandbox()
        .customer_says(None, CONTACT, HOSTILE)
        .await
        .unwrap();
    llm.set_conversation(&conversation);
    app.settle().await;
    let (run_id, event_id): (i64, i64) = triaged::with_pool!(app.app.db(), |p| sqlx::query_as(
        "SELECT id, event_id FROM runs WHERE playbook = 'refund-desk' ORDER BY id LIMIT 1",
    )
    .fetch_one(p)
    .await)
    .unwrap();
    let token = super::ui_token(&app, "browser-test").await;

    let mut browser = Browser::start(&screenshots_dir()).await;
    let base = &app.base;

    // Not signed in: the console sends the browser to the login page, keeping where it was going.
    browser.goto(&format!("{base}/ui/runs/{run_id}")).await;
    assert!(
        browser.url().await.contains("/ui/login?next="),
        "{}",
        browser.url().await
    );
    browser.screenshot("login").await;
    let field = browser.find("input[name=token]").await;
    browser.type_into(&field, &token).await;
    let submit = browser.find("button[type=submit]").await;
    browser.click(&submit).await;
    let after = browser.wait_for_url(&format!("/ui/runs/{run_id}")).await;
    assert!(after.ends_with(&format!("/ui/runs/{run_id}")), "{after}");

    // The run's transcript, with the customer's <script> shown as text, never run.
    let transcript = browser.find("pre.transcript").await;
    let text = browser.text(&transcript).await;
    assert!(text.contains("<script>alert('pwned')</script>"), "{text}");
    let source = browser.source().await;
    assert!(
        !source.contains("<script>alert"),
        "the message must be escaped"
    );
    assert!(source.contains("&lt;script&gt;alert"));
    let version = browser.text(&browser.find("code.version").await).await;
    assert_eq!(version.len(), 12, "the run page shows the playbook version");
    browser.screenshot("run-transcript").await;

    // The overview: a chart of the runs this test made.
    browser.goto(&format!("{base}/ui?period=24h")).await;
    let bars = browser.all("svg.chart rect").await;
    assert!(!bars.is_empty(), "the chart has a bar for the test's runs");
    browser.screenshot("overview").await;

    // Events: replay the failed one and see its new run.
    browser
        .goto(&format!("{base}/ui/events?status=failed"))
        .await;
    browser.screenshot("events-failed").await;
    let replay = browser
        .find(&format!(
            "form[action='/ui/events/{event_id}/replay'] button"
        ))
        .await;
    browser.click(&replay).await;
    let after = browser
        .wait_for_url(&format!("/ui/runs?event={event_id}"))
        .await;
    assert!(
        after.ends_with(&format!("/ui/runs?event={event_id}")),
        "{after}: {}",
        browser.source().await
    );
    app.settle().await;
    browser
        .goto(&format!("{base}/ui/runs?event={event_id}"))
        .await;
    let rows = browser.all("table tr td:first-child a").await;
    assert_eq!(rows.len(), 2, "the replay made a second run of the event");
    browser.screenshot("runs-after-replay").await;

    // Playbooks: the loaded set, in words.
    browser.goto(&format!("{base}/ui/playbooks")).await;
    let page = browser.text(&browser.find("main").await).await;
    assert!(
        page.contains("refund-desk") && page.contains("mentioning refund"),
        "{page}"
    );
    browser.screenshot("playbooks").await;
    browser.goto(&format!("{base}/ui/tokens")).await;
    let page = browser.text(&browser.find("main").await).await;
    assert!(
        page.contains("browser-test") && !page.contains(&token),
        "never a secret"
    );
    browser.screenshot("tokens").await;

    println!("console screenshots: {}", browser.screenshots.display());
    drop(browser);
    llm.shutdown().await;
}
