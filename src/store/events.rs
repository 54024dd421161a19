//! The `webhook_events` table: every notification received, raw body kept byte-for-byte.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;
use sqlx::FromRow;

use super::{Db, ROWS_PER_STATEMENT, StoreError, Tx, param_list, value_rows, with_pool, with_tx};

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

/// Result of [`insert`] and [`insert_many`]: a new row, or the row an earlier delivery already made.
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
    let mut inserted = insert_many(tx, std::slice::from_ref(event)).await?;
    Ok(inserted.remove(0))
}

/// [`insert`] for many events, in their order: one `INSERT` for up to `ROWS_PER_STATEMENT`
/// events (and one `SELECT` for the ids of those already stored), not a round trip each; a
/// database round trip is what a busy machine makes slow. A key that appears twice is `New` the
/// first time and `Duplicate` after, as one by one.
pub async fn insert_many(
    tx: &mut Tx,
    events: &[NewEvent<'_>],
) -> Result<Vec<Inserted>, StoreError> {
    let mut new: HashMap<String, i64> = HashMap::new();
    for chunk in events.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO webhook_events (dedupe_key, notification_id, topic, app_id, \
             conversation_id, created_at, delivery_attempts, status, parse_error, raw_body) \
             VALUES {} ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key, id",
            value_rows(chunk.len(), 10)
        );
        let rows: Vec<(String, i64)> = with_tx!(tx, |c| {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            for event in chunk {
                query = query
                    .bind(event.dedupe_key)
                    .bind(event.notification_id)
                    .bind(event.topic)
                    .bind(event.app_id)
                    .bind(event.conversation_id)
                    .bind(event.created_at)
                    .bind(event.delivery_attempts)
                    .bind(event.status.as_str())
                    .bind(event.parse_error)
                    .bind(event.raw_body);
            }
            query.fetch_all(c).await
        })?;
        new.extend(rows);
    }
    let stored: BTreeSet<&str> = events
        .iter()
        .map(|e| e.dedupe_key)
        .filter(|key| !new.contains_key(*key))
        .collect();
    let stored: Vec<&str> = stored.into_iter().collect();
    let mut existing: HashMap<String, i64> = HashMap::new();
    for chunk in stored.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "SELECT dedupe_key, id FROM webhook_events WHERE dedupe_key IN ({})",
            param_list(chunk.len())
        );
        let rows: Vec<(String, i64)> = with_tx!(tx, |c| {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            for key in chunk {
                query = query.bind(*key);
            }
            query.fetch_all(c).await
        })?;
        existing.extend(rows);
    }
    let mut seen = BTreeSet::new();
    events
        .iter()
        .map(|event| {
            let key = event.dedupe_key;
            match (new.get(key), existing.get(key)) {
                (Some(&id), _) if seen.insert(key) => Ok(Inserted::New(id)),
                (Some(&id), _) | (None, Some(&id)) => Ok(Inserted::Duplicate(id)),
                (None, None) => Err(StoreError::Sql(sqlx::Error::RowNotFound)),
            }
        })
        .collect()
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
