//! Build 2, the egress check's two gaps: a reply must not reproduce a teammate's internal note,
//! and numbers inside links are skipped only for the allowed link domains (the help center by
//! default), not on every domain. Each from the customer's side: a teammate's note in the
//! sandbox, the customer writes, the shipped refund playbook (live) runs, and the reply is
//! refused or sent.

use serde_json::json;
use triaged::sandbox::TeammateAction;

use super::{PRIYA, REFUND, customer_visible, live_refund, tool_results};
use crate::{helpers::TestApp, llm_stub::Turn};

/// Maya Chen, a human teammate of the demo workspace.
const MAYA: &str = "991200002";

const NOTE: &str = "Suspected fraud: this card was flagged by the bank twice last month. Do not \
                    refund before Lena has checked the chargeback history.";

/// The refund playbook answered by a model that replies `body` once; Maya noted [`NOTE`] on the
/// conversation before the customer wrote.
async fn reply_after_a_note(body: &str) -> TestApp {
    let (_stub, app) = live_refund(vec![
        Turn::tool(
            "reply_to_conversation",
            json!({"conversation_id": REFUND, "body": body}),
        ),
        Turn::Text("done".into()),
    ])
    .await;
    app.sandbox()
        .teammate(
            REFUND,
            MAYA,
            TeammateAction::Reply {
                note: true,
                body: format!("<p>{NOTE}</p>"),
            },
        )
        .await
        .unwrap();
    app.settle().await;
    app.sandbox()
        .customer_says(Some(REFUND), PRIYA, "Where is my refund?")
        .await
        .unwrap();
    app.settle().await;
    app
}

/// The status of the run's reply (`ok`, `refused:LABEL`) and what the model was told.
async fn reply_result(app: &TestApp) -> (String, String) {
    let results = tool_results(app).await;
    let (_, status, content) = results
        .into_iter()
        .find(|(name, _, _)| name == "reply_to_conversation")
        .expect("the model replied");
    (status, content)
}

#[tokio::test]
async fn a_reply_quoting_a_teammates_internal_note_is_refused_and_never_sent() {
    let app = reply_after_a_note(
        "Hi Priya, about your refund: this card was flagged by the bank twice last month, so we \
         need to check first.",
    )
    .await;
    let (status, told) = reply_result(&app).await;
    assert_eq!(status, "refused:egress_note", "{told}");
    assert!(
        told.contains("internal note") && told.contains("never quote"),
        "{told}"
    );
    assert!(app.bot_replies(REFUND).is_empty());
    assert!(!customer_visible(&app, REFUND).contains("flagged by the bank"));
}

#[tokio::test]
async fn a_reply_sharing_a_few_words_with_a_note_goes_out() {
    // Eight words in a row with the note ("by the bank twice last month, do not"), but across
    // the end of one of its sentences: the model's own prose, not a quote.
    let app = reply_after_a_note(
        "Hi Priya, if you were charged by the bank twice last month, do not worry: we refund \
         duplicate charges within 3-5 business days.",
    )
    .await;
    let (status, told) = reply_result(&app).await;
    assert_eq!(status, "ok", "{told}");
    assert_eq!(app.bot_replies(REFUND).len(), 1);
}

#[tokio::test]
async fn numbers_inside_a_link_to_another_domain_are_checked() {
    let (_stub, app) = live_refund(vec![
        Turn::tool(
            "reply_to_conversation",
            json!({"conversation_id": REFUND,
                   "body": "Track it at https://tracker.example/conversations/215000002 please."}),
        ),
        Turn::Text("done".into()),
    ])
    .await;
    app.sandbox()
        .customer_says(Some(REFUND), PRIYA, "Where is my refund?")
        .await
        .unwrap();
    app.settle().await;
    let (status, told) = reply_result(&app).await;
    assert_eq!(status, "refused:egress_number", "{told}");
    assert!(told.contains("215000002"), "{told}");
    assert!(app.bot_replies(REFUND).is_empty());
}
