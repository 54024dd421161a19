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
    /// The customer's latest message as plain text (for `conversation.user.created`, the
    /// conversation's source body); empty when there is none.
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

impl Conditions {
    /// Whether the conditions look at the contact (its role or custom attributes): only then is
    /// it fetched before matching.
    pub fn use_contact(&self) -> bool {
        self.contact_role.is_some() || !self.custom_attributes.is_empty()
    }
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::playbook::{PlaybookSet, parse_str};

    fn playbook(conditions: &str) -> Playbook {
        playbook_named("p", 0, conditions)
    }

    fn playbook_named(name: &str, priority: i32, conditions: &str) -> Playbook {
        let yaml = format!(
            "name: {name}\npriority: {priority}\ntrigger:\n  topics: [conversation.user.created]\n  \
             conditions:\n{conditions}\nsteps:\n  - close\n"
        );
        parse_str(&yaml, Path::new("t.yaml")).unwrap_or_else(|d| panic!("{d:?}\n{yaml}"))
    }

    fn ctx() -> MatchContext {
        MatchContext {
            topic: "conversation.user.created".into(),
            state: ConversationState::Open,
            message: "Hello, I would like a REFUND for my order".into(),
            tags: vec!["VIP".into()],
            admin_assignee_id: None,
            team_assignee_id: None,
            team_assignee_name: None,
            channel: "email".into(),
            contact: ContactFacts {
                role: Some("user".into()),
                custom_attributes: [
                    ("plan".to_owned(), serde_json::json!("Pro")),
                    ("seats".to_owned(), serde_json::json!(3)),
                ]
                .into_iter()
                .collect(),
                ..ContactFacts::default()
            },
            // Friday 2026-11-27 09:30 in Paris (UTC+1).
            now: 1_795_768_200,
        }
    }

    fn with(f: impl FnOnce(&mut MatchContext)) -> MatchContext {
        let mut c = ctx();
        f(&mut c);
        c
    }

    #[test]
    fn a_playbook_without_conditions_matches_only_its_topics() {
        let p = playbook("    {}");
        assert!(matches(&p, &ctx()));
        assert!(!matches(
            &p,
            &with(|c| c.topic = "conversation.user.replied".into())
        ));
    }

    #[test]
    fn each_condition_decides_the_match() {
        // (conditions, context that matches, context that does not)
        type Change = fn(&mut MatchContext);
        let table: &[(&str, Change)] = &[
            ("    state: [open, snoozed]", |c| {
                c.state = ConversationState::Closed
            }),
            ("    contains: {any: [refund, money back]}", |c| {
                c.message = "hi".into()
            }),
            ("    contains: {all: [refund, order]}", |c| {
                c.message = "refund please".into()
            }),
            ("    matches: '\\brefund(s|ed)?\\b'", |c| {
                c.message = "refunding".into()
            }),
            ("    tags: {present: [vip]}", |c| c.tags.clear()),
            ("    tags: {absent: [spam]}", |c| c.tags.push("Spam".into())),
            ("    assignee: unassigned", |c| {
                c.team_assignee_id = Some("7".into())
            }),
            ("    channel: [email, sms]", |c| {
                c.channel = "conversation".into()
            }),
            ("    contact: {role: user}", |c| {
                c.contact.role = Some("lead".into())
            }),
            (
                "    contact: {custom_attributes: {plan: [pro, enterprise], seats: \"3\"}}",
                |c| {
                    c.contact
                        .custom_attributes
                        .insert("plan".into(), serde_json::json!("free"));
                },
            ),
        ];
        for (conditions, change) in table {
            let p = playbook(conditions);
            assert!(matches(&p, &ctx()), "should match: {conditions}");
            let mut c = ctx();
            change(&mut c);
            assert!(
                !matches(&p, &c),
                "should not match after the change: {conditions}"
            );
        }
    }

    #[test]
    fn assignee_conditions_compare_team_names_case_insensitively_and_ids_exactly() {
        let assigned = with(|c| {
            c.team_assignee_id = Some("42".into());
            c.team_assignee_name = Some("Billing".into());
            c.admin_assignee_id = Some("9".into());
        });
        assert!(matches(
            &playbook("    assignee: {team: billing}"),
            &assigned
        ));
        assert!(matches(&playbook("    assignee: {team_id: 42}"), &assigned));
        assert!(matches(
            &playbook("    assignee: {admin_id: \"9\"}"),
            &assigned
        ));
        assert!(!matches(
            &playbook("    assignee: {admin_id: \"10\"}"),
            &assigned
        ));
        assert!(!matches(&playbook("    assignee: unassigned"), &assigned));
    }

    #[test]
    fn business_hours_follow_the_time_zone_including_daylight_saving_time() {
        let hours = "    business_hours:\n      timezone: Europe/Paris\n      start: \"09:00\"\n      \
                     end: \"17:30\"";
        let p = playbook(hours);
        let at = |now| with(|c| c.now = now);
        assert!(matches(&p, &at(1_795_768_200)), "Friday 09:30 in Paris");
        assert!(!matches(&p, &at(1_795_766_340)), "Friday 08:59 in Paris");
        assert!(!matches(&p, &at(1_795_856_400)), "Saturday 10:00 in Paris");
        assert!(
            matches(&p, &at(1_782_891_000)),
            "Wednesday 07:30 UTC in July is 09:30 in Paris (UTC+2)"
        );
        let outside = playbook(&hours.replace("business_hours", "outside_business_hours"));
        assert!(!matches(&outside, &at(1_795_768_200)));
        assert!(matches(&outside, &at(1_795_856_400)));
    }

    #[test]
    fn the_highest_priority_match_wins_and_ties_go_to_the_first_name() {
        let set = PlaybookSet::new(vec![
            playbook_named("catch-all", -100, "    {}"),
            playbook_named("zeta", 10, "    {}"),
            playbook_named("alpha", 10, "    {}"),
            playbook_named("never", 50, "    state: [closed]"),
        ]);
        assert_eq!(
            set.first_match(&ctx()).map(|p| p.name.as_str()),
            Some("alpha")
        );
        let replied = with(|c| c.topic = "conversation.user.replied".into());
        assert!(set.first_match(&replied).is_none());
    }

    #[test]
    fn yes_in_a_custom_attribute_is_the_word_not_a_boolean() {
        let p = playbook("    contact: {custom_attributes: {beta: yes}}");
        let word = with(|c| {
            c.contact
                .custom_attributes
                .insert("beta".into(), serde_json::json!("yes"));
        });
        let boolean = with(|c| {
            c.contact
                .custom_attributes
                .insert("beta".into(), serde_json::json!(true));
        });
        assert!(matches(&p, &word));
        assert!(!matches(&p, &boolean));
    }
}
