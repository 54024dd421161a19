//! Plain JSON-RPC over HTTP to the daemon's `/mcp`, for the protocol's edges (the real client,
//! the Python SDK, is in `python.rs`): a test app on the sandbox, tokens made through the store.

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use triaged::store::tokens::{self, NewToken, TokenScope};

use crate::helpers::{TestApp, spawn_app};

/// The protocol revision these requests speak (the newest with `initialize`; stateless on our
/// server, so no session is needed between requests).
pub const LEGACY: &str = "2025-11-25";

/// A token to create.
#[derive(Default)]
pub struct Spec<'a> {
    pub tags: Option<&'a [&'a str]>,
    pub tools: Option<&'a [&'a str]>,
    pub api_key: bool,
    pub rate_limit: Option<u32>,
    pub expires_at: Option<jiff::Timestamp>,
}

/// The daemon on the sandbox.
pub async fn start() -> TestApp {
    spawn_app().await
}

/// Creates a token; returns its secret and API key.
pub async fn token(
    app: &TestApp,
    name: &str,
    scope: TokenScope,
    spec: Spec<'_>,
) -> (String, Option<String>) {
    let list = |l: Option<&[&str]>| l.map(|l| l.iter().map(|s| (*s).to_owned()).collect());
    let created = app
        .app
        .db()
        .create_token(&NewToken {
            name: name.to_owned(),
            scope,
            tags: list(spec.tags),
            tools: list(spec.tools),
            expires_at: spec.expires_at,
            require_api_key: spec.api_key,
            rate_limit: spec.rate_limit,
        })
        .await
        .expect("token");
    (
        tokens::expose(&created.secret).to_owned(),
        created
            .api_key
            .as_ref()
            .map(|k| tokens::expose(k).to_owned()),
    )
}

/// POSTs one JSON-RPC message to `path` with `bearer` (if any) and extra headers (an
/// `mcp-protocol-version` among them replaces the default [`LEGACY`]).
pub async fn post(
    app: &TestApp,
    path: &str,
    bearer: Option<&str>,
    headers: &[(&str, &str)],
    body: &Value,
) -> Response {
    let mut request = app
        .client
        .post(format!("{}{path}", app.base))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body.to_string());
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("mcp-protocol-version"))
    {
        request = request.header("mcp-protocol-version", LEGACY);
    }
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("MCP request")
}

/// A JSON-RPC request body.
pub fn request(method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
}

/// `method` on `/mcp` with `token`; the JSON-RPC answer (panics unless HTTP 200).
pub async fn rpc(app: &TestApp, token: &str, method: &str, params: Value) -> Value {
    let response = post(app, "/mcp", Some(token), &[], &request(method, params)).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("JSON-RPC answer")
}

/// The tool names `token` sees.
pub async fn tool_names(app: &TestApp, token: &str) -> Vec<String> {
    let answer = rpc(app, token, "tools/list", json!({})).await;
    answer["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools in {answer}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

/// `tools/call`; the JSON-RPC answer.
pub async fn call(app: &TestApp, token: &str, tool: &str, arguments: Value) -> Value {
    rpc(
        app,
        token,
        "tools/call",
        json!({"name": tool, "arguments": arguments}),
    )
    .await
}
