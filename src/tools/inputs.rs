//! The typed input of every tool. The JSON Schema the model sees and the validation of what it
//! sends come from these same types (schemars + serde with unknown fields denied), so they cannot
//! drift apart. Descriptions are written for a model.

use schemars::JsonSchema;
use serde::Deserialize;

/// `search_conversations`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchConversations {
    /// Words to look for in the customer's messages (Intercom matches whole words).
    #[serde(default)]
    pub text: Option<String>,
    /// Only conversations in this state: `open`, `closed` or `snoozed`.
    #[serde(default)]
    pub state: Option<String>,
    /// Only conversations with this contact.
    #[serde(default)]
    pub contact_id: Option<String>,
    /// At most this many results (1–20, default 10).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// Tools that take only the conversation: `get_conversation`, `close_conversation`,
/// `open_conversation`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversationRef {
    /// The conversation id.
    pub conversation_id: String,
}

/// `get_contact`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetContact {
    /// The contact id (from the conversation header).
    pub contact_id: String,
}

/// `search_contacts`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchContacts {
    /// Exact email address.
    #[serde(default)]
    pub email: Option<String>,
    /// Name, or the start of it.
    #[serde(default)]
    pub name: Option<String>,
    /// At most this many results (1–20, default 10).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// `get_visitor`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetVisitor {
    /// The visitor's `user_id`.
    pub user_id: String,
}

/// `get_company`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetCompany {
    /// Intercom's company id (from the contact's companies).
    pub company_id: String,
}

/// Tools without arguments: `list_ticket_types`, `list_teams`, `list_admins`, `list_tags`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoArguments {}

/// `search_articles`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchArticles {
    /// What to look for in the help center.
    pub query: String,
}

/// `reply_to_conversation` and `add_note`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// The conversation id.
    pub conversation_id: String,
    /// The text. Plain text; blank lines separate paragraphs.
    pub body: String,
}

/// `snooze_conversation`: give `until` or `duration`, not both.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Snooze {
    /// The conversation id.
    pub conversation_id: String,
    /// How long to snooze, e.g. `3d`, `12h`, `90m`.
    #[serde(default)]
    pub duration: Option<String>,
    /// When to wake up, as a Unix timestamp in seconds.
    #[serde(default)]
    pub until: Option<i64>,
}

/// `assign_conversation`: give `team` or `admin`, not both.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Assign {
    /// The conversation id.
    pub conversation_id: String,
    /// A team, by id or exact name (see `list_teams`).
    #[serde(default)]
    pub team: Option<String>,
    /// A teammate, by id or exact name (see `list_admins`).
    #[serde(default)]
    pub admin: Option<String>,
}

/// `tag_conversation` and `untag_conversation`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TagRef {
    /// The conversation id.
    pub conversation_id: String,
    /// An existing tag, by id or exact name (see `list_tags`).
    pub tag: String,
}

/// `create_ticket`: a ticket for the conversation's contact, linked to the conversation.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTicket {
    /// The conversation the ticket is about (its contact becomes the ticket's contact).
    pub conversation_id: String,
    /// The ticket type, by id or exact name (see `list_ticket_types`).
    pub ticket_type: String,
    /// The customer the ticket is for; defaults to the conversation's contact (must be one of its
    /// contacts).
    #[serde(default)]
    pub contact_id: Option<String>,
    /// A short title.
    pub title: String,
    /// What happened, with the steps to reproduce when there are any.
    pub description: String,
}

/// `hand_off`: an internal note with the reason, assignment to a team, and the bot stays quiet on
/// this conversation from then on.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HandOff {
    /// The conversation id.
    pub conversation_id: String,
    /// Why a human should take over (shown to the team in the note).
    pub reason: String,
    /// The team that takes over, by id or exact name (see `list_teams`).
    pub team: String,
}
