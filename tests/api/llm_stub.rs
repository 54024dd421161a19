//! A scripted OpenAI-compatible chat-completions server on 127.0.0.1:0: the LLM's stand-in.
//! The test queues the turns it wants the "model" to take and reads back every request it got.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json, Router,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};
use serde_json::{Value, json};

/// What the model does on one request.
#[derive(Clone)]
pub enum Turn {
    /// Call these tools: `(name, arguments as a JSON string)`.
    ToolCalls(Vec<(String, String)>),
    /// Answer in text (no tool call): the agent loop ends.
    Text(String),
    /// An HTTP error, optionally with `Retry-After` seconds.
    Fault {
        status: u16,
        retry_after: Option<u64>,
    },
    /// A 200 whose body is not a chat completion.
    Malformed,
    /// Wait this long, then take the next turn (to trip a timeout).
    Delay(Duration),
    /// Decide from the request (e.g. quote a ticket id from the last tool result).
    Dynamic(Arc<dyn Fn(&Value) -> Turn + Send + Sync>),
    /// Take this turn for every request from now on.
    Forever(Box<Turn>),
    /// Tell the test the request arrived, wait until it opens the gate, then take the gate's turn
    /// (a model still thinking while the test changes the world).
    Gate(Arc<Gate>),
}

/// A request held until the test lets it go (see [`Turn::Gate`]).
pub struct Gate {
    entered: tokio::sync::Notify,
    open: tokio::sync::Notify,
    then: Turn,
}

impl Gate {
    pub fn new(then: Turn) -> Arc<Self> {
        Arc::new(Self {
            entered: tokio::sync::Notify::new(),
            open: tokio::sync::Notify::new(),
            then,
        })
    }

    /// Waits until a request reached the gate.
    pub async fn entered(&self) {
        self.entered.notified().await;
    }

    /// Lets the held request go on.
    pub fn open(&self) {
        self.open.notify_one();
    }
}

impl Turn {
    pub fn tool(name: &str, args: Value) -> Self {
        Self::ToolCalls(vec![(name.to_owned(), args.to_string())])
    }
}

#[derive(Default)]
struct Script {
    turns: VecDeque<Turn>,
    requests: Vec<Value>,
    calls: u64,
}

/// A running stand-in.
#[derive(Clone)]
pub struct LlmStub {
    pub addr: SocketAddr,
    script: Arc<Mutex<Script>>,
}

impl LlmStub {
    pub async fn start() -> Self {
        let script = Arc::new(Mutex::new(Script::default()));
        let app = Router::new()
            .route("/v1/chat/completions", post(completions))
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { addr, script }
    }

    /// The base URL to configure (`TRIAGED_LLM_BASE_URL`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Queues turns, in order.
    pub fn push(&self, turns: impl IntoIterator<Item = Turn>) {
        self.script.lock().unwrap().turns.extend(turns);
    }

    /// Every request received so far (JSON bodies).
    pub fn requests(&self) -> Vec<Value> {
        self.script.lock().unwrap().requests.clone()
    }
}

async fn completions(
    State(script): State<Arc<Mutex<Script>>>,
    _headers: HeaderMap,
    Json(request): Json<Value>,
) -> Response {
    let turn = {
        let mut script = script.lock().unwrap();
        script.requests.push(request.clone());
        script.calls += 1;
        next_turn(&mut script.turns)
    };
    let mut turn = turn;
    loop {
        match turn {
            Turn::Delay(d) => {
                tokio::time::sleep(d).await;
                turn = next_turn(&mut script.lock().unwrap().turns);
            }
            Turn::Dynamic(f) => turn = f(&request),
            Turn::Gate(gate) => {
                gate.entered.notify_one();
                gate.open.notified().await;
                turn = gate.then.clone();
            }
            other => return respond(other, &request),
        }
    }
}

fn next_turn(turns: &mut VecDeque<Turn>) -> Turn {
    match turns.front() {
        Some(Turn::Forever(inner)) => (**inner).clone(),
        Some(_) => turns
            .pop_front()
            .unwrap_or(Turn::Text("(script ended)".into())),
        None => Turn::Text("(script ended)".into()),
    }
}

fn respond(turn: Turn, request: &Value) -> Response {
    let model = request["model"].as_str().unwrap_or("stub").to_owned();
    let message = match turn {
        Turn::Fault {
            status,
            retry_after,
        } => {
            let mut response = (
                StatusCode::from_u16(status).unwrap(),
                Json(json!({"error": {"message": format!("scripted {status}"), "type": "scripted", "code": null}})),
            )
                .into_response();
            if let Some(secs) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", secs.to_string().parse().unwrap());
            }
            return response;
        }
        Turn::Malformed => return (StatusCode::OK, "{\"this is\": not json").into_response(),
        Turn::Text(text) => json!({"role": "assistant", "content": text}),
        Turn::ToolCalls(calls) => json!({
            "role": "assistant",
            "content": null,
            "tool_calls": calls.iter().enumerate().map(|(i, (name, args))| json!({
                "id": format!("call_{i}_{name}"),
                "type": "function",
                "function": {"name": name, "arguments": args}
            })).collect::<Vec<_>>()
        }),
        Turn::Delay(_) | Turn::Dynamic(_) | Turn::Forever(_) | Turn::Gate(_) => {
            unreachable!("resolved above")
        }
    };
    let finish = if message.get("tool_calls").is_some() {
        "tool_calls"
    } else {
        "stop"
    };
    let prompt_tokens = request.to_string().len() / 4;
    Json(json!({
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 12, "total_tokens": prompt_tokens + 12}
    }))
    .into_response()
}

/// The run's conversation message: the first user message of a request (the fenced
/// conversation, the rules restated, the directive).
pub fn conversation_message(request: &Value) -> &str {
    request["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
}

/// The conversation a request is about, from the directive that ends its conversation message
/// ("… on conversation ID. Follow your instructions.").
pub fn conversation_of(request: &Value) -> String {
    conversation_message(request)
        .rsplit_once("on conversation ")
        .map(|(_, rest)| rest.chars().take_while(char::is_ascii_digit).collect())
        .unwrap_or_default()
}
