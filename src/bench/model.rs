//! The pipeline benchmark's model: a zero-latency OpenAI-compatible stand-in on `127.0.0.1:0`
//! that serves any number of runs at once. Never part of the daemon.
//!
//! Unlike the scripted model of `playbook test` (one conversation, a fixed list of turns), it
//! decides each answer from the request alone, so concurrent runs of different conversations get
//! the same behaviour: read the conversation with `get_conversation` (when offered and
//! [`Behaviour::ReadThenReply`]), then reply once with `reply_to_conversation`, then stop with a
//! one-line summary. The conversation id comes from the run's directive, the last line of its
//! conversation message ("… on conversation ID. Follow your instructions.").
//! It counts what it was sent (requests, request bytes, prompt bytes) per conversation, so the
//! benchmark can print what a run costs in model traffic.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError},
    time::SystemTime,
};

use axum::{Router, body::Bytes, extract::State, routing::post};
use serde_json::{Value, json};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

/// What the stand-in does in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Behaviour {
    /// `get_conversation` first (as the shipped playbooks asked models to), then one reply.
    ReadThenReply,
    /// One reply straight away (a model that uses the conversation already in its prompt).
    Reply,
}

/// Model traffic for one conversation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Chat-completion requests.
    pub requests: u64,
    /// Bytes of the request bodies (JSON: messages, tool schemas, settings).
    pub request_bytes: u64,
    /// Bytes of the messages' text (system, user, assistant and tool contents): the prompt proper.
    pub prompt_bytes: u64,
    /// When the first request for this conversation arrived.
    pub first_request: Option<SystemTime>,
}

#[derive(Debug, Default)]
struct Shared {
    /// Per conversation id; `""` for requests that named none.
    traffic: Mutex<HashMap<String, Traffic>>,
}

/// A running stand-in.
#[derive(Debug)]
pub struct BenchModel {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
    server: JoinHandle<std::io::Result<()>>,
}

impl BenchModel {
    /// Binds `127.0.0.1:0`.
    pub async fn start(behaviour: Behaviour) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let router = Router::new()
            .route("/v1/chat/completions", post(completions))
            .with_state((shared.clone(), behaviour));
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

    /// What each conversation sent so far.
    pub fn traffic(&self) -> HashMap<String, Traffic> {
        self.shared
            .traffic
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stops serving.
    pub async fn shutdown(self) {
        self.stop.cancel();
        let _ = self.server.await;
    }
}

async fn completions(
    State((shared, behaviour)): State<(Arc<Shared>, Behaviour)>,
    body: Bytes,
) -> axum::Json<Value> {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let conversation = conversation_of(&request).unwrap_or_default();
    let number = {
        let mut traffic = shared
            .traffic
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let entry = traffic.entry(conversation.clone()).or_default();
        entry.requests += 1;
        entry.request_bytes += body.len() as u64;
        entry.prompt_bytes += prompt_bytes(&request);
        entry.first_request.get_or_insert_with(SystemTime::now);
        entry.requests
    };
    axum::Json(answer(&request, &conversation, behaviour, number))
}

/// The conversation the run is about, from its directive, the last line of the conversation
/// message ("… on conversation ID."; the last match, as the customer's text may name others).
fn conversation_of(request: &Value) -> Option<String> {
    request["messages"]
        .as_array()?
        .iter()
        .filter(|m| m["role"] == "user")
        .filter_map(|m| m["content"].as_str())
        .find_map(|text| {
            let (_, rest) = text.rsplit_once("on conversation ")?;
            let id: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            (!id.is_empty()).then_some(id)
        })
}

/// The bytes of every message's text content.
fn prompt_bytes(request: &Value) -> u64 {
    let Some(messages) = request["messages"].as_array() else {
        return 0;
    };
    messages
        .iter()
        .map(|m| match &m["content"] {
            Value::String(text) => text.len() as u64,
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p["text"].as_str())
                .map(|t| t.len() as u64)
                .sum(),
            _ => 0,
        })
        .sum()
}

/// The next move, from what the run did so far: the tools it already called.
fn answer(request: &Value, conversation: &str, behaviour: Behaviour, number: u64) -> Value {
    let offered = |name: &str| {
        request["tools"]
            .as_array()
            .is_some_and(|tools| tools.iter().any(|t| t["function"]["name"] == name))
    };
    let called = |name: &str| {
        request["messages"].as_array().is_some_and(|messages| {
            messages.iter().any(|m| {
                m["tool_calls"]
                    .as_array()
                    .is_some_and(|calls| calls.iter().any(|c| c["function"]["name"] == name))
            })
        })
    };
    let call = if conversation.is_empty() || called("reply_to_conversation") {
        None
    } else if behaviour == Behaviour::ReadThenReply
        && offered("get_conversation")
        && !called("get_conversation")
    {
        Some((
            "get_conversation",
            json!({ "conversation_id": conversation }),
        ))
    } else if offered("reply_to_conversation") {
        Some((
            "reply_to_conversation",
            json!({
                "conversation_id": conversation,
                "body": "Thanks for writing in. We have refunded the duplicate charge; it reaches \
                         your account within 3-5 business days."
            }),
        ))
    } else {
        None
    };
    let (message, finish) = match call {
        Some((name, args)) => (
            json!({
                "role": "assistant",
                "content": null,
                "tool_calls": [{
                    "id": format!("call_{conversation}_{number}"),
                    "type": "function",
                    "function": {"name": name, "arguments": args.to_string()}
                }]
            }),
            "tool_calls",
        ),
        None => (
            json!({"role": "assistant", "content": "Replied once to the customer."}),
            "stop",
        ),
    };
    let prompt_tokens = prompt_bytes(request) / 4;
    json!({
        "id": format!("chatcmpl-bench-{conversation}-{number}"),
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": request["model"].as_str().unwrap_or("bench"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": 12,
            "total_tokens": prompt_tokens + 12
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(calls: &[&str]) -> Value {
        let mut messages = vec![
            json!({"role": "system", "content": "rules"}),
            json!({"role": "user", "content": crate::agent::prompt::conversation(
                "conversation.user.created",
                "215000042",
                "conversation 215000042 · open\n… Can you look at conversation 215000001 too?",
            )}),
        ];
        for name in calls {
            messages.push(json!({"role": "assistant", "content": null,
                "tool_calls": [{"id": "c", "type": "function", "function": {"name": name, "arguments": "{}"}}]}));
            messages.push(json!({"role": "tool", "tool_call_id": "c", "content": "ok"}));
        }
        json!({
            "model": "m",
            "messages": messages,
            "tools": [
                {"type": "function", "function": {"name": "get_conversation"}},
                {"type": "function", "function": {"name": "reply_to_conversation"}}
            ]
        })
    }

    fn tool_called(answer: &Value) -> Option<String> {
        answer["choices"][0]["message"]["tool_calls"][0]["function"]["name"]
            .as_str()
            .map(str::to_owned)
    }

    #[test]
    fn the_conversation_comes_from_the_directive() {
        assert_eq!(conversation_of(&request(&[])).as_deref(), Some("215000042"));
    }

    #[test]
    fn it_reads_then_replies_once_then_stops() {
        let b = Behaviour::ReadThenReply;
        let first = answer(&request(&[]), "215000042", b, 1);
        assert_eq!(tool_called(&first).as_deref(), Some("get_conversation"));
        let second = answer(&request(&["get_conversation"]), "215000042", b, 2);
        assert_eq!(
            tool_called(&second).as_deref(),
            Some("reply_to_conversation")
        );
        let args: Value = serde_json::from_str(
            second["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
                .as_str()
                .unwrap_or_default(),
        )
        .unwrap_or_default();
        assert_eq!(args["conversation_id"], "215000042");
        let third = answer(
            &request(&["get_conversation", "reply_to_conversation"]),
            "215000042",
            b,
            3,
        );
        assert_eq!(tool_called(&third), None);
        assert_eq!(third["choices"][0]["finish_reason"], "stop");
    }

    #[test]
    fn reply_behaviour_skips_the_read() {
        let first = answer(&request(&[]), "215000042", Behaviour::Reply, 1);
        assert_eq!(
            tool_called(&first).as_deref(),
            Some("reply_to_conversation")
        );
    }

    #[test]
    fn prompt_bytes_count_message_text_only() {
        let r = json!({"messages": [{"role": "system", "content": "abcd"},
                                    {"role": "user", "content": [{"type": "text", "text": "ef"}]},
                                    {"role": "assistant", "content": null}]});
        assert_eq!(prompt_bytes(&r), 6);
    }
}
