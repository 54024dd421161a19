//! The guard over real HTTP (issue acceptance 3): a live toolbox scoped to one conversation with a
//! limited allowlist refuses, in words a model can act on, every call outside its scope — and the
//! sandbox shows that none of them changed anything.

use serde_json::json;
use triaged::{
    playbook::Mode,
    tools::{ToolName, toolbox::CallStatus},
};

use super::{CHECKOUT, DANIEL, PRIYA, REFUND, Rig, scope};

#[tokio::test]
async fn calls_outside_the_runs_scope_are_refused_and_change_nothing_in_intercom() {
    let rig = Rig::start().await;
    let run = rig.run(REFUND).await;
    let allowed = [
        ToolName::GetConversation,
        ToolName::ReplyToConversation,
        ToolName::AddNote,
        ToolName::AssignConversation,
        ToolName::CreateTicket,
    ];
    let mut t = rig.toolbox(run, Mode::Live, scope(REFUND, PRIYA, &allowed, 1));
    let refund_before = rig.conversation(REFUND);
    let checkout_before = rig.conversation(CHECKOUT);

    // A write aimed at another conversation.
    let out = t
        .call(
            "reply_to_conversation",
            &json!({"conversation_id": CHECKOUT, "body": "Hello from the wrong run"}).to_string(),
        )
        .await;
    assert_eq!(out.status, CallStatus::Refused("other_conversation"));
    assert_eq!(
        out.content,
        "refused: this run may only change conversation 215000001 (the one that triggered it), \
         not 215000002."
    );

    // A ticket for someone who is not this conversation's contact.
    let out = t
        .call(
            "create_ticket",
            &json!({"conversation_id": REFUND, "ticket_type": "Engineering bug",
                    "contact_id": DANIEL, "title": "x", "description": "y"})
            .to_string(),
        )
        .await;
    assert_eq!(out.status, CallStatus::Refused("other_contact"));
    assert!(
        out.content
            .contains(&format!("contact ({PRIYA}), not {DANIEL}")),
        "{}",
        out.content
    );

    // A team that does not exist: the valid ones are listed.
    let out = t
        .call(
            "assign_conversation",
            &json!({"conversation_id": REFUND, "team": "Sales"}).to_string(),
        )
        .await;
    assert_eq!(out.status, CallStatus::Refused("unknown_team"));
    assert_eq!(
        out.content,
        "unknown team `Sales`. Valid teams: Support (510001), Billing (510002), Engineering \
         escalations (510003)."
    );

    // A tool the playbook does not allow.
    let out = t
        .call(
            "close_conversation",
            &json!({"conversation_id": REFUND}).to_string(),
        )
        .await;
    assert_eq!(out.status, CallStatus::Refused("not_allowed"));
    assert!(
        out.content.contains(
            "Allowed tools: get_conversation, reply_to_conversation, add_note, \
             assign_conversation, create_ticket."
        ),
        "{}",
        out.content
    );

    // Nothing changed so far.
    assert_eq!(rig.conversation(REFUND), refund_before);
    assert_eq!(rig.conversation(CHECKOUT), checkout_before);

    // One reply is fine; a second one is past the cap.
    let out = t
        .call(
            "reply_to_conversation",
            &json!({"conversation_id": REFUND, "body": "We are on it."}).to_string(),
        )
        .await;
    assert_eq!(out.status, CallStatus::Ok, "{}", out.content);
    let out = t
        .call(
            "reply_to_conversation",
            &json!({"conversation_id": REFUND, "body": "And one more thing."}).to_string(),
        )
        .await;
    assert_eq!(out.status, CallStatus::Refused("reply_cap"));
    assert!(
        out.content
            .contains("at most 1 customer reply and has sent 1"),
        "{}",
        out.content
    );
    assert!(
        out.content.contains("Add an internal note instead"),
        "{}",
        out.content
    );

    // The sandbox: B untouched, no ticket, assignment unchanged, exactly one reply in A.
    assert_eq!(rig.conversation(CHECKOUT), checkout_before);
    let stats = rig.sandbox.stats();
    assert_eq!(stats.per_endpoint.get("POST /tickets"), None, "{stats:?}");
    let refund = rig.conversation(REFUND);
    assert_eq!(
        refund["team_assignee_id"],
        refund_before["team_assignee_id"]
    );
    assert_eq!(
        refund["admin_assignee_id"],
        refund_before["admin_assignee_id"]
    );
    assert_eq!(refund["state"], "open");
    let replies = rig.bot_parts(REFUND, "comment");
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(
        replies[0]["body"]
            .as_str()
            .unwrap()
            .contains("We are on it.")
    );
    assert_eq!(
        rig.parts(REFUND).len(),
        refund_before["conversation_parts"]["conversation_parts"]
            .as_array()
            .unwrap()
            .len()
            + 1
    );
    // Only the one reply was recorded.
    let actions = rig.db.run_actions(run).await.unwrap();
    assert_eq!(actions.len(), 1, "{actions:?}");
}
