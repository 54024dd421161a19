//! Stage: **ingest** — `POST /webhooks/intercom`.
//!
//! Verifies the signature, stores the notification (raw body byte-for-byte) and enqueues its job in
//! one transaction, then answers 200. It never does the work, and never answers 410 or 429 (Intercom
//! would disable or throttle the whole subscription): a correctly signed body that cannot be parsed
//! is stored as `unparsed` and answered 200 so it can be replayed after an upgrade; a database
//! failure answers 503 so Intercom retries once a minute later.

pub mod envelope;
pub mod signature;
pub mod throttle;
pub mod writer;

use std::{sync::Arc, time::Instant};

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use secrecy::SecretString;
use serde_json::json;
use sha1::{Digest, Sha1};

use crate::{
    queue::{self, QueueError},
    store::{
        Db,
        events::{EventStatus, Inserted},
    },
};
use envelope::Notification;
use writer::{StoreRequest, Writer};

/// What the receiver needs.
#[derive(Debug, Clone)]
pub struct Ingest {
    pub writer: Writer,
    pub secrets: Arc<Vec<SecretString>>,
    /// How long a conversation's job waits before it runs, so quick messages coalesce.
    pub debounce: std::time::Duration,
    /// Recognises echoes of the bot's own writes: they are stored `ignored`, with no job.
    pub echoes: Option<EchoFilter>,
    /// Refused deliveries are logged at most once per [`throttle::WINDOW`].
    pub refusals: Arc<throttle::LogThrottle>,
}

/// Tells, from a notification's topic and raw body, whether it is the echo of the bot's own write.
/// Built by the app from triage's rules, so ingest never imports a later stage. An echo stored
/// `ignored` never gets a job, so no customer message is ever coalesced into it.
#[derive(Clone)]
pub struct EchoFilter(pub Arc<EchoTest>);

/// `(topic, raw body) → is the bot's own echo`.
pub type EchoTest = dyn Fn(&str, &[u8]) -> bool + Send + Sync;

impl std::fmt::Debug for EchoFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EchoFilter")
    }
}

/// How a delivery was handled (also the `outcome` label of `triaged_webhooks_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Accepted {
    Queued,
    Duplicate,
    Ping,
    OwnEcho,
    Unparsed,
}

impl Accepted {
    fn label(self) -> &'static str {
        match self {
            Self::Queued => "accepted",
            Self::Duplicate => "duplicate",
            Self::Ping => "ping",
            Self::OwnEcho => "own_echo",
            Self::Unparsed => "unparsed",
        }
    }
}

/// `HEAD /webhooks/intercom`: Intercom checks the URL with it when a subscription is saved.
pub async fn head() -> StatusCode {
    StatusCode::OK
}

/// `POST /webhooks/intercom`.
#[tracing::instrument(skip_all, fields(notification_id, topic))]
pub async fn receive(State(ingest): State<Ingest>, headers: HeaderMap, body: Bytes) -> Response {
    let started = Instant::now();
    let header = headers
        .get(signature::HEADER)
        .map(axum::http::HeaderValue::as_bytes);
    if let Err(error) = signature::verify(&ingest.secrets, header, &body) {
        if let Some(unlogged) = ingest.refusals.allow(Instant::now()) {
            tracing::warn!(
                reason = error.label(),
                bytes = body.len(),
                unlogged_since_last = unlogged,
                "webhook refused"
            );
        }
        metrics::counter!("triaged_webhooks_total", "topic" => "unknown", "outcome" => error.label())
            .increment(1);
        return (StatusCode::UNAUTHORIZED, error.to_string()).into_response();
    }
    let (request, topic) = match Notification::parse(&body) {
        Ok(notification) => {
            let span = tracing::Span::current();
            span.record("notification_id", notification.id.as_str());
            span.record("topic", notification.topic.as_str());
            let topic = notification.topic.0.clone();
            (
                notification_request(&notification, ingest.debounce, body),
                topic,
            )
        }
        Err(error) => {
            tracing::warn!(%error, "signed webhook body could not be parsed; storing it as unparsed");
            (
                unparsed_request(&error.to_string(), body),
                "unparsed".to_owned(),
            )
        }
    };
    let mut request = request;
    if request.status == EventStatus::Queued
        && ingest
            .echoes
            .as_ref()
            .is_some_and(|echo| (echo.0)(&topic, &request.raw_body))
    {
        request.status = EventStatus::Ignored;
        request.enqueue_after = None;
        metrics::counter!("triaged_runs_skipped_total", "reason" => "own_echo").increment(1);
    }
    let accepted = match request.status {
        EventStatus::Ignored if topic != "ping" => Accepted::OwnEcho,
        EventStatus::Ignored => Accepted::Ping,
        EventStatus::Unparsed => Accepted::Unparsed,
        _ => Accepted::Queued,
    };
    let result = ingest
        .writer
        .store(request)
        .await
        .map(|stored| match stored {
            Inserted::New(id) => (accepted, id),
            Inserted::Duplicate(id) if accepted == Accepted::Unparsed => (accepted, id),
            Inserted::Duplicate(id) => (Accepted::Duplicate, id),
        });
    let response = match result {
        Ok((accepted, event_id)) => {
            tracing::info!(event_id, outcome = accepted.label(), "webhook stored");
            metrics::counter!("triaged_webhooks_total", "topic" => topic, "outcome" => accepted.label())
                .increment(1);
            (
                StatusCode::OK,
                Json(json!({ "status": accepted.label(), "event_id": event_id })),
            )
                .into_response()
        }
        Err(error) => {
            tracing::error!(%error, "could not store webhook; Intercom will retry in a minute");
            metrics::counter!("triaged_webhooks_total", "topic" => topic, "outcome" => "store_error")
                .increment(1);
            (StatusCode::SERVICE_UNAVAILABLE, "storage unavailable").into_response()
        }
    };
    metrics::histogram!("triaged_webhook_ack_seconds").record(started.elapsed().as_secs_f64());
    response
}

fn notification_request(
    n: &Notification,
    debounce: std::time::Duration,
    body: Bytes,
) -> StoreRequest {
    let conversation_id = n.conversation_id();
    let ping = n.topic.is_ping();
    StoreRequest {
        dedupe_key: n.id.as_str().to_owned(),
        notification_id: Some(n.id.as_str().to_owned()),
        topic: Some(n.topic.as_str().to_owned()),
        app_id: n.app_id.clone(),
        enqueue_after: match (ping, &conversation_id) {
            (true, _) => None,
            (false, Some(_)) => Some(debounce),
            (false, None) => Some(std::time::Duration::ZERO),
        },
        conversation_id,
        created_at: n.created_at,
        delivery_attempts: n.delivery_attempts,
        status: if ping {
            EventStatus::Ignored
        } else {
            EventStatus::Queued
        },
        parse_error: None,
        raw_body: body,
    }
}

fn unparsed_request(error: &str, body: Bytes) -> StoreRequest {
    StoreRequest {
        dedupe_key: format!("sha1:{}", hex::encode(Sha1::digest(&body))),
        notification_id: None,
        topic: None,
        app_id: None,
        conversation_id: None,
        created_at: None,
        delivery_attempts: None,
        status: EventStatus::Unparsed,
        parse_error: Some(error.to_owned()),
        enqueue_after: None,
        raw_body: body,
    }
}

/// Why an event cannot be replayed; the text is for the person who asked.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("no event {0}")]
    NotFound(i64),
    #[error("event {0} is a ping; pings have no run")]
    Ping(i64),
    #[error("event {id} still does not parse as a notification: {error}")]
    StillUnparsed { id: i64, error: String },
    #[error("event {0} is queued already")]
    AlreadyQueued(i64),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Replays every event with `status`, received within `since` (all of them without), oldest first.
/// Each has its own result: one that cannot be replayed does not stop the others.
pub async fn replay_matching(
    db: &Db,
    status: crate::store::events::EventStatus,
    since: Option<std::time::Duration>,
) -> Result<Vec<Result<i64, ReplayError>>, QueueError> {
    let cutoff = since.map(|d| {
        let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        jiff::Timestamp::now()
            .checked_sub(jiff::SignedDuration::from_secs(secs))
            .unwrap_or(jiff::Timestamp::MIN)
            .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string()
    });
    let ids = db.event_ids(status.as_str(), cutoff.as_deref()).await?;
    let mut results = Vec::with_capacity(ids.len());
    for id in ids {
        results.push(replay(db, id).await);
    }
    Ok(results)
}

/// Runs a stored event again: it goes back to `queued` with a new job (the daemon's workers pick
/// it up). An `unparsed` event is parsed again first, so bodies kept before an upgrade can be
/// processed after it. Writes are idempotent, so replaying a handled event is harmless.
pub async fn replay(db: &Db, id: i64) -> Result<i64, ReplayError> {
    let event = db
        .event(id)
        .await
        .map_err(QueueError::from)?
        .ok_or(ReplayError::NotFound(id))?;
    let mut tx = db.begin_write().await.map_err(QueueError::from)?;
    match event.status.as_str() {
        "queued" => return Err(ReplayError::AlreadyQueued(id)),
        "ignored" => return Err(ReplayError::Ping(id)),
        "unparsed" => {
            let n =
                Notification::parse(&event.raw_body).map_err(|e| ReplayError::StillUnparsed {
                    id,
                    error: e.to_string(),
                })?;
            if n.topic.is_ping() {
                return Err(ReplayError::Ping(id));
            }
            crate::store::with_tx!(&mut tx, |c| sqlx::query(
                "UPDATE webhook_events SET notification_id = $1, topic = $2, app_id = $3, \
                 conversation_id = $4, created_at = $5, delivery_attempts = $6, \
                 parse_error = NULL WHERE id = $7",
            )
            .bind(n.id.as_str())
            .bind(n.topic.as_str())
            .bind(n.app_id.as_deref())
            .bind(n.conversation_id())
            .bind(n.created_at)
            .bind(n.delivery_attempts)
            .bind(id)
            .execute(c)
            .await
            .map(|_| ()))
            .map_err(QueueError::from)?;
        }
        _ => {}
    }
    crate::store::with_tx!(&mut tx, |c| sqlx::query(
        "UPDATE webhook_events SET status = 'queued', processed_at = NULL, coalesced_into = NULL \
         WHERE id = $1",
    )
    .bind(id)
    .execute(c)
    .await
    .map(|_| ()))
    .map_err(QueueError::from)?;
    queue::enqueue(&mut tx, id, 1, std::time::Duration::ZERO).await?;
    tx.commit().await.map_err(QueueError::from)?;
    tracing::info!(event_id = id, "event re-queued for replay");
    Ok(id)
}
