//! Size caps keep the newest messages (issue 9, acceptance 5): a long conversation read with
//! `get_conversation` over real HTTP keeps its start and its newest parts around an explicit
//! "N parts omitted" line, within the tool result cap, and is never cut from its end.

use serde_json::json;
use triaged::{
    playbook::Mode,
    tools::{
        timeline::{self, Directory},
        toolbox::{CallStatus, RESULT_CAP},
    },
};

use super::{PRIYA, REFUND, Rig, all_tools};

/// About 400 bytes of a customer's message number `n`.
fn message(n: usize) -> String {
    format!(
        "Message {n}: I am still waiting for the refund of the duplicate charge on my Starter plan. \
         I checked my bank statement again this morning and both charges of $29 are still there, \
         with the references 4471-{n} and 4472-{n}. I also tried the billing page, which says the \
         refund was issued, but nothing arrived on my card. Could you check it again please? {n}"
    )
}

#[tokio::test]
async fn a_24_kib_conversation_read_with_get_conversation_keeps_its_newest_part() {
    let rig = Rig::start().await;
    let mut written = 0;
    let mut n = 0;
    while written < 24 * 1024 {
        let text = message(n);
        written += text.len();
        rig.sandbox
            .customer_says(Some(REFUND), PRIYA, &text)
            .await
            .unwrap();
        n += 1;
    }
    let newest = "The newest message: please call me on +44 20 7946 0958 today.";
    rig.sandbox
        .customer_says(Some(REFUND), PRIYA, newest)
        .await
        .unwrap();
    let run = rig.run(REFUND).await;
    let mut t = rig.toolbox(run, Mode::Live, all_tools(REFUND, PRIYA));

    let out = t
        .call(
            "get_conversation",
            &json!({"conversation_id": REFUND}).to_string(),
        )
        .await;
    assert_eq!(out.status, CallStatus::Ok, "{}", out.content);
    assert!(
        out.content.len() <= RESULT_CAP,
        "{} bytes",
        out.content.len()
    );
    assert!(
        out.content.trim_end().ends_with(newest),
        "the newest part ends the result: …{}",
        &out.content[out.content.len().saturating_sub(300)..]
    );
    assert!(out.content.contains("parts omitted"), "{}", out.content);
    assert!(
        !out.content.contains("result cut"),
        "a timeline is never cut from its end"
    );
    assert!(
        out.content.contains("Message 0:"),
        "the start of the thread stays too"
    );
    assert!(
        out.content.contains(&format!("Message {}:", n - 1)),
        "the parts just before the newest stay"
    );
}

/// A conversation whose parts are `texts`, each by the customer.
fn conversation(texts: &[String]) -> triaged::intercom::models::Conversation {
    let parts: Vec<serde_json::Value> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            json!({"type": "conversation_part", "id": format!("{}", 100 + i), "part_type": "comment",
                   "body": text, "created_at": 1_734_537_511 + i as i64,
                   "author": {"type": "user", "id": PRIYA, "name": "Priya Sharma"}})
        })
        .collect();
    serde_json::from_value(json!({
        "type": "conversation", "id": REFUND, "state": "open",
        "conversation_parts": {"type": "conversation_part.list", "conversation_parts": parts}
    }))
    .unwrap()
}

#[test]
fn the_newest_part_stays_even_when_it_alone_is_longer_than_the_cap() {
    let mut texts: Vec<String> = (0..40).map(message).collect();
    let long = format!("START {} END OF THE NEWEST", "x".repeat(3_900));
    texts.push(long);
    let c = conversation(&texts);
    for cap in [2_000, 4_096, 8_192, RESULT_CAP] {
        let out = timeline::render(&c, &Directory::default(), None, cap);
        assert!(out.len() <= cap, "cap {cap}: {} bytes", out.len());
        assert!(
            out.trim_end().ends_with("END OF THE NEWEST"),
            "cap {cap}: {out}"
        );
        assert!(
            out.contains("#140 Priya: START"),
            "cap {cap}: its start too"
        );
        assert!(out.contains("parts omitted"), "cap {cap}");
    }
}

#[test]
fn a_timeline_that_fits_omits_nothing() {
    let texts: Vec<String> = (0..5).map(message).collect();
    let out = timeline::render(
        &conversation(&texts),
        &Directory::default(),
        None,
        RESULT_CAP,
    );
    assert!(!out.contains("omitted"), "{out}");
    for n in 0..5 {
        assert!(out.contains(&format!("Message {n}:")), "{out}");
    }
}
