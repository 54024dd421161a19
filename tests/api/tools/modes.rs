//! Modes (issue acceptance 4) and a lost response (issue acceptance 5) over real HTTP.

use serde_json::json;
use triaged::{playbook::Mode, sandbox::Faults, tools::toolbox::CallStatus};

use super::{PRIYA, REFUND, Rig, all_tools};

const REPLY: &str = "Hi Priya, the duplicate charge of $29 has been refunded.";

#[tokio::test]
async fn a_draft_run_leaves_one_internal_note_describing_the_reply_and_the_close() {
    let rig = Rig::start().await;
    let run = rig.run(REFUND).await;
    let mut t = rig.toolbox(run, Mode::Draft, all_tools(REFUND, PRIYA));
    let before = rig.parts(REFUND);

    let out = t
        .call(
            "reply_to_conversation",
            &json!({"conversation_id": REFUND, "body": REPLY}).to_string(),
        )
        .await;
    assert_eq!(out.status, CallStatus::Ok, "{}", out.content);
    assert!(
        out.content.starts_with("Draft mode: not sent."),
        "{}",
        out.content
    );
    let out = t
        .call(
            "close_conversation",
            &json!({"conversation_id": REFUND}).to_string(),
        )
        .await;
    assert_eq!(out.status, CallStatus::Ok, "{}", out.content);
    // Nothing reached the conversation yet.
    assert_eq!(rig.parts(REFUND), before);

    assert_eq!(t.flush_drafts("refund-request").await, Ok(true));
    let after = rig.parts(REFUND);
    assert_eq!(after.len(), before.len() + 1, "exactly one new part");
    let note = after.last().unwrap();
    assert_eq!(note["part_type"], "note");
    assert_eq!(note["author"]["id"], rig.bot.as_str());
    let body = note["body"].as_str().unwrap();
    assert!(body.contains("refund-request"), "{body}");
    assert!(body.contains(REPLY), "{body}");
    assert!(body.contains("close the conversation"), "{body}");
    assert_eq!(
        rig.bot_parts(REFUND, "comment").len(),
        0,
        "no customer-visible part"
    );
    assert_eq!(rig.conversation(REFUND)["state"], "open");

    // Flushing again (a retried run) does not post a second note.
    assert_eq!(t.flush_drafts("refund-request").await, Ok(true));
    assert_eq!(rig.parts(REFUND).len(), after.len());
    let actions = rig.db.run_actions(run).await.unwrap();
    let statuses: Vec<(&str, &str)> = actions
        .iter()
        .map(|a| (a.tool.as_str(), a.status.as_str()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("reply_to_conversation", "drafted"),
            ("close_conversation", "drafted"),
            ("draft_note", "done")
        ]
    );
}

#[tokio::test]
async fn a_shadow_run_changes_nothing_in_intercom_and_records_shadowed_actions() {
    let rig = Rig::start().await;
    let run = rig.run(REFUND).await;
    let mut t = rig.toolbox(run, Mode::Shadow, all_tools(REFUND, PRIYA));
    let before = rig.conversation(REFUND);

    for (tool, args) in [
        (
            "reply_to_conversation",
            json!({"conversation_id": REFUND, "body": REPLY}),
        ),
        (
            "tag_conversation",
            json!({"conversation_id": REFUND, "tag": "refund"}),
        ),
        (
            "assign_conversation",
            json!({"conversation_id": REFUND, "team": "Billing"}),
        ),
        ("close_conversation", json!({"conversation_id": REFUND})),
    ] {
        let out = t.call(tool, &args.to_string()).await;
        assert_eq!(out.status, CallStatus::Ok, "{tool}: {}", out.content);
        assert!(
            out.content.starts_with("Shadow mode: not sent"),
            "{}",
            out.content
        );
    }
    assert_eq!(t.flush_drafts("refund-request").await, Ok(false));

    assert_eq!(rig.conversation(REFUND), before);
    let actions = rig.db.run_actions(run).await.unwrap();
    assert_eq!(actions.len(), 4);
    assert!(
        actions
            .iter()
            .all(|a| a.status == "shadowed" && a.mode == "shadow"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn a_reply_whose_response_is_lost_is_found_in_the_conversation_and_never_sent_twice() {
    let rig = Rig::start().await;
    let run = rig.run(REFUND).await;
    let mut t = rig.toolbox(run, Mode::Live, all_tools(REFUND, PRIYA));
    rig.sandbox.set_faults(Faults {
        drop_after_write: 1,
        ..Default::default()
    });
    let args = json!({"conversation_id": REFUND, "body": REPLY}).to_string();

    let out = t.call("reply_to_conversation", &args).await;
    assert_eq!(out.status, CallStatus::Ok, "{}", out.content);
    assert!(
        out.content
            .starts_with("Done (confirmed by reading the conversation)"),
        "{}",
        out.content
    );
    assert_eq!(
        rig.sandbox.stats().dropped_responses,
        1,
        "the response was really lost"
    );
    let replies = rig.bot_parts(REFUND, "comment");
    assert_eq!(replies.len(), 1);
    let part_id = replies[0]["id"].as_str().unwrap().to_owned();
    let actions = rig.db.run_actions(run).await.unwrap();
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].status, "done");
    assert_eq!(actions[0].result_ref.as_deref(), Some(part_id.as_str()));

    // The same run retried (a new toolbox, same run id) calls the same reply again.
    let mut retry = rig.toolbox(run, Mode::Live, all_tools(REFUND, PRIYA));
    let out = retry.call("reply_to_conversation", &args).await;
    assert_eq!(out.status, CallStatus::Ok, "{}", out.content);
    assert!(out.content.starts_with("Already done"), "{}", out.content);
    // Within the first toolbox the cap stops a second reply before anything is sent.
    let out = t.call("reply_to_conversation", &args).await;
    assert_eq!(out.status, CallStatus::Refused("reply_cap"));

    let replies = rig.bot_parts(REFUND, "comment");
    assert_eq!(replies.len(), 1, "exactly one bot reply: {replies:?}");
    assert!(replies[0]["body"].as_str().unwrap().contains(REPLY));
    assert_eq!(rig.db.run_actions(run).await.unwrap().len(), 1);
}
