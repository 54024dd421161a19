//! Stage: **queue** — durable jobs in apalis (apalis-sqlite, or apalis-postgres), in the same
//! database as the store.
//!
//! A job carries ids only ([`Job`], versioned). Ingest inserts the event row and its job in one
//! transaction ([`enqueue`]), so an acknowledged webhook always has a job. Around apalis's sharp
//! defaults (`STACK_NOTES.md`, `research/scale-out.md`) this module:
//! - polls every `poll_interval` (an idle apalis worker otherwise only looks on its heartbeat);
//! - bounds concurrency and prefetch to `workers`;
//! - gives each process start a unique worker name (apalis refuses a name seen within a heartbeat);
//! - never returns `RetryAfterError` and never lets a panic escape (both leave jobs stuck): the runner
//!   records every failure itself and schedules retries as *new* delayed jobs with their own
//!   idempotency key, so a job's database row only ever ends `Done`;
//! - reconciles at start-up: an event still `queued` whose job is gone or finished gets a new job;
//! - prunes finished job rows (they slow every ack as they pile up); the audit trail is in our tables;
//! - stops a job whose process died with it five times (orphan recovery ignores `max_attempts`).
//!
//! This module never interprets an event; that is the runner's work.

mod janitor;
mod wakeup;
mod worker;

use std::{
    collections::HashMap,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use crate::store::{Backend, ROWS_PER_STATEMENT, Tx, param_list, with_pool, with_tx};
use apalis::prelude::TaskBuilder;
use serde::{Deserialize, Serialize};

use crate::store::{Db, StoreError};

pub use janitor::{CRASH_LOOP_ATTEMPTS, Janitor, reconcile};
pub use wakeup::Wake;
pub use worker::{QueueSettings, process_name, spawn_worker};

/// The apalis queue name (`Jobs.job_type`). Versioned with the job type.
pub const QUEUE: &str = "triaged.event.v1";

/// A job's database row is claimed again at most once after an unexpected error; every expected
/// failure is handled by the runner with its own back-off (see the module doc).
const DB_MAX_ATTEMPTS: usize = 2;

/// Current version of [`Job`].
pub const JOB_VERSION: u8 = 1;

/// What a worker is asked to do: process one stored event. Ids only, so the payload never goes
/// stale and never holds customer data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub v: u8,
    pub event_id: i64,
    /// 1 for the first attempt; a retry after a transient error is a new job with `attempt + 1`.
    pub attempt: u32,
    /// The event's enqueue counter when this job was made (see [`Job::key`]).
    pub seq: u32,
    /// When the job is due, in milliseconds since the Unix epoch, if that is not a whole second.
    /// apalis schedules to the second (`run_at` is whole seconds), so the job is scheduled at the
    /// second below and the worker waits out the rest: a debounce means what it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_ms: Option<u64>,
}

impl Job {
    /// The job's idempotency key, unique by construction. It is also a fencing token: the event
    /// row records the key of its current job, and a job whose key is no longer current (a
    /// duplicate claimed after a crash, a job superseded by a retry or a replay) does nothing.
    pub fn key(&self) -> String {
        format!("evt:{}:{}", self.event_id, self.seq)
    }

    /// How long the worker must still wait before running the job, at `now`.
    pub fn wait_left(&self, now: SystemTime) -> Duration {
        let Some(due_ms) = self.due_ms else {
            return Duration::ZERO;
        };
        let due = UNIX_EPOCH + Duration::from_millis(due_ms);
        due.duration_since(now).unwrap_or(Duration::ZERO)
    }
}

/// When a job made at `now` with `delay` is due: the whole second apalis schedules it at (rounded
/// down), and the exact millisecond when that is not a whole second.
fn due(now: SystemTime, delay: Duration) -> (u64, Option<u64>) {
    let at = now
        .checked_add(delay)
        .unwrap_or(now)
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let ms = u64::try_from(at.as_millis()).unwrap_or(u64::MAX);
    let exact = (!delay.is_zero() && ms % 1000 != 0).then_some(ms);
    (at.as_secs(), exact)
}
/// Errors from enqueueing.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("queue error: {0}")]
    Apalis(#[from] apalis_sqlite::Error),
    #[error("queue error: {0}")]
    ApalisPostgres(#[from] apalis_postgres::Error),
    #[error("cannot encode job: {0}")]
    Encode(#[from] serde_json::Error),
}

impl From<sqlx::Error> for QueueError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

/// Enqueues a job for `event_id` inside the caller's transaction, to run after `delay`, and makes
/// it the event's current job (see [`Job::key`]). Returns the job.
///
/// The key is new by construction (the event's counter only grows, under the row lock of this
/// update), which matters on PostgreSQL: apalis-postgres inserts with no `ON CONFLICT`, so a key
/// seen before would abort the caller's whole transaction. Callers enqueue only for events they
/// have just inserted ([`crate::store::events::insert`] dedupes notifications first) or own.
pub async fn enqueue(
    tx: &mut Tx,
    event_id: i64,
    attempt: u32,
    delay: Duration,
) -> Result<Job, QueueError> {
    let mut jobs = enqueue_many(tx, &[(event_id, attempt, delay)]).await?;
    Ok(jobs.remove(0))
}

/// [`enqueue`] for several distinct events at once, each `(event_id, attempt, delay)`: one
/// `UPDATE` per `ROWS_PER_STATEMENT` events and one push of all the jobs, not two round trips
/// each (group commit's batches on PostgreSQL). Returns the jobs in the same order.
pub async fn enqueue_many(
    tx: &mut Tx,
    events: &[(i64, u32, Duration)],
) -> Result<Vec<Job>, QueueError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    // One statement bumps each counter and records the new key (the right-hand side sees the old
    // `job_seq`); the key must be spelled as `Job::key` spells it.
    let mut seqs: HashMap<i64, i64> = HashMap::new();
    for chunk in events.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "UPDATE webhook_events SET job_seq = job_seq + 1, \
             job_key = 'evt:' || id || ':' || (job_seq + 1) WHERE id IN ({}) \
             RETURNING id, job_seq",
            param_list(chunk.len())
        );
        let rows: Vec<(i64, i64)> = with_tx!(tx, |c| {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            for (event_id, _, _) in chunk {
                query = query.bind(*event_id);
            }
            query.fetch_all(c).await
        })?;
        seqs.extend(rows);
    }
    let now = SystemTime::now();
    let mut jobs = Vec::with_capacity(events.len());
    let mut tasks = Vec::with_capacity(events.len());
    for &(event_id, attempt, delay) in events {
        let seq = seqs
            .get(&event_id)
            .ok_or(StoreError::Sql(sqlx::Error::RowNotFound))?;
        let (run_at, due_ms) = due(now, delay);
        let job = Job {
            v: JOB_VERSION,
            event_id,
            attempt,
            seq: u32::try_from(*seq).unwrap_or(u32::MAX),
            due_ms,
        };
        tasks.push(
            TaskBuilder::new(serde_json::to_vec(&job)?)
                .run_at_timestamp(run_at)
                .max_attempts(DB_MAX_ATTEMPTS)
                .idempotency_key(job.key())
                .build(),
        );
        jobs.push(job);
    }
    match tx {
        Tx::Sqlite(t) => {
            apalis_sqlite::queries::push_tasks(&mut **t, QUEUE, &tasks).await?;
        }
        Tx::Postgres(t) => {
            apalis_postgres::queries::push_tasks(&mut **t, QUEUE, tasks).await?;
        }
    }
    Ok(jobs)
}

/// Jobs waiting or running (for `/metrics` and `/readyz`).
pub async fn depth(db: &Db) -> Result<i64, StoreError> {
    let sql = format!(
        "SELECT COUNT(*) FROM {} WHERE job_type = $1 \
         AND status IN ('Pending', 'Queued', 'Running')",
        jobs_table(db.backend())
    );
    Ok(with_pool!(db, |p| sqlx::query_scalar(
        sqlx::AssertSqlSafe(sql)
    )
    .bind(QUEUE)
    .fetch_one(p)
    .await)?)
}

/// Hands back to the queue the jobs still claimed by `worker` once it has stopped: apalis's
/// shutdown returns the batch it holds, but drops a claim query in flight, whose jobs would
/// otherwise wait for the orphan recovery (two heartbeats) on a live database. Call only after
/// the worker has stopped with every handler finished. Returns how many jobs it released.
pub async fn release_claimed(db: &Db, worker: &str) -> Result<u64, StoreError> {
    let sql = format!(
        "UPDATE {} SET status = 'Pending', lock_by = NULL, lock_at = NULL \
         WHERE job_type = $1 AND lock_by = $2 AND status IN ('Queued', 'Running')",
        jobs_table(db.backend())
    );
    Ok(with_pool!(db, |p| sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(QUEUE)
        .bind(worker)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?)
}

/// apalis's job table: `Jobs` on SQLite, `apalis.jobs` on PostgreSQL (same columns for what we
/// read: `job_type`, `status`, `idempotency_key`, `attempts`, `max_attempts`, `done_at`).
pub(crate) fn jobs_table(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "Jobs",
        Backend::Postgres => "apalis.jobs",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_is_small_versioned_json_carrying_ids_only() {
        let job = Job {
            v: JOB_VERSION,
            event_id: 42,
            attempt: 2,
            seq: 3,
            due_ms: None,
        };
        let json = serde_json::to_string(&job).unwrap_or_default();
        assert_eq!(json, r#"{"v":1,"event_id":42,"attempt":2,"seq":3}"#);
        assert_eq!(job.key(), "evt:42:3");
        let old = serde_json::from_str::<Job>(&json).ok();
        assert_eq!(
            old,
            Some(job.clone()),
            "jobs queued by an older version still decode"
        );
    }

    #[test]
    fn a_delay_is_scheduled_to_the_second_below_and_waited_out_to_the_millisecond() {
        let now = UNIX_EPOCH + Duration::from_millis(1_000_000_250);
        let (run_at, due_ms) = due(now, Duration::from_millis(1_500));
        assert_eq!(run_at, 1_000_001, "apalis runs it at the second below");
        assert_eq!(due_ms, Some(1_000_001_750));
        let job = Job {
            v: JOB_VERSION,
            event_id: 1,
            attempt: 1,
            seq: 1,
            due_ms,
        };
        let picked_up = UNIX_EPOCH + Duration::from_secs(1_000_001);
        assert_eq!(job.wait_left(picked_up), Duration::from_millis(750));
        let late = UNIX_EPOCH + Duration::from_secs(1_000_002);
        assert_eq!(job.wait_left(late), Duration::ZERO);
        assert_eq!(
            due(now, Duration::ZERO),
            (1_000_000, None),
            "no delay, no wait"
        );
        let whole = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(due(whole, Duration::from_secs(2)), (1_000_002, None));
    }
}
