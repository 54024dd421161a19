//! Checks `trigger.conditions` and builds [`Conditions`]: regexes compiled, time zones resolved,
//! opening hours parsed. Pure: never reads the clock (matching gets the time from its context).

use serde_saphyr::Spanned;

use crate::playbook::{
    diagnostic::{Pos, Report, did_you_mean, list},
    model::{Assignee, BusinessHours, Conditions, ConversationState},
    names::CHANNELS,
    spec::{AssigneeSpec, BusinessHoursSpec, ConditionsSpec, StateSpec},
};

/// Checks `spec`; problems go to `report`.
pub(super) fn conditions(spec: ConditionsSpec, report: &mut Report) -> Option<Conditions> {
    let mut c = Conditions {
        states: spec
            .state
            .iter()
            .map(|s| match s {
                StateSpec::Open => ConversationState::Open,
                StateSpec::Closed => ConversationState::Closed,
                StateSpec::Snoozed => ConversationState::Snoozed,
            })
            .collect(),
        ..Conditions::default()
    };
    if let Some(contains) = spec.contains {
        c.contains_any = lower(contains.any);
        c.contains_all = lower(contains.all);
    }
    if let Some(pattern) = &spec.matches {
        match regex::RegexBuilder::new(&pattern.value)
            .case_insensitive(true)
            .size_limit(1 << 20)
            .build()
        {
            Ok(re) => c.matches = Some(re),
            Err(e) => report.error(
                Pos::of(pattern),
                format!(
                    "invalid regular expression in `matches`: {}",
                    one_line(&e.to_string())
                ),
            ),
        }
    }
    if let Some(tags) = spec.tags {
        c.tags_present = lower(tags.present);
        c.tags_absent = lower(tags.absent);
    }
    c.assignee = spec.assignee.map(|a| match a {
        AssigneeSpec::Unassigned => Assignee::Unassigned,
        AssigneeSpec::Team(name) => Assignee::TeamName(name),
        AssigneeSpec::TeamId(id) => Assignee::TeamId(id.into()),
        AssigneeSpec::AdminId(id) => Assignee::AdminId(id.into()),
    });
    for channel in &spec.channel {
        if !CHANNELS.contains(&channel.value.as_str()) {
            report.error(
                Pos::of(channel),
                format!(
                    "unknown channel `{}`{}; channels: {}",
                    channel.value,
                    did_you_mean(&channel.value, CHANNELS.iter().copied()),
                    list(CHANNELS.iter().copied())
                ),
            );
        }
    }
    c.channels = spec.channel.into_iter().map(|c| c.value).collect();
    c.business_hours = spec.business_hours.and_then(|h| hours(h, report));
    c.outside_business_hours = spec.outside_business_hours.and_then(|h| hours(h, report));
    if let Some(contact) = spec.contact {
        if let Some(role) = contact.role {
            if role.value != "user" && role.value != "lead" {
                report.error(
                    Pos::of(&role),
                    format!(
                        "unknown contact role `{}`; roles: `user`, `lead`",
                        role.value
                    ),
                );
            }
            c.contact_role = Some(role.value);
        }
        c.custom_attributes = contact
            .custom_attributes
            .into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::Array(values) => (k, values),
                other => (k, vec![other]),
            })
            .collect();
    }
    Some(c)
}

fn lower(v: Vec<String>) -> Vec<String> {
    v.into_iter().map(|s| s.to_lowercase()).collect()
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn hours(spec: BusinessHoursSpec, report: &mut Report) -> Option<BusinessHours> {
    let timezone = match jiff::tz::TimeZone::get(&spec.timezone.value) {
        Ok(tz) => Some(tz),
        Err(_) => {
            report.error(
                Pos::of(&spec.timezone),
                format!(
                    "unknown time zone `{}`: use an IANA name such as `Europe/Paris`, \
                     `America/New_York` or `UTC`",
                    spec.timezone.value
                ),
            );
            None
        }
    };
    let start = clock(&spec.start, report);
    let end = clock(&spec.end, report);
    if let (Some(s), Some(e)) = (start, end)
        && s >= e
    {
        report.error(
            Pos::of(&spec.end),
            format!(
                "`end` ({}) must be after `start` ({}); for overnight hours use \
                 `outside_business_hours` with the daytime window",
                spec.end.value, spec.start.value
            ),
        );
        return None;
    }
    Some(BusinessHours {
        timezone: timezone?,
        days: spec.days,
        start_minute: start?,
        end_minute: end?,
    })
}

/// `"09:30"` → 570; `"24:00"` → 1440.
fn clock(value: &Spanned<String>, report: &mut Report) -> Option<u16> {
    let parsed = value.value.split_once(':').and_then(|(h, m)| {
        let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
        (m.to_string().len() <= 2 && m < 60 && (h < 24 || (h == 24 && m == 0)))
            .then_some(h * 60 + m)
    });
    if parsed.is_none() {
        report.error(
            Pos::of(value),
            format!(
                "invalid time `{}`: write HH:MM, e.g. \"09:00\"",
                value.value
            ),
        );
    }
    parsed
}
