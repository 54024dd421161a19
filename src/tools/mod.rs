//! Stage: **tools** — the Intercom tools the agent (and later the MCP server) calls.
//!
//! One registry ([`ToolName`], [`ToolName::spec`]) lists every tool with its description for a model, its
//! input JSON Schema (generated from [`inputs`]), its access class, tags and MCP-style hints.
//! Between the model and Intercom stand, in order: argument validation against that schema, the
//! [`guard`] (allowlist, the triggering conversation only, write caps, live lists of names and
//! ids) and the mode (live, draft, shadow). Results are shaped for a model ([`timeline`]) and
//! capped in size. Writes are made exactly once ([`toolbox`], the `actions` table).
//!
//! This module never decides *what* to do: that is the playbook's and the model's.

pub mod cli;
pub mod egress;
pub mod guard;
pub mod html;
pub mod inputs;
pub mod reply_html;
mod summary;
pub mod timeline;
pub mod toolbox;

use schemars::{JsonSchema, generate::SchemaSettings};
use serde::Serialize;
use serde_json::Value;

/// Whether a tool changes anything in Intercom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Read,
    Write,
}

/// Every tool, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolName {
    SearchConversations,
    GetConversation,
    GetContact,
    SearchContacts,
    GetVisitor,
    GetCompany,
    ListTicketTypes,
    ListTeams,
    ListAdmins,
    ListTags,
    SearchArticles,
    ReplyToConversation,
    AddNote,
    CloseConversation,
    SnoozeConversation,
    OpenConversation,
    AssignConversation,
    TagConversation,
    UntagConversation,
    CreateTicket,
    HandOff,
}

/// All tools, in the order `tools list` prints them.
pub const ALL: &[ToolName] = &[
    ToolName::SearchConversations,
    ToolName::GetConversation,
    ToolName::GetContact,
    ToolName::SearchContacts,
    ToolName::GetVisitor,
    ToolName::GetCompany,
    ToolName::ListTicketTypes,
    ToolName::ListTeams,
    ToolName::ListAdmins,
    ToolName::ListTags,
    ToolName::SearchArticles,
    ToolName::ReplyToConversation,
    ToolName::AddNote,
    ToolName::CloseConversation,
    ToolName::SnoozeConversation,
    ToolName::OpenConversation,
    ToolName::AssignConversation,
    ToolName::TagConversation,
    ToolName::UntagConversation,
    ToolName::CreateTicket,
    ToolName::HandOff,
];

/// MCP-style behaviour hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Hints {
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
    /// Visible to the customer (a reply).
    pub customer_visible: bool,
}

/// What the registry says about one tool.
#[derive(Debug, Clone, Serialize)]
pub struct ToolSpec {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub access: Access,
    pub tags: &'static [&'static str],
    pub hints: Hints,
    pub input_schema: Value,
}

impl ToolName {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SearchConversations => "search_conversations",
            Self::GetConversation => "get_conversation",
            Self::GetContact => "get_contact",
            Self::SearchContacts => "search_contacts",
            Self::GetVisitor => "get_visitor",
            Self::GetCompany => "get_company",
            Self::ListTicketTypes => "list_ticket_types",
            Self::ListTeams => "list_teams",
            Self::ListAdmins => "list_admins",
            Self::ListTags => "list_tags",
            Self::SearchArticles => "search_articles",
            Self::ReplyToConversation => "reply_to_conversation",
            Self::AddNote => "add_note",
            Self::CloseConversation => "close_conversation",
            Self::SnoozeConversation => "snooze_conversation",
            Self::OpenConversation => "open_conversation",
            Self::AssignConversation => "assign_conversation",
            Self::TagConversation => "tag_conversation",
            Self::UntagConversation => "untag_conversation",
            Self::CreateTicket => "create_ticket",
            Self::HandOff => "hand_off",
        }
    }

    /// The tool called `name`, if there is one.
    pub fn parse(name: &str) -> Option<Self> {
        ALL.iter().copied().find(|t| t.as_str() == name)
    }

    pub fn access(self) -> Access {
        match self {
            Self::SearchConversations
            | Self::GetConversation
            | Self::GetContact
            | Self::SearchContacts
            | Self::GetVisitor
            | Self::GetCompany
            | Self::ListTicketTypes
            | Self::ListTeams
            | Self::ListAdmins
            | Self::ListTags
            | Self::SearchArticles => Access::Read,
            _ => Access::Write,
        }
    }

    pub fn tags(self) -> &'static [&'static str] {
        match self {
            Self::SearchConversations
            | Self::GetConversation
            | Self::ReplyToConversation
            | Self::AddNote
            | Self::CloseConversation
            | Self::SnoozeConversation
            | Self::OpenConversation
            | Self::AssignConversation
            | Self::TagConversation
            | Self::UntagConversation
            | Self::HandOff => &["conversations"],
            Self::GetContact | Self::SearchContacts | Self::GetVisitor => &["contacts"],
            Self::GetCompany => &["companies"],
            Self::ListTicketTypes | Self::CreateTicket => &["tickets"],
            Self::ListTeams | Self::ListAdmins | Self::ListTags => &["admin"],
            Self::SearchArticles => &["help_center"],
        }
    }

    pub fn hints(self) -> Hints {
        let read_only = self.access() == Access::Read;
        Hints {
            read_only,
            destructive: matches!(self, Self::CloseConversation | Self::UntagConversation),
            idempotent: read_only
                || matches!(
                    self,
                    Self::CloseConversation
                        | Self::OpenConversation
                        | Self::SnoozeConversation
                        | Self::AssignConversation
                        | Self::TagConversation
                        | Self::UntagConversation
                ),
            customer_visible: matches!(self, Self::ReplyToConversation),
        }
    }

    /// Whether the customer sees or feels this write: a reply, a close, a snooze, a reopen, a
    /// ticket (its number is given to them). `draft` mode holds these back for a teammate's
    /// review and performs the rest (notes, tags, assignment, hand-off: only the team sees them).
    pub fn reaches_customer(self) -> bool {
        matches!(
            self,
            Self::ReplyToConversation
                | Self::CloseConversation
                | Self::SnoozeConversation
                | Self::OpenConversation
                | Self::CreateTicket
        )
    }

    /// A short human-readable name (MCP clients show it in place of the wire name).
    pub fn title(self) -> &'static str {
        match self {
            Self::SearchConversations => "Search conversations",
            Self::GetConversation => "Read a conversation",
            Self::GetContact => "Read a contact",
            Self::SearchContacts => "Search contacts",
            Self::GetVisitor => "Read a visitor",
            Self::GetCompany => "Read a company",
            Self::ListTicketTypes => "List ticket types",
            Self::ListTeams => "List teams",
            Self::ListAdmins => "List teammates",
            Self::ListTags => "List tags",
            Self::SearchArticles => "Search help articles",
            Self::ReplyToConversation => "Reply to the customer",
            Self::AddNote => "Add an internal note",
            Self::CloseConversation => "Close a conversation",
            Self::SnoozeConversation => "Snooze a conversation",
            Self::OpenConversation => "Reopen a conversation",
            Self::AssignConversation => "Assign a conversation",
            Self::TagConversation => "Tag a conversation",
            Self::UntagConversation => "Remove a tag from a conversation",
            Self::CreateTicket => "Create a ticket",
            Self::HandOff => "Hand off to a team",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Self::SearchConversations => {
                "Find conversations by words in the customer's messages, state or contact. One line per conversation."
            }
            Self::GetConversation => {
                "Read a conversation as a timeline: header (state, assignees, tags, contact, people with their ids), then every message and event in order, one per line: `TIME #PART_ID AUTHOR [part type unless a comment]: text`."
            }
            Self::GetContact => {
                "Read a contact: name, email, role, plan and other custom attributes, companies, tags."
            }
            Self::SearchContacts => "Find contacts by exact email or by name.",
            Self::GetVisitor => "Read an anonymous visitor by user_id.",
            Self::GetCompany => "Read a company: name, plan, size, spend, custom attributes.",
            Self::ListTicketTypes => {
                "List ticket types (id, name, category, attributes) for create_ticket."
            }
            Self::ListTeams => "List teams (id, name) for assign_conversation and hand_off.",
            Self::ListAdmins => "List teammates (id, name, away) for assign_conversation.",
            Self::ListTags => "List tags (id, name) for tag_conversation.",
            Self::SearchArticles => {
                "Search the help center; returns article titles, urls and summaries."
            }
            Self::ReplyToConversation => {
                "Send a reply the customer will see. Only on the conversation you are working on; usually at most once per run."
            }
            Self::AddNote => "Add an internal note for teammates (never shown to the customer).",
            Self::CloseConversation => "Close the conversation.",
            Self::SnoozeConversation => {
                "Snooze the conversation for a duration (e.g. 3d) or until a time; it reopens then or when the customer writes."
            }
            Self::OpenConversation => "Reopen a closed or snoozed conversation.",
            Self::AssignConversation => "Assign the conversation to a team or a teammate.",
            Self::TagConversation => "Add an existing tag to the conversation.",
            Self::UntagConversation => "Remove a tag from the conversation.",
            Self::CreateTicket => {
                "Create a ticket (e.g. an engineering bug) for the conversation's customer, linked to the conversation. Returns the ticket number."
            }
            Self::HandOff => {
                "Hand the conversation to a team of humans: adds an internal note with your reason and assigns it. Use when in doubt."
            }
        }
    }

    /// The JSON Schema of the tool's arguments (self-contained: no `$ref`).
    pub fn input_schema(self) -> Value {
        match self {
            Self::SearchConversations => schema::<inputs::SearchConversations>(),
            Self::GetConversation | Self::CloseConversation | Self::OpenConversation => {
                schema::<inputs::ConversationRef>()
            }
            Self::GetContact => schema::<inputs::GetContact>(),
            Self::SearchContacts => schema::<inputs::SearchContacts>(),
            Self::GetVisitor => schema::<inputs::GetVisitor>(),
            Self::GetCompany => schema::<inputs::GetCompany>(),
            Self::ListTicketTypes | Self::ListTeams | Self::ListAdmins | Self::ListTags => {
                schema::<inputs::NoArguments>()
            }
            Self::SearchArticles => schema::<inputs::SearchArticles>(),
            Self::ReplyToConversation | Self::AddNote => schema::<inputs::Message>(),
            Self::SnoozeConversation => schema::<inputs::Snooze>(),
            Self::AssignConversation => schema::<inputs::Assign>(),
            Self::TagConversation | Self::UntagConversation => schema::<inputs::TagRef>(),
            Self::CreateTicket => schema::<inputs::CreateTicket>(),
            Self::HandOff => schema::<inputs::HandOff>(),
        }
    }

    /// Everything the registry says about the tool.
    pub fn spec(self) -> ToolSpec {
        ToolSpec {
            name: self.as_str(),
            title: self.title(),
            description: self.description(),
            access: self.access(),
            tags: self.tags(),
            hints: self.hints(),
            input_schema: self.input_schema(),
        }
    }
}

pub use summary::schema_summary;

/// Every tool's spec.
pub fn registry() -> Vec<ToolSpec> {
    ALL.iter().map(|t| t.spec()).collect()
}

/// A draft-07 schema with every subschema inlined (some OpenAI-compatible servers reject `$ref`)
/// and without the `$schema`/`title` keys models do not need.
fn schema<T: JsonSchema>() -> Value {
    let mut settings = SchemaSettings::draft07();
    settings.inline_subschemas = true;
    let mut value = settings
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value();
    if let Some(obj) = value.as_object_mut() {
        obj.remove("$schema");
        obj.remove("title");
        obj.entry("properties")
            .or_insert_with(|| Value::Object(Default::default()));
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_round_trips_its_name_and_has_a_closed_object_schema() {
        for tool in ALL {
            assert_eq!(ToolName::parse(tool.as_str()), Some(*tool));
            let schema = tool.input_schema();
            assert_eq!(schema["type"], "object", "{}", tool.as_str());
            assert_eq!(schema["additionalProperties"], false, "{}", tool.as_str());
            assert!(!schema.to_string().contains("$ref"), "{}", tool.as_str());
        }
        assert_eq!(ToolName::parse("delete_everything"), None);
    }

    #[test]
    fn the_registry_matches_the_names_playbooks_may_allow() {
        let names: Vec<&str> = ALL.iter().map(|t| t.as_str()).collect();
        let known: Vec<&str> = crate::playbook::KNOWN_TOOLS
            .iter()
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(names.len(), known.len());
        for (name, access) in crate::playbook::KNOWN_TOOLS {
            let tool = ToolName::parse(name).unwrap_or_else(|| panic!("{name} is not a tool"));
            assert_eq!(
                matches!(tool.access(), Access::Write),
                matches!(access, crate::playbook::Access::Write),
                "{name}"
            );
        }
    }
}
