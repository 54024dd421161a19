//! Writes: replies, notes, state changes, assignment, tags, tickets.

use super::*;

#[tokio::test]
async fn admin_replies_and_notes_append_parts_marked_with_the_app_and_return_only_the_new_part() {
    let sim = Sim::start().await;
    let path = format!("/conversations/{REFUND_CONVERSATION}/reply");
    let reply = sim.post(&path, json!({"type": "admin", "admin_id": MAYA, "message_type": "comment", "body": "Refund issued!"})).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let new = parts(&reply.body);
    assert_eq!(new.len(), 1);
    assert_eq!(new[0]["part_type"], "comment");
    assert_eq!(new[0]["body"], "<p>Refund issued!</p>");
    assert_eq!(new[0]["author"]["id"], MAYA);
    assert_eq!(new[0]["author"]["type"], "admin");
    assert_eq!(new[0]["app_package_code"], APP_PACKAGE_CODE);
    assert!(new[0]["id"].is_string());
    assert_eq!(
        reply.body["waiting_since"],
        Value::Null,
        "an admin reply stops the wait"
    );
    let note = sim.post(&path, json!({"type": "admin", "admin_id": 991200003_u64, "message_type": "note", "body": "<p>checked <b>Stripe</b></p>"})).await;
    assert_eq!(parts(&note.body)[0]["part_type"], "note");
    assert_eq!(parts(&note.body)[0]["body"], "<p>checked <b>Stripe</b></p>");
    let full = sim
        .get(&format!("/conversations/{REFUND_CONVERSATION}"))
        .await;
    assert_eq!(parts(&full.body).len(), 3);
    assert_error(
        &sim.post(
            &path,
            json!({"type": "admin", "admin_id": MAYA, "message_type": "shout", "body": "x"}),
        )
        .await,
        400,
        "parameter_invalid",
    );
    assert_error(
        &sim.post(
            &path,
            json!({"type": "admin", "admin_id": "1", "message_type": "comment", "body": "x"}),
        )
        .await,
        404,
        "admin_not_found",
    );
    assert_error(
        &sim.post(
            &path,
            json!({"type": "admin", "admin_id": MAYA, "message_type": "comment"}),
        )
        .await,
        400,
        "parameter_not_found",
    );
}

#[tokio::test]
async fn manage_closes_snoozes_opens_and_assigns_with_the_right_part_types() {
    let sim = Sim::start().await;
    let path = format!("/conversations/{CHECKOUT_CONVERSATION}/parts");
    let close = sim
        .post(
            &path,
            json!({"message_type": "close", "type": "admin", "admin_id": MAYA, "body": "Fixed"}),
        )
        .await;
    assert_eq!(close.body["state"], "closed");
    assert_eq!(close.body["open"], false);
    assert_eq!(parts(&close.body)[0]["part_type"], "close");
    assert_eq!(parts(&close.body)[0]["state"], "closed");
    let assign = sim.post(&path, json!({"message_type": "assignment", "type": "team", "admin_id": MAYA, "assignee_id": SUPPORT_TEAM})).await;
    assert_eq!(assign.body["team_assignee_id"], 510001);
    assert_eq!(
        assign.body["state"], "open",
        "assigning a closed conversation reopens it"
    );
    assert_eq!(parts(&assign.body)[0]["part_type"], "assign_and_reopen");
    assert_eq!(
        parts(&assign.body)[0]["assigned_to"],
        json!({"type": "team", "id": SUPPORT_TEAM})
    );
    let admin = sim.post(&path, json!({"message_type": "assignment", "type": "admin", "admin_id": MAYA, "assignee_id": TOM})).await;
    assert_eq!(admin.body["admin_assignee_id"], 991200003);
    assert_eq!(parts(&admin.body)[0]["part_type"], "assignment");
    let until = chrono_now() + 3600;
    let snooze = sim
        .post(
            &path,
            json!({"message_type": "snoozed", "admin_id": MAYA, "snoozed_until": until}),
        )
        .await;
    assert_eq!(snooze.body["state"], "snoozed");
    assert_eq!(snooze.body["snoozed_until"], until);
    assert_eq!(parts(&snooze.body)[0]["part_type"], "snoozed");
    let open = sim
        .post(&path, json!({"message_type": "open", "admin_id": MAYA}))
        .await;
    assert_eq!(open.body["state"], "open");
    assert_eq!(open.body["snoozed_until"], Value::Null);
    assert_eq!(parts(&open.body)[0]["part_type"], "open");
    let unassign = sim.post(&path, json!({"message_type": "assignment", "type": "admin", "admin_id": MAYA, "assignee_id": "0"})).await;
    assert_eq!(unassign.body["admin_assignee_id"], 0);
    assert_eq!(unassign.body["team_assignee_id"], 510001, "the team stays");
    assert_eq!(
        parts(&unassign.body)[0]["assigned_to"],
        json!({"type": "nobody_admin", "id": null})
    );
    assert_error(
        &sim.post(
            &path,
            json!({"message_type": "snooze", "admin_id": MAYA, "snoozed_until": until}),
        )
        .await,
        400,
        "parameter_invalid",
    );
    assert_error(
        &sim.post(&path, json!({"message_type": "snoozed", "admin_id": MAYA}))
            .await,
        400,
        "parameter_not_found",
    );
    assert_error(&sim.post(&path, json!({"message_type": "assignment", "type": "team", "admin_id": MAYA, "assignee_id": "42"})).await, 404, "team_not_found");
}

#[tokio::test]
async fn a_contact_reply_to_a_closed_conversation_reopens_it_with_an_open_part() {
    let sim = Sim::start().await;
    let reply = sim
        .post(&format!("/conversations/{CLOSED_CONVERSATION}/reply"), json!({"type": "user", "message_type": "comment", "intercom_user_id": AIKO, "body": "One more question"}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["state"], "open");
    let part = &parts(&reply.body)[0];
    assert_eq!(part["part_type"], "open");
    assert_eq!(part["body"], "<p>One more question</p>");
    assert_eq!(part["author"]["id"], AIKO);
    assert!(reply.body["waiting_since"].is_i64());
    let again = sim.post(&format!("/conversations/{CLOSED_CONVERSATION}/reply"), json!({"type": "user", "message_type": "comment", "email": "aiko@northwind.example", "body": "Hello?"})).await;
    assert_eq!(parts(&again.body)[0]["part_type"], "comment");
}

#[tokio::test]
async fn tags_attach_and_detach_with_a_delete_body() {
    let sim = Sim::start().await;
    let created = sim
        .post("/tags", json!({"name": "Needs-Engineering"}))
        .await;
    let tag_id = created.body["id"].as_str().unwrap().to_owned();
    let same = sim
        .post("/tags", json!({"name": "needs-engineering"}))
        .await;
    assert_eq!(
        same.body["id"],
        tag_id.as_str(),
        "names are case-insensitive"
    );
    let list = sim.get("/tags").await;
    assert!(
        list.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == tag_id.as_str())
    );
    let attach = sim
        .post(
            &format!("/conversations/{CHECKOUT_CONVERSATION}/tags"),
            json!({"id": tag_id, "admin_id": MAYA}),
        )
        .await;
    assert_eq!(
        attach.body,
        json!({"type": "tag", "id": tag_id, "name": "Needs-Engineering"})
    );
    let conv = sim
        .get(&format!("/conversations/{CHECKOUT_CONVERSATION}"))
        .await;
    assert!(
        conv.body["tags"]["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == tag_id.as_str())
    );
    let untag_path = format!("/conversations/{CHECKOUT_CONVERSATION}/tags/{tag_id}");
    let no_body = sim.call(Method::DELETE, &untag_path, None).await;
    assert_error(&no_body, 400, "parameter_invalid");
    let detach = sim
        .call(Method::DELETE, &untag_path, Some(json!({"admin_id": MAYA})))
        .await;
    assert_eq!(detach.status, 200, "{}", detach.body);
    assert_eq!(detach.body["id"], tag_id.as_str());
    let again = sim
        .call(Method::DELETE, &untag_path, Some(json!({"admin_id": MAYA})))
        .await;
    assert_error(&again, 404, "tag_not_found");
    assert_error(
        &sim.post(
            &format!("/conversations/{CHECKOUT_CONVERSATION}/tags"),
            json!({"id": "1", "admin_id": MAYA}),
        )
        .await,
        404,
        "tag_not_found",
    );
}

#[tokio::test]
async fn an_engineering_bug_ticket_is_created_linked_to_its_conversation_and_fetched() {
    let sim = Sim::start().await;
    let types = sim.get("/ticket_types").await;
    let bug = types.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Engineering bug")
        .unwrap()
        .clone();
    assert!(
        bug["ticket_type_attributes"]["ticket_type_attributes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "steps_to_reproduce")
    );
    let created = sim
        .post("/tickets", json!({"ticket_type_id": BUG_TYPE, "contacts": [{"id": "6762f1261bb69f9f21930002"}],
            "ticket_attributes": {"_default_title_": "Checkout 500 with invoices", "_default_description_": "Reproducible", "steps_to_reproduce": "1) cart 2) invoice"},
            "conversation_to_link_id": CHECKOUT_CONVERSATION}))
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(created.body["type"], "ticket");
    assert_eq!(
        created.body["ticket_attributes"]["_default_title_"],
        "Checkout 500 with invoices"
    );
    assert_eq!(
        created.body["linked_objects"]["data"][0]["id"],
        CHECKOUT_CONVERSATION
    );
    assert_ne!(
        created.body["id"], created.body["ticket_id"],
        "the internal id is not the ticket number"
    );
    let id = created.body["id"].as_str().unwrap();
    assert_eq!(
        sim.get(&format!("/tickets/{id}")).await.body["ticket_type"]["id"],
        BUG_TYPE
    );
    let conv = sim
        .get(&format!("/conversations/{CHECKOUT_CONVERSATION}"))
        .await;
    assert_eq!(
        conv.body["linked_objects"]["data"][0],
        json!({"type": "ticket", "id": id, "category": "Back-office"})
    );
    let no_title = sim.post("/tickets", json!({"ticket_type_id": BUG_TYPE, "contacts": [{"id": PRIYA}], "ticket_attributes": {}})).await;
    assert_error(&no_title, 400, "parameter_invalid");
    let two = sim.post("/tickets", json!({"ticket_type_id": BUG_TYPE, "contacts": [{"id": PRIYA}, {"id": AIKO}], "ticket_attributes": {"_default_title_": "x"}})).await;
    assert_error(&two, 400, "parameter_invalid");
}
