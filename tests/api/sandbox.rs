//! The Intercom sandbox over real HTTP: endpoints, errors, paging, state transitions, rate limits,
//! faults, scroll expiry and signed notifications.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, routing::post};
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{Value, json};
use triaged::{
    ingest::signature,
    sandbox::{APP_PACKAGE_CODE, Faults, Sandbox, SandboxConfig, Seed, TeammateAction},
};

mod limits;
mod malformed;
mod notifications;
mod reads;
mod writes;

/// Demo ids (see `src/sandbox/demo_workspace.yaml`).
pub const REFUND_CONVERSATION: &str = "215000001";
pub const CHECKOUT_CONVERSATION: &str = "215000002";
pub const CLOSED_CONVERSATION: &str = "215000003";
pub const PRIYA: &str = "6762f1261bb69f9f21930001";
pub const AIKO: &str = "6762f1261bb69f9f21930004";
pub const MERGED_AIKO: &str = "6762f1261bb69f9f21930005";
pub const MAYA: &str = "991200002";
pub const TOM: &str = "991200003";
pub const SUPPORT_TEAM: &str = "510001";
pub const BUG_TYPE: &str = "810001";
pub const SECRET: &str = "sandbox-test-secret";

/// A running sandbox and a client for it.
pub struct Sim {
    pub sandbox: Sandbox,
    pub client: reqwest::Client,
    pub base: String,
    pub token: String,
}

/// An answer: status, headers, JSON body (`Null` when not JSON).
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Sim {
    pub async fn start() -> Sim {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(change: impl FnOnce(&mut SandboxConfig)) -> Sim {
        triaged::install_crypto_provider();
        let mut config = SandboxConfig::demo(SocketAddr::from(([127, 0, 0, 1], 0)));
        config.client_secret = SECRET.into();
        change(&mut config);
        let token = secrecy::ExposeSecret::expose_secret(&config.access_token).to_owned();
        let sandbox = Sandbox::start(config).await.expect("sandbox starts");
        let base = sandbox.base_url();
        Sim {
            sandbox,
            client: reqwest::Client::new(),
            base,
            token,
        }
    }

    /// Sends a REST request with the bearer token and `Intercom-Version: 2.16`, and checks the
    /// answer against the spec (see [`super::contract::validate_served`]).
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let method_name = method.clone();
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("intercom-version", "2.16")
            .header("accept", "application/json");
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        // Every answer served to a test must match the official 2.16 schema for its status.
        let url_path = path.split('?').next().unwrap_or_default();
        if let Err(e) =
            super::contract::validate_served(method_name.as_str(), url_path, status, &body)
        {
            panic!("contract: {e}\n{body}");
        }
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(body)).await
    }

    /// A control-API call (no auth).
    pub async fn control(&self, method: Method, path: &str, body: Value) -> Answer {
        let resp = self
            .client
            .request(method, format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .expect("control request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.json().await.unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }
}

/// Asserts an Intercom `error.list` with `code`.
pub fn assert_error(a: &Answer, status: u16, code: &str) {
    assert_eq!(a.status, status, "{}", a.body);
    assert_eq!(a.body["type"], "error.list", "{}", a.body);
    assert_eq!(a.body["errors"][0]["code"], code, "{}", a.body);
    assert!(a.body["request_id"].is_string());
}

/// One received notification.
#[derive(Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("notification JSON")
    }
}

/// A tiny webhook receiver on 127.0.0.1:0; returns its URL and what it received.
pub async fn receiver() -> (String, Arc<Mutex<Vec<Received>>>) {
    let got: Arc<Mutex<Vec<Received>>> = Arc::default();
    async fn hook(
        State(got): State<Arc<Mutex<Vec<Received>>>>,
        headers: HeaderMap,
        body: Bytes,
    ) -> &'static str {
        got.lock().unwrap().push(Received { headers, body });
        "ok"
    }
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), got)
}

fn parts(conversation: &Value) -> &Vec<Value> {
    conversation["conversation_parts"]["conversation_parts"]
        .as_array()
        .expect("parts")
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn verify(r: &Received) {
    let header = r.headers.get(signature::HEADER).map(|v| v.as_bytes());
    assert_eq!(
        signature::verify(&[SecretString::from(SECRET)], header, &r.body),
        Ok(())
    );
}
