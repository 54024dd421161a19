//! `trigger:` as written: topics and conditions. Shapes only: topics, regexes, time zones and
//! times are checked in `compile`, never here.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

/// When a playbook applies. All listed conditions must hold.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TriggerSpec {
    /// Intercom webhook topics that start this playbook, e.g. `conversation.user.created` (a
    /// customer starts a conversation) and `conversation.user.replied` (a customer replies).
    #[schemars(with = "Vec<String>", length(min = 1))]
    pub topics: Spanned<Vec<Spanned<String>>>,
    /// Conditions on the conversation; all must hold. Leave out to match every event of the topics.
    #[serde(default)]
    pub conditions: ConditionsSpec,
    /// Run even where the bot has gone quiet: a conversation handed off to humans, or where a
    /// teammate replied after the bot or is assigned (e.g. a playbook for reopened
    /// conversations). The bot's own echoes and the hourly reply cap still stop it. Default false.
    #[serde(default)]
    pub reengage: bool,
}

/// Conditions on the conversation at the time of the event. Every condition given must hold.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConditionsSpec {
    /// The conversation is in one of these states, e.g. `[open]`.
    #[serde(default)]
    pub state: Vec<StateSpec>,
    /// The customer's latest message contains phrases (case-insensitive).
    #[serde(default)]
    pub contains: Option<ContainsSpec>,
    /// The customer's latest message matches this regular expression (case-insensitive,
    /// Rust `regex` syntax), e.g. `\brefund(s|ed)?\b`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub matches: Option<Spanned<String>>,
    /// Tags that must be on the conversation, or must not be (by tag name, case-insensitive).
    #[serde(default)]
    pub tags: Option<TagsSpec>,
    /// Who the conversation is assigned to: `unassigned` (no teammate and no team),
    /// `{ team: Billing }`, `{ team_id: "123" }` or `{ admin_id: "456" }`.
    #[serde(default)]
    pub assignee: Option<AssigneeSpec>,
    /// The channel the conversation started on (Intercom `source.type`), one of: conversation
    /// (Messenger), email, facebook, instagram, phone_call, phone_switch, push, sms, twitter,
    /// whatsapp.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub channel: Vec<Spanned<String>>,
    /// The event happens inside these opening hours.
    #[serde(default)]
    pub business_hours: Option<BusinessHoursSpec>,
    /// The event happens outside these opening hours (e.g. for an after-hours reply).
    #[serde(default)]
    pub outside_business_hours: Option<BusinessHoursSpec>,
    /// Conditions on the customer (the conversation's first contact).
    #[serde(default)]
    pub contact: Option<ContactSpec>,
}

/// A conversation state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StateSpec {
    Open,
    Closed,
    Snoozed,
}

/// Phrases to look for in the customer's latest message (case-insensitive).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainsSpec {
    /// At least one of these phrases appears.
    #[serde(default)]
    pub any: Vec<String>,
    /// Every one of these phrases appears.
    #[serde(default)]
    pub all: Vec<String>,
}

/// Tag conditions, by tag name (case-insensitive).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TagsSpec {
    /// Every one of these tags is on the conversation.
    #[serde(default)]
    pub present: Vec<String>,
    /// None of these tags is on the conversation.
    #[serde(default)]
    pub absent: Vec<String>,
}

/// Who a conversation is assigned to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssigneeSpec {
    /// Neither a teammate nor a team.
    Unassigned,
    /// The team with this name (as shown in Intercom, case-insensitive).
    Team(String),
    /// The team with this Intercom id.
    TeamId(String),
    /// The teammate (admin) with this Intercom id.
    AdminId(String),
}

/// Opening hours: a time window on some days of the week, in one time zone.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BusinessHoursSpec {
    /// IANA time zone name, e.g. `Europe/Paris`, `America/New_York`, `UTC`. Daylight saving time
    /// is followed.
    #[schemars(with = "String")]
    pub timezone: Spanned<String>,
    /// Days of the week, e.g. `[mon, tue, wed, thu, fri]`. Default: Monday to Friday.
    #[serde(default = "weekdays")]
    pub days: Vec<Day>,
    /// Opening time, `HH:MM` (24-hour), e.g. `"09:00"`.
    #[schemars(with = "String", regex(pattern = r"^\d{1,2}:\d{2}$"))]
    pub start: Spanned<String>,
    /// Closing time, `HH:MM` (24-hour), after `start`, e.g. `"17:30"`. `"24:00"` means midnight.
    #[schemars(with = "String", regex(pattern = r"^\d{1,2}:\d{2}$"))]
    pub end: Spanned<String>,
}

fn weekdays() -> Vec<Day> {
    vec![Day::Mon, Day::Tue, Day::Wed, Day::Thu, Day::Fri]
}

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

/// Conditions on the customer.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactSpec {
    /// `user` (signed-up customer) or `lead` (anonymous visitor who left details).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub role: Option<Spanned<String>>,
    /// Custom attributes that must have these values, e.g. `plan: pro`. A list means any of its
    /// values, e.g. `plan: [pro, enterprise]`.
    #[serde(default)]
    pub custom_attributes: BTreeMap<String, serde_json::Value>,
}
