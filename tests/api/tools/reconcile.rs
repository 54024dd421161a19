//! Reconciling writes whose outcome is unknown: only what this write could have made counts as
//! proof that it landed, and a retried write finds its first attempt.

use std::time::Duration;

use serde_json::json;
use triaged::{playbook::Mode, sandbox::Seed, store::actions, tools::toolbox::CallStatus};

use super::{PRIYA, REFUND, Rig, all_tools};

const REPLY: &str = "Thanks, we have your message and will get back to you.";

/// The demo workspace where the bot already sent [`REPLY`] on the refund conversation 30 minutes
/// ago (a templated acknowledgement from an earlier run).
fn seed_with_an_earlier_identical_reply(dir: &tempfile::TempDir) -> Seed {
    let demo = include_str!("../../../src/sandbox/demo_workspace.yaml");
    let earlier = r#"      - { contact: "6762f1261bb69f9f21930001", minutes_ago: 40, body: "The second charge was on the 3rd, same amount: $29." }"#;
    assert!(demo.contains(earlier), "the demo workspace changed");
    let yaml = demo.replacen(
        earlier,
        &format!(
            "{earlier}\n      - {{ admin: \"991200001\", minutes_ago: 30, body: \"{REPLY}\" }}"
        ),
        1,
    );
    let path = dir.path().join("seed.yaml");
    std::fs::write(&path, yaml).unwrap();
    Seed::File(path)
}

#[tokio::test]
async fn an_identical_reply_sent_before_the_write_started_is_no_proof_that_it_landed() {
    let dir = tempfile::tempdir().unwrap();
    let seed = seed_with_an_earlier_identical_reply(&dir);
    let rig = Rig::start_with(|c| c.seed = seed).await;
    assert_eq!(
        rig.bot_parts(REFUND, "comment").len(),
        1,
        "the earlier reply"
    );
    let run = rig.run(REFUND).await;
    // The process recorded the reply `started` and died before sending it.
    let canonical = json!({"conversation_id": REFUND, "body": REPLY});
    let key = actions::key(run, "reply_to_conversation", &canonical);
    rig.db
        .begin_action(&actions::NewAction {
            key: &key,
            run_id: run,
            conversation_id: REFUND,
            tool: "reply_to_conversation",
            arguments: &canonical,
            mode: "live",
            status: "started",
        })
        .await
        .unwrap();

    let mut resumed = rig.toolbox(run, Mode::Live, all_tools(REFUND, PRIYA));
    let out = resumed
        .call("reply_to_conversation", &canonical.to_string())
        .await;
    assert_eq!(out.status, CallStatus::Ok, "{}", out.content);
    assert!(
        out.content.starts_with("Done (part "),
        "sent, not 'found': {}",
        out.content
    );
    assert_eq!(
        rig.bot_parts(REFUND, "comment").len(),
        2,
        "the customer gets this run's reply"
    );
}

#[tokio::test]
async fn a_retried_snooze_of_three_days_is_recognised_in_a_later_second() {
    let rig = Rig::start().await;
    let run = rig.run(REFUND).await;
    let args = json!({"conversation_id": REFUND, "duration": "3d"}).to_string();
    let mut first = rig.toolbox(run, Mode::Live, all_tools(REFUND, PRIYA));
    let out = first.call("snooze_conversation", &args).await;
    assert_eq!(out.status, CallStatus::Ok, "{}", out.content);
    let snoozed_until = rig.conversation(REFUND)["snoozed_until"].clone();

    // The retry comes at least a second later (a real back-off is longer): `now + 3d` differs.
    let into_next_second = 1_000 - jiff::Timestamp::now().subsec_millisecond();
    tokio::time::sleep(Duration::from_millis(
        u64::try_from(into_next_second).unwrap() + 5,
    ))
    .await;
    let mut retry = rig.toolbox(run, Mode::Live, all_tools(REFUND, PRIYA));
    let out = retry.call("snooze_conversation", &args).await;
    assert_eq!(out.status, CallStatus::Ok, "{}", out.content);
    assert!(
        out.content.starts_with("Already done earlier in this run"),
        "{}",
        out.content
    );
    let snoozes = rig.bot_parts(REFUND, "snoozed");
    assert_eq!(snoozes.len(), 1, "snoozed once: {snoozes:?}");
    assert_eq!(rig.conversation(REFUND)["snoozed_until"], snoozed_until);
    assert_eq!(rig.db.run_actions(run).await.unwrap().len(), 1);
}
