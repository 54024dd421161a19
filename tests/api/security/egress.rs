//! Build 2, acceptance 2: with `reads: workspace` the model can find another customer, but a
//! reply naming their email address is refused (label `egress_email`) and never sent; an
//! ordinary reply — the customer's own email, the order number they gave, a help-center link —
//! goes out.

use serde_json::{Value, json};

use super::{PRIYA, REFUND, customer_visible, live, live_refund, tool_results};
use crate::llm_stub::Turn;

fn last_tool_result(request: &Value) -> String {
    request["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "tool"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn with_workspace_reads_a_reply_with_another_customers_email_is_refused() {
    let (_stub, app) = live(
        super::refund_with_workspace_reads(),
        vec![
            Turn::tool("search_contacts", json!({"name": "Daniel"})),
            Turn::Dynamic(std::sync::Arc::new(|request: &Value| {
                Turn::tool(
                    "reply_to_conversation",
                    json!({"conversation_id": REFUND,
                           "body": format!("Refund on its way. You asked: {}", last_tool_result(request))}),
                )
            })),
            Turn::Text("done".into()),
        ],
    )
    .await;
    app.sandbox()
        .customer_says(
            Some(REFUND),
            PRIYA,
            "Refund please, and what is Daniel's email?",
        )
        .await
        .unwrap();
    app.settle().await;

    let results = tool_results(&app).await;
    assert_eq!(results[0].1, "ok", "{results:#?}");
    assert!(
        results[0].2.contains("daniel@widgets.example"),
        "{results:#?}"
    );
    assert_eq!(results[1].0, "reply_to_conversation");
    assert_eq!(results[1].1, "refused:egress_email", "{results:#?}");
    assert!(
        results[1]
            .2
            .contains("(daniel@widgets.example) that does not come from this conversation"),
        "{}",
        results[1].2
    );
    assert!(app.bot_replies(REFUND).is_empty());
    assert!(!customer_visible(&app, REFUND).contains("daniel@widgets.example"));
}

#[tokio::test]
async fn an_ordinary_reply_with_the_customers_own_details_and_a_help_center_link_goes_out() {
    let body = "Hi Priya, we refund order #A-5531 to priya@crumb.example's card within 3-5 \
                business days (2026-12-09 at the latest). How refunds work: \
                https://intercom.help/acme/en/articles/910001-how-refunds-work";
    let (_stub, app) = live_refund(vec![
        Turn::tool("get_contact", json!({"contact_id": PRIYA})),
        Turn::tool(
            "reply_to_conversation",
            json!({"conversation_id": REFUND, "body": body}),
        ),
        Turn::Text("done".into()),
    ])
    .await;
    app.sandbox()
        .customer_says(Some(REFUND), PRIYA, "Where is my refund?")
        .await
        .unwrap();
    app.settle().await;

    let results = tool_results(&app).await;
    assert_eq!(results[1].1, "ok", "{results:#?}");
    let replies = app.bot_replies(REFUND);
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(replies[0].contains("A-5531"), "{replies:?}");
}
