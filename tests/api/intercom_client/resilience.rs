//! The company scroll across an expiry, a lost write response, and the start-up check.

use std::{collections::BTreeSet, time::Duration};

use secrecy::SecretString;
use triaged::{
    ids::{AdminId, ConversationId},
    intercom::{IntercomClient, IntercomError, check_startup, requests::AdminReply},
    sandbox::Faults,
};

use super::{bot, client, sandbox_parts};
use crate::sandbox::{REFUND_CONVERSATION, Sim};

const COMPANIES: [&str; 3] = [
    "6a1f00000000000000000001",
    "6a1f00000000000000000002",
    "6a1f00000000000000000003",
];

#[tokio::test]
async fn a_scroll_paused_past_its_expiry_restarts_and_yields_every_company_exactly_once() {
    let sim = Sim::start().await;
    sim.sandbox.set_scroll_page_size(1);
    let client = client(&sim);
    let mut scroll = client.scroll_companies().unwrap();
    let mut yielded = Vec::new();
    yielded.extend(scroll.next_page().await.unwrap().unwrap());
    assert_eq!(yielded.len(), 1);

    // While it is open: a second scroll in this process is refused at once, without a request…
    let before = sim.sandbox.stats().requests;
    assert!(matches!(
        client.scroll_companies(),
        Err(IntercomError::RetryLater { .. })
    ));
    // …and another process's scroll gets Intercom's refusal as is.
    let other = self::client(&sim);
    let refused = other.scroll_companies().unwrap().next_page().await;
    assert!(
        matches!(&refused, Err(IntercomError::Invalid { status: 400, code, .. }) if code == "scroll_exists"),
        "{refused:?}"
    );
    assert_eq!(sim.sandbox.stats().requests, before + 1);

    // The caller pauses longer than the scroll_param lives.
    sim.sandbox.advance_clock(Duration::from_secs(61));
    while let Some(page) = scroll.next_page().await.unwrap() {
        yielded.extend(page);
    }
    let ids: Vec<&str> = yielded.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids.len(), 3, "no duplicates: {ids:?}");
    assert_eq!(
        ids.iter().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from(COMPANIES)
    );
    // First page, the refused second scroll, the expired param, then 3 pages and the empty end.
    assert_eq!(
        sim.sandbox.stats().per_endpoint["GET /companies/scroll"],
        1 + 1 + 1 + 4
    );
    drop(scroll);
    assert!(client.scroll_companies().is_ok(), "the slot is free again");
}

#[tokio::test]
async fn a_write_whose_response_is_lost_is_an_unknown_outcome_and_is_not_retried() {
    let sim = Sim::start().await;
    let client = client(&sim);
    let before = sandbox_parts(&sim, REFUND_CONVERSATION).len();
    sim.sandbox.set_faults(Faults {
        drop_after_write: 1,
        ..Faults::default()
    });
    let result = client
        .reply(
            &ConversationId::from(REFUND_CONVERSATION),
            &AdminReply::comment(bot(&sim), "Refund issued."),
        )
        .await;
    assert!(
        matches!(result, Err(IntercomError::UnknownOutcome { .. })),
        "{result:?}"
    );
    let parts = sandbox_parts(&sim, REFUND_CONVERSATION);
    assert_eq!(parts.len(), before + 1, "applied exactly once");
    assert!(
        parts[before]["body"]
            .as_str()
            .unwrap()
            .contains("Refund issued.")
    );
    assert_eq!(sim.sandbox.stats().dropped_responses, 1);
    let stats = client.stats();
    assert_eq!((stats.requests, stats.retries), (1, 0));
}

#[tokio::test]
async fn the_startup_check_accepts_the_sandbox_and_names_what_to_fix_otherwise() {
    let sim = Sim::start().await;
    let client = client(&sim);
    let identity = check_startup(&client, client.admin_id()).await.unwrap();
    assert_eq!(identity.admin_id, bot(&sim));
    assert_eq!(identity.token_admin_id, bot(&sim));
    assert_eq!(identity.admin_name.as_deref(), Some("Triage Bot"));
    assert_eq!(identity.app_id_code.as_deref(), Some("sandbox1"));

    let bad = IntercomClient::builder(
        sim.sandbox.base_url(),
        SecretString::from("not-the-token".to_owned()),
    )
    .build()
    .unwrap();
    let line = check_startup(&bad, None).await.unwrap_err().to_string();
    assert!(
        line.starts_with("INTERCOM_ACCESS_TOKEN was refused by http://127.0.0.1:"),
        "{line}"
    );
    assert!(line.contains("401 unauthorized"), "{line}");
    assert!(
        !line.contains('\n') && !line.contains("not-the-token"),
        "{line}"
    );

    let line = check_startup(&client, Some(&AdminId::from("42")))
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        line,
        format!(
            "INTERCOM_ADMIN_ID 42 is not an admin of workspace sandbox1 ({})",
            sim.sandbox.base_url()
        )
    );
}
