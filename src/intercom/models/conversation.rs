//! The Conversation object (`SPEC#conversation`) with its source and parts: what the agent reads.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Pages, Reference, TagList, null_default, opt_id, unassigned};
use crate::ids::{AdminId, ContactId, ConversationId, TeamId};

/// A conversation as returned by retrieve, reply, manage (with parts) or list/search (without).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Conversation {
    pub id: ConversationId,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub created_at: Option<i64>,
    #[serde(default)]
    pub updated_at: Option<i64>,
    /// When the contact began waiting; `None` when the last reply came from an admin.
    #[serde(default)]
    pub waiting_since: Option<i64>,
    #[serde(default)]
    pub snoozed_until: Option<i64>,
    #[serde(default)]
    pub open: Option<bool>,
    #[serde(default)]
    pub read: Option<bool>,
    #[serde(default)]
    pub state: Option<ConversationState>,
    /// 2.16: `none|low|medium|high|urgent`; 2.15 and earlier `priority|not_priority`.
    #[serde(default)]
    pub priority: Option<String>,
    /// `None` when unassigned (`0` or `null` on the wire).
    #[serde(default, deserialize_with = "unassigned")]
    pub admin_assignee_id: Option<AdminId>,
    /// `None` when unassigned (`0` or `null` on the wire).
    #[serde(default, deserialize_with = "unassigned")]
    pub team_assignee_id: Option<TeamId>,
    #[serde(default, deserialize_with = "null_default")]
    pub tags: TagList,
    #[serde(default, deserialize_with = "null_default")]
    pub contacts: ContactRefs,
    #[serde(default)]
    pub source: Option<Source>,
    /// Only on retrieve, reply and manage; at most the 500 newest parts.
    #[serde(default)]
    pub conversation_parts: Option<PartList>,
    #[serde(default, deserialize_with = "null_default")]
    pub custom_attributes: BTreeMap<String, serde_json::Value>,
    /// Admins who wrote at least one part (`null` when none).
    #[serde(default, deserialize_with = "null_default")]
    pub teammates: Teammates,
    /// Whether Fin (Intercom's AI agent) took part.
    #[serde(default)]
    pub ai_agent_participated: Option<bool>,
}

/// `{type:"admin.list", teammates:[{type:"admin", id}]}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Teammates {
    #[serde(deserialize_with = "null_default")]
    pub teammates: Vec<TeammateRef>,
}

/// An admin as referenced from a conversation's `teammates`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TeammateRef {
    pub id: AdminId,
}

impl Conversation {
    /// The parts carried by this response (empty for list and search items).
    pub fn parts(&self) -> &[Part] {
        match &self.conversation_parts {
            Some(list) => &list.conversation_parts,
            None => &[],
        }
    }

    /// The ids of the conversation's contacts (more than one only in group conversations).
    pub fn contact_ids(&self) -> impl Iterator<Item = &ContactId> {
        self.contacts.contacts.iter().map(|c| &c.id)
    }
}

/// `{type:"contact.list", contacts:[{type, id, external_id}]}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ContactRefs {
    #[serde(deserialize_with = "null_default")]
    pub contacts: Vec<ContactRef>,
}

/// A contact as referenced from a conversation.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ContactRef {
    pub id: ContactId,
    #[serde(default, deserialize_with = "opt_id")]
    pub external_id: Option<String>,
}

/// `open | closed | snoozed`, keeping any other value.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub enum ConversationState {
    Open,
    Closed,
    Snoozed,
    Other(String),
}

impl From<String> for ConversationState {
    fn from(s: String) -> Self {
        match s.as_str() {
            "open" => Self::Open,
            "closed" => Self::Closed,
            "snoozed" => Self::Snoozed,
            _ => Self::Other(s),
        }
    }
}

/// The message that started the conversation (`SPEC#conversation_source`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Source {
    /// Open-ended: `conversation`, `email`, `facebook`, `twitter`, `whatsapp`, …
    #[serde(rename = "type")]
    pub kind: Option<String>,
    #[serde(deserialize_with = "opt_id")]
    pub id: Option<String>,
    /// Open-ended: `customer_initiated`, `admin_initiated`, `operator_initiated`, `automated`, …
    pub delivered_as: Option<String>,
    pub subject: Option<String>,
    pub body: Option<String>,
    pub author: Option<Author>,
    #[serde(deserialize_with = "null_default")]
    pub attachments: Vec<Attachment>,
    pub url: Option<String>,
    pub redacted: Option<bool>,
}

impl Source {
    /// Whether the contact started the conversation.
    pub fn is_customer_initiated(&self) -> bool {
        self.delivered_as.as_deref() == Some("customer_initiated")
    }
}

/// Who wrote a part or the source.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Author {
    #[serde(rename = "type")]
    pub kind: AuthorType,
    #[serde(default, deserialize_with = "opt_id")]
    pub id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub from_ai_agent: Option<bool>,
    #[serde(default)]
    pub is_ai_answer: Option<bool>,
}

/// `admin | bot | team | user | lead | contact`, keeping any other value.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub enum AuthorType {
    Admin,
    Bot,
    Team,
    User,
    Lead,
    Contact,
    Other(String),
}

impl AuthorType {
    /// A customer (user, lead or contact), as opposed to a teammate or a bot.
    pub fn is_customer(&self) -> bool {
        matches!(self, Self::User | Self::Lead | Self::Contact)
    }
}

impl From<String> for AuthorType {
    fn from(s: String) -> Self {
        match s.as_str() {
            "admin" => Self::Admin,
            "bot" => Self::Bot,
            "team" => Self::Team,
            "user" => Self::User,
            "lead" => Self::Lead,
            "contact" => Self::Contact,
            _ => Self::Other(s),
        }
    }
}

/// A file attached to a part or the source.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Attachment {
    pub name: Option<String>,
    pub url: Option<String>,
    pub content_type: Option<String>,
    pub filesize: Option<i64>,
    pub width: Option<i64>,
    pub height: Option<i64>,
}

/// `{type:"conversation_part.list", conversation_parts:[…], total_count}`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct PartList {
    #[serde(deserialize_with = "null_default")]
    pub conversation_parts: Vec<Part>,
    pub total_count: Option<i64>,
}

/// One conversation part.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Part {
    /// A string per the schema; the spec's examples send integers (API_FACTS §10).
    #[serde(deserialize_with = "crate::ids::string_or_number")]
    pub id: String,
    pub part_type: PartType,
    /// HTML (REST) or plain text (`display_as=plaintext`, webhooks of 2.15+ apps); may be null.
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub created_at: Option<i64>,
    #[serde(default)]
    pub updated_at: Option<i64>,
    #[serde(default)]
    pub author: Option<Author>,
    /// Set only on parts that changed the assignment; `{type:"nobody_admin", id:null}` unassigns.
    #[serde(default)]
    pub assigned_to: Option<Reference>,
    #[serde(default, deserialize_with = "null_default")]
    pub attachments: Vec<Attachment>,
    /// Set when an app created the part through the API; how we recognise our own writes.
    #[serde(default)]
    pub app_package_code: Option<String>,
    #[serde(default)]
    pub redacted: Option<bool>,
    #[serde(default, deserialize_with = "opt_id")]
    pub external_id: Option<String>,
}

/// `part_type`: the values triage acts on, keeping any other (the set is open, API_FACTS §4).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub enum PartType {
    Comment,
    Note,
    Assignment,
    AssignAndReopen,
    Open,
    Close,
    Snoozed,
    QuickReply,
    Other(String),
}

impl PartType {
    /// The wire value.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Comment => "comment",
            Self::Note => "note",
            Self::Assignment => "assignment",
            Self::AssignAndReopen => "assign_and_reopen",
            Self::Open => "open",
            Self::Close => "close",
            Self::Snoozed => "snoozed",
            Self::QuickReply => "quick_reply",
            Self::Other(s) => s,
        }
    }
}

impl From<String> for PartType {
    fn from(s: String) -> Self {
        match s.as_str() {
            "comment" => Self::Comment,
            "note" => Self::Note,
            "assignment" => Self::Assignment,
            "assign_and_reopen" => Self::AssignAndReopen,
            "open" => Self::Open,
            "close" => Self::Close,
            "snoozed" => Self::Snoozed,
            "quick_reply" => Self::QuickReply,
            _ => Self::Other(s),
        }
    }
}

/// `{type:"conversation.list", conversations, total_count, pages}` (list and search).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ConversationList {
    #[serde(deserialize_with = "null_default")]
    pub conversations: Vec<Conversation>,
    pub total_count: Option<i64>,
    #[serde(deserialize_with = "null_default")]
    pub pages: Pages,
}
