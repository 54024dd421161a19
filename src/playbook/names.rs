//! The closed vocabularies a playbook may use: webhook topics, tools, channels.
//!
//! These lists are data, checked by `triaged playbook check`. [`KNOWN_TOOLS`] stands in for the
//! tool registry until it exists; the registry will replace it (this module must never import the
//! registry, so the dependency stays one-directional: tools → playbook, not back).

/// Whether a tool only reads Intercom or also changes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Every tool an `agent` step may list in `tools`, with its access class.
pub const KNOWN_TOOLS: &[(&str, Access)] = &[
    ("search_conversations", Access::Read),
    ("get_conversation", Access::Read),
    ("get_contact", Access::Read),
    ("search_contacts", Access::Read),
    ("get_visitor", Access::Read),
    ("get_company", Access::Read),
    ("list_ticket_types", Access::Read),
    ("list_teams", Access::Read),
    ("list_admins", Access::Read),
    ("list_tags", Access::Read),
    ("search_articles", Access::Read),
    ("reply_to_conversation", Access::Write),
    ("add_note", Access::Write),
    ("close_conversation", Access::Write),
    ("snooze_conversation", Access::Write),
    ("open_conversation", Access::Write),
    ("assign_conversation", Access::Write),
    ("tag_conversation", Access::Write),
    ("untag_conversation", Access::Write),
    ("create_ticket", Access::Write),
    ("hand_off", Access::Write),
];

/// The access class of a known tool.
pub fn tool_access(name: &str) -> Option<Access> {
    KNOWN_TOOLS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, access)| *access)
}

/// The webhook topics a playbook may trigger on: Intercom's conversation topics (API_FACTS §1.4),
/// because a run always works on one conversation. Ticket, contact and `ping` topics carry no
/// conversation and are not accepted.
pub const TOPICS: &[&str] = &[
    "conversation.user.created",
    "conversation.user.replied",
    "conversation.admin.replied",
    "conversation.admin.single.created",
    "conversation.admin.noted",
    "conversation.admin.assigned",
    "conversation.admin.open.assigned",
    "conversation.admin.closed",
    "conversation.admin.opened",
    "conversation.admin.snoozed",
    "conversation.admin.unsnoozed",
    "conversation.operator.replied",
    "conversation.priority.updated",
    "conversation.rating.added",
    "conversation.read",
    "conversation.contact.attached",
    "conversation.contact.detached",
    "conversation.company.updated",
    "conversation_part.tag.created",
];

/// Topic names people write that Intercom does not send (API_FACTS §1.4), with what to use.
const NOT_TOPICS: &[(&str, &str)] = &[
    ("conversation.closed", "conversation.admin.closed"),
    ("conversation.opened", "conversation.admin.opened"),
    ("conversation.snoozed", "conversation.admin.snoozed"),
    (
        "conversation.part.created",
        "conversation.user.replied` (customer messages) or `conversation.admin.replied",
    ),
];

/// Why `topic` is not accepted, or `None` when it is.
pub fn topic_problem(topic: &str) -> Option<String> {
    if TOPICS.contains(&topic) {
        return None;
    }
    if let Some((_, instead)) = NOT_TOPICS.iter().find(|(t, _)| *t == topic) {
        return Some(format!(
            "`{topic}` is not an Intercom webhook topic (Intercom never sends it); use `{instead}`"
        ));
    }
    Some(format!(
        "unknown topic `{topic}`{}; playbooks trigger on Intercom conversation topics: {}",
        super::diagnostic::did_you_mean(topic, TOPICS.iter().copied()),
        super::diagnostic::list(TOPICS.iter().copied())
    ))
}

/// Conversation source types (`source.type`, API_FACTS §4) a `channel` condition may name.
pub const CHANNELS: &[&str] = &[
    "conversation",
    "email",
    "facebook",
    "instagram",
    "phone_call",
    "phone_switch",
    "push",
    "sms",
    "twitter",
    "whatsapp",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_topics_pass_and_invented_ones_name_the_real_one() {
        assert_eq!(topic_problem("conversation.user.replied"), None);
        let msg = topic_problem("conversation.closed").unwrap_or_default();
        assert!(msg.contains("conversation.admin.closed"), "{msg}");
        let msg = topic_problem("conversation.user.replyed").unwrap_or_default();
        assert!(
            msg.contains("did you mean `conversation.user.replied`"),
            "{msg}"
        );
    }

    #[test]
    fn tools_have_the_documented_access() {
        assert_eq!(tool_access("get_contact"), Some(Access::Read));
        assert_eq!(tool_access("create_ticket"), Some(Access::Write));
        assert_eq!(tool_access("delete_everything"), None);
    }
}
