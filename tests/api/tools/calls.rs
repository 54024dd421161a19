//! Every tool called the way the model calls it (`Toolbox::call`, JSON arguments) against the
//! sandbox in live mode, and the schema errors a model reads when it gets the arguments wrong.

use serde_json::json;
use triaged::{playbook::Mode, tools::toolbox::CallStatus};

use super::{DANIEL, PRIYA, REFUND, Rig, all_tools, now};

/// Calls `name` and asserts it went fine; returns the text.
async fn ok(
    toolbox: &mut triaged::tools::toolbox::Toolbox,
    name: &str,
    args: serde_json::Value,
) -> String {
    let out = toolbox.call(name, &args.to_string()).await;
    assert_eq!(out.status, CallStatus::Ok, "{name}: {}", out.content);
    out.content
}

#[tokio::test]
async fn every_read_tool_answers_from_the_sandbox_with_what_the_model_needs() {
    let rig = Rig::start().await;
    let run = rig.run(REFUND).await;
    let mut t = rig.toolbox(run, Mode::Live, all_tools(REFUND, PRIYA));

    let found = ok(&mut t, "search_conversations", json!({"text": "charged"})).await;
    assert!(found.contains("conversation 215000001"), "{found}");
    assert!(!found.contains("215000002"), "{found}");

    let conv = ok(
        &mut t,
        "get_conversation",
        json!({"conversation_id": REFUND}),
    )
    .await;
    assert!(conv.starts_with("conversation 215000001 · open"), "{conv}");
    assert!(conv.contains(&format!(
        "contact {PRIYA} · Priya Sharma <priya@crumb.example>"
    )));
    assert!(conv.contains("order #A-5531"), "{conv}");
    assert!(conv.contains("The second charge was on the 3rd, same amount: $29."));

    let contact = ok(&mut t, "get_contact", json!({"contact_id": PRIYA})).await;
    assert!(contact.contains("email: priya@crumb.example"), "{contact}");
    assert!(contact.contains("plan=Starter"), "{contact}");
    // Intercom embeds companies by id only; `get_company` takes that id.
    assert!(
        contact.contains("companies: company (6a1f00000000000000000002)"),
        "{contact}"
    );

    let contacts = ok(
        &mut t,
        "search_contacts",
        json!({"email": "daniel@widgets.example"}),
    )
    .await;
    assert!(
        contacts.contains(&format!("contact {DANIEL} · Daniel Novak")),
        "{contacts}"
    );

    let visitor = ok(&mut t, "get_visitor", json!({"user_id": "visitor-7f3a9c"})).await;
    assert!(
        visitor.contains("visitor: 6762f1261bb69f9f2193aa01"),
        "{visitor}"
    );

    let company = ok(
        &mut t,
        "get_company",
        json!({"company_id": "6a1f00000000000000000001"}),
    )
    .await;
    assert!(company.contains("name: Widgets Ltd"), "{company}");
    assert!(company.contains("plan: Enterprise"), "{company}");

    let types = ok(&mut t, "list_ticket_types", json!({})).await;
    assert!(types.contains("Engineering bug (id 810001)"), "{types}");
    let teams = ok(&mut t, "list_teams", json!({})).await;
    assert!(teams.contains("Billing (id 510002)"), "{teams}");
    let admins = ok(&mut t, "list_admins", json!({})).await;
    assert!(admins.contains("Maya Chen (id 991200002)"), "{admins}");
    let tags = ok(&mut t, "list_tags", json!({})).await;
    assert!(tags.contains("refund (id 710001)"), "{tags}");

    let articles = ok(&mut t, "search_articles", json!({"query": "refund"})).await;
    assert!(
        articles.contains("article 910001 · How refunds work"),
        "{articles}"
    );
    assert!(articles.contains("5 to 10 business days"), "{articles}");

    // Reads change nothing and record no action.
    assert!(rig.db.run_actions(run).await.unwrap().is_empty());
}

#[tokio::test]
async fn every_write_tool_changes_the_sandbox_conversation_and_is_recorded_done() {
    let rig = Rig::start().await;
    let run = rig.run(REFUND).await;
    let mut t = rig.toolbox(run, Mode::Live, all_tools(REFUND, PRIYA));

    let reply = "Hi Priya, I have refunded the duplicate charge.";
    let text = ok(
        &mut t,
        "reply_to_conversation",
        json!({"conversation_id": REFUND, "body": reply}),
    )
    .await;
    assert!(text.starts_with("Done (part "), "{text}");
    let replies = rig.bot_parts(REFUND, "comment");
    assert_eq!(replies.len(), 1);
    assert!(replies[0]["body"].as_str().unwrap().contains(reply));

    ok(
        &mut t,
        "add_note",
        json!({"conversation_id": REFUND, "body": "Refund issued in Stripe."}),
    )
    .await;
    let notes = rig.bot_parts(REFUND, "note");
    assert_eq!(notes.len(), 1);
    assert!(
        notes[0]["body"]
            .as_str()
            .unwrap()
            .contains("Refund issued in Stripe.")
    );

    ok(
        &mut t,
        "tag_conversation",
        json!({"conversation_id": REFUND, "tag": "refund"}),
    )
    .await;
    let tags = |rig: &Rig| -> Vec<String> {
        rig.conversation(REFUND)["tags"]["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(tags(&rig), ["refund"]);
    ok(
        &mut t,
        "untag_conversation",
        json!({"conversation_id": REFUND, "tag": "710001"}),
    )
    .await;
    assert!(tags(&rig).is_empty());

    ok(
        &mut t,
        "assign_conversation",
        json!({"conversation_id": REFUND, "team": "Billing"}),
    )
    .await;
    assert_eq!(rig.conversation(REFUND)["team_assignee_id"], 510002);
    ok(
        &mut t,
        "assign_conversation",
        json!({"conversation_id": REFUND, "admin": "Maya Chen"}),
    )
    .await;
    assert_eq!(rig.conversation(REFUND)["admin_assignee_id"], 991200002);

    ok(
        &mut t,
        "snooze_conversation",
        json!({"conversation_id": REFUND, "duration": "3d"}),
    )
    .await;
    let c = rig.conversation(REFUND);
    assert_eq!(c["state"], "snoozed");
    let until = c["snoozed_until"].as_i64().unwrap();
    assert!(
        (until - (now() + 72 * 3600)).abs() <= 60,
        "snoozed until {until}"
    );

    ok(
        &mut t,
        "open_conversation",
        json!({"conversation_id": REFUND}),
    )
    .await;
    assert_eq!(rig.conversation(REFUND)["state"], "open");
    ok(
        &mut t,
        "close_conversation",
        json!({"conversation_id": REFUND}),
    )
    .await;
    assert_eq!(rig.conversation(REFUND)["state"], "closed");

    let ticket = ok(
        &mut t,
        "create_ticket",
        json!({"conversation_id": REFUND, "ticket_type": "Engineering bug",
               "title": "Duplicate charge", "description": "Charged twice on the 3rd."}),
    )
    .await;
    assert!(ticket.starts_with("Created ticket #"), "{ticket}");
    assert!(ticket.contains("Tell the customer its number"), "{ticket}");

    assert_eq!(rig.db.conversation_status(REFUND).await.unwrap(), "active");
    let handed = ok(
        &mut t,
        "hand_off",
        json!({"conversation_id": REFUND, "team": "Engineering escalations",
               "reason": "Charged twice by a retry job: needs engineering."}),
    )
    .await;
    assert!(
        handed.starts_with("Handed off to Engineering escalations"),
        "{handed}"
    );
    assert_eq!(rig.conversation(REFUND)["team_assignee_id"], 510003);
    let notes = rig.bot_parts(REFUND, "note");
    assert!(
        notes.last().unwrap()["body"]
            .as_str()
            .unwrap()
            .contains("Charged twice by a retry job: needs engineering."),
        "{notes:?}"
    );
    assert_eq!(
        rig.db.conversation_status(REFUND).await.unwrap(),
        "handed_off"
    );

    // Every write recorded once, done, with what it made.
    let actions = rig.db.run_actions(run).await.unwrap();
    assert!(
        actions
            .iter()
            .all(|a| a.status == "done" && a.mode == "live"),
        "{actions:?}"
    );
    let tools: Vec<&str> = actions.iter().map(|a| a.tool.as_str()).collect();
    assert_eq!(
        tools,
        [
            "reply_to_conversation",
            "add_note",
            "tag_conversation",
            "untag_conversation",
            "assign_conversation",
            "assign_conversation",
            "snooze_conversation",
            "open_conversation",
            "close_conversation",
            "create_ticket",
            "add_note",
            "assign_conversation",
        ]
    );
    let ticket_ref = actions[9].result_ref.as_deref().unwrap();
    assert!(ticket_ref.contains('#'), "{ticket_ref}");
}

#[tokio::test]
async fn bad_arguments_are_invalid_with_a_message_naming_the_problem() {
    let rig = Rig::start().await;
    let run = rig.run(REFUND).await;
    let mut t = rig.toolbox(run, Mode::Live, all_tools(REFUND, PRIYA));
    let before = rig.sandbox.stats().requests;

    let cases = [
        (
            "get_contact",
            r#"{"contact_id": "x", "email": "a@b.c"}"#,
            "unknown field `email`, expected `contact_id`",
        ),
        ("get_contact", r#"{}"#, "missing field `contact_id`"),
        (
            "get_contact",
            r#"{"contact_id": 42}"#,
            "invalid type: integer `42`, expected a string",
        ),
        (
            "add_note",
            r#"{"conversation_id": "215000001", "body": "#,
            "are not valid JSON",
        ),
        ("list_teams", r#"["Billing"]"#, "must be a JSON object"),
        (
            "snooze_conversation",
            r#"{"conversation_id": "215000001", "duration": "three days"}"#,
            "is not a duration like 3d or 12h",
        ),
    ];
    for (tool, args, expected) in cases {
        let out = t.call(tool, args).await;
        assert_eq!(
            out.status,
            CallStatus::Invalid,
            "{tool} {args}: {}",
            out.content
        );
        assert!(out.content.starts_with("error: "), "{}", out.content);
        assert!(
            out.content.contains(expected),
            "{tool} {args}: {}",
            out.content
        );
    }
    // A schema error also tells the model the fields to send, in words, not a pasted schema.
    let out = t.call("get_contact", "{}").await;
    assert!(
        out.content.contains("`contact_id` (string, required)"),
        "{}",
        out.content
    );
    assert!(!out.content.contains(r#""required""#), "{}", out.content);

    let out = t.call("delete_conversation", "{}").await;
    assert_eq!(out.status, CallStatus::Invalid);
    assert!(
        out.content
            .contains("there is no tool `delete_conversation`"),
        "{}",
        out.content
    );
    assert!(
        out.content
            .contains("Available tools: search_conversations, get_conversation"),
        "{}",
        out.content
    );
    assert!(out.content.contains("hand_off"), "{}", out.content);

    // Nothing reached Intercom and nothing was recorded.
    assert_eq!(rig.sandbox.stats().requests, before);
    assert!(rig.db.run_actions(run).await.unwrap().is_empty());
}
