//! The 2.16 contract of what the client really puts on the wire: every request body it sends
//! while exercising every operation (captured by a recording proxy) validates against its
//! operation's request schema, and every answer it gets against the response schema.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{client_at, operations::exercise_every_operation, recording_proxy};
use crate::{
    contract::{spec_path_for, validate_request, validate_served},
    sandbox::{MAYA, Sim},
};

#[tokio::test]
async fn every_body_the_client_sends_and_receives_matches_the_2_16_spec() {
    let sim = Sim::start().await;
    let (proxy, log) = recording_proxy(sim.sandbox.base_url()).await;
    let client = client_at(&sim, &proxy);
    exercise_every_operation(&sim, &client).await;

    let log = log.lock().unwrap().clone();
    assert_eq!(log.len() as u64, client.stats().requests);
    let mut failures = Vec::new();
    let mut with_body = BTreeSet::new();
    for x in &log {
        let path = x.url.split('?').next().unwrap();
        let template =
            spec_path_for(path).unwrap_or_else(|| panic!("{} is not in the spec", x.url));
        if x.request.is_empty() {
            assert!(x.method == "GET", "{} {} sent no body", x.method, x.url);
        } else {
            assert_ne!(x.method, "GET", "a GET with a body: {}", x.url);
            let body: Value = serde_json::from_slice(&x.request).expect("request bodies are JSON");
            if let Err(e) = validate_request(&template, &x.method, &body) {
                failures.push(format!("request {} {}: {e}\n{body}", x.method, x.url));
            }
            with_body.insert(format!("{} {template}", x.method));
        }
        if let Err(e) = validate_served(&x.method, path, x.status, &x.response) {
            failures.push(format!(
                "response {} {} ({}): {e}",
                x.method, x.url, x.status
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let expected: BTreeSet<String> = [
        "POST /conversations/search",
        "POST /conversations/{conversation_id}/reply",
        "POST /conversations/{conversation_id}/parts",
        "POST /conversations/{conversation_id}/tags",
        "DELETE /conversations/{conversation_id}/tags/{tag_id}",
        "POST /tags",
        "POST /tickets",
        "POST /contacts/search",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(with_body, expected, "every kind of body was checked");
}

#[test]
fn deliberately_wrong_request_bodies_fail_validation() {
    let parts = "/conversations/{conversation_id}/parts";
    let good = json!({"message_type": "snoozed", "admin_id": MAYA, "snoozed_until": 1_734_541_187});
    assert_eq!(validate_request(parts, "POST", &good), Ok(()));
    let snooze_typo =
        json!({"message_type": "snooze", "admin_id": MAYA, "snoozed_until": 1_734_541_187});
    assert!(validate_request(parts, "POST", &snooze_typo).is_err());
    let untag = "/conversations/{conversation_id}/tags/{tag_id}";
    assert_eq!(
        validate_request(untag, "DELETE", &json!({"admin_id": MAYA})),
        Ok(())
    );
    assert!(
        validate_request(untag, "DELETE", &json!({})).is_err(),
        "untagging needs admin_id"
    );
    let ticket = json!({"ticket_type_id": "810001", "contacts": "6762f1261bb69f9f21930001"});
    assert!(validate_request("/tickets", "POST", &ticket).is_err());
}
