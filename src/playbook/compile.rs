//! Checks a parsed [`PlaybookSpec`] and turns it into a [`Playbook`], reporting every problem
//! with the line and column of the node at fault.
//!
//! Pure: no file or network access. Checks that need the whole set (duplicate names) live in
//! `load`.

use std::{path::Path, time::Duration};

use serde_saphyr::Spanned;

use super::{
    diagnostic::{Pos, Report, did_you_mean, list},
    model::{
        Agent, Assignee, BusinessHours, Conditions, ConversationState, DEFAULT_WALL_TIME, Playbook,
        Step, Target, Trigger,
    },
    names::{CHANNELS, KNOWN_TOOLS, topic_problem},
    spec::{
        AgentSpec, AssignTarget, AssigneeSpec, BusinessHoursSpec, ConditionsSpec, PlaybookSpec,
        StateSpec, StepSpec,
    },
    template::{Template, Variable},
};

/// Checks `spec`; returns the playbook when `report` gained no error.
pub fn compile(spec: PlaybookSpec, file: &Path, report: &mut Report) -> Option<Playbook> {
    let before = report.diagnostics.len();
    let name = &spec.name.value;
    if !is_kebab(name) {
        report.error(
            Pos::of(&spec.name),
            format!("playbook name `{name}` must be lowercase-kebab-case, e.g. `refund-request`"),
        );
    }
    let topics = &spec.trigger.topics;
    if topics.value.is_empty() {
        report.error(
            Pos::of(topics),
            "`topics` is empty: list at least one topic, e.g. `[conversation.user.created]`",
        );
    }
    for topic in &topics.value {
        if let Some(problem) = topic_problem(&topic.value) {
            report.error(Pos::of(topic), problem);
        }
    }
    let conditions = conditions(spec.trigger.conditions, report);
    let steps = steps(&spec.steps, Where::Steps, report);
    let fallback = steps_list(&spec.fallback, Where::Fallback, report);
    if steps.iter().any(|s| matches!(s, Step::Agent(_))) && spec.fallback.is_empty() {
        report.error(
            Pos::of(&spec.steps),
            "a playbook with an `agent` step needs a `fallback` (e.g. a `note` and an `assign` to \
             a human team) for when the agent fails",
        );
    }
    if report.diagnostics.len() > before {
        return None;
    }
    Some(Playbook {
        name: spec.name.value,
        description: spec.description,
        priority: spec.priority,
        mode: spec.mode,
        source: file.to_path_buf(),
        trigger: Trigger {
            topics: topics.value.iter().map(|t| t.value.clone()).collect(),
            conditions: conditions?,
        },
        steps,
        fallback,
    })
}

/// `refund-request`, `a1`; not `Refund`, `a--b`, `-a`.
fn is_kebab(name: &str) -> bool {
    !name.is_empty()
        && name.split('-').all(|w| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

fn conditions(spec: ConditionsSpec, report: &mut Report) -> Option<Conditions> {
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

/// Where a list of steps sits, which decides what it may contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Where {
    Steps,
    Fallback,
}

fn steps(list: &Spanned<Vec<Spanned<StepSpec>>>, at: Where, report: &mut Report) -> Vec<Step> {
    if list.value.is_empty() {
        report.error(Pos::of(list), "`steps` is empty: list at least one step");
    }
    steps_list(&list.value, at, report)
}

fn steps_list(list: &[Spanned<StepSpec>], at: Where, report: &mut Report) -> Vec<Step> {
    let mut out = Vec::new();
    // Variables available to the next step: ticket.id once an agent that may create tickets ran.
    let mut ticket_available = false;
    let mut seen_agent = false;
    for step in list {
        let pos = Pos::of(step);
        let compiled = match &step.value {
            StepSpec::Tag(name) if name.trim().is_empty() => {
                report.error(pos, "`tag` needs a tag name");
                None
            }
            StepSpec::Tag(name) => Some(Step::Tag(name.clone())),
            StepSpec::Note(text) => template(text, at, ticket_available, report).map(Step::Note),
            StepSpec::Reply(text) => template(text, at, ticket_available, report).map(Step::Reply),
            StepSpec::Assign(t) => Some(Step::Assign(target(t))),
            StepSpec::HandOff(t) => Some(Step::HandOff(target(t))),
            StepSpec::Snooze(d) => duration(d, "snooze", report).map(Step::Snooze),
            StepSpec::Close => Some(Step::Close),
            StepSpec::Agent(agent_spec) => {
                if at == Where::Fallback {
                    report.error(
                        pos,
                        "`fallback` cannot have an `agent` step (it runs when the agent fails)",
                    );
                } else if seen_agent {
                    report.error(pos, "a playbook can have only one `agent` step");
                }
                seen_agent = true;
                let compiled = agent(agent_spec, pos, report);
                ticket_available = compiled
                    .as_ref()
                    .is_some_and(|a| a.tools.iter().any(|t| t == "create_ticket"));
                compiled.map(|a| Step::Agent(Box::new(a)))
            }
        };
        out.extend(compiled);
    }
    out
}

fn target(t: &AssignTarget) -> Target {
    match t {
        AssignTarget::Team(name) => Target::TeamName(name.clone()),
        AssignTarget::TeamId(id) => Target::TeamId(id.as_str().into()),
        AssignTarget::AdminId(id) => Target::AdminId(id.as_str().into()),
    }
}

fn template(
    text: &Spanned<String>,
    at: Where,
    ticket_available: bool,
    report: &mut Report,
) -> Option<Template> {
    let parsed = match Template::parse(&text.value) {
        Ok(t) => t,
        Err(message) => {
            report.error(Pos::of(text), message);
            return None;
        }
    };
    let mut ok = true;
    for variable in parsed.variables() {
        let problem = match variable {
            Variable::TicketId if !ticket_available => Some(
                "`{{ticket.id}}` is only available in steps after an `agent` step whose `tools` \
                 include `create_ticket`",
            ),
            Variable::FailureReason if at != Where::Fallback => {
                Some("`{{failure.reason}}` is only available in `fallback` steps")
            }
            _ => None,
        };
        if let Some(problem) = problem {
            report.error(Pos::of(text), problem);
            ok = false;
        }
    }
    ok.then_some(parsed)
}

fn duration(value: &Spanned<String>, field: &str, report: &mut Report) -> Option<Duration> {
    match crate::config::parse_duration(&value.value) {
        Ok(d) if !d.is_zero() => Some(d),
        Ok(_) => {
            report.error(Pos::of(value), format!("`{field}` must be longer than 0"));
            None
        }
        Err(e) => {
            report.error(
                Pos::of(value),
                format!("invalid duration `{}` in `{field}`: {e}", value.value),
            );
            None
        }
    }
}

fn agent(spec: &AgentSpec, pos: Pos, report: &mut Report) -> Option<Agent> {
    let before = report.diagnostics.len();
    let known = || KNOWN_TOOLS.iter().map(|(n, _)| *n);
    for tool in &spec.tools {
        if !known().any(|n| n == tool.value) {
            report.error(
                Pos::of(tool),
                format!(
                    "unknown tool `{}`{}; tools: {}",
                    tool.value,
                    did_you_mean(&tool.value, known()),
                    list(known())
                ),
            );
        }
    }
    if spec.tools.is_empty() {
        report.error(
            pos,
            "`agent.tools` is empty: list the tools the model may use, e.g. `[get_conversation, add_note]`",
        );
    }
    if spec.instructions.trim().is_empty() {
        report.error(
            pos,
            "`agent.instructions` is empty: say what the model should do",
        );
    }
    let wall_time = match &spec.wall_time {
        Some(w) => duration(w, "wall_time", report),
        None => Some(DEFAULT_WALL_TIME),
    };
    if let Some(t) = &spec.temperature
        && !(0.0..=2.0).contains(&t.value)
    {
        report.error(Pos::of(t), "`temperature` must be between 0 and 2");
    }
    for (field, value) in [
        ("max_steps", spec.max_steps),
        ("max_tool_calls", spec.max_tool_calls),
        ("max_tokens", spec.max_tokens),
    ] {
        if value == 0 {
            report.error(pos, format!("`agent.{field}` must be at least 1"));
        }
    }
    if report.diagnostics.len() > before {
        return None;
    }
    Some(Agent {
        instructions: spec.instructions.clone(),
        model: spec.model.clone(),
        tools: spec.tools.iter().map(|t| t.value.clone()).collect(),
        max_replies: spec.max_replies,
        max_steps: spec.max_steps,
        max_tool_calls: spec.max_tool_calls,
        max_tokens: spec.max_tokens,
        wall_time: wall_time?,
        temperature: spec.temperature.as_ref().map(|t| t.value),
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::playbook::{Mode, Step, parse_str};

    const AGENT: &str =
        "  - agent:\n      instructions: help\n      tools: [get_conversation, create_ticket]\n";

    fn check(yaml: &str) -> Result<crate::playbook::Playbook, Vec<String>> {
        parse_str(yaml, Path::new("t.yaml"))
            .map_err(|ds| ds.iter().map(ToString::to_string).collect())
    }

    fn doc(steps: &str, fallback: &str) -> String {
        format!(
            "name: t\ntrigger:\n  topics: [conversation.user.created]\nsteps:\n{steps}fallback:\n{fallback}"
        )
    }

    #[test]
    fn defaults_are_the_safe_ones() {
        let p = check(&doc(AGENT, "  - close\n")).unwrap();
        assert_eq!(p.mode, Mode::Draft);
        assert_eq!(p.priority, 0);
        let agent = p.agent().unwrap();
        assert_eq!(agent.max_replies, 1);
        assert_eq!(agent.wall_time, crate::playbook::DEFAULT_WALL_TIME);
        assert_eq!(agent.model, None);
    }

    #[test]
    fn durations_are_written_like_people_say_them() {
        let p = check(&doc("  - snooze: 3d\n", "  - close\n")).unwrap();
        assert!(
            matches!(p.steps[0], Step::Snooze(d) if d.as_secs() == 3 * 86_400),
            "{:?}",
            p.steps
        );
    }

    #[test]
    fn ticket_id_is_only_available_after_an_agent_that_may_create_tickets() {
        let note = "  - note: \"ticket {{ticket.id}}\"\n";
        assert!(check(&doc(&format!("{AGENT}{note}"), "  - close\n")).is_ok());
        let before = check(&doc(&format!("{note}{AGENT}"), "  - close\n")).unwrap_err();
        assert!(
            before[0].starts_with("t.yaml:5:11: `{{ticket.id}}`"),
            "{before:?}"
        );
        let no_tickets = AGENT.replace(", create_ticket", "");
        assert!(check(&doc(&format!("{no_tickets}{note}"), "  - close\n")).is_err());
    }

    #[test]
    fn failure_reason_is_only_available_in_the_fallback() {
        let note = "  - note: \"{{failure.reason}}\"\n";
        assert!(check(&doc(AGENT, note)).is_ok());
        let err = check(&doc(note, "  - close\n")).unwrap_err();
        assert!(err[0].contains("only available in `fallback`"), "{err:?}");
    }

    #[test]
    fn names_must_be_lowercase_kebab_case() {
        for bad in ["Refund", "refund_request", "-a", "a--b", "a-"] {
            let yaml =
                doc("  - close\n", "  - close\n").replace("name: t", &format!("name: \"{bad}\""));
            let err = check(&yaml).unwrap_err();
            assert!(err[0].contains("lowercase-kebab-case"), "{bad}: {err:?}");
        }
    }

    #[test]
    fn every_semantic_error_in_a_file_is_reported_not_only_the_first() {
        let yaml = "name: t\ntrigger:\n  topics: [conversation.closed]\n  conditions:\n    \
                    matches: '('\nsteps:\n  - snooze: soon\n";
        let err = check(yaml).unwrap_err();
        assert_eq!(err.len(), 3, "{err:?}");
    }
}
