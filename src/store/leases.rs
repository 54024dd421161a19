//! Conversation leases and coalescing: one run per conversation at a time, and quick successive
//! events of a conversation answered by one run that sees the latest state.
//!
//! # The lease protocol (written to port as is to PostgreSQL with several processes)
//!
//! Everything lives in the `conversation_leases` table; no process keeps lease state in memory
//! beyond the [`Lease`] value its run carries. One row per conversation, never deleted, so the
//! `epoch` (the fencing token) only ever grows.
//!
//! - **Claim** ([`claim`]), inside the write transaction that also decides coalescing: one upsert
//!   `INSERT … ON CONFLICT (conversation_id) DO UPDATE SET owner, holder, epoch = epoch + 1,
//!   expires_at = now + ttl … WHERE conversation_leases.expires_at <= now RETURNING epoch`.
//!   The conflicting row is locked by the statement itself (SQLite: the single writer lock taken by
//!   `BEGIN IMMEDIATE`; PostgreSQL: the row lock `ON CONFLICT DO UPDATE` takes), so two claimers
//!   serialise and exactly one sees a row back. No row back means busy. A lease is free when it was
//!   released (`expires_at = 0`) or its holder stopped renewing it; a live holder is never
//!   displaced, not even by the same job redelivered to another process.
//! - **Renew** ([`renew`]), from a heartbeat every `ttl / 3` while the run lives: a
//!   compare-and-set `UPDATE … SET expires_at = now + ttl WHERE conversation_id = ? AND epoch = ?
//!   AND owner = ?`. Zero rows means the lease changed hands: the run has lost it.
//! - **Fence** ([`Lease::holds`]), before every write to Intercom and in the run's final
//!   transaction: `SELECT … WHERE conversation_id = ? AND epoch = ? AND owner = ? AND expires_at >
//!   now`. A run that no longer holds its epoch stops without writing; its final transaction
//!   (run, event, watermark) is rolled back, so the run that took over owns the conversation's
//!   record. In PostgreSQL the final transaction does the same check with `SELECT … FOR UPDATE` on
//!   the lease row, so a claimer cannot slip in between the check and the commit.
//! - **Release** ([`release`]), on every exit path of the run that holds it (success, failure,
//!   a panic, a lost database aside): the same compare-and-set setting `expires_at = 0`. Jobs that
//!   are coalesced or superseded never took the lease. A crashed holder's lease simply expires
//!   `ttl` after its last renewal (about a minute by default).
//!
//! The one window fencing cannot close is a process paused between the check and the HTTP call
//! itself; the check also requires the lease to be unexpired, and renewals keep two thirds of the
//! ttl ahead of the holder, so the pause would have to outlast that.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::{Sqlite, Transaction};

use super::{Db, NOW, StoreError};

/// What [`claim`] decided for an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// A newer event of the same conversation is waiting (or an older one whose run already wrote
    /// and will resume): this one is marked `coalesced` into it and that run covers both.
    Superseded { by: i64 },
    /// Another run holds the conversation; try again later.
    Busy { holder_event: i64 },
    /// The lease is ours; `covered` are the other waiting events of the conversation, now marked
    /// `coalesced` into this one (their unfinished runs end `coalesced`).
    Acquired { lease: Lease, covered: Vec<i64> },
}

/// A held lease: the run's fencing token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub conversation_id: String,
    /// The process holding it.
    pub owner: String,
    /// Grows by one each time the lease changes hands.
    pub epoch: i64,
}

/// What a job asks [`claim`] for.
#[derive(Debug, Clone)]
pub struct ClaimRequest<'a> {
    pub conversation_id: &'a str,
    pub event_id: i64,
    /// The job's key (see `queue::Job::key`).
    pub holder: &'a str,
    /// The process (see [`Lease::owner`]).
    pub owner: &'a str,
    pub ttl: Duration,
    /// The trailing debounce window.
    pub debounce: Duration,
    /// The non-stop typist bound, counted from the chain's first event.
    pub max_wait: Duration,
    /// Topics some playbook listens to (`None`: every topic). An event of such a topic is never
    /// coalesced into one of another topic, whose run would not act on the conversation.
    pub listened: Option<&'a [String]>,
    /// Whether this event's topic is listened to.
    pub mine_listened: bool,
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The listened topics as a JSON array for `json_each` (`NULL`: every topic).
fn topics_json(listened: Option<&[String]>) -> Option<String> {
    listened.map(|t| serde_json::Value::from(t.to_vec()).to_string())
}

/// SQL: `topic` is one some playbook listens to (bind the JSON array as `?L`, NULL = all).
const LISTENED: &str = "(?L IS NULL OR topic IN (SELECT value FROM json_each(?L)))";

fn with_listened(sql: &str, n: usize) -> String {
    sql.replace("?L", &format!("?{n}"))
}

/// Decides, inside the caller's write transaction, whether the job of `event_id` runs now.
///
/// - An older waiting event whose run already wrote to Intercom (it will resume) absorbs this one:
///   its resumption sees the new message, and nothing it did is done twice.
/// - Trailing debounce: a newer waiting event of the conversation defers this one to its own job,
///   except when the customer is still typing (the newest event is younger than `debounce`) and
///   the chain began `max_wait` ago: then this run goes ahead, so a customer typing non-stop still
///   gets an answer. The chain's start is carried forward each time an event is coalesced.
/// - Else the lease is taken if free, and the other waiting events are covered by this run.
pub async fn claim(
    tx: &mut Transaction<'_, Sqlite>,
    req: &ClaimRequest<'_>,
) -> Result<Claim, StoreError> {
    let topics = topics_json(req.listened);
    let resuming: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(with_listened(
        "SELECT MIN(e.id) FROM webhook_events e \
         WHERE e.conversation_id = ?1 AND e.status = 'queued' AND e.id < ?2 \
           AND EXISTS (SELECT 1 FROM runs r JOIN actions a ON a.run_id = r.id \
                       WHERE r.event_id = e.id AND r.status IN ('running', 'retrying')) \
           AND NOT EXISTS (SELECT 1 FROM conversation_leases l \
                           WHERE l.conversation_id = e.conversation_id AND l.event_id = e.id \
                             AND l.expires_at > ?5) \
           AND (?3 = 0 OR (?4 IS NULL OR e.topic IN (SELECT value FROM json_each(?4))))",
        4,
    )))
    .bind(req.conversation_id)
    .bind(req.event_id)
    .bind(req.mine_listened)
    .bind(&topics)
    .bind(now_ms())
    .fetch_one(&mut **tx)
    .await?;
    if let Some(by) = resuming {
        coalesce(tx, req.event_id, by).await?;
        return Ok(Claim::Superseded { by });
    }
    let newer: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(with_listened(
        &format!(
            "SELECT MAX(id) FROM webhook_events \
             WHERE conversation_id = ?1 AND status = 'queued' AND id > ?2 \
               AND (?3 = 0 OR {LISTENED})"
        ),
        4,
    )))
    .bind(req.conversation_id)
    .bind(req.event_id)
    .bind(req.mine_listened)
    .bind(&topics)
    .fetch_one(&mut **tx)
    .await?;
    if let Some(newer) = newer {
        let go_ahead: bool = sqlx::query_scalar(
            "SELECT MIN(COALESCE(chain_started_at, received_at)) \
                      < strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?1) \
                AND MAX(received_at) > strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?2) \
             FROM webhook_events WHERE conversation_id = ?3 AND status = 'queued'",
        )
        .bind(format!("-{:.3} seconds", req.max_wait.as_secs_f64()))
        .bind(format!("-{:.3} seconds", req.debounce.as_secs_f64()))
        .bind(req.conversation_id)
        .fetch_one(&mut **tx)
        .await?;
        if !go_ahead {
            coalesce(tx, req.event_id, newer).await?;
            return Ok(Claim::Superseded { by: newer });
        }
    }
    let now = now_ms();
    let epoch: Option<i64> = sqlx::query_scalar(
        "INSERT INTO conversation_leases \
           (conversation_id, owner, holder, event_id, epoch, acquired_at, renewed_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, 1, ?5, ?5, ?6) \
         ON CONFLICT (conversation_id) DO UPDATE SET owner = excluded.owner, \
           holder = excluded.holder, event_id = excluded.event_id, \
           epoch = conversation_leases.epoch + 1, acquired_at = excluded.acquired_at, \
           renewed_at = excluded.renewed_at, expires_at = excluded.expires_at \
         WHERE conversation_leases.expires_at <= excluded.acquired_at \
         RETURNING epoch",
    )
    .bind(req.conversation_id)
    .bind(req.owner)
    .bind(req.holder)
    .bind(req.event_id)
    .bind(now)
    .bind(now.saturating_add(ms(req.ttl)))
    .fetch_optional(&mut **tx)
    .await?;
    let Some(epoch) = epoch else {
        let holder_event: i64 = sqlx::query_scalar(
            "SELECT event_id FROM conversation_leases WHERE conversation_id = ?",
        )
        .bind(req.conversation_id)
        .fetch_one(&mut **tx)
        .await?;
        return Ok(Claim::Busy { holder_event });
    };
    let covered: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(with_listened(
        &format!(
            "UPDATE webhook_events SET status = 'coalesced', coalesced_into = ?1, \
               processed_at = {NOW} \
             WHERE conversation_id = ?2 AND status = 'queued' AND id != ?1 \
               AND (?3 = 1 OR NOT {LISTENED}) RETURNING id"
        ),
        4,
    )))
    .bind(req.event_id)
    .bind(req.conversation_id)
    .bind(req.mine_listened)
    .bind(&topics)
    .fetch_all(&mut **tx)
    .await?;
    for id in &covered {
        close_runs_of(tx, *id).await?;
    }
    Ok(Claim::Acquired {
        lease: Lease {
            conversation_id: req.conversation_id.to_owned(),
            owner: req.owner.to_owned(),
            epoch,
        },
        covered,
    })
}

/// Marks `event_id` coalesced into `into`, carries the chain's start forward, and ends the
/// event's unfinished run `coalesced`.
async fn coalesce(
    tx: &mut Transaction<'_, Sqlite>,
    event_id: i64,
    into: i64,
) -> Result<(), StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE webhook_events SET status = 'coalesced', coalesced_into = ?1, \
         processed_at = {NOW} WHERE id = ?2"
    )))
    .bind(into)
    .bind(event_id)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "UPDATE webhook_events SET chain_started_at = \
           MIN(COALESCE(chain_started_at, received_at), \
               (SELECT COALESCE(chain_started_at, received_at) FROM webhook_events WHERE id = ?2)) \
         WHERE id = ?1",
    )
    .bind(into)
    .bind(event_id)
    .execute(&mut **tx)
    .await?;
    close_runs_of(tx, event_id).await
}

/// Ends the unfinished runs of a coalesced event (`coalesced` as status and outcome).
pub async fn close_runs_of(
    tx: &mut Transaction<'_, Sqlite>,
    event_id: i64,
) -> Result<(), StoreError> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE runs SET status = 'coalesced', outcome = 'coalesced', reason = 'coalesced', \
         finished_at = {NOW} WHERE event_id = ? AND status IN ('running', 'retrying')"
    )))
    .bind(event_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Extends the lease by `ttl` from now, if `lease` still holds it. Returns whether it does.
pub async fn renew(db: &Db, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let renewed = sqlx::query(
        "UPDATE conversation_leases SET renewed_at = ?1, expires_at = ?2 \
         WHERE conversation_id = ?3 AND epoch = ?4 AND owner = ?5 AND expires_at > 0",
    )
    .bind(now)
    .bind(now.saturating_add(ms(ttl)))
    .bind(&lease.conversation_id)
    .bind(lease.epoch)
    .bind(&lease.owner)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(renewed == 1)
}

impl Lease {
    /// Whether this lease is still current and unexpired: the fence every write passes.
    pub async fn holds(&self, db: &Db) -> Result<bool, StoreError> {
        let mut conn = db.sqlite()?.acquire().await?;
        self.holds_on(&mut conn).await
    }

    /// [`Lease::holds`] inside the caller's transaction (the run's final one).
    pub async fn holds_in(&self, tx: &mut Transaction<'_, Sqlite>) -> Result<bool, StoreError> {
        self.holds_on(tx).await
    }

    async fn holds_on(&self, conn: &mut sqlx::SqliteConnection) -> Result<bool, StoreError> {
        let held: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM conversation_leases WHERE conversation_id = ? AND epoch = ? \
             AND owner = ? AND expires_at > ?",
        )
        .bind(&self.conversation_id)
        .bind(self.epoch)
        .bind(&self.owner)
        .bind(now_ms())
        .fetch_optional(conn)
        .await?;
        Ok(held.is_some())
    }
}

/// Gives the conversation back, if `lease` still holds it.
pub async fn release(tx: &mut Transaction<'_, Sqlite>, lease: &Lease) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE conversation_leases SET owner = '', holder = '', expires_at = 0 \
         WHERE conversation_id = ? AND epoch = ? AND owner = ?",
    )
    .bind(&lease.conversation_id)
    .bind(lease.epoch)
    .bind(&lease.owner)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Gives the conversation back if the job `holder` of process `owner` holds it (a run that
/// panicked, whose [`Lease`] value is gone with its stack).
pub async fn release_held(
    tx: &mut Transaction<'_, Sqlite>,
    conversation_id: &str,
    holder: &str,
    owner: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE conversation_leases SET owner = '', holder = '', expires_at = 0 \
         WHERE conversation_id = ? AND holder = ? AND owner = ?",
    )
    .bind(conversation_id)
    .bind(holder)
    .bind(owner)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
