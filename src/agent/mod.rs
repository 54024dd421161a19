//! Stage: **agent** — the LLM loop of a playbook's `agent` step, and the playbook run around it.
//!
//! The loop sends the conversation and the allowed tools to the model, executes its tool calls
//! through the [`Toolbox`] (guard, modes, exactly-once writes), returns the results, and ends when
//! the model answers without a tool call. Budgets (steps, tool calls, tokens, wall time) end it as
//! a **failure**, never as a success. Every request, response, call and result goes to the run's
//! trail ([`record`]). This module never talks to Intercom except through the toolbox.

pub mod playbook;
pub mod prompt;
pub mod record;

use std::time::Duration;

use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls,
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestMessage,
    ChatCompletionRequestSystemMessage, ChatCompletionRequestToolMessage,
    ChatCompletionRequestUserMessage, ChatCompletionTool, ChatCompletionTools,
    CreateChatCompletionRequest, FunctionCall, FunctionObject,
};
use serde_json::json;
use tokio::time::Instant;

use crate::{
    llm::{Llm, pricing::Tokens},
    playbook::Agent,
    tools::{
        ToolName,
        toolbox::{CallStatus, Toolbox},
    },
};
use record::{Entry, Recorder};

/// How the loop ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentEnd {
    /// The model answered without calling a tool.
    Finished { answer: String },
    /// A budget ran out, the LLM failed, or Intercom failed: the fallback runs (or, when
    /// `transient`, the whole run is tried again later).
    Failed {
        reason: &'static str,
        detail: String,
        transient: bool,
    },
}

/// What a run's LLM calls used, as the completions reported it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    /// Every prompt token, cached ones included.
    pub prompt: u32,
    /// Of `prompt`, the ones the provider served from its cache (cheaper).
    pub cached: u32,
    pub completion: u32,
    /// Estimated, from the price table (0 for a model the table does not know).
    pub cost_usd: f64,
    /// The model the agent step asked for.
    pub model: Option<String>,
}

/// Runs the loop for one agent step.
pub async fn run(
    llm: &Llm,
    spec: &Agent,
    system: String,
    context: String,
    toolbox: &mut Toolbox,
    recorder: &Recorder,
    usage: &mut Usage,
) -> AgentEnd {
    let started = Instant::now();
    let model = spec
        .model
        .clone()
        .unwrap_or_else(|| llm.default_model().to_owned());
    usage.model = Some(model.clone());
    let tools: Vec<ChatCompletionTools> = spec
        .tools
        .iter()
        .filter_map(|name| ToolName::parse(name))
        .map(|tool| {
            ChatCompletionTools::Function(ChatCompletionTool {
                function: FunctionObject {
                    name: tool.as_str().to_owned(),
                    description: Some(tool.description().to_owned()),
                    parameters: Some(tool.input_schema()),
                    strict: None,
                },
            })
        })
        .collect();
    let mut messages = vec![
        ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage::from(system)),
        ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage::from(context)),
    ];
    recorder
        .record(Entry {
            kind: "llm_request",
            name: Some(&model),
            payload: json!({
                "model": model,
                "tools": spec.tools,
                "messages": messages,
                "temperature": spec.temperature,
            }),
            ..Default::default()
        })
        .await;
    let mut steps = 0u32;
    let mut tool_calls = 0u32;
    loop {
        if steps >= spec.max_steps {
            return fail(
                "max_steps",
                format!("the model took {steps} steps without finishing"),
            );
        }
        if started.elapsed() >= spec.wall_time {
            return fail(
                "wall_time",
                format!("over the {:?} wall-time budget", spec.wall_time),
            );
        }
        if usage.prompt + usage.completion >= spec.max_tokens {
            return fail(
                "max_tokens",
                format!("{} tokens used", usage.prompt + usage.completion),
            );
        }
        steps += 1;
        let request = CreateChatCompletionRequest {
            model: model.clone(),
            messages: messages.clone(),
            tools: (!tools.is_empty()).then(|| tools.clone()),
            temperature: spec.temperature.map(|t| t as f32),
            ..Default::default()
        };
        let remaining = spec.wall_time.saturating_sub(started.elapsed());
        let call_started = Instant::now();
        let answered =
            tokio::time::timeout(remaining.max(Duration::from_millis(1)), llm.chat(request)).await;
        metrics::histogram!("triaged_llm_request_seconds")
            .record(call_started.elapsed().as_secs_f64());
        let response = match answered {
            Err(_) => {
                metrics::counter!("triaged_llm_errors_total", "kind" => "timeout").increment(1);
                return fail(
                    "wall_time",
                    "the LLM did not answer within the wall time".into(),
                );
            }
            Ok(Err(error)) => {
                metrics::counter!("triaged_llm_errors_total", "kind" => error.reason())
                    .increment(1);
                recorder
                    .record(Entry {
                        kind: "llm_error",
                        payload: json!({"error": error.to_string()}),
                        ..Default::default()
                    })
                    .await;
                return AgentEnd::Failed {
                    reason: error.reason(),
                    detail: error.to_string(),
                    transient: false,
                };
            }
            Ok(Ok(response)) => response,
        };
        let tokens = response
            .usage
            .as_ref()
            .map(|u| Tokens {
                prompt: u.prompt_tokens,
                cached: u
                    .prompt_tokens_details
                    .as_ref()
                    .and_then(|d| d.cached_tokens)
                    .unwrap_or(0),
                completion: u.completion_tokens,
            })
            .unwrap_or_default();
        let (prompt_tokens, completion_tokens) = (tokens.prompt, tokens.completion);
        let cost = llm.cost(&model, tokens);
        usage.prompt += tokens.prompt;
        usage.cached += tokens.cached;
        usage.completion += tokens.completion;
        usage.cost_usd += cost.unwrap_or(0.0);
        let Some(choice) = response.choices.into_iter().next() else {
            return fail("llm_bad_response", "the LLM answered with no choice".into());
        };
        recorder
            .record(Entry {
                kind: "llm_response",
                name: Some(&response.model),
                payload: json!({"message": choice.message, "finish_reason": choice.finish_reason}),
                prompt_tokens: Some(prompt_tokens),
                completion_tokens: Some(completion_tokens),
                cached_tokens: Some(tokens.cached),
                cost_usd: cost,
                duration_ms: Some(call_started.elapsed().as_millis() as i64),
            })
            .await;
        let calls: Vec<ChatCompletionMessageToolCall> = choice
            .message
            .tool_calls
            .unwrap_or_default()
            .into_iter()
            .filter_map(|c| match c {
                ChatCompletionMessageToolCalls::Function(f) => Some(f),
                ChatCompletionMessageToolCalls::Custom(_) => None,
            })
            .collect();
        if calls.is_empty() {
            return AgentEnd::Finished {
                answer: choice.message.content.unwrap_or_default(),
            };
        }
        messages.push(ChatCompletionRequestMessage::Assistant(
            ChatCompletionRequestAssistantMessage {
                content: choice
                    .message
                    .content
                    .filter(|c| !c.is_empty())
                    .map(Into::into),
                tool_calls: Some(
                    calls
                        .iter()
                        .cloned()
                        .map(ChatCompletionMessageToolCalls::Function)
                        .collect(),
                ),
                ..Default::default()
            },
        ));
        for call in calls {
            tool_calls += 1;
            if tool_calls > spec.max_tool_calls {
                return fail(
                    "max_tool_calls",
                    format!("more than {} tool calls", spec.max_tool_calls),
                );
            }
            let FunctionCall { name, arguments } = call.function;
            recorder
                .record(Entry {
                    kind: "tool_call",
                    name: Some(&name),
                    payload: json!({"id": call.id, "arguments": arguments}),
                    ..Default::default()
                })
                .await;
            let call_started = Instant::now();
            let out = toolbox.call(&name, &arguments).await;
            let status = match &out.status {
                CallStatus::Ok => "ok".to_owned(),
                CallStatus::Invalid => "invalid".to_owned(),
                CallStatus::Refused(label) => format!("refused:{label}"),
                CallStatus::Failed => "failed".to_owned(),
                CallStatus::Transient => "transient".to_owned(),
            };
            recorder
                .record(Entry {
                    kind: "tool_result",
                    name: Some(&name),
                    payload: json!({"id": call.id, "status": status, "content": out.content}),
                    duration_ms: Some(call_started.elapsed().as_millis() as i64),
                    ..Default::default()
                })
                .await;
            if out.status == CallStatus::Transient {
                return AgentEnd::Failed {
                    reason: "intercom_unavailable",
                    detail: out.content,
                    transient: true,
                };
            }
            messages.push(ChatCompletionRequestMessage::Tool(
                ChatCompletionRequestToolMessage {
                    content: out.content.into(),
                    tool_call_id: call.id,
                },
            ));
        }
    }
}

fn fail(reason: &'static str, detail: String) -> AgentEnd {
    AgentEnd::Failed {
        reason,
        detail,
        transient: false,
    }
}
