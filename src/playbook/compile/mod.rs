//! Checks a parsed [`PlaybookSpec`] and turns it into a [`Playbook`], reporting every problem
//! with the line and column of the node at fault.
//!
//! Pure: no file or network access. Checks that need the whole set (duplicate names) live in
//! `load`.

use std::{path::Path, time::Duration};

use serde_saphyr::Spanned;

mod conditions;

use conditions::conditions;

use super::{
    diagnostic::{Pos, Report, did_you_mean, list},
    model::{Agent, DEFAULT_WALL_TIME, Playbook, Reads, Step, Target, Trigger},
    names::{KNOWN_TOOLS, topic_problem},
    spec::{AgentSpec, AssignTarget, PlaybookSpec, StepSpec},
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
        // Set by `load`, which has the file's text.
        version: String::new(),
        trigger: Trigger {
            topics: topics.value.iter().map(|t| t.value.clone()).collect(),
            conditions: conditions?,
            reengage: spec.trigger.reengage,
        },
        steps,
        fallback,
        warnings: std::mem::take(&mut report.warnings),
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
    let reads = spec.reads.as_ref().map_or(Reads::Conversation, |r| r.value);
    if let Some(at) = &spec.reads
        && reads == Reads::Workspace
        && spec
            .tools
            .iter()
            .any(|t| t.value == "reply_to_conversation")
    {
        report.warn(Pos::of(at), WORKSPACE_READS_WITH_REPLY);
    }
    if report.diagnostics.len() > before {
        return None;
    }
    Some(Agent {
        instructions: spec.instructions.clone(),
        model: spec.model.clone(),
        tools: spec.tools.iter().map(|t| t.value.clone()).collect(),
        reads,
        max_replies: spec.max_replies,
        max_steps: spec.max_steps,
        max_tool_calls: spec.max_tool_calls,
        max_tokens: spec.max_tokens,
        wall_time: wall_time?,
        temperature: spec.temperature.as_ref().map(|t| t.value),
    })
}

/// The warning on `reads: workspace` in a playbook whose model may reply to the customer.
const WORKSPACE_READS_WITH_REPLY: &str = "`reads: workspace` with `reply_to_conversation`: the \
    model can read other customers' conversations, contacts and companies, and a customer's \
    message can ask it to paste them into its reply to that customer. The egress check refuses \
    replies with other customers' email addresses, phone numbers and ids, not every word of \
    theirs. Keep the default `reads: conversation` unless the playbook needs workspace \
    searches, or leave the reply to a teammate (`add_note`, `hand_off`)";

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
    fn workspace_reads_with_a_reply_tool_load_with_a_warning_at_reads() {
        let conversation = check(&doc(AGENT, "  - close\n")).unwrap();
        assert_eq!(
            conversation.agent().unwrap().reads,
            crate::playbook::Reads::Conversation
        );
        assert!(conversation.warnings.is_empty());
        let agent = "  - agent:\n      instructions: help\n      reads: workspace\n      \
                     tools: [search_conversations, reply_to_conversation]\n";
        let p = check(&doc(agent, "  - close\n")).unwrap();
        assert_eq!(p.agent().unwrap().reads, crate::playbook::Reads::Workspace);
        let warnings: Vec<String> = p.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with(
                "t.yaml:7:14: warning: `reads: workspace` with `reply_to_conversation`"
            ),
            "{warnings:?}"
        );
        // Workspace reads without a reply tool (notes for teammates): no warning.
        let notes = agent.replace("reply_to_conversation", "add_note");
        assert!(
            check(&doc(&notes, "  - close\n"))
                .unwrap()
                .warnings
                .is_empty()
        );
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
    fn an_empty_file_says_so_at_its_first_line() {
        let err = check("\n  \n").unwrap_err();
        assert_eq!(
            err,
            [
                "t.yaml:1:1: the file is empty: a playbook needs at least `name`, `trigger` and `steps`"
            ]
        );
    }

    #[test]
    fn every_semantic_error_in_a_file_is_reported_not_only_the_first() {
        let yaml = "name: t\ntrigger:\n  topics: [conversation.closed]\n  conditions:\n    \
                    matches: '('\nsteps:\n  - snooze: soon\n";
        let err = check(yaml).unwrap_err();
        assert_eq!(err.len(), 3, "{err:?}");
    }
}
