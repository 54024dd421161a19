//! The validated playbook: what the worker and the agent use.
//!
//! Built only by `compile` from a file that passed every check, so regexes are compiled, durations
//! parsed, time zones resolved and templates parsed. Nothing here does I/O.

use std::time::Duration;

use crate::ids::{AdminId, TeamId};

pub use super::spec::{Day, Mode, Reads};
use super::template::Template;

/// A checked playbook.
#[derive(Debug, Clone)]
pub struct Playbook {
    /// Unique lowercase-kebab name.
    pub name: String,
    pub description: String,
    /// Higher is tried first.
    pub priority: i32,
    pub mode: Mode,
    /// The file it came from (for logs and the audit trail).
    pub source: std::path::PathBuf,
    /// The content hash of that file (12 hex digits of its SHA-256), recorded on every run.
    pub version: String,
    pub trigger: Trigger,
    /// Steps in order; at most one is [`Step::Agent`].
    pub steps: Vec<Step>,
    /// Steps run when a step or the agent fails. Never contains an agent.
    pub fallback: Vec<Step>,
    /// What `triaged playbook check` warns about (the playbook loads all the same).
    pub warnings: Vec<super::Diagnostic>,
}

impl Playbook {
    /// The agent step, if the playbook has one.
    pub fn agent(&self) -> Option<&Agent> {
        self.steps.iter().find_map(|s| match s {
            Step::Agent(a) => Some(a.as_ref()),
            _ => None,
        })
    }
}

/// When a playbook applies.
#[derive(Debug, Clone)]
pub struct Trigger {
    /// Intercom webhook topics (never empty).
    pub topics: Vec<String>,
    pub conditions: Conditions,
    /// Runs on conversations the bot has gone quiet on (handed off, human active or assigned).
    pub reengage: bool,
}

/// Checked conditions; every present one must hold.
#[derive(Debug, Clone, Default)]
pub struct Conditions {
    /// Empty = any state.
    pub states: Vec<ConversationState>,
    /// Lowercased phrases; one must appear.
    pub contains_any: Vec<String>,
    /// Lowercased phrases; all must appear.
    pub contains_all: Vec<String>,
    /// Case-insensitive.
    pub matches: Option<regex::Regex>,
    /// Lowercased tag names that must all be present.
    pub tags_present: Vec<String>,
    /// Lowercased tag names of which none may be present.
    pub tags_absent: Vec<String>,
    pub assignee: Option<Assignee>,
    /// Empty = any channel.
    pub channels: Vec<String>,
    pub business_hours: Option<BusinessHours>,
    pub outside_business_hours: Option<BusinessHours>,
    /// `user` or `lead`.
    pub contact_role: Option<String>,
    /// Attribute name → accepted values (any of them).
    pub custom_attributes: Vec<(String, Vec<serde_json::Value>)>,
}

/// A conversation state (`open | closed | snoozed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversationState {
    Open,
    Closed,
    Snoozed,
}

impl ConversationState {
    /// From Intercom's `conversation.state`; `None` for a value Intercom may add later.
    pub fn from_intercom(state: &str) -> Option<Self> {
        match state {
            "open" => Some(Self::Open),
            "closed" => Some(Self::Closed),
            "snoozed" => Some(Self::Snoozed),
            _ => None,
        }
    }
}

/// An assignee condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignee {
    /// Neither an admin nor a team.
    Unassigned,
    /// Team name, compared case-insensitively.
    TeamName(String),
    TeamId(TeamId),
    AdminId(AdminId),
}

/// Opening hours in one time zone.
#[derive(Debug, Clone)]
pub struct BusinessHours {
    pub timezone: jiff::tz::TimeZone,
    pub days: Vec<Day>,
    /// Minutes after midnight, inclusive.
    pub start_minute: u16,
    /// Minutes after midnight, exclusive (1440 = midnight).
    pub end_minute: u16,
}

/// Who to assign to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Resolve the name to an id with `list_teams` at run time.
    TeamName(String),
    TeamId(TeamId),
    AdminId(AdminId),
}

/// One checked step.
#[derive(Debug, Clone)]
pub enum Step {
    Tag(String),
    Note(Template),
    Reply(Template),
    Assign(Target),
    /// Assign, then keep the bot silent on the conversation.
    HandOff(Target),
    Snooze(Duration),
    Close,
    Agent(Box<Agent>),
}

/// A checked agent step.
#[derive(Debug, Clone)]
pub struct Agent {
    pub instructions: String,
    /// `None` = the configured default model.
    pub model: Option<String>,
    /// Known tool names only.
    pub tools: Vec<String>,
    /// How far the read tools reach (the guard enforces it).
    pub reads: Reads,
    pub max_replies: u32,
    pub max_steps: u32,
    pub max_tool_calls: u32,
    pub max_tokens: u32,
    pub wall_time: Duration,
    pub temperature: Option<f64>,
}

/// The agent's wall time when the playbook gives none.
pub const DEFAULT_WALL_TIME: Duration = Duration::from_secs(120);
