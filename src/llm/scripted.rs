//! A scripted OpenAI-compatible chat-completions server on `127.0.0.1:0`: the model's stand-in for
//! `triaged playbook test`, so a playbook can be tested without a real LLM, the same way every time.
//!
//! It answers `POST /v1/chat/completions` with the next scripted [`Turn`] (a tool call or a text
//! answer); a turn marked `forever` answers every request from then on. Strings in a turn may quote
//! what the run did so far with placeholders ([`check_placeholders`]): `{{conversation_id}}`,
//! `{{last_result}}` (the last tool result's text), `{{last_result.ticket_number}}` (the `N` of
//! `#N` in it) and `{{last_result /regex/}}` (the regex's first group, else its whole match).
//!
//! It never calls a real model, never executes tools and never listens beyond loopback. When the
//! script runs out it answers a short text (which ends the agent loop) rather than failing.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use axum::{Json, Router, extract::State, routing::post};
use serde_json::{Value, json};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};
use tokio_util::sync::CancellationToken;

/// What the model does on one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Turn {
    /// Call one tool; string values in `args` may hold placeholders.
    Tool { name: String, args: Value },
    /// Answer in text without calling a tool: the agent loop ends. May hold placeholders.
    Say(String),
}

/// One step of the script.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptedTurn {
    pub turn: Turn,
    /// Take this turn for every request from now on (a model that never stops).
    pub forever: bool,
}

/// The answer once every turn was taken.
pub const SCRIPT_ENDED: &str = "(the scripted model has no more turns)";

/// How long a request waits for the conversation id (set right after the customer writes, which
/// always happens before the run asks the model anything).
const CONVERSATION_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
struct Script {
    turns: VecDeque<ScriptedTurn>,
    requests: usize,
    problems: Vec<String>,
}

#[derive(Debug)]
struct Shared {
    script: Mutex<Script>,
    conversation: watch::Sender<Option<String>>,
}

impl Shared {
    fn script(&self) -> MutexGuard<'_, Script> {
        self.script.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running scripted model.
#[derive(Debug)]
pub struct ScriptedLlm {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
    server: JoinHandle<std::io::Result<()>>,
}

impl ScriptedLlm {
    /// Binds `127.0.0.1:0` and serves `turns` in order.
    pub async fn start(turns: Vec<ScriptedTurn>) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            script: Mutex::new(Script {
                turns: turns.into(),
                ..Script::default()
            }),
            conversation: watch::Sender::new(None),
        });
        let router = Router::new()
            .route("/v1/chat/completions", post(completions))
            .with_state(shared.clone());
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let token = stop.clone();
        let server = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move { token.cancelled().await })
                .await
        });
        Ok(Self {
            addr,
            shared,
            stop,
            server,
        })
    }

    /// The base URL to configure as the LLM (`…/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The conversation `{{conversation_id}}` stands for; requests wait for it.
    pub fn set_conversation(&self, id: &str) {
        self.shared.conversation.send_replace(Some(id.to_owned()));
    }

    /// Chat-completion requests answered so far.
    pub fn requests(&self) -> usize {
        self.shared.script().requests
    }

    /// Turns never taken (a `forever` turn counts as taken once used).
    pub fn unused_turns(&self) -> usize {
        let script = self.shared.script();
        match script.turns.front() {
            Some(t) if t.forever && script.requests > 0 => script.turns.len() - 1,
            _ => script.turns.len(),
        }
    }

    /// Placeholders that could not be filled (e.g. no `#N` in the last tool result).
    pub fn problems(&self) -> Vec<String> {
        self.shared.script().problems.clone()
    }

    /// Stops serving.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.server.await;
    }
}

async fn completions(State(shared): State<Arc<Shared>>, Json(request): Json<Value>) -> Json<Value> {
    let mut conversation = shared.conversation.subscribe();
    let conversation_id =
        match tokio::time::timeout(CONVERSATION_WAIT, conversation.wait_for(Option::is_some)).await
        {
            Ok(Ok(id)) => id.clone().unwrap_or_default(),
            _ => String::new(),
        };
    let (number, turn) = {
        let mut script = shared.script();
        script.requests += 1;
        let turn = match script.turns.front() {
            Some(t) if t.forever => Some(t.turn.clone()),
            Some(_) => script.turns.pop_front().map(|t| t.turn),
            None => None,
        };
        (script.requests, turn)
    };
    let values = Values {
        conversation_id,
        last_result: last_tool_result(&request),
    };
    let filled = match turn {
        None => Ok(Turn::Say(SCRIPT_ENDED.to_owned())),
        Some(Turn::Say(text)) => fill(&text, &values).map(Turn::Say),
        Some(Turn::Tool { name, args }) => {
            fill_value(&args, &values).map(|args| Turn::Tool { name, args })
        }
    };
    let turn = filled.unwrap_or_else(|problem| {
        let problem = format!("model turn {number}: {problem}");
        shared.script().problems.push(problem.clone());
        Turn::Say(problem)
    });
    Json(completion(number, turn, &request))
}

/// A chat completion carrying `turn`.
fn completion(number: usize, turn: Turn, request: &Value) -> Value {
    let (message, finish) = match turn {
        Turn::Say(text) => (json!({"role": "assistant", "content": text}), "stop"),
        Turn::Tool { name, args } => (
            json!({
                "role": "assistant",
                "content": null,
                "tool_calls": [{
                    "id": format!("call_{number}"),
                    "type": "function",
                    "function": {"name": name, "arguments": args.to_string()}
                }]
            }),
            "tool_calls",
        ),
    };
    let prompt_tokens = request.to_string().len() / 4;
    // Like a provider's prompt cache: after the first request the start of the prompt (the
    // system prompt and the conversation) is served from the cache.
    let cached_tokens = if number > 1 { prompt_tokens / 2 } else { 0 };
    json!({
        "id": format!("chatcmpl-scripted-{number}"),
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": request["model"].as_str().unwrap_or("scripted"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": 10,
            "total_tokens": prompt_tokens + 10,
            "prompt_tokens_details": {"cached_tokens": cached_tokens}
        }
    })
}

/// The text of the last tool result in the request's messages.
fn last_tool_result(request: &Value) -> Option<String> {
    request["messages"]
        .as_array()?
        .iter()
        .rev()
        .find(|m| m["role"] == "tool")
        .and_then(|m| m["content"].as_str())
        .map(str::to_owned)
}

/// What placeholders stand for in one request.
struct Values {
    conversation_id: String,
    last_result: Option<String>,
}

/// One parsed `{{…}}`.
enum Placeholder {
    ConversationId,
    LastResult,
    /// The first group of the regex (or its whole match) in the last tool result.
    Capture(regex::Regex),
}

/// Checks every placeholder in `text`; the error says which one is wrong and what is allowed.
pub fn check_placeholders(text: &str) -> Result<(), String> {
    fill_with(text, &mut |_| Ok(String::new())).map(|_| ())
}

fn parse_placeholder(inner: &str) -> Result<Placeholder, String> {
    let inner = inner.trim();
    match inner {
        "conversation_id" => return Ok(Placeholder::ConversationId),
        "last_result" => return Ok(Placeholder::LastResult),
        "last_result.ticket_number" => {
            return regex::Regex::new(r"#(\d+)")
                .map(Placeholder::Capture)
                .map_err(|e| e.to_string());
        }
        _ => {}
    }
    if let Some(pattern) = inner
        .strip_prefix("last_result")
        .map(str::trim)
        .and_then(|p| p.strip_prefix('/'))
        .and_then(|p| p.strip_suffix('/'))
    {
        return regex::Regex::new(pattern)
            .map(Placeholder::Capture)
            .map_err(|e| format!("`{{{{{inner}}}}}`: invalid regex: {e}"));
    }
    Err(format!(
        "unknown placeholder `{{{{{inner}}}}}`; use `{{{{conversation_id}}}}`, \
         `{{{{last_result}}}}`, `{{{{last_result.ticket_number}}}}` or `{{{{last_result /regex/}}}}`"
    ))
}

fn fill_with(
    text: &str,
    resolve: &mut dyn FnMut(Placeholder) -> Result<String, String>,
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err("`{{` without a closing `}}`".to_owned());
        };
        out.push_str(&resolve(parse_placeholder(&after[..end])?)?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn fill(text: &str, values: &Values) -> Result<String, String> {
    fill_with(text, &mut |placeholder| match placeholder {
        Placeholder::ConversationId => Ok(values.conversation_id.clone()),
        Placeholder::LastResult => values
            .last_result
            .clone()
            .ok_or_else(|| "`{{last_result}}`: no tool has returned anything yet".to_owned()),
        Placeholder::Capture(regex) => {
            let result = values
                .last_result
                .as_deref()
                .ok_or_else(|| format!("`/{regex}/`: no tool has returned anything yet"))?;
            let captures = regex.captures(result).ok_or_else(|| {
                format!("`/{regex}/` does not match the last tool result «{result}»")
            })?;
            Ok(captures
                .get(1)
                .or_else(|| captures.get(0))
                .map(|m| m.as_str().to_owned())
                .unwrap_or_default())
        }
    })
}

fn fill_value(value: &Value, values: &Values) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => Value::String(fill(s, values)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| fill_value(v, values))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), fill_value(v, values)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(last: Option<&str>) -> Values {
        Values {
            conversation_id: "215000002".into(),
            last_result: last.map(str::to_owned),
        }
    }

    #[test]
    fn placeholders_quote_the_conversation_and_the_ticket_number() {
        let v = values(Some(
            "Created ticket #42 (id 99), linked to the conversation.",
        ));
        assert_eq!(
            fill(
                "#{{ last_result.ticket_number }} on {{conversation_id}}",
                &v
            ),
            Ok("#42 on 215000002".to_owned())
        );
        assert_eq!(fill("{{last_result /id (\\d+)/}}", &v), Ok("99".to_owned()));
    }

    #[test]
    fn a_placeholder_that_cannot_be_filled_says_why() {
        let err = fill("{{last_result.ticket_number}}", &values(Some("no ticket")));
        assert!(err.is_err_and(|e| e.contains("does not match")));
        assert!(fill("{{last_result}}", &values(None)).is_err());
    }

    #[test]
    fn unknown_or_unclosed_placeholders_are_rejected() {
        assert!(check_placeholders("{{ticket}}").is_err_and(|e| e.contains("unknown")));
        assert!(check_placeholders("{{last_result").is_err());
        assert!(check_placeholders("plain {{last_result}}").is_ok());
    }
}
