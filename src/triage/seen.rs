//! The bot's watermark, pure: which parts of a conversation are newer than the newest part the
//! bot has seen and acted upon, which of them the customer wrote, and whether a run left a
//! customer message behind it (the conversation is then due again).

use super::rules::{Me, by_bot};
use crate::{
    intercom::models::{Conversation, Part, PartType},
    tools::html,
};

/// The watermark value of a snapshot with no parts (only the first message).
pub const SOURCE_ONLY: &str = "0";

/// What is new to the bot in a conversation.
#[derive(Debug, Default)]
pub struct Unseen<'a> {
    /// The conversation's first message is new too (the bot never acted on it).
    pub source: bool,
    /// Parts newer than the watermark, oldest first.
    pub parts: Vec<&'a Part>,
}

/// The watermark a run sets from its snapshot: its newest part, or [`SOURCE_ONLY`].
pub fn newest_part(conversation: &Conversation) -> String {
    conversation
        .parts()
        .last()
        .map_or_else(|| SOURCE_ONLY.to_owned(), |p| p.id.clone())
}

/// Whether part `id` (at `index` in `parts`) is newer than `watermark`: by position when the
/// watermark is among the parts, else by Intercom's numeric part ids.
fn is_newer(parts: &[Part], index: usize, watermark: &str) -> bool {
    if let Some(at) = parts.iter().position(|p| p.id == watermark) {
        return index > at;
    }
    match (parts[index].id.parse::<u128>(), watermark.parse::<u128>()) {
        (Ok(id), Ok(mark)) => id > mark,
        _ => true,
    }
}

/// The later of two watermarks (either may be missing): the conversation's, and the snapshot a
/// reply of an unfinished run answered.
pub fn later(conversation: &Conversation, a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => {
            let parts = conversation.parts();
            let b_is_newer = parts
                .iter()
                .position(|p| p.id == b)
                .is_some_and(|i| is_newer(parts, i, &a))
                || (a == SOURCE_ONLY && b != SOURCE_ONLY);
            Some(if b_is_newer { b } else { a })
        }
        (a, b) => a.or(b),
    }
}

/// A reply whose outcome a crash left unknown, as it would show in the conversation.
#[derive(Debug, Clone)]
pub struct Unconfirmed {
    /// The snapshot the reply's run answered.
    pub snapshot: String,
    /// The reply's plain text.
    pub text: String,
    /// Unix seconds no part of it can be older than (when it was claimed, less the clock slack).
    pub since: i64,
}

/// The snapshot of the newest unconfirmed reply that is in the conversation after all: a comment
/// by the bot with its text, created no earlier than it was claimed. That reply answered its
/// snapshot, though its run never recorded it (see [`later`]); one that never landed answered
/// nothing.
pub fn landed_snapshot(
    conversation: &Conversation,
    me: &Me,
    replies: &[Unconfirmed],
) -> Option<String> {
    let parts = conversation.parts();
    replies
        .iter()
        .find(|reply| {
            let want = normalize(&reply.text);
            parts.iter().any(|p| {
                p.part_type == PartType::Comment
                    && by_bot(p, me)
                    && p.created_at.is_none_or(|t| t >= reply.since)
                    && p.body
                        .as_deref()
                        .is_some_and(|b| normalize(&html::to_text(b)) == want)
            })
        })
        .map(|reply| reply.snapshot.clone())
}

fn normalize(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The parts newer than `watermark`. Without a watermark (no run finished on the conversation yet),
/// everything after the bot's newest reply is new, and the first message too when it never
/// replied.
pub fn unseen<'a>(conversation: &'a Conversation, watermark: Option<&str>, me: &Me) -> Unseen<'a> {
    let parts = conversation.parts();
    match watermark {
        Some(mark) => Unseen {
            source: false,
            parts: (0..parts.len())
                .filter(|&i| is_newer(parts, i, mark))
                .map(|i| &parts[i])
                .collect(),
        },
        None => {
            // Only a reply answers; a note or an assignment of an interrupted run does not.
            let after = parts
                .iter()
                .rposition(|p| by_bot(p, me) && p.part_type == PartType::Comment);
            Unseen {
                source: after.is_none(),
                parts: parts[after.map_or(0, |i| i + 1)..].iter().collect(),
            }
        }
    }
}

/// Whether a part was written by a customer (a user, lead or contact, through any app but ours).
pub fn by_customer(part: &Part, me: &Me) -> bool {
    part.author.as_ref().is_some_and(|a| a.kind.is_customer()) && !by_bot(part, me)
}

impl Unseen<'_> {
    /// Whether the customer wrote anything the bot has not seen.
    pub fn has_customer_part(&self, conversation: &Conversation, me: &Me) -> bool {
        (self.source && source_by_customer(conversation))
            || self.parts.iter().any(|p| by_customer(p, me))
    }

    /// The text of every new customer message, oldest first, as plain text.
    pub fn customer_texts(&self, conversation: &Conversation, me: &Me) -> Vec<String> {
        let source = conversation
            .source
            .as_ref()
            .filter(|_| self.source && source_by_customer(conversation))
            .and_then(|s| s.body.as_deref());
        source
            .into_iter()
            .chain(
                self.parts
                    .iter()
                    .filter(|p| by_customer(p, me))
                    .filter_map(|p| p.body.as_deref()),
            )
            .map(html::to_text)
            .filter(|t| !t.trim().is_empty())
            .collect()
    }
}

fn source_by_customer(conversation: &Conversation) -> bool {
    conversation
        .source
        .as_ref()
        .and_then(|s| s.author.as_ref())
        .is_none_or(|a| a.kind.is_customer())
}

/// Whether `latest` (the newest snapshot a run saw) holds a customer part newer than the watermark
/// the run leaves, or a notification the run covered carried a customer part `latest` does not
/// have yet (Intercom's read lagging behind its webhook): either way the conversation is due again.
pub fn due_again(latest: &Conversation, watermark: &str, covered: &[Vec<Part>], me: &Me) -> bool {
    let parts = latest.parts();
    let newer =
        (0..parts.len()).any(|i| is_newer(parts, i, watermark) && by_customer(&parts[i], me));
    let missing = covered
        .iter()
        .flatten()
        .any(|p| by_customer(p, me) && !parts.iter().any(|q| q.id == p.id));
    newer || missing
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::AdminId;

    fn me() -> Me {
        Me {
            admin: AdminId::from("99"),
            package_code: None,
        }
    }

    fn part(id: &str, author_type: &str, author: &str, body: &str) -> serde_json::Value {
        serde_json::json!({"type": "conversation_part", "id": id, "part_type": "comment",
            "body": body, "author": {"type": author_type, "id": author}})
    }

    fn conversation(parts: serde_json::Value) -> Conversation {
        serde_json::from_value(serde_json::json!({
            "type": "conversation", "id": "1", "state": "open",
            "source": {"type": "conversation", "body": "<p>Hi</p>",
                       "author": {"type": "user", "id": "u1"}},
            "conversation_parts": {"type": "conversation_part.list", "conversation_parts": parts}
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn every_customer_message_after_the_watermark_is_new_in_order() {
        let c = conversation(serde_json::json!([
            part("10", "user", "u1", "I would like a refund"),
            part("11", "bot", "99", "On it"),
            part("12", "user", "u1", "thanks!"),
        ]));
        let fresh = unseen(&c, Some(SOURCE_ONLY), &me());
        assert_eq!(
            fresh.customer_texts(&c, &me()),
            ["I would like a refund", "thanks!"]
        );
        let after_reply = unseen(&c, Some("11"), &me());
        assert_eq!(after_reply.customer_texts(&c, &me()), ["thanks!"]);
        assert!(!unseen(&c, Some("12"), &me()).has_customer_part(&c, &me()));
        // A watermark no longer among the parts compares by id.
        assert_eq!(unseen(&c, Some("11"), &me()).parts.len(), 1);
        let none = unseen(&c, None, &me());
        assert!(!none.source);
        assert_eq!(none.customer_texts(&c, &me()), ["thanks!"]);
        let new = conversation(serde_json::json!([]));
        let first = unseen(&new, None, &me());
        assert_eq!(first.customer_texts(&new, &me()), ["Hi"]);
        assert_eq!(newest_part(&new), SOURCE_ONLY);
    }

    #[test]
    fn the_later_watermark_wins_whichever_source_it_comes_from() {
        let c = conversation(serde_json::json!([
            part("10", "user", "u1", "one"),
            part("11", "user", "u1", "two"),
            part("12", "bot", "99", "answer to one"),
        ]));
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(later(&c, s("10"), s("11")), s("11"));
        assert_eq!(later(&c, s("11"), s("10")), s("11"));
        assert_eq!(later(&c, None, s("10")), s("10"));
        assert_eq!(later(&c, s(SOURCE_ONLY), s("10")), s("10"));
        assert_eq!(later(&c, s("10"), s(SOURCE_ONLY)), s("10"));
        assert_eq!(later(&c, None, None), None);
        // The reply answered the snapshot ending at "10": "two" is still new to the bot.
        let mark = later(&c, None, s("10"));
        assert_eq!(
            unseen(&c, mark.as_deref(), &me()).customer_texts(&c, &me()),
            ["two"]
        );
    }

    #[test]
    fn an_unconfirmed_reply_counts_only_once_it_is_in_the_conversation() {
        let mut reply = part("12", "admin", "99", "<p>answer to one</p>");
        reply["created_at"] = serde_json::json!(1_000);
        let c = conversation(serde_json::json!([
            part("10", "user", "u1", "one"),
            part("11", "user", "u1", "two"),
            reply,
        ]));
        let unconfirmed = |text: &str, since| Unconfirmed {
            snapshot: "10".to_owned(),
            text: text.to_owned(),
            since,
        };
        let landed = [unconfirmed("answer  to one", 990)];
        assert_eq!(landed_snapshot(&c, &me(), &landed), Some("10".to_owned()));
        // Never sent, or the same words sent before this write was claimed.
        assert_eq!(
            landed_snapshot(&c, &me(), &[unconfirmed("other", 990)]),
            None
        );
        assert_eq!(
            landed_snapshot(&c, &me(), &[unconfirmed("answer to one", 1_001)]),
            None
        );
        // The newest reply that landed wins.
        let newest = [unconfirmed("other", 990), unconfirmed("answer to one", 990)];
        assert_eq!(landed_snapshot(&c, &me(), &newest), Some("10".to_owned()));
    }

    #[test]
    fn a_customer_part_past_the_snapshot_or_missing_from_it_makes_the_conversation_due() {
        let c = conversation(serde_json::json!([
            part("10", "user", "u1", "one"),
            part("11", "bot", "99", "answer"),
        ]));
        assert!(!due_again(&c, "10", &[], &me()));
        let later = conversation(serde_json::json!([
            part("10", "user", "u1", "one"),
            part("11", "bot", "99", "answer"),
            part("12", "user", "u1", "two"),
        ]));
        assert!(due_again(&later, "10", &[], &me()));
        let lagging: Part = serde_json::from_value(part("13", "user", "u1", "three"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(due_again(&c, "11", &[vec![lagging]], &me()));
    }
}
