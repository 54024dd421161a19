//! The notification emitter: builds Intercom notification envelopes (API_FACTS §1.3), signs them
//! with `X-Hub-Signature` (HMAC-SHA1 of the body with the client secret) and POSTs them to the
//! configured webhook URL.
//!
//! Deliveries run on one background task fed by a channel, so they never block the REST response
//! and keep the order in which changes happened (hence per-conversation order). [`Emitter::flush`]
//! waits until everything queued before it was attempted. A delivery fails when it gets no 2xx
//! within 5 s. Intercom then tries once more about a minute later (API_FACTS §1.5); the sandbox
//! does the same when a redelivery delay is set (same notification id, `delivery_attempts: 2`,
//! newly signed), and otherwise makes one attempt. Never retries more than once, never blocks a
//! request handler.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot, watch};

use super::{SandboxStats, error::uuid_like, lock, model::APP_ID};
use crate::ingest::signature;

/// How long one delivery may take (Intercom counts a notification failed after 5 s).
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

enum Msg {
    Deliver {
        url: String,
        topic: String,
        envelope: Value,
    },
    Flush(oneshot::Sender<()>),
}

/// The sending side; cheap to clone.
#[derive(Debug, Clone)]
pub struct Emitter {
    tx: mpsc::UnboundedSender<Msg>,
    /// The redelivery delay (none: one attempt).
    redeliver_after: Arc<Mutex<Option<Duration>>>,
    /// Redeliveries scheduled and not yet attempted.
    pending: Arc<watch::Sender<usize>>,
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
    pub fn start(
        secret: String,
        redeliver_after: Option<Duration>,
        stats: Arc<Mutex<SandboxStats>>,
    ) -> anyhow::Result<Self> {
        crate::install_crypto_provider();
        let client = reqwest::Client::builder()
            .timeout(DELIVERY_TIMEOUT)
            .user_agent("intercom-parrot-service-client/1.0")
            .build()?;
        let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
        let emitter = Self {
            tx,
            redeliver_after: Arc::new(Mutex::new(redeliver_after)),
            pending: Arc::new(watch::Sender::new(0)),
        };
        let this = emitter.downgrade();
        tokio::spawn(async move {
            while let Some(msg) = rx.recv().await {
                let (url, topic, envelope) = match msg {
                    Msg::Flush(done) => {
                        let _ = done.send(());
                        continue;
                    }
                    Msg::Deliver {
                        url,
                        topic,
                        envelope,
                    } => (url, topic, envelope),
                };
                let body = serde_json::to_vec(&envelope).unwrap_or_default();
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
                let redelivery = envelope["delivery_attempts"].as_u64() == Some(2);
                {
                    let mut s = lock(&stats);
                    if ok {
                        s.webhooks_delivered += 1;
                    } else {
                        s.webhooks_failed += 1;
                    }
                    if redelivery {
                        s.webhooks_redelivered += 1;
                    }
                }
                if !ok {
                    tracing::warn!(%topic, %url, redelivery, "sandbox notification not delivered");
                    if !redelivery {
                        this.schedule_redelivery(url, topic, envelope);
                    }
                }
                if redelivery {
                    this.pending.send_modify(|n| *n = n.saturating_sub(1));
                }
            }
        });
        Ok(emitter)
    }

    fn downgrade(&self) -> WeakEmitter {
        WeakEmitter {
            tx: self.tx.downgrade(),
            redeliver_after: self.redeliver_after.clone(),
            pending: self.pending.clone(),
        }
    }

    /// Sets the redelivery delay from now on (none: one attempt per notification).
    pub fn set_redelivery(&self, delay: Option<Duration>) {
        *lock(&self.redeliver_after) = delay;
    }

    /// Queues a notification for delivery to `url`.
    pub fn send(&self, url: String, topic: &str, envelope: &Value) {
        let _ = self.tx.send(Msg::Deliver {
            url,
            topic: topic.to_owned(),
            envelope: envelope.clone(),
        });
    }

    /// Resolves once every notification queued before this call was attempted, and every
    /// redelivery they called for too.
    pub async fn flush(&self) {
        self.drain().await;
        let mut pending = self.pending.subscribe();
        let _ = pending.wait_for(|n| *n == 0).await;
    }

    /// Resolves once every notification queued before this call had its first attempt.
    pub async fn drain(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

/// What the delivery task keeps of its [`Emitter`]: a weak sender, so the task ends when the
/// sandbox is dropped.
struct WeakEmitter {
    tx: mpsc::WeakUnboundedSender<Msg>,
    redeliver_after: Arc<Mutex<Option<Duration>>>,
    pending: Arc<watch::Sender<usize>>,
}

impl WeakEmitter {
    /// Queues the second attempt of a failed notification after the redelivery delay, if any.
    fn schedule_redelivery(&self, url: String, topic: String, mut envelope: Value) {
        let Some(delay) = *lock(&self.redeliver_after) else {
            return;
        };
        let Some(tx) = self.tx.upgrade() else {
            return;
        };
        envelope["delivery_attempts"] = json!(2);
        self.pending.send_modify(|n| *n += 1);
        let pending = self.pending.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let msg = Msg::Deliver {
                url,
                topic,
                envelope,
            };
            if tx.send(msg).is_err() {
                pending.send_modify(|n| *n = n.saturating_sub(1));
            }
        });
    }
}
