//! A proxy in front of the sandbox that can hold one reply's response: the write reaches Intercom
//! and is applied, the caller never hears back. The test learns when it was applied, so it can kill
//! the daemon between Intercom applying a write and the daemon recording it.

use std::sync::{Arc, Mutex};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderMap, Method, StatusCode, Uri},
    response::Response,
};
use tokio::sync::oneshot;

#[derive(Clone)]
struct Shared {
    target: String,
    client: reqwest::Client,
    /// Told when the next reply was applied; that reply's response is never sent.
    hold: Arc<Mutex<Option<oneshot::Sender<()>>>>,
}

/// The running proxy.
pub struct HoldProxy {
    /// The base URL to give the daemon as `INTERCOM_BASE_URL`.
    pub url: String,
    shared: Shared,
}

impl HoldProxy {
    /// Forwards every request to `target` (the sandbox's base URL).
    pub async fn start(target: &str) -> Self {
        let shared = Shared {
            target: target.trim_end_matches('/').to_owned(),
            client: reqwest::Client::new(),
            hold: Arc::default(),
        };
        let app = Router::new().fallback(forward).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, shared }
    }

    /// Holds the response to the next `POST /conversations/{id}/reply` once the sandbox has
    /// applied it; the receiver hears when it was.
    pub fn hold_next_reply(&self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        *self.shared.hold.lock().unwrap() = Some(tx);
        rx
    }
}

async fn forward(State(s): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let reply = parts.method == Method::POST && parts.uri.path().ends_with("/reply");
    let response = send(&s, parts.method, &parts.uri, &parts.headers, body).await;
    let held = if reply {
        s.hold.lock().unwrap().take()
    } else {
        None
    };
    if let Some(applied) = held {
        let _ = applied.send(());
        std::future::pending::<()>().await;
    }
    response
}

async fn send(s: &Shared, method: Method, uri: &Uri, headers: &HeaderMap, body: Bytes) -> Response {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = s.client.request(method, format!("{}{path}", s.target));
    for (name, value) in headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    let Ok(upstream) = request.body(body).send().await else {
        return Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .body(Body::empty())
            .unwrap();
    };
    let mut response = Response::builder().status(upstream.status());
    for (name, value) in upstream.headers() {
        if name != "content-length" && name != "transfer-encoding" {
            response = response.header(name, value);
        }
    }
    let bytes = upstream.bytes().await.unwrap_or_default();
    response.body(Body::from(bytes)).unwrap()
}
