//! Pure trigger matching: does a playbook apply to this event?
//!
//! The worker fills a [`MatchContext`] from the webhook and the conversation; [`matches`] answers
//! from that alone. Never does I/O and never reads the clock (the time is in the context).

use std::collections::BTreeMap;

use crate::ids::{AdminId, TeamId};

use super::model::{Assignee, BusinessHours, Conditions, ConversationState, Day, Playbook};

/// What a playbook's trigger can look at, filled by the worker.
#[derive(Debug, Clone)]
pub struct MatchContext {
    /// The webhook topic, e.g. `conversation.user.replied`.
    pub topic: String,
    pub state: ConversationState,
    /// The customer's latest message as plain text (empty when there is none).
    pub message: String,
    /// Names of the conversation's tags.
    pub tags: Vec<String>,
    /// `None` when no admin is assigned (Intercom sends `0` or `null`).
    pub admin_assignee_id: Option<AdminId>,
    /// `None` when no team is assigned.
    pub team_assignee_id: Option<TeamId>,
    /// The assigned team's name, when known.
    pub team_assignee_name: Option<String>,
    /// The conversation's `source.type`, e.g. `conversation` (Messenger) or `email`.
    pub channel: String,
    pub contact: ContactFacts,
    /// When the event happened, in Unix seconds.
    pub now: i64,
}

/// What is known about the customer.
#[derive(Debug, Clone, Default)]
pub struct ContactFacts {
    /// `user` or `lead`.
    pub role: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub custom_attributes: BTreeMap<String, serde_json::Value>,
}

/// Whether `playbook` applies to the event in `ctx`: its topic is listed and every condition holds.
pub fn matches(playbook: &Playbook, ctx: &MatchContext) -> bool {
    playbook.trigger.topics.contains(&ctx.topic)
        && conditions_hold(&playbook.trigger.conditions, ctx)
}

/// Whether every condition holds for `ctx`.
pub fn conditions_hold(c: &Conditions, ctx: &MatchContext) -> bool {
    let message = ctx.message.to_lowercase();
    let has_tag = |t: &String| ctx.tags.iter().any(|x| x.to_lowercase() == *t);
    (c.states.is_empty() || c.states.contains(&ctx.state))
        && (c.contains_any.is_empty() || c.contains_any.iter().any(|p| message.contains(p)))
        && c.contains_all.iter().all(|p| message.contains(p))
        && c.matches
            .as_ref()
            .is_none_or(|re| re.is_match(&ctx.message))
        && c.tags_present.iter().all(has_tag)
        && !c.tags_absent.iter().any(has_tag)
        && c.assignee.as_ref().is_none_or(|a| assignee_is(a, ctx))
        && (c.channels.is_empty() || c.channels.contains(&ctx.channel))
        && c.business_hours.as_ref().is_none_or(|h| within(h, ctx.now))
        && c.outside_business_hours
            .as_ref()
            .is_none_or(|h| !within(h, ctx.now))
        && c.contact_role
            .as_ref()
            .is_none_or(|r| ctx.contact.role.as_ref() == Some(r))
        && c.custom_attributes.iter().all(|(name, accepted)| {
            ctx.contact
                .custom_attributes
                .get(name)
                .is_some_and(|actual| accepted.iter().any(|a| same_value(a, actual)))
        })
}

fn assignee_is(a: &Assignee, ctx: &MatchContext) -> bool {
    match a {
        Assignee::Unassigned => ctx.admin_assignee_id.is_none() && ctx.team_assignee_id.is_none(),
        Assignee::TeamName(name) => ctx
            .team_assignee_name
            .as_ref()
            .is_some_and(|n| n.to_lowercase() == name.to_lowercase()),
        Assignee::TeamId(id) => ctx.team_assignee_id.as_ref() == Some(id),
        Assignee::AdminId(id) => ctx.admin_assignee_id.as_ref() == Some(id),
    }
}

/// Equal JSON values, or scalars that print the same (`"3"` and `3`, `"pro"` and `"Pro"`).
fn same_value(expected: &serde_json::Value, actual: &serde_json::Value) -> bool {
    fn text(v: &serde_json::Value) -> Option<String> {
        match v {
            serde_json::Value::String(s) => Some(s.to_lowercase()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
    expected == actual || (text(expected).is_some() && text(expected) == text(actual))
}

/// Whether Unix second `now` falls inside the opening hours.
pub fn within(hours: &BusinessHours, now: i64) -> bool {
    let Ok(ts) = jiff::Timestamp::from_second(now) else {
        return false;
    };
    let local = ts.to_zoned_datetime(hours.timezone.clone());
    let day = match local.weekday() {
        jiff::civil::Weekday::Monday => Day::Mon,
        jiff::civil::Weekday::Tuesday => Day::Tue,
        jiff::civil::Weekday::Wednesday => Day::Wed,
        jiff::civil::Weekday::Thursday => Day::Thu,
        jiff::civil::Weekday::Friday => Day::Fri,
        jiff::civil::Weekday::Saturday => Day::Sat,
        jiff::civil::Weekday::Sunday => Day::Sun,
    };
    let minute =
        u16::try_from(i32::from(local.hour()) * 60 + i32::from(local.minute())).unwrap_or(0);
    hours.days.contains(&day) && hours.start_minute <= minute && minute < hours.end_minute
}
