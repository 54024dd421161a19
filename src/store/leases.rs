//! Conversation leases and coalescing: one run per conversation at a time, and quick successive
//! events of a conversation answered by one run that sees the latest state.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::{Sqlite, Transaction};

use super::{NOW, StoreError};

/// What [`claim`] decided for an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// A newer event of the same conversation is waiting: this one is marked `coalesced` into it
    /// and its run will cover both (trailing debounce).
    Superseded { by: i64 },
    /// Another run holds the conversation; try again later.
    Busy { holder_event: i64 },
    /// The lease is ours; `covered` are the other waiting events of the conversation, now marked
    /// `coalesced` into this one.
    Acquired { covered: Vec<i64> },
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// Decides, inside the caller's write transaction, whether the job of `event_id` runs now.
///
/// Trailing debounce: a newer waiting event of the conversation defers this one to its own job,
/// except when the customer is still typing (the newest event is younger than `debounce`, so its
/// job is not due yet) and the oldest waiting event has already waited `max_wait`: then this run
/// goes ahead, so a customer typing non-stop still gets an answer. During a backlog every job is
/// late, the newest one is due too, and deferring to it costs nothing.
pub async fn claim(
    tx: &mut Transaction<'_, Sqlite>,
    conversation_id: &str,
    event_id: i64,
    holder: &str,
    ttl: Duration,
    debounce: Duration,
    max_wait: Duration,
) -> Result<Claim, StoreError> {
    let newer: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(id) FROM webhook_events \
         WHERE conversation_id = ? AND status = 'queued' AND id > ?",
    )
    .bind(conversation_id)
    .bind(event_id)
    .fetch_one(&mut **tx)
    .await?;
    if let Some(newer) = newer {
        let go_ahead: bool = sqlx::query_scalar(
            "SELECT MIN(received_at) < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?1) \
                AND MAX(received_at) > strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?2) \
             FROM webhook_events WHERE conversation_id = ?3 AND status = 'queued'",
        )
        .bind(format!("-{:.3} seconds", max_wait.as_secs_f64()))
        .bind(format!("-{:.3} seconds", debounce.as_secs_f64()))
        .bind(conversation_id)
        .fetch_one(&mut **tx)
        .await?;
        if !go_ahead {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE webhook_events SET status = 'coalesced', coalesced_into = ?, \
                 processed_at = {NOW} WHERE id = ?"
            )))
            .bind(newer)
            .bind(event_id)
            .execute(&mut **tx)
            .await?;
            return Ok(Claim::Superseded { by: newer });
        }
    }
    let now = now_ms();
    let expires = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
    let taken = sqlx::query(
        "INSERT INTO conversation_leases (conversation_id, holder, event_id, acquired_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (conversation_id) DO UPDATE SET holder = excluded.holder, \
           event_id = excluded.event_id, acquired_at = excluded.acquired_at, \
           expires_at = excluded.expires_at \
         WHERE conversation_leases.expires_at < excluded.acquired_at \
            OR conversation_leases.holder = excluded.holder",
    )
    .bind(conversation_id)
    .bind(holder)
    .bind(event_id)
    .bind(now)
    .bind(expires)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if taken == 0 {
        let holder_event: i64 = sqlx::query_scalar(
            "SELECT event_id FROM conversation_leases WHERE conversation_id = ?",
        )
        .bind(conversation_id)
        .fetch_one(&mut **tx)
        .await?;
        return Ok(Claim::Busy { holder_event });
    }
    let covered: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "UPDATE webhook_events SET status = 'coalesced', coalesced_into = ?1, processed_at = {NOW} \
         WHERE conversation_id = ?2 AND status = 'queued' AND id != ?1 RETURNING id"
    )))
    .bind(event_id)
    .bind(conversation_id)
    .fetch_all(&mut **tx)
    .await?;
    Ok(Claim::Acquired { covered })
}

/// Gives the conversation back, if `holder` still holds it.
pub async fn release(
    tx: &mut Transaction<'_, Sqlite>,
    conversation_id: &str,
    holder: &str,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM conversation_leases WHERE conversation_id = ? AND holder = ?")
        .bind(conversation_id)
        .bind(holder)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
