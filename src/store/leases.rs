//! Conversation leases and coalescing: one run per conversation at a time, and quick successive
//! events of a conversation answered by one run that sees the latest state.
//!
//! # The lease protocol (the same on SQLite and on PostgreSQL with several processes)
//!
//! On PostgreSQL the claim, the run's final transaction and the release first take the
//! conversation's transaction-scoped advisory lock ([`Tx::lock_conversation`]), so the whole
//! read-decide-write of each (debounce, coalescing, the lease) runs for one conversation at a time
//! across replicas, as SQLite's single writer lock makes it run; the row-level guards below stay.
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
//! - **Fence** ([`Lease::remaining_in`]), in the transaction that claims each write to Intercom
//!   ([`Db::claim_action`](super::Db::claim_action)) and in the run's final transaction: `SELECT … WHERE conversation_id = ? AND epoch = ? AND owner = ? AND expires_at >
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

use super::{Backend, Db, Pool, StoreError, Tx, with_pool, with_tx};

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

/// The lease clock (Unix milliseconds): the database's on PostgreSQL, which every replica shares,
/// so a replica whose own clock is off can neither expire another's lease early nor keep its own
/// too long; this host's on SQLite (one host).
const DB_NOW_MS: &str = "SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint";

async fn clock_in(tx: &mut Tx) -> Result<i64, StoreError> {
    Ok(match tx {
        Tx::Sqlite(_) => now_ms(),
        Tx::Postgres(t) => sqlx::query_scalar(DB_NOW_MS).fetch_one(&mut **t).await?,
    })
}

async fn clock(db: &Db) -> Result<i64, StoreError> {
    Ok(match db.pool() {
        Pool::Sqlite(_) => now_ms(),
        Pool::Postgres(p) => sqlx::query_scalar(DB_NOW_MS).fetch_one(p).await?,
    })
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The listened topics as a JSON array (`NULL`: every topic).
fn topics_json(listened: Option<&[String]>) -> Option<String> {
    listened.map(|t| serde_json::Value::from(t.to_vec()).to_string())
}

/// SQL: `topic` is one some playbook listens to, the JSON array of them bound as `$n` (NULL: all).
fn listened(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Sqlite => {
            format!("(${n} IS NULL OR topic IN (SELECT value FROM json_each(${n})))")
        }
        Backend::Postgres => format!(
            "(${n}::text IS NULL OR topic IN (SELECT json_array_elements_text(${n}::json)))"
        ),
    }
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
///
/// The whole decision holds the conversation's lock ([`Tx::lock_conversation`]), so two
/// processes claiming events of one conversation decide one after the other.
pub async fn claim(tx: &mut Tx, req: &ClaimRequest<'_>) -> Result<Claim, StoreError> {
    tx.lock_conversation(req.conversation_id).await?;
    let backend = tx.backend();
    let topics = topics_json(req.listened);
    let now = clock_in(tx).await?;
    let sql = format!(
        "SELECT MIN(e.id) FROM webhook_events e \
         WHERE e.conversation_id = $1 AND e.status = 'queued' AND e.id < $2 \
           AND EXISTS (SELECT 1 FROM runs r JOIN actions a ON a.run_id = r.id \
                       WHERE r.event_id = e.id AND r.status IN ('running', 'retrying')) \
           AND NOT EXISTS (SELECT 1 FROM conversation_leases l \
                           WHERE l.conversation_id = e.conversation_id AND l.event_id = e.id \
                             AND l.expires_at > $5) \
           AND (NOT $3 OR {})",
        listened(backend, 4).replace("topic", "e.topic")
    );
    let resuming: Option<i64> = with_tx!(tx, |c| sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(req.conversation_id)
        .bind(req.event_id)
        .bind(req.mine_listened)
        .bind(&topics)
        .bind(now)
        .fetch_one(c)
        .await)?;
    if let Some(by) = resuming {
        coalesce(tx, req.event_id, by).await?;
        return Ok(Claim::Superseded { by });
    }
    let sql = format!(
        "SELECT MAX(id) FROM webhook_events \
         WHERE conversation_id = $1 AND status = 'queued' AND id > $2 AND (NOT $3 OR {})",
        listened(backend, 4)
    );
    let newer: Option<i64> = with_tx!(tx, |c| sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(req.conversation_id)
        .bind(req.event_id)
        .bind(req.mine_listened)
        .bind(&topics)
        .fetch_one(c)
        .await)?;
    if let Some(newer) = newer {
        let sql = format!(
            "SELECT MIN(COALESCE(chain_started_at, received_at)) < {} \
                AND MAX(received_at) > {} \
             FROM webhook_events WHERE conversation_id = $1 AND status = 'queued'",
            backend.ago(req.max_wait.as_secs_f64()),
            backend.ago(req.debounce.as_secs_f64()),
        );
        let go_ahead: bool = with_tx!(tx, |c| sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(req.conversation_id)
            .fetch_one(c)
            .await)?;
        if !go_ahead {
            coalesce(tx, req.event_id, newer).await?;
            return Ok(Claim::Superseded { by: newer });
        }
    }
    let now = clock_in(tx).await?;
    let epoch: Option<i64> = with_tx!(tx, |c| sqlx::query_scalar(
        "INSERT INTO conversation_leases \
           (conversation_id, owner, holder, event_id, epoch, acquired_at, renewed_at, expires_at) \
         VALUES ($1, $2, $3, $4, 1, $5, $5, $6) \
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
    .fetch_optional(c)
    .await)?;
    let Some(epoch) = epoch else {
        let holder_event: i64 = with_tx!(tx, |c| sqlx::query_scalar(
            "SELECT event_id FROM conversation_leases WHERE conversation_id = $1",
        )
        .bind(req.conversation_id)
        .fetch_one(c)
        .await)?;
        return Ok(Claim::Busy { holder_event });
    };
    let sql = format!(
        "UPDATE webhook_events SET status = 'coalesced', coalesced_into = $1, processed_at = {} \
         WHERE conversation_id = $2 AND status = 'queued' AND id != $1 \
           AND ($3 OR NOT {}) RETURNING id",
        backend.now(),
        listened(backend, 4)
    );
    let covered: Vec<i64> = with_tx!(tx, |c| sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(req.event_id)
        .bind(req.conversation_id)
        .bind(req.mine_listened)
        .bind(&topics)
        .fetch_all(c)
        .await)?;
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
/// event's unfinished run `coalesced`. Only an event still waiting is coalesced.
async fn coalesce(tx: &mut Tx, event_id: i64, into: i64) -> Result<(), StoreError> {
    let backend = tx.backend();
    let sql = format!(
        "UPDATE webhook_events SET status = 'coalesced', coalesced_into = $1, \
         processed_at = {} WHERE id = $2 AND status = 'queued'",
        backend.now()
    );
    with_tx!(tx, |c| sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(into)
        .bind(event_id)
        .execute(c)
        .await
        .map(|_| ()))?;
    // The earlier of two times: SQLite's two-argument MIN, PostgreSQL's LEAST.
    let earlier = match backend {
        Backend::Sqlite => "MIN",
        Backend::Postgres => "LEAST",
    };
    let sql = format!(
        "UPDATE webhook_events SET chain_started_at = \
           {earlier}(COALESCE(chain_started_at, received_at), \
               (SELECT COALESCE(chain_started_at, received_at) FROM webhook_events WHERE id = $2)) \
         WHERE id = $1"
    );
    with_tx!(tx, |c| sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(into)
        .bind(event_id)
        .execute(c)
        .await
        .map(|_| ()))?;
    close_runs_of(tx, event_id).await
}

/// Ends the unfinished runs of a coalesced event (`coalesced` as status and outcome).
pub async fn close_runs_of(tx: &mut Tx, event_id: i64) -> Result<(), StoreError> {
    let sql = format!(
        "UPDATE runs SET status = 'coalesced', outcome = 'coalesced', reason = 'coalesced', \
         finished_at = {} WHERE event_id = $1 AND status IN ('running', 'retrying')",
        tx.backend().now()
    );
    with_tx!(tx, |c| sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(event_id)
        .execute(c)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Extends the lease by `ttl` from now, if `lease` still holds it. Returns whether it does.
pub async fn renew(db: &Db, lease: &Lease, ttl: Duration) -> Result<bool, StoreError> {
    let mut tx = db.begin_write().await?;
    let now = clock_in(&mut tx).await?;
    let renewed = with_tx!(&mut tx, |c| sqlx::query(
        "UPDATE conversation_leases SET renewed_at = $1, expires_at = $2 \
         WHERE conversation_id = $3 AND epoch = $4 AND owner = $5 AND expires_at > 0",
    )
    .bind(now)
    .bind(now.saturating_add(ms(ttl)))
    .bind(&lease.conversation_id)
    .bind(lease.epoch)
    .bind(&lease.owner)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    tx.commit().await?;
    Ok(renewed == 1)
}

/// SQL: the lease row `$1` is held by epoch `$2` of owner `$3` and unexpired at `$4`.
const HELD: &str = "SELECT 1 FROM conversation_leases WHERE conversation_id = $1 AND epoch = $2 \
                    AND owner = $3 AND expires_at > $4";

impl Lease {
    /// Whether this lease is still current and unexpired, read outside any transaction. The fence
    /// a write passes is [`Db::claim_action`](super::Db::claim_action), which checks it with
    /// [`Lease::remaining_in`] in the claim's own transaction.
    pub async fn holds(&self, db: &Db) -> Result<bool, StoreError> {
        let now = clock(db).await?;
        let held: Option<i32> = with_pool!(db, |p| sqlx::query_scalar(HELD)
            .bind(&self.conversation_id)
            .bind(self.epoch)
            .bind(&self.owner)
            .bind(now)
            .fetch_optional(p)
            .await)?;
        Ok(held.is_some())
    }

    /// [`Lease::holds`] inside the caller's transaction (the run's final one). On PostgreSQL it
    /// takes the conversation's lock and locks the lease row (`FOR UPDATE`), so no claimer can
    /// slip in between this check and the commit.
    pub async fn holds_in(&self, tx: &mut Tx) -> Result<bool, StoreError> {
        Ok(self.remaining_in(tx).await?.is_some())
    }

    /// Like [`Lease::holds_in`]; how long the lease has left when it holds.
    pub async fn remaining_in(&self, tx: &mut Tx) -> Result<Option<Duration>, StoreError> {
        tx.lock_conversation(&self.conversation_id).await?;
        let sql = format!(
            "SELECT expires_at FROM conversation_leases WHERE conversation_id = $1 AND epoch = $2 \
             AND owner = $3 AND expires_at > $4{}",
            match tx.backend() {
                Backend::Sqlite => "",
                Backend::Postgres => " FOR UPDATE",
            }
        );
        let now = clock_in(tx).await?;
        let expires: Option<i64> = with_tx!(tx, |c| sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(&self.conversation_id)
            .bind(self.epoch)
            .bind(&self.owner)
            .bind(now)
            .fetch_optional(c)
            .await)?;
        Ok(expires.map(|at| Duration::from_millis(u64::try_from(at - now).unwrap_or_default())))
    }
}

/// Gives the conversation back, if `lease` still holds it.
pub async fn release(tx: &mut Tx, lease: &Lease) -> Result<(), StoreError> {
    tx.lock_conversation(&lease.conversation_id).await?;
    with_tx!(tx, |c| sqlx::query(
        "UPDATE conversation_leases SET owner = '', holder = '', expires_at = 0 \
         WHERE conversation_id = $1 AND epoch = $2 AND owner = $3",
    )
    .bind(&lease.conversation_id)
    .bind(lease.epoch)
    .bind(&lease.owner)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// Gives the conversation back if the job `holder` of process `owner` holds it (a run that
/// panicked, whose [`Lease`] value is gone with its stack).
pub async fn release_held(
    tx: &mut Tx,
    conversation_id: &str,
    holder: &str,
    owner: &str,
) -> Result<(), StoreError> {
    tx.lock_conversation(conversation_id).await?;
    with_tx!(tx, |c| sqlx::query(
        "UPDATE conversation_leases SET owner = '', holder = '', expires_at = 0 \
         WHERE conversation_id = $1 AND holder = $2 AND owner = $3",
    )
    .bind(conversation_id)
    .bind(holder)
    .bind(owner)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}
