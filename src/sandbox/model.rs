//! The sandbox's in-memory workspace: plain data, no I/O, no HTTP.
//!
//! Bodies are kept as HTML, as Intercom stores them; rendering decides between HTML and plain text.
//! Ids are strings everywhere (numeric strings for admins, teams, conversations, parts, tags and
//! tickets, as Intercom does). This module must never render JSON or send anything.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// The app code put on parts written through the REST API (Intercom sets `app_package_code` on
/// parts an app created, and null on parts made by people in the Inbox or by the customer).
pub const APP_PACKAGE_CODE: &str = "triaged-sandbox";

/// The workspace (app) id, also `app_id` in notifications and `/me` → `app.id_code`.
pub const APP_ID: &str = "sandbox1";

/// A teammate or the bot.
#[derive(Debug, Clone)]
pub struct Admin {
    pub id: String,
    pub name: String,
    pub email: String,
    pub job_title: String,
    /// The app's own admin (the one `/me` returns); its parts are authored as `bot`.
    pub bot: bool,
    pub away: bool,
    pub team_ids: Vec<String>,
}

/// An Inbox team.
#[derive(Debug, Clone)]
pub struct Team {
    pub id: String,
    pub name: String,
    pub admin_ids: Vec<String>,
}

/// A user or lead.
#[derive(Debug, Clone)]
pub struct Contact {
    pub id: String,
    pub external_id: Option<String>,
    /// `user` or `lead`.
    pub role: String,
    pub email: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub custom_attributes: Map<String, Value>,
    pub company_ids: Vec<String>,
    pub tag_ids: Vec<String>,
    pub created_at: i64,
    /// Set when this contact was merged into another: reads answer 410 pointing there.
    pub merged_into: Option<String>,
}

/// An anonymous website visitor, fetched by `user_id`.
#[derive(Debug, Clone)]
pub struct Visitor {
    pub id: String,
    pub user_id: String,
    pub name: Option<String>,
    pub email: String,
    pub created_at: i64,
}

/// A company.
#[derive(Debug, Clone)]
pub struct Company {
    pub id: String,
    pub company_id: String,
    pub name: String,
    pub plan: Option<String>,
    pub size: i64,
    pub website: String,
    pub industry: String,
    pub monthly_spend: i64,
    pub custom_attributes: BTreeMap<String, String>,
    pub created_at: i64,
}

/// A tag.
#[derive(Debug, Clone)]
pub struct Tag {
    pub id: String,
    pub name: String,
}

/// A ticket type attribute.
#[derive(Debug, Clone)]
pub struct TicketAttribute {
    pub id: String,
    pub name: String,
    pub description: String,
    pub data_type: String,
    pub required_to_create: bool,
    pub default: bool,
}

/// A ticket type.
#[derive(Debug, Clone)]
pub struct TicketType {
    pub id: String,
    pub name: String,
    pub description: String,
    pub icon: String,
    /// `Customer`, `Back-office` or `Tracker`.
    pub category: String,
    pub attributes: Vec<TicketAttribute>,
    pub created_at: i64,
}

/// A ticket.
#[derive(Debug, Clone)]
pub struct Ticket {
    pub id: String,
    pub ticket_id: String,
    pub ticket_type_id: String,
    pub contact_ids: Vec<String>,
    pub attributes: Map<String, Value>,
    pub linked_conversation_ids: Vec<String>,
    pub created_at: i64,
}

/// A help-center article.
#[derive(Debug, Clone)]
pub struct Article {
    pub id: String,
    pub title: String,
    pub description: String,
    /// HTML.
    pub body: String,
    pub author_id: String,
    pub created_at: i64,
}

/// Who wrote a part or started a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// `user`, `lead`, `admin` or `bot`.
    pub kind: String,
    pub id: String,
    pub name: Option<String>,
    pub email: String,
}

/// `open`, `closed` or `snoozed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Open,
    Closed,
    Snoozed,
}

impl State {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
            Self::Snoozed => "snoozed",
        }
    }
}

/// What an assignment part assigned to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignee {
    Admin(String),
    Team(String),
    /// An unassignment: `{type:"nobody_admin", id:null}`.
    Nobody,
}

/// One conversation part.
#[derive(Debug, Clone)]
pub struct Part {
    pub id: String,
    pub part_type: String,
    /// HTML, or none for parts without text (close without a message, assignment…).
    pub body: Option<String>,
    pub created_at: i64,
    pub author: Author,
    pub assigned_to: Option<Assignee>,
    /// The conversation's state once this part was made.
    pub state: State,
    pub app_package_code: Option<String>,
}

/// The message that started a conversation.
#[derive(Debug, Clone)]
pub struct Source {
    pub id: String,
    pub delivered_as: String,
    pub subject: String,
    /// HTML.
    pub body: String,
    pub author: Author,
}

/// A tag applied to a conversation.
#[derive(Debug, Clone)]
pub struct AppliedTag {
    pub tag_id: String,
    pub applied_at: i64,
    pub applied_by: String,
}

/// A conversation with all its parts.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub id: String,
    pub title: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub waiting_since: Option<i64>,
    pub snoozed_until: Option<i64>,
    pub state: State,
    pub read: bool,
    pub admin_assignee_id: Option<String>,
    pub team_assignee_id: Option<String>,
    pub tags: Vec<AppliedTag>,
    pub source: Source,
    pub contact_ids: Vec<String>,
    /// Admins who wrote at least one part.
    pub teammate_ids: Vec<String>,
    pub parts: Vec<Part>,
    pub linked_ticket_ids: Vec<String>,
    pub first_contact_reply_at: Option<i64>,
}

/// The whole workspace. Collections keep insertion order (seed order, then creation order).
#[derive(Debug, Clone, Default)]
pub struct Workspace {
    pub app_name: String,
    pub admins: Vec<Admin>,
    pub teams: Vec<Team>,
    pub contacts: Vec<Contact>,
    pub visitors: Vec<Visitor>,
    pub companies: Vec<Company>,
    pub tags: Vec<Tag>,
    pub ticket_types: Vec<TicketType>,
    pub tickets: Vec<Ticket>,
    pub conversations: Vec<Conversation>,
    pub articles: Vec<Article>,
    /// The next numeric id handed out (conversations, parts, tags, tickets share one sequence).
    pub next_id: u64,
}

impl Workspace {
    /// A fresh numeric id, unique in this workspace.
    pub fn new_id(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }

    pub fn admin(&self, id: &str) -> Option<&Admin> {
        self.admins.iter().find(|a| a.id == id)
    }

    /// The app's own admin.
    pub fn bot(&self) -> Option<&Admin> {
        self.admins.iter().find(|a| a.bot)
    }

    pub fn team(&self, id: &str) -> Option<&Team> {
        self.teams.iter().find(|t| t.id == id)
    }

    pub fn contact(&self, id: &str) -> Option<&Contact> {
        self.contacts.iter().find(|c| c.id == id)
    }

    pub fn company(&self, id: &str) -> Option<&Company> {
        self.companies.iter().find(|c| c.id == id)
    }

    pub fn tag(&self, id: &str) -> Option<&Tag> {
        self.tags.iter().find(|t| t.id == id)
    }

    pub fn ticket_type(&self, id: &str) -> Option<&TicketType> {
        self.ticket_types.iter().find(|t| t.id == id)
    }

    pub fn conversation(&self, id: &str) -> Option<&Conversation> {
        self.conversations.iter().find(|c| c.id == id)
    }

    pub fn conversation_mut(&mut self, id: &str) -> Option<&mut Conversation> {
        self.conversations.iter_mut().find(|c| c.id == id)
    }

    /// The author record for an admin (`bot` for the app's own admin).
    pub fn admin_author(&self, admin: &Admin) -> Author {
        Author {
            kind: if admin.bot { "bot" } else { "admin" }.to_owned(),
            id: admin.id.clone(),
            name: Some(admin.name.clone()),
            email: admin.email.clone(),
        }
    }

    /// The author record for a contact (`user` or `lead`).
    pub fn contact_author(contact: &Contact) -> Author {
        Author {
            kind: contact.role.clone(),
            id: contact.id.clone(),
            name: contact.name.clone(),
            email: contact.email.clone(),
        }
    }
}

/// Escapes text for HTML and wraps it in one paragraph per line, unless it already looks like HTML.
pub fn to_html(text: &str) -> String {
    let trimmed = text.trim_start();
    if trimmed.starts_with('<') {
        return text.to_owned();
    }
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let escaped = line
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;");
            format!("<p>{escaped}</p>")
        })
        .collect()
}
