//! Runs a matched playbook on a conversation: its deterministic steps and its agent step in order,
//! the fallback steps when anything fails, the draft review note, and the outcome.
//!
//! Steps go through the same [`Toolbox`] as the model's calls, so the guard, the reply cap (steps
//! count too), the mode and exactly-once writes apply to them alike.

use serde_json::{Value, json};

use super::{
    AgentEnd, Usage, prompt,
    record::{Entry, Recorder},
};
use crate::{
    llm::Llm,
    playbook::{MatchContext, Playbook, Step, Target, TemplateValues, Variable},
    tools::{
        ToolName,
        toolbox::{CallStatus, Effect, Toolbox},
    },
};

/// The failure reason once transient failures have been retried for `TRIAGED_RETRY_FOR`.
pub const RETRIES_EXHAUSTED: &str = "retries_exhausted";

/// How a playbook run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Every step ran: `resolved`, `replied`, `handed_off`, `escalated` or `no_action`.
    Succeeded { outcome: &'static str },
    /// A step or the agent failed (or a budget ran out); the fallback has run.
    Failed { reason: String, detail: String },
    /// Intercom is unavailable or a write's outcome is unknown: try the whole run again later.
    Retry { detail: String },
}

/// What a run works on.
#[derive(Debug)]
pub struct Subject<'a> {
    pub playbook: &'a Playbook,
    pub ctx: &'a MatchContext,
    pub conversation_id: &'a str,
    pub topic: &'a str,
    /// The conversation's timeline, for the agent's prompt.
    pub timeline: String,
    /// Set when the daily LLM budget is spent: the agent step takes the fallback (reason
    /// `budget`) without calling the model.
    pub over_budget: Option<String>,
    /// No attempt follows this one: a transient failure takes the fallback (reason
    /// `retries_exhausted`) instead of asking for another attempt.
    pub last_attempt: bool,
}

/// Runs the playbook. `llm` is `None` when no LLM is configured: an agent step then fails with
/// `llm_unavailable` and the fallback runs.
pub async fn execute(
    llm: Option<&Llm>,
    subject: &Subject<'_>,
    toolbox: &mut Toolbox,
    recorder: &Recorder,
    usage: &mut Usage,
) -> Ending {
    let mut values =
        TemplateValues::for_run(subject.ctx, subject.conversation_id, subject.playbook);
    let mut failure: Option<(String, String)> = None;
    for step in &subject.playbook.steps {
        match step {
            Step::Agent(spec) => {
                let Some(llm) = llm else {
                    failure = Some((
                        "llm_unavailable".into(),
                        "no LLM is configured (TRIAGED_LLM_API_KEY)".into(),
                    ));
                    break;
                };
                if let Some(detail) = &subject.over_budget {
                    failure = Some(("budget".into(), detail.clone()));
                    break;
                }
                let system = prompt::system(subject.playbook, &spec.instructions);
                toolbox.know_text(&spec.instructions);
                toolbox.know_text(&subject.playbook.description);
                let context =
                    prompt::conversation(subject.topic, subject.conversation_id, &subject.timeline);
                match super::run(llm, spec, system, context, toolbox, recorder, usage).await {
                    AgentEnd::Finished { answer } => {
                        recorder
                            .record(Entry {
                                kind: "agent_finished",
                                payload: json!({"answer": answer}),
                                ..Default::default()
                            })
                            .await;
                    }
                    AgentEnd::Failed {
                        transient: true,
                        detail,
                        ..
                    } => {
                        if subject.last_attempt {
                            failure = Some((RETRIES_EXHAUSTED.into(), detail));
                            break;
                        }
                        return Ending::Retry { detail };
                    }
                    AgentEnd::Failed { reason, detail, .. } => {
                        failure = Some((reason.to_owned(), detail));
                        break;
                    }
                }
            }
            other => {
                values.ticket_id = ticket_number(toolbox.effects());
                match run_step(other, subject, &values, toolbox, recorder).await {
                    StepEnd::Ok => {}
                    StepEnd::Retry(detail) if subject.last_attempt => {
                        failure = Some((RETRIES_EXHAUSTED.into(), detail));
                        break;
                    }
                    StepEnd::Retry(detail) => return Ending::Retry { detail },
                    StepEnd::Failed(detail) => {
                        failure = Some(("step_failed".into(), detail));
                        break;
                    }
                }
            }
        }
    }
    if let Some((reason, detail)) = failure {
        values.failure_reason = Some(reason.clone());
        values.ticket_id = ticket_number(toolbox.effects());
        recorder
            .record(Entry {
                kind: "fallback",
                name: Some(&reason),
                payload: json!({"reason": reason, "detail": detail}),
                ..Default::default()
            })
            .await;
        for step in &subject.playbook.fallback {
            if let StepEnd::Failed(d) | StepEnd::Retry(d) =
                run_step(step, subject, &values, toolbox, recorder).await
            {
                tracing::error!(detail = %d, "a fallback step failed");
            }
        }
        flush(toolbox, subject, recorder).await;
        return Ending::Failed { reason, detail };
    }
    flush(toolbox, subject, recorder).await;
    Ending::Succeeded {
        outcome: outcome(toolbox.effects()),
    }
}

async fn flush(toolbox: &mut Toolbox, subject: &Subject<'_>, recorder: &Recorder) {
    match toolbox.flush_drafts(&subject.playbook.name).await {
        Ok(true) => {
            recorder
                .record(Entry {
                    kind: "draft_note",
                    payload: json!({"written": true}),
                    ..Default::default()
                })
                .await;
        }
        Ok(false) => {}
        Err(error) => tracing::error!(%error, "could not write the draft review note"),
    }
}

/// The run's outcome from what its writes did.
pub fn outcome(effects: &[Effect]) -> &'static str {
    let has = |f: fn(&Effect) -> bool| effects.iter().any(f);
    if has(|e| matches!(e, Effect::HandedOff)) {
        "handed_off"
    } else if has(|e| matches!(e, Effect::TicketCreated { .. })) {
        "escalated"
    } else if has(|e| matches!(e, Effect::Closed)) {
        "resolved"
    } else if has(|e| matches!(e, Effect::Replied)) {
        "replied"
    } else {
        "no_action"
    }
}

fn ticket_number(effects: &[Effect]) -> Option<String> {
    effects.iter().rev().find_map(|e| match e {
        Effect::TicketCreated { number, id } => number.clone().or_else(|| Some(id.clone())),
        _ => None,
    })
}

enum StepEnd {
    Ok,
    Failed(String),
    Retry(String),
}

async fn run_step(
    step: &Step,
    subject: &Subject<'_>,
    values: &TemplateValues,
    toolbox: &mut Toolbox,
    recorder: &Recorder,
) -> StepEnd {
    let conversation = subject.conversation_id;
    let with_contact;
    let values = match step {
        Step::Note(t) | Step::Reply(t) if t.variables().any(Variable::is_contact) => {
            // The contact is read when a template first names it, and once per run.
            match toolbox.run_contact().await {
                Ok(contact) => {
                    let contact = contact.as_ref();
                    with_contact = values.with_contact(
                        contact.and_then(|c| c.name.clone()),
                        contact.and_then(|c| c.email.clone()),
                    );
                    &with_contact
                }
                Err(e) => return StepEnd::Retry(e.to_string()),
            }
        }
        _ => values,
    };
    let render = |t: &crate::playbook::Template| t.render(values).map_err(|e| e.to_string());
    let (tool, args): (ToolName, Value) = match step {
        Step::Tag(tag) => (
            ToolName::TagConversation,
            json!({"conversation_id": conversation, "tag": tag}),
        ),
        Step::Note(t) => match render(t) {
            Ok(body) => (
                ToolName::AddNote,
                json!({"conversation_id": conversation, "body": body}),
            ),
            Err(e) => return StepEnd::Failed(format!("note: {e}")),
        },
        Step::Reply(t) => match render(t) {
            Ok(body) => (
                ToolName::ReplyToConversation,
                json!({"conversation_id": conversation, "body": body}),
            ),
            Err(e) => return StepEnd::Failed(format!("reply: {e}")),
        },
        Step::Assign(target) => (
            ToolName::AssignConversation,
            assign_args(conversation, target),
        ),
        Step::HandOff(target) => match target {
            Target::AdminId(_) => (
                ToolName::AssignConversation,
                assign_args(conversation, target),
            ),
            Target::TeamName(team) | Target::TeamId(crate::ids::TeamId(team)) => (
                ToolName::HandOff,
                json!({"conversation_id": conversation, "team": team,
                       "reason": format!("playbook «{}» hands this conversation to the team", subject.playbook.name)}),
            ),
        },
        Step::Snooze(d) => (
            ToolName::SnoozeConversation,
            json!({"conversation_id": conversation, "duration": humantime::format_duration(*d).to_string()}),
        ),
        Step::Close => (
            ToolName::CloseConversation,
            json!({"conversation_id": conversation}),
        ),
        Step::Agent(_) => return StepEnd::Failed("an agent step cannot run here".into()),
    };
    recorder
        .record(Entry {
            kind: "step",
            name: Some(tool.as_str()),
            payload: args.clone(),
            ..Default::default()
        })
        .await;
    let out = toolbox.step(tool, args).await;
    recorder
        .record(Entry {
            kind: "step_result",
            name: Some(tool.as_str()),
            payload: json!({"status": format!("{:?}", out.status), "content": out.content}),
            ..Default::default()
        })
        .await;
    match out.status {
        CallStatus::Ok => StepEnd::Ok,
        CallStatus::Transient => StepEnd::Retry(out.content),
        _ => StepEnd::Failed(format!("{}: {}", tool.as_str(), out.content)),
    }
}

fn assign_args(conversation: &str, target: &Target) -> Value {
    match target {
        Target::TeamName(team) | Target::TeamId(crate::ids::TeamId(team)) => {
            json!({"conversation_id": conversation, "team": team})
        }
        Target::AdminId(admin) => json!({"conversation_id": conversation, "admin": admin.as_str()}),
    }
}
