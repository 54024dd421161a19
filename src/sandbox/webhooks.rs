//! The notification emitter: builds Intercom notification envelopes (API_FACTS §1.3), signs them
//! with `X-Hub-Signature` (HMAC-SHA1 of the body with the client secret) and POSTs them to the
//! configured webhook URL.
//!
//! Deliveries run on one background task fed by a channel, so they never block the REST response
//! and keep the order in which changes happened (hence per-conversation order). [`Emitter::flush`]
//! waits until everything queued before it was attempted. One attempt per notification (Intercom
//! retries once after a minute; a rehearsal has no use for that wait). Never retries, never blocks
//! a request handler.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use super::{SandboxStats, error::uuid_like, model::APP_ID};
use crate::ingest::signature;

/// How long one delivery may take (Intercom counts a notification failed after 5 s).
const DELIVERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

enum Msg {
    Deliver {
        url: String,
        topic: String,
        body: Vec<u8>,
    },
    Flush(oneshot::Sender<()>),
}

/// The sending side; cheap to clone.
#[derive(Debug, Clone)]
pub struct Emitter {
    tx: mpsc::UnboundedSender<Msg>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Deliver { topic, .. } => write!(f, "Deliver({topic})"),
            Self::Flush(_) => f.write_str("Flush"),
        }
    }
}

/// A notification envelope for `item` (a rendered conversation with plain-text bodies).
pub fn envelope(topic: &str, item: Value, now: i64) -> Value {
    json!({
        "type": "notification_event",
        "id": format!("notif_{}", uuid_like()),
        "topic": topic,
        "app_id": APP_ID,
        "created_at": now,
        "delivery_attempts": 1,
        "first_sent_at": now,
        "data": {"type": "notification_event_data", "item": item},
    })
}

impl Emitter {
    /// Starts the delivery task; it ends when every [`Emitter`] is dropped.
    pub fn start(secret: String, stats: Arc<Mutex<SandboxStats>>) -> anyhow::Result<Self> {
        crate::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(DELIVERY_TIMEOUT)
            .user_agent("intercom-parrot-service-client/1.0")
            .build()?;
        let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
        tokio::spawn(async move {
            while let Some(msg) = rx.recv().await {
                match msg {
                    Msg::Flush(done) => {
                        let _ = done.send(());
                    }
                    Msg::Deliver { url, topic, body } => {
                        let sig = signature::sign(secret.as_bytes(), &body);
                        let result = client
                            .post(&url)
                            .header("content-type", "application/json")
                            .header("accept", "application/json")
                            .header("x-hub-signature", sig)
                            .body(body)
                            .send()
                            .await;
                        let ok = matches!(&result, Ok(r) if r.status().is_success());
                        if !ok {
                            tracing::warn!(%topic, %url, "sandbox notification not delivered");
                        }
                        if let Ok(mut s) = stats.lock() {
                            if ok {
                                s.webhooks_delivered += 1;
                            } else {
                                s.webhooks_failed += 1;
                            }
                        }
                    }
                }
            }
        });
        Ok(Self { tx })
    }

    /// Queues a notification for delivery to `url`.
    pub fn send(&self, url: String, topic: &str, envelope: &Value) {
        let body = serde_json::to_vec(envelope).unwrap_or_default();
        let _ = self.tx.send(Msg::Deliver {
            url,
            topic: topic.to_owned(),
            body,
        });
    }

    /// Resolves once every notification queued before this call was attempted.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }
}
