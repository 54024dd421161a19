//! The contract checks: the validator can fail, and every body the sandbox serves passes it.

use reqwest::Method;

use super::*;

use crate::sandbox::{
    AIKO, BUG_TYPE, CHECKOUT_CONVERSATION, CLOSED_CONVERSATION, MAYA, MERGED_AIKO, PRIYA,
    REFUND_CONVERSATION, SUPPORT_TEAM, Sim, receiver,
};

#[test]
fn the_validator_rejects_a_wrong_state_and_a_missing_required_field() {
    let path = "/conversations/{conversation_id}";
    let good = json!({"type": "conversation", "id": "1", "state": "open", "admin_assignee_id": 0});
    assert_eq!(validate_response(path, "GET", 200, &good), Ok(()));
    let wrong_state = json!({"type": "conversation", "id": "1", "state": 42});
    assert!(validate_response(path, "GET", 200, &wrong_state).is_err());
    let not_in_enum = json!({"type": "conversation", "id": "1", "state": "pending"});
    assert!(validate_response(path, "GET", 200, &not_in_enum).is_err());
    let integer_part_id = json!({"type": "conversation", "id": "1", "conversation_parts": {
        "type": "conversation_part.list", "conversation_parts": [{"type": "conversation_part", "id": 1}], "total_count": 1}});
    assert!(
        validate_response(path, "GET", 200, &integer_part_id).is_err(),
        "part ids are strings per the schema"
    );
    let no_errors = json!({"type": "error.list", "request_id": null});
    assert!(
        validate_response(path, "GET", 404, &no_errors).is_err(),
        "errors is required"
    );
    let nullable_ok = json!({"type": "conversation", "id": "1", "title": null, "ai_agent": null, "company": null});
    assert_eq!(validate_response(path, "GET", 200, &nullable_ok), Ok(()));
}

#[test]
fn urls_map_to_their_spec_templates() {
    assert_eq!(
        spec_path_for("/companies/scroll?scroll_param=x").as_deref(),
        Some("/companies/scroll")
    );
    assert_eq!(
        spec_path_for("/companies/123").as_deref(),
        Some("/companies/{company_id}")
    );
    assert_eq!(
        spec_path_for("/conversations/1/tags/2").as_deref(),
        Some("/conversations/{conversation_id}/tags/{tag_id}")
    );
    assert_eq!(spec_path_for("/_sandbox/stats"), None);
}

#[test]
fn request_validation_accepts_a_real_reply_body_and_rejects_a_wrong_one() {
    let path = "/conversations/{conversation_id}/reply";
    let admin = json!({"message_type": "comment", "type": "admin", "admin_id": MAYA, "body": "Hi"});
    assert_eq!(validate_request(path, "POST", &admin), Ok(()));
    let wrong = json!({"message_type": "comment", "type": "admin", "admin_id": MAYA, "body": 5});
    assert!(validate_request(path, "POST", &wrong).is_err());
    let search = json!({"query": {"field": "state", "operator": "=", "value": "open"}, "pagination": {"per_page": 5}});
    assert_eq!(
        validate_request("/conversations/search", "POST", &search),
        Ok(())
    );
}

/// Calls the sandbox and validates the answer against `spec_path`.
async fn checked(
    sim: &Sim,
    method: Method,
    url: &str,
    spec_path: &str,
    body: Option<Value>,
) -> Value {
    let a = sim.call(method.clone(), url, body).await;
    if let Err(e) = validate_response(spec_path, method.as_str(), a.status, &a.body) {
        panic!("{method} {url} ({}): {e}\n{}", a.status, a.body);
    }
    a.body
}

#[tokio::test]
async fn every_body_the_sandbox_serves_matches_the_spec() {
    let (url, got) = receiver().await;
    let sim = Sim::start_with(|c| c.webhook_url = Some(url)).await;
    sim.sandbox.set_scroll_page_size(2);
    let g = Method::GET;
    let p = Method::POST;
    checked(&sim, g.clone(), "/me", "/me", None).await;
    checked(&sim, g.clone(), "/admins", "/admins", None).await;
    checked(
        &sim,
        g.clone(),
        &format!("/admins/{MAYA}"),
        "/admins/{admin_id}",
        None,
    )
    .await;
    checked(&sim, g.clone(), "/admins/1", "/admins/{admin_id}", None).await;
    checked(&sim, g.clone(), "/teams", "/teams", None).await;
    checked(
        &sim,
        g.clone(),
        "/conversations?per_page=2",
        "/conversations",
        None,
    )
    .await;
    checked(
        &sim,
        p.clone(),
        "/conversations/search",
        "/conversations/search",
        Some(json!({"query": {"field": "open", "operator": "=", "value": true}})),
    )
    .await;
    for id in [
        REFUND_CONVERSATION,
        CHECKOUT_CONVERSATION,
        CLOSED_CONVERSATION,
    ] {
        checked(
            &sim,
            g.clone(),
            &format!("/conversations/{id}"),
            "/conversations/{conversation_id}",
            None,
        )
        .await;
        checked(
            &sim,
            g.clone(),
            &format!("/conversations/{id}?display_as=plaintext"),
            "/conversations/{conversation_id}",
            None,
        )
        .await;
    }
    checked(
        &sim,
        g.clone(),
        "/conversations/999",
        "/conversations/{conversation_id}",
        None,
    )
    .await;
    let reply = "/conversations/{conversation_id}/reply";
    checked(
        &sim,
        p.clone(),
        &format!("/conversations/{REFUND_CONVERSATION}/reply"),
        reply,
        Some(
            json!({"type": "admin", "admin_id": MAYA, "message_type": "comment", "body": "On it"}),
        ),
    )
    .await;
    checked(&sim, p.clone(), &format!("/conversations/{CLOSED_CONVERSATION}/reply"), reply,
        Some(json!({"type": "user", "message_type": "comment", "intercom_user_id": AIKO, "body": "Back again"}))).await;
    let parts = "/conversations/{conversation_id}/parts";
    let c = format!("/conversations/{CHECKOUT_CONVERSATION}/parts");
    for body in [
        json!({"message_type": "assignment", "type": "team", "admin_id": MAYA, "assignee_id": SUPPORT_TEAM}),
        json!({"message_type": "assignment", "type": "admin", "admin_id": MAYA, "assignee_id": "0"}),
        json!({"message_type": "snoozed", "admin_id": MAYA, "snoozed_until": 4_000_000_000_i64}),
        json!({"message_type": "open", "admin_id": MAYA}),
        json!({"message_type": "close", "type": "admin", "admin_id": MAYA, "body": "Done"}),
    ] {
        checked(&sim, p.clone(), &c, parts, Some(body)).await;
    }
    checked(
        &sim,
        p.clone(),
        &format!("/conversations/{CHECKOUT_CONVERSATION}/tags"),
        "/conversations/{conversation_id}/tags",
        Some(json!({"id": "710002", "admin_id": MAYA})),
    )
    .await;
    checked(
        &sim,
        Method::DELETE,
        &format!("/conversations/{CHECKOUT_CONVERSATION}/tags/710002"),
        "/conversations/{conversation_id}/tags/{tag_id}",
        Some(json!({"admin_id": MAYA})),
    )
    .await;
    checked(
        &sim,
        Method::DELETE,
        &format!("/conversations/{CHECKOUT_CONVERSATION}/tags/710002"),
        "/conversations/{conversation_id}/tags/{tag_id}",
        Some(json!({"admin_id": MAYA})),
    )
    .await;
    checked(&sim, g.clone(), "/tags", "/tags", None).await;
    checked(
        &sim,
        p.clone(),
        "/tags",
        "/tags",
        Some(json!({"name": "escalated"})),
    )
    .await;
    checked(&sim, g.clone(), "/ticket_types", "/ticket_types", None).await;
    let ticket = checked(&sim, p.clone(), "/tickets", "/tickets", Some(json!({"ticket_type_id": BUG_TYPE, "contacts": [{"id": PRIYA}],
        "ticket_attributes": {"_default_title_": "Checkout 500", "_default_description_": "Steps…"}, "conversation_to_link_id": CHECKOUT_CONVERSATION}))).await;
    checked(
        &sim,
        g.clone(),
        &format!("/tickets/{}", ticket["id"].as_str().unwrap()),
        "/tickets/{ticket_id}",
        None,
    )
    .await;
    checked(
        &sim,
        g.clone(),
        &format!("/conversations/{CHECKOUT_CONVERSATION}"),
        "/conversations/{conversation_id}",
        None,
    )
    .await;
    checked(
        &sim,
        g.clone(),
        &format!("/contacts/{AIKO}"),
        "/contacts/{contact_id}",
        None,
    )
    .await;
    checked(
        &sim,
        g.clone(),
        &format!("/contacts/{MERGED_AIKO}"),
        "/contacts/{contact_id}",
        None,
    )
    .await;
    checked(&sim, p.clone(), "/contacts/search", "/contacts/search",
        Some(json!({"query": {"field": "role", "operator": "=", "value": "user"}, "pagination": {"per_page": 2}}))).await;
    checked(
        &sim,
        g.clone(),
        "/visitors?user_id=visitor-7f3a9c",
        "/visitors",
        None,
    )
    .await;
    checked(
        &sim,
        g.clone(),
        "/visitors?user_id=nobody",
        "/visitors",
        None,
    )
    .await;
    checked(
        &sim,
        g.clone(),
        "/companies/6a1f00000000000000000001",
        "/companies/{company_id}",
        None,
    )
    .await;
    checked(
        &sim,
        g.clone(),
        "/companies/nope",
        "/companies/{company_id}",
        None,
    )
    .await;
    let first = checked(
        &sim,
        g.clone(),
        "/companies/scroll",
        "/companies/scroll",
        None,
    )
    .await;
    let param = first["scroll_param"].as_str().unwrap().to_owned();
    checked(
        &sim,
        g.clone(),
        &format!("/companies/scroll?scroll_param={param}"),
        "/companies/scroll",
        None,
    )
    .await;
    checked(
        &sim,
        g.clone(),
        &format!("/companies/scroll?scroll_param={param}"),
        "/companies/scroll",
        None,
    )
    .await;
    checked(
        &sim,
        g.clone(),
        "/articles/search?phrase=refund",
        "/articles/search",
        None,
    )
    .await;
    // Unauthenticated answers are error lists too.
    let resp = sim
        .client
        .get(format!("{}/admins", sim.base))
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(validate_response("/admins", "GET", 401, &body), Ok(()));
    // Notification items are conversations too.
    sim.sandbox
        .customer_says(None, PRIYA, "A new question")
        .await
        .unwrap();
    sim.sandbox.flush_webhooks().await;
    let got = got.lock().unwrap().clone();
    assert!(got.len() >= 7);
    for r in got {
        let item = &r.json()["data"]["item"];
        assert_eq!(
            validate_response("/conversations/{conversation_id}", "GET", 200, item),
            Ok(())
        );
    }
}
