//! The `webhook_events` table: every notification received, raw body kept byte-for-byte.

use serde::Serialize;
use sqlx::FromRow;

use super::{Db, StoreError, Tx, with_pool, with_tx};

/// Lifecycle of a stored event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// Stored and a job enqueued for it.
    Queued,
    /// Its run finished (whatever the run's outcome).
    Processed,
    /// Its run failed for good; the run row holds the reason.
    Failed,
    /// Recorded but needs no run (`ping`).
    Ignored,
    /// Covered by the run of another event of the same conversation (`coalesced_into`).
    Coalesced,
    /// Correctly signed but not a notification we could parse; kept for replay after an upgrade.
    Unparsed,
}

impl EventStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Processed => "processed",
            Self::Failed => "failed",
            Self::Ignored => "ignored",
            Self::Coalesced => "coalesced",
            Self::Unparsed => "unparsed",
        }
    }
}

/// What ingest knows about a notification when it stores it.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub dedupe_key: &'a str,
    pub notification_id: Option<&'a str>,
    pub topic: Option<&'a str>,
    pub app_id: Option<&'a str>,
    pub conversation_id: Option<&'a str>,
    pub created_at: Option<i64>,
    pub delivery_attempts: Option<i64>,
    pub status: EventStatus,
    pub parse_error: Option<&'a str>,
    pub raw_body: &'a [u8],
}

/// Result of [`insert`]: a new row, or the row an earlier delivery already made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    New(i64),
    Duplicate(i64),
}

/// Inserts an event inside the caller's transaction, unless its dedupe key is already stored.
///
/// A duplicate never aborts the transaction (`ON CONFLICT DO NOTHING`, on both backends), so one
/// redelivered notification cannot fail the other webhooks of a group-commit batch; and only a
/// new row gets a job, so the queue's own insert (which on PostgreSQL has no `ON CONFLICT`) never
/// sees a key twice.
pub async fn insert(tx: &mut Tx, event: &NewEvent<'_>) -> Result<Inserted, StoreError> {
    let new_id: Option<i64> = with_tx!(tx, |c| {
        sqlx::query_scalar(
        "INSERT INTO webhook_events (dedupe_key, notification_id, topic, app_id, conversation_id, \
         created_at, delivery_attempts, status, parse_error, raw_body) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
    )
    .bind(event.dedupe_key)
    .bind(event.notification_id)
    .bind(event.topic)
    .bind(event.app_id)
    .bind(event.conversation_id)
    .bind(event.created_at)
    .bind(event.delivery_attempts)
    .bind(event.status.as_str())
    .bind(event.parse_error)
    .bind(event.raw_body)
    .fetch_optional(c)
    .await
    })?;
    if let Some(id) = new_id {
        return Ok(Inserted::New(id));
    }
    let existing: i64 = with_tx!(tx, |c| sqlx::query_scalar(
        "SELECT id FROM webhook_events WHERE dedupe_key = $1"
    )
    .bind(event.dedupe_key)
    .fetch_one(c)
    .await)?;
    Ok(Inserted::Duplicate(existing))
}

/// Marks the event finished (processed or failed) inside the caller's transaction.
pub async fn finish(tx: &mut Tx, event_id: i64, status: EventStatus) -> Result<(), StoreError> {
    let sql = format!(
        "UPDATE webhook_events SET status = $1, processed_at = {} WHERE id = $2",
        tx.backend().now()
    );
    with_tx!(tx, |c| sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(status.as_str())
        .bind(event_id)
        .execute(c)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// One stored event, as `triaged events list --json` prints it.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct EventSummary {
    pub id: i64,
    pub notification_id: Option<String>,
    pub topic: Option<String>,
    pub conversation_id: Option<String>,
    pub received_at: String,
    pub status: String,
    pub delivery_attempts: Option<i64>,
    pub parse_error: Option<String>,
    pub processed_at: Option<String>,
}

/// A whole stored event, raw body included.
#[derive(Debug, Clone, FromRow)]
pub struct EventRow {
    pub id: i64,
    pub notification_id: Option<String>,
    pub topic: Option<String>,
    pub conversation_id: Option<String>,
    pub status: String,
    pub job_key: Option<String>,
    pub raw_body: Vec<u8>,
}

const SUMMARY_COLUMNS: &str = "id, notification_id, topic, conversation_id, received_at, status, \
                               delivery_attempts, parse_error, processed_at";

impl Db {
    /// The newest events first.
    pub async fn list_events(
        &self,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<EventSummary>, StoreError> {
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM webhook_events \
             WHERE ($1 IS NULL OR status = $1) ORDER BY id DESC LIMIT $2"
        );
        Ok(with_pool!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql
        ))
        .bind(status)
        .bind(limit)
        .fetch_all(p)
        .await)?)
    }

    /// Ids of the events with `status` received at or after `since` (an RFC 3339 UTC time as the
    /// table stores it), oldest first.
    pub async fn event_ids(
        &self,
        status: &str,
        since: Option<&str>,
    ) -> Result<Vec<i64>, StoreError> {
        Ok(with_pool!(self, |p| sqlx::query_scalar(
            "SELECT id FROM webhook_events WHERE status = $1 \
             AND ($2 IS NULL OR received_at >= $2) ORDER BY id",
        )
        .bind(status)
        .bind(since)
        .fetch_all(p)
        .await)?)
    }

    /// One event with its raw body.
    pub async fn event(&self, id: i64) -> Result<Option<EventRow>, StoreError> {
        Ok(with_pool!(self, |p| sqlx::query_as(
            "SELECT id, notification_id, topic, conversation_id, status, job_key, raw_body \
             FROM webhook_events WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(p)
        .await)?)
    }

    /// The newest event stored for a conversation, the bot's own echoes left out: a run whose
    /// copy of the conversation predates it reads the conversation afresh.
    pub async fn newest_event(&self, conversation_id: &str) -> Result<Option<i64>, StoreError> {
        Ok(with_pool!(self, |p| sqlx::query_scalar(
            "SELECT MAX(id) FROM webhook_events WHERE conversation_id = $1 AND status != 'ignored'",
        )
        .bind(conversation_id)
        .fetch_one(p)
        .await)?)
    }

    /// Events still waiting for a run, oldest first (the start-up reconciler re-enqueues these
    /// when their job is gone).
    pub async fn queued_events(&self) -> Result<Vec<(i64, Option<String>)>, StoreError> {
        Ok(with_pool!(self, |p| sqlx::query_as(
            "SELECT id, job_key FROM webhook_events WHERE status = 'queued' ORDER BY id",
        )
        .fetch_all(p)
        .await)?)
    }
}
