//! The typed Intercom client against the sandbox over real HTTP on 127.0.0.1: every operation,
//! the shared rate limiter under concurrency, 429 handling, the company scroll, the 2.16 contract
//! of every body on the wire, a lost write response, and the start-up check.
//!
//! No test sleeps to wait for anything: time moves with the sandbox's clock, and waits are the
//! client's own (bounded by its `max_wait`).

use std::sync::{Arc, Mutex};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
};
use secrecy::SecretString;
use serde_json::Value;
use triaged::{ids::AdminId, intercom::IntercomClient};

use super::sandbox::Sim;

mod contract;
mod limits;
mod operations;
mod resilience;

/// A client for `base_url` acting as the sandbox's bot admin.
pub fn client_at(sim: &Sim, base_url: &str) -> IntercomClient {
    IntercomClient::builder(base_url, SecretString::from(sim.token.clone()))
        .admin_id(Some(bot(sim)))
        .build()
        .expect("client builds")
}

/// A client pointed straight at the sandbox.
pub fn client(sim: &Sim) -> IntercomClient {
    client_at(sim, &sim.sandbox.base_url())
}

/// The sandbox's bot admin (the one `/me` returns).
pub fn bot(sim: &Sim) -> AdminId {
    AdminId::from(sim.sandbox.bot_admin_id().as_str())
}

/// The sandbox's full view of a conversation's parts.
pub fn sandbox_parts(sim: &Sim, id: &str) -> Vec<Value> {
    let c = sim.sandbox.conversation(id).expect("conversation exists");
    c["conversation_parts"]["conversation_parts"]
        .as_array()
        .expect("parts")
        .clone()
}

/// Unix seconds now.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// One exchange seen by the [`recording_proxy`].
#[derive(Debug, Clone)]
pub struct Exchange {
    pub method: String,
    /// Path and query.
    pub url: String,
    /// The raw request body (empty when none was sent).
    pub request: Bytes,
    pub status: u16,
    pub response: Value,
}

#[derive(Clone)]
struct Proxy {
    target: String,
    http: reqwest::Client,
    log: Arc<Mutex<Vec<Exchange>>>,
}

/// A pass-through HTTP proxy to `target` on 127.0.0.1:0 that records every request body the
/// client puts on the wire and every answer: the hook that lets the contract test check the
/// client's real bodies, not re-serialized copies. Returns its base URL and the log.
pub async fn recording_proxy(target: String) -> (String, Arc<Mutex<Vec<Exchange>>>) {
    let log: Arc<Mutex<Vec<Exchange>>> = Arc::default();
    let state = Proxy {
        target,
        http: reqwest::Client::new(),
        log: log.clone(),
    };
    let app = Router::new().fallback(forward).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), log)
}

async fn forward(
    State(proxy): State<Proxy>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let url = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    let mut req = proxy
        .http
        .request(method.clone(), format!("{}{url}", proxy.target))
        .body(body.clone());
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            req = req.header(name, value);
        }
    }
    let resp = req.send().await.expect("the sandbox answers the proxy");
    let status = resp.status();
    let mut out_headers = HeaderMap::new();
    for (name, value) in resp.headers() {
        if !matches!(
            name.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            out_headers.insert(name.clone(), value.clone());
        }
    }
    let bytes = resp.bytes().await.expect("the sandbox's body");
    proxy.log.lock().unwrap().push(Exchange {
        method: method.to_string(),
        url,
        request: body,
        status: status.as_u16(),
        response: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    });
    (
        StatusCode::from_u16(status.as_u16()).unwrap(),
        out_headers,
        bytes,
    )
        .into_response()
}
