//! Checks a case's expectations against what its run did. Pure: every mismatch becomes one line
//! naming the expectation, what was expected and what happened.

use super::{
    case::Expect,
    run::{Call, Observed},
};

/// One expectation that did not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// The expectation's field (`outcome`, `tool_order`, …).
    pub expectation: &'static str,
    /// `expected …, got …`.
    pub message: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.expectation, self.message)
    }
}

/// Every expectation of `expect` that `observed` breaks, in the order they are written in docs.
pub fn check(expect: &Expect, observed: &Observed) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let mut miss = |expectation: &'static str, message: String| {
        out.push(Mismatch {
            expectation,
            message,
        });
    };
    let run = observed.run.as_ref();
    let outcome = run.and_then(|r| r.outcome.clone());
    let reason = run.and_then(|r| r.reason.clone());
    if !observed.settled {
        miss(
            "run",
            "the run did not finish in time (a model or tool that never answers?)".to_owned(),
        );
    }
    if let Some(want) = &expect.outcome
        && outcome.as_deref() != Some(want.as_str())
    {
        let got = match (&outcome, &reason) {
            (None, _) if run.is_none() => "no run".to_owned(),
            (None, _) => "no outcome (unfinished)".to_owned(),
            (Some(o), Some(r)) => format!("{o} ({r})"),
            (Some(o), None) => o.clone(),
        };
        miss("outcome", format!("expected {want}, got {got}"));
    }
    if let Some(want) = &expect.reason
        && reason.as_deref() != Some(want.as_str())
    {
        let got = reason.unwrap_or_else(|| "none".to_owned());
        miss("reason", format!("expected {want}, got {got}"));
    }
    let called: Vec<&str> = observed.calls.iter().map(|c| c.tool.as_str()).collect();
    for tool in &expect.tools_used {
        if !called.contains(&tool.as_str()) {
            miss(
                "tools_used",
                format!("expected {tool} to be called, it was not"),
            );
        }
    }
    for tool in &expect.tools_not_used {
        let times = called.iter().filter(|c| **c == tool.as_str()).count();
        if times > 0 {
            miss(
                "tools_not_used",
                format!("expected {tool} not to be called, it was called {times} time(s)"),
            );
        }
    }
    if !expect.tool_order.is_empty() && !is_subsequence(&expect.tool_order, &called) {
        miss(
            "tool_order",
            format!(
                "expected [{}] in this order, got [{}]",
                expect.tool_order.join(", "),
                called.join(", ")
            ),
        );
    }
    for (tool, field, pattern) in &expect.arguments {
        let values: Vec<String> = observed
            .calls
            .iter()
            .filter(|c| c.tool == *tool)
            .map(|c| argument(c, field))
            .collect();
        if values.is_empty() {
            miss(
                "arguments",
                format!("expected {tool}.{field} {pattern}, but {tool} was not called"),
            );
        } else if !values.iter().any(|v| pattern.matches(v)) {
            miss(
                "arguments",
                format!("expected {tool}.{field} {pattern}, got {values:?}"),
            );
        }
    }
    if let Some(max) = expect.steps_at_most
        && observed.llm_steps > max
    {
        miss(
            "steps_at_most",
            format!(
                "expected at most {max} LLM steps, got {}",
                observed.llm_steps
            ),
        );
    }
    if let Some(want) = expect.replies
        && observed.replies.len() != want as usize
    {
        miss(
            "replies",
            format!(
                "expected {want} bot reply(ies), got {}: {:?}",
                observed.replies.len(),
                observed.replies
            ),
        );
    }
    if let Some(want) = &expect.state
        && observed.state.as_deref() != Some(want.as_str())
    {
        let got = observed.state.as_deref().unwrap_or("unknown");
        miss("state", format!("expected {want}, got {got}"));
    }
    if let Some(min) = expect.notes_at_least
        && observed.notes < min
    {
        miss(
            "notes_at_least",
            format!(
                "expected at least {min} bot note(s), got {}",
                observed.notes
            ),
        );
    }
    if let Some(want) = &expect.team
        && !observed
            .team
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case(want))
    {
        let got = observed.team.as_deref().unwrap_or("no team");
        miss("team", format!("expected {want}, got {got}"));
    }
    for problem in &observed.script_problems {
        miss("model", problem.clone());
    }
    out
}

/// An argument's value as text (strings as they are, anything else as JSON).
fn argument(call: &Call, field: &str) -> String {
    match &call.args[field] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Whether `want` appears in `got` in order (other calls may come between).
fn is_subsequence(want: &[String], got: &[&str]) -> bool {
    let mut got = got.iter();
    want.iter().all(|w| got.any(|g| *g == w.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::testing::run::By;

    fn observed(outcome: &str, reason: Option<&str>, tools: &[&str]) -> Observed {
        Observed {
            settled: true,
            run: Some(crate::store::runs::RunSummary {
                id: 1,
                event_id: 1,
                conversation_id: Some("1".into()),
                topic: None,
                playbook: None,
                status: "succeeded".into(),
                outcome: Some(outcome.into()),
                reason: reason.map(Into::into),
                last_error: None,
                attempts: 1,
                started_at: String::new(),
                finished_at: None,
                duration_ms: None,
            }),
            calls: tools
                .iter()
                .map(|t| Call {
                    by: By::Model,
                    tool: (*t).into(),
                    args: serde_json::json!({"body": "refund in 3-5 business days"}),
                    status: None,
                })
                .collect(),
            ..Observed::default()
        }
    }

    #[test]
    fn a_wrong_outcome_names_the_expected_and_the_actual_value_with_its_reason() {
        let expect = Expect {
            outcome: Some("replied".into()),
            ..Expect::default()
        };
        let got = check(&expect, &observed("failed", Some("max_steps"), &[]));
        assert_eq!(
            got[0].to_string(),
            "outcome: expected replied, got failed (max_steps)"
        );
    }

    #[test]
    fn tool_order_is_a_subsequence_and_a_wrong_one_lists_every_call() {
        let run = observed(
            "replied",
            None,
            &["get_conversation", "get_contact", "add_note"],
        );
        let ok = Expect {
            tool_order: vec!["get_conversation".into(), "add_note".into()],
            ..Expect::default()
        };
        assert!(check(&ok, &run).is_empty());
        let wrong = Expect {
            tool_order: vec!["add_note".into(), "get_conversation".into()],
            ..Expect::default()
        };
        assert_eq!(
            check(&wrong, &run)[0].to_string(),
            "tool_order: expected [add_note, get_conversation] in this order, got \
             [get_conversation, get_contact, add_note]"
        );
    }

    #[test]
    fn arguments_match_substrings_and_regexes() {
        let run = observed("replied", None, &["reply_to_conversation"]);
        let regex = regex::Regex::new(r"\d-\d business").unwrap_or_else(|e| panic!("{e}"));
        let expect = Expect {
            arguments: vec![
                (
                    "reply_to_conversation".into(),
                    "body".into(),
                    super::super::case::Pattern::Regex(regex),
                ),
                (
                    "reply_to_conversation".into(),
                    "body".into(),
                    super::super::case::Pattern::Contains("ticket".into()),
                ),
            ],
            ..Expect::default()
        };
        let got = check(&expect, &run);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].message.contains("to contain \"ticket\""));
    }
}
