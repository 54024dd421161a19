//! `steps:` and `fallback:` as written: deterministic actions and the `agent` step. Shapes only:
//! durations, templates and tool names are checked in `compile`, never here.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

/// One step. Write each as a one-key mapping, e.g. `- tag: refund`, `- snooze: 3d`, or a single
/// word for `- close`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum StepSpec {
    /// Add a tag (by name; created if missing) to the conversation.
    Tag(String),
    /// Add an internal note (teammates only). May use template variables such as
    /// `{{contact.name}}` and `{{contact.first_name | default: "there"}}`.
    Note(#[schemars(with = "String")] Spanned<String>),
    /// Reply to the customer. May use template variables such as
    /// `{{contact.first_name | default: "there"}}`. A variable with no value and no default makes
    /// the step fail (and the fallback run) rather than send a broken sentence.
    Reply(#[schemars(with = "String")] Spanned<String>),
    /// Assign the conversation: `{ team: Billing }`, `{ team_id: "123" }` or `{ admin_id: "456" }`.
    Assign(AssignTarget),
    /// Hand the conversation to humans: assign it like `assign` and keep the bot silent on it
    /// from then on.
    HandOff(AssignTarget),
    /// Snooze the conversation for a duration, e.g. `3d`, `12h`, `30m`.
    Snooze(#[schemars(with = "String")] Spanned<String>),
    /// Close the conversation. Write `- close`.
    Close,
    /// Let the model work on the conversation with the listed tools, within limits.
    Agent(Box<AgentSpec>),
}

/// Who to assign a conversation to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssignTarget {
    /// The team with this name (as shown in Intercom).
    Team(String),
    /// The team with this Intercom id.
    TeamId(String),
    /// The teammate (admin) with this Intercom id.
    AdminId(String),
}

/// The model's task, its tools and its limits. Hitting a limit is a failure: the fallback runs.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    /// What the model should do, in plain language: what to read, what to check, what to write.
    pub instructions: String,
    /// The model to use. Default: the daemon's `TRIAGED_LLM_MODEL`.
    #[serde(default)]
    pub model: Option<String>,
    /// The tools the model may call (only these). Read tools: search_conversations,
    /// get_conversation, get_contact, search_contacts, get_visitor, get_company,
    /// list_ticket_types, list_teams, list_admins, list_tags, search_articles. Write tools:
    /// reply_to_conversation, add_note, close_conversation, snooze_conversation,
    /// open_conversation, assign_conversation, tag_conversation, untag_conversation,
    /// create_ticket, hand_off. Writes only ever touch the triggering conversation.
    #[schemars(with = "Vec<String>")]
    pub tools: Vec<Spanned<String>>,
    /// How far the read tools reach. `conversation` (the default): the conversation that
    /// triggered the run, its contacts, their companies and the workspace directories (teams,
    /// admins, tags, ticket types, help-center articles); any other conversation, contact or
    /// company, and `search_conversations` / `search_contacts`, are refused. `workspace`: every
    /// read tool reaches the whole workspace. Whatever the model read can end up in a reply, so
    /// `triaged playbook check` warns when `workspace` meets `reply_to_conversation`.
    #[serde(default)]
    #[schemars(with = "Option<Reads>")]
    pub reads: Option<Spanned<Reads>>,
    /// At most this many replies to the customer per run. Default 1.
    #[serde(default = "one")]
    pub max_replies: u32,
    /// At most this many model turns. Default 8.
    #[serde(default = "default_max_steps")]
    pub max_steps: u32,
    /// At most this many tool calls in the run. Default 12.
    #[serde(default = "default_max_tool_calls")]
    pub max_tool_calls: u32,
    /// At most this many tokens (prompt + completion, all turns). Default 40000.
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    /// At most this much time for the whole agent step, e.g. `90s`, `2m`. Default `2m`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub wall_time: Option<Spanned<String>>,
    /// Sampling temperature, 0 (focused) to 2 (creative). Default: the model's own.
    #[serde(default)]
    #[schemars(with = "Option<f64>", range(min = 0.0, max = 2.0))]
    pub temperature: Option<Spanned<f64>>,
}

/// How far an agent's read tools reach (`agent.reads`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reads {
    /// The triggering conversation, its contacts, their companies and the workspace directories.
    #[default]
    Conversation,
    /// Any conversation, contact or company, and workspace-wide searches.
    Workspace,
}

fn one() -> u32 {
    1
}

/// Enough turns to read the thread, look something up and write.
fn default_max_steps() -> u32 {
    8
}

/// A few reads and a couple of writes.
fn default_max_tool_calls() -> u32 {
    12
}

/// A long thread plus a handful of turns on a small model.
fn default_max_tokens() -> u32 {
    40_000
}
