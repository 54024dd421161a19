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

/// Whether a notification is the echo of the bot's own write: every part it carries was written
/// by the bot admin or created through the API by an app (`app_package_code`). Intercom echoes bot
/// replies on both `conversation.admin.replied` and `conversation.operator.replied`.
pub fn is_own_echo(raw_body: &[u8], bot: &AdminId) -> bool {
    let Ok(payload) = serde_json::from_slice::<Payload>(raw_body) else {
        return false;
    };
    let parts = payload
        .data
        .item
        .conversation_parts
        .map(|l| l.conversation_parts)
        .unwrap_or_default();
    !parts.is_empty() && parts.iter().all(|p| by_bot(p, bot))
}

fn by_bot(part: &Part, bot: &AdminId) -> bool {
    part.app_package_code.is_some()
        || part.author.as_ref().and_then(|a| a.id.as_deref()) == Some(bot.as_str())
}

fn by_human_teammate(part: &Part, bot: &AdminId) -> bool {
    part.app_package_code.is_none()
        && part
            .author
            .as_ref()
            .is_some_and(|a| a.kind == AuthorType::Admin && a.id.as_deref() != Some(bot.as_str()))
}

/// Why the bot must stay silent on this conversation, if it must.
pub fn skip_reason(
    conversation: &Conversation,
    bot: &AdminId,
    handed_off: bool,
) -> Option<&'static str> {
    if handed_off {
        return Some("handed_off");
    }
    let parts = conversation.parts();
    if let Some(last) = parts.last()
        && by_bot(last, bot)
    {
        return Some("own_action");
    }
    if let Some(i) = parts.iter().rposition(|p| by_bot(p, bot))
        && parts[i + 1..]
            .iter()
            .any(|p| p.part_type == PartType::Comment && by_human_teammate(p, bot))
    {
        return Some("human_active");
    }
    if let Some(admin) = &conversation.admin_assignee_id
        && admin != bot
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
pub fn match_context(
    topic: &str,
    conversation: &Conversation,
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
        message: latest_customer_text(conversation),
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

    #[test]
    fn the_bot_stays_silent_after_its_own_part_and_after_a_human_takes_over() {
        let bot = AdminId::from("99");
        let customer = conversation(
            serde_json::json!([part("1", "user", "u1", None)]),
            serde_json::json!(0),
        );
        assert_eq!(skip_reason(&customer, &bot, false), None);
        assert_eq!(skip_reason(&customer, &bot, true), Some("handed_off"));

        let echo = conversation(
            serde_json::json!([
                part("1", "user", "u1", None),
                part("2", "bot", "99", Some("app"))
            ]),
            serde_json::json!(null),
        );
        assert_eq!(skip_reason(&echo, &bot, false), Some("own_action"));

        let human = conversation(
            serde_json::json!([
                part("1", "user", "u1", None),
                part("2", "bot", "99", Some("app")),
                part("3", "admin", "7", None),
                part("4", "user", "u1", None)
            ]),
            serde_json::json!(0),
        );
        assert_eq!(skip_reason(&human, &bot, false), Some("human_active"));

        let assigned = conversation(
            serde_json::json!([part("1", "user", "u1", None)]),
            serde_json::json!(7),
        );
        assert_eq!(skip_reason(&assigned, &bot, false), Some("human_assigned"));
        let to_bot = conversation(
            serde_json::json!([part("1", "user", "u1", None)]),
            serde_json::json!(99),
        );
        assert_eq!(skip_reason(&to_bot, &bot, false), None);
    }

    #[test]
    fn echoes_of_bot_writes_are_recognised_from_the_payload() {
        let bot = AdminId::from("99");
        let body = |p: serde_json::Value| {
            serde_json::to_vec(
                &serde_json::json!({"type": "notification_event", "id": "n", "topic": "t",
                "data": {"item": {"type": "conversation", "id": "1",
                    "conversation_parts": {"conversation_parts": [p]}}}}),
            )
            .unwrap_or_default()
        };
        assert!(is_own_echo(&body(part("2", "bot", "99", None)), &bot));
        assert!(is_own_echo(
            &body(part("2", "admin", "5", Some("triaged"))),
            &bot
        ));
        assert!(!is_own_echo(&body(part("2", "user", "u1", None)), &bot));
        assert!(!is_own_echo(b"not json", &bot));
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
