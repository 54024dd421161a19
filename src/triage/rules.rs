//! Pure rules of the triage worker: what the bot must not act on (its own echoes, conversations a
//! human has taken over), and the facts playbooks match on.

use serde::Deserialize;

use crate::{
    ids::AdminId,
    intercom::models::{AuthorType, Contact, Conversation, Part, PartType},
    playbook::{ContactFacts, ConversationState, MatchContext},
    tools::html,
};

/// The parts carried in a webhook's `data.item` (Intercom sends only the new one).
#[derive(Debug, Deserialize)]
struct Payload {
    data: PayloadData,
}

#[derive(Debug, Deserialize)]
struct PayloadData {
    item: PayloadItem,
}

#[derive(Debug, Deserialize)]
struct PayloadItem {
    #[serde(default)]
    conversation_parts: Option<crate::intercom::models::PartList>,
}

/// Who the bot is: its admin, and this app's package code when known (configured, or learned from
/// a part the bot admin wrote through the API). Parts created by *other* apps are not the bot's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Me {
    pub admin: AdminId,
    pub package_code: Option<String>,
}

/// The parts a notification carries (Intercom sends only the new ones), or none when the body
/// does not parse.
pub fn payload_parts(raw_body: &[u8]) -> Vec<Part> {
    serde_json::from_slice::<Payload>(raw_body)
        .ok()
        .and_then(|p| p.data.item.conversation_parts)
        .map(|l| l.conversation_parts)
        .unwrap_or_default()
}

/// Whether a notification is the echo of the bot's own write: every part it carries was written
/// by the bot admin or created by this app. Intercom echoes bot replies on both
/// `conversation.admin.replied` and `conversation.operator.replied`.
pub fn is_own_echo(raw_body: &[u8], me: &Me) -> bool {
    let parts = payload_parts(raw_body);
    !parts.is_empty() && parts.iter().all(|p| by_bot(p, me))
}

/// Whether the bot wrote the part: its admin is the author, or this app created it.
pub fn by_bot(part: &Part, me: &Me) -> bool {
    part.author.as_ref().and_then(|a| a.id.as_deref()) == Some(me.admin.as_str())
        || (me.package_code.is_some() && part.app_package_code == me.package_code)
}

/// A teammate's part (an admin other than the bot), whatever integration it came through.
fn by_human_teammate(part: &Part, me: &Me) -> bool {
    !by_bot(part, me)
        && part
            .author
            .as_ref()
            .is_some_and(|a| a.kind == AuthorType::Admin)
}

/// This app's package code, from a part the bot admin created through the API.
pub fn own_package_code(conversation: &Conversation, me: &Me) -> Option<String> {
    conversation
        .parts()
        .iter()
        .find(|p| {
            p.author.as_ref().and_then(|a| a.id.as_deref()) == Some(me.admin.as_str())
                && p.app_package_code.is_some()
        })
        .and_then(|p| p.app_package_code.clone())
}

/// Why the bot must stay silent on this conversation, if it must. `new_customer_part`: the
/// customer wrote something newer than the bot's watermark; `resuming`: the run is resuming its
/// own earlier attempt (never silent for having written itself).
pub fn skip_reason(
    conversation: &Conversation,
    me: &Me,
    handed_off: bool,
    new_customer_part: bool,
    resuming: bool,
) -> Option<&'static str> {
    if handed_off {
        return Some("handed_off");
    }
    if !new_customer_part && !resuming {
        return Some("nothing_new");
    }
    let parts = conversation.parts();
    if let Some(i) = parts.iter().rposition(|p| by_bot(p, me))
        && parts[i + 1..]
            .iter()
            .any(|p| p.part_type == PartType::Comment && by_human_teammate(p, me))
    {
        return Some("human_active");
    }
    if let Some(admin) = &conversation.admin_assignee_id
        && admin != &me.admin
    {
        return Some("human_assigned");
    }
    None
}

/// The customer's latest message as plain text: the newest part a customer wrote (a reply to a
/// closed conversation can be an `open` part), else the conversation's first message.
pub fn latest_customer_text(conversation: &Conversation) -> String {
    conversation
        .parts()
        .iter()
        .rev()
        .find(|p| {
            p.author.as_ref().is_some_and(|a| a.kind.is_customer())
                && p.body.as_deref().is_some_and(|b| !b.trim().is_empty())
        })
        .and_then(|p| p.body.as_deref())
        .or_else(|| conversation.source.as_ref().and_then(|s| s.body.as_deref()))
        .map(html::to_text)
        .unwrap_or_default()
}

/// What playbooks match on.
/// `new_messages` are the customer's messages the bot has not seen (joined for the conditions);
/// when there are none (a resumed run, a re-engaging playbook), the latest message counts.
pub fn match_context(
    topic: &str,
    conversation: &Conversation,
    new_messages: &[String],
    contact: Option<&Contact>,
    team_name: Option<String>,
    now: i64,
) -> MatchContext {
    use crate::intercom::models::ConversationState as S;
    MatchContext {
        topic: topic.to_owned(),
        state: match &conversation.state {
            Some(S::Closed) => ConversationState::Closed,
            Some(S::Snoozed) => ConversationState::Snoozed,
            _ => ConversationState::Open,
        },
        message: if new_messages.is_empty() {
            latest_customer_text(conversation)
        } else {
            new_messages.join("\n")
        },
        tags: conversation
            .tags
            .tags
            .iter()
            .filter_map(|t| t.name.clone())
            .collect(),
        admin_assignee_id: conversation.admin_assignee_id.clone(),
        team_assignee_id: conversation.team_assignee_id.clone(),
        team_assignee_name: team_name,
        channel: conversation
            .source
            .as_ref()
            .and_then(|s| s.kind.clone())
            .unwrap_or_else(|| "conversation".to_owned()),
        contact: contact
            .map(|c| ContactFacts {
                role: c.role.clone(),
                name: c.name.clone(),
                email: c.email.clone(),
                custom_attributes: c.custom_attributes.clone(),
            })
            .unwrap_or_default(),
        now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation(parts: serde_json::Value, assignee: serde_json::Value) -> Conversation {
        serde_json::from_value(serde_json::json!({
            "type": "conversation", "id": "1", "state": "open",
            "admin_assignee_id": assignee,
            "source": {"type": "conversation", "body": "<p>Hi, I want a refund</p>",
                       "author": {"type": "user", "id": "u1"}},
            "conversation_parts": {"type": "conversation_part.list", "conversation_parts": parts}
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn part(id: &str, author_type: &str, author: &str, app: Option<&str>) -> serde_json::Value {
        serde_json::json!({"type": "conversation_part", "id": id, "part_type": "comment",
            "body": format!("text {id}"), "author": {"type": author_type, "id": author},
            "app_package_code": app})
    }

    fn me() -> Me {
        Me {
            admin: AdminId::from("99"),
            package_code: Some("triaged".to_owned()),
        }
    }

    #[test]
    fn the_bot_stays_silent_with_nothing_new_and_after_a_human_takes_over() {
        let me = me();
        let customer = conversation(
            serde_json::json!([part("1", "user", "u1", None)]),
            serde_json::json!(0),
        );
        assert_eq!(skip_reason(&customer, &me, false, true, false), None);
        assert_eq!(
            skip_reason(&customer, &me, true, true, false),
            Some("handed_off")
        );
        assert_eq!(
            skip_reason(&customer, &me, false, false, false),
            Some("nothing_new")
        );
        assert_eq!(
            skip_reason(&customer, &me, false, false, true),
            None,
            "a run resuming its own attempt is never silent for having written"
        );

        let human = conversation(
            serde_json::json!([
                part("1", "user", "u1", None),
                part("2", "bot", "99", Some("triaged")),
                part("3", "admin", "7", Some("other-integration")),
                part("4", "user", "u1", None)
            ]),
            serde_json::json!(0),
        );
        assert_eq!(
            skip_reason(&human, &me, false, true, false),
            Some("human_active"),
            "a teammate replying through another integration is a human"
        );

        let assigned = conversation(
            serde_json::json!([part("1", "user", "u1", None)]),
            serde_json::json!(7),
        );
        assert_eq!(
            skip_reason(&assigned, &me, false, true, false),
            Some("human_assigned")
        );
        let to_bot = conversation(
            serde_json::json!([part("1", "user", "u1", None)]),
            serde_json::json!(99),
        );
        assert_eq!(skip_reason(&to_bot, &me, false, true, false), None);
    }

    #[test]
    fn echoes_of_bot_writes_are_recognised_from_the_payload() {
        let me = me();
        let body = |p: serde_json::Value| {
            serde_json::to_vec(
                &serde_json::json!({"type": "notification_event", "id": "n", "topic": "t",
                "data": {"item": {"type": "conversation", "id": "1",
                    "conversation_parts": {"conversation_parts": [p]}}}}),
            )
            .unwrap_or_default()
        };
        assert!(is_own_echo(&body(part("2", "bot", "99", None)), &me));
        assert!(is_own_echo(
            &body(part("2", "admin", "5", Some("triaged"))),
            &me
        ));
        assert!(
            !is_own_echo(&body(part("2", "user", "u1", Some("other-app"))), &me),
            "another integration's part is the customer's"
        );
        assert!(!is_own_echo(&body(part("2", "user", "u1", None)), &me));
        assert!(!is_own_echo(b"not json", &me));
    }

    #[test]
    fn the_latest_customer_text_is_plain_and_falls_back_to_the_source() {
        let c = conversation(serde_json::json!([]), serde_json::json!(0));
        assert_eq!(latest_customer_text(&c), "Hi, I want a refund");
        let c = conversation(
            serde_json::json!([part("1", "user", "u1", None), part("2", "admin", "7", None)]),
            serde_json::json!(0),
        );
        assert_eq!(latest_customer_text(&c), "text 1");
    }
}
