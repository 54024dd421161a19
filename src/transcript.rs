//! `triaged runs show ID`: a run's whole transcript as text for a person — the run, every LLM
//! message, tool call and result, step, fallback, and the writes made. Pure.

use std::fmt::Write;

use serde_json::Value;

use crate::store::{
    actions::Action,
    runs::{RunStep, RunSummary},
    usage::RunCost,
};

/// Longest text shown per entry before it is cut (the JSON output has everything).
const MAX_TEXT: usize = 1200;

pub fn render(run: &RunSummary, cost: &RunCost, steps: &[RunStep], actions: &[Action]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "run {} · event {} · conversation {} · topic {}",
        run.id,
        run.event_id,
        run.conversation_id.as_deref().unwrap_or("-"),
        run.topic.as_deref().unwrap_or("-")
    );
    let _ = writeln!(
        out,
        "playbook {} · status {} · outcome {}{} · attempts {} · {} → {} ({} ms)",
        run.playbook.as_deref().unwrap_or("-"),
        run.status,
        run.outcome.as_deref().unwrap_or("-"),
        run.reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default(),
        run.attempts,
        run.started_at,
        run.finished_at.as_deref().unwrap_or("…"),
        run.duration_ms.unwrap_or_default(),
    );
    let _ = writeln!(out, "{}", intercom_line(cost));
    let _ = writeln!(out, "{}", model_line(cost, steps));
    if let Some(e) = &run.last_error {
        let _ = writeln!(out, "last error: {e}");
    }
    let _ = writeln!(out, "\ntranscript:");
    for step in steps {
        let payload: Value = serde_json::from_str(&step.payload).unwrap_or(Value::Null);
        let head = format!(
            "{:>3}. {}{}",
            step.seq,
            step.kind,
            step.name
                .as_deref()
                .map(|n| format!(" {n}"))
                .unwrap_or_default()
        );
        let tokens = match (step.prompt_tokens, step.completion_tokens) {
            (Some(p), Some(c)) => format!(" [{p}+{c} tokens]"),
            _ => String::new(),
        };
        let _ = writeln!(out, "{head}{tokens}");
        for line in describe(&step.kind, &payload).lines() {
            let _ = writeln!(out, "       {line}");
        }
    }
    if !actions.is_empty() {
        let _ = writeln!(out, "\nwrites:");
        for a in actions {
            let _ = writeln!(
                out,
                "  {} {} · {} · {}{}",
                a.tool,
                a.arguments,
                a.mode,
                a.status,
                a.result_ref
                    .as_deref()
                    .map(|r| format!(" → {r}"))
                    .unwrap_or_default()
            );
        }
    }
    out
}

/// `intercom 3 requests: GET /conversations/{id} 1, POST /conversations/{id}/reply 1, …`
fn intercom_line(cost: &RunCost) -> String {
    let Some(counts) = cost.intercom() else {
        return "intercom requests: not recorded".to_owned();
    };
    let total: u32 = counts.values().sum();
    let routes: Vec<String> = counts.iter().map(|(r, n)| format!("{r} {n}")).collect();
    if routes.is_empty() {
        return "intercom 0 requests".to_owned();
    }
    format!("intercom {total} requests: {}", routes.join(", "))
}

/// `model gpt-4o-mini: 2 requests, 1200 prompt tokens (800 cached) + 40 completion, $0.0003`
fn model_line(cost: &RunCost, steps: &[RunStep]) -> String {
    let Some(model) = cost.model.as_deref() else {
        return "model: not used".to_owned();
    };
    let requests = if cost.pruned_at.is_some() {
        "requests pruned".to_owned()
    } else {
        // The trail records the first request's messages once, then each answer (or error).
        let n = steps
            .iter()
            .filter(|s| s.kind == "llm_response" || s.kind == "llm_error")
            .count();
        format!("{n} requests")
    };
    format!(
        "model {model}: {requests}, {} prompt tokens ({} cached) + {} completion, ${:.4}",
        cost.prompt_tokens, cost.cached_tokens, cost.completion_tokens, cost.cost_usd
    )
}

fn describe(kind: &str, payload: &Value) -> String {
    let text = match kind {
        "llm_request" => {
            let messages = payload["messages"].as_array().cloned().unwrap_or_default();
            let mut s = format!(
                "model {} · tools {}\n",
                payload["model"].as_str().unwrap_or("?"),
                payload["tools"]
            );
            for m in messages {
                let role = m["role"].as_str().unwrap_or("?");
                let content = m["content"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| m["content"].to_string());
                let _ = writeln!(s, "[{role}] {content}");
            }
            s
        }
        "llm_response" => {
            let m = &payload["message"];
            let mut s = String::new();
            if let Some(c) = m["content"].as_str().filter(|c| !c.is_empty()) {
                let _ = writeln!(s, "[assistant] {c}");
            }
            if let Some(calls) = m["tool_calls"].as_array() {
                for c in calls {
                    let _ = writeln!(
                        s,
                        "→ {}({})",
                        c["function"]["name"].as_str().unwrap_or("?"),
                        c["function"]["arguments"].as_str().unwrap_or("")
                    );
                }
            }
            s
        }
        "tool_call" => payload["arguments"].as_str().unwrap_or_default().to_owned(),
        "tool_result" | "step_result" => format!(
            "[{}] {}",
            payload["status"].as_str().unwrap_or("?"),
            payload["content"].as_str().unwrap_or_default()
        ),
        "agent_finished" => payload["answer"].as_str().unwrap_or_default().to_owned(),
        _ => payload.to_string(),
    };
    cut(&text)
}

fn cut(text: &str) -> String {
    if text.len() <= MAX_TEXT {
        return text.trim_end().to_owned();
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}… ({} more bytes; --json has all)",
        &text[..end],
        text.len() - end
    )
}
