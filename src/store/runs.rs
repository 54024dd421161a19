//! The `runs` table: what a worker did with an event, how long it took, and how it ended.

use serde::Serialize;
use sqlx::FromRow;

use super::{Db, StoreError, Tx, with_pool, with_tx};

/// How a run ended, as stored in `runs.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    /// Failed with a transient error; a new attempt is scheduled.
    Retrying,
    Succeeded,
    Failed,
    Skipped,
    /// Its event was covered by another event's run (status and outcome alike).
    Coalesced,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Retrying => "retrying",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Coalesced => "coalesced",
        }
    }
}

/// The end state written by [`finish`].
#[derive(Debug, Clone)]
pub struct RunEnd<'a> {
    pub status: RunStatus,
    pub outcome: &'a str,
    pub playbook: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub last_error: Option<&'a str>,
    pub duration_ms: i64,
}

/// Starts a run for the event, or resumes the one a crashed or retried attempt left unfinished
/// (so an event that needed several attempts still has one run). Returns the run id.
pub async fn start_or_resume(
    db: &Db,
    event_id: i64,
    conversation_id: Option<&str>,
    topic: Option<&str>,
    attempt: u32,
) -> Result<i64, StoreError> {
    // One open run per event is the unique index `runs_one_open_per_event`: two processes
    // resuming the same event at once both land on the same row.
    let id = with_pool!(db, |p| sqlx::query_scalar(
        "INSERT INTO runs (event_id, conversation_id, topic, status, attempts) \
         VALUES ($1, $2, $3, 'running', $4) \
         ON CONFLICT (event_id) WHERE status IN ('running', 'retrying') \
         DO UPDATE SET status = 'running', attempts = excluded.attempts \
         RETURNING id",
    )
    .bind(event_id)
    .bind(conversation_id)
    .bind(topic)
    .bind(i64::from(attempt))
    .fetch_one(p)
    .await)?;
    Ok(id)
}

/// Writes the run's end state inside the caller's transaction.
pub async fn finish(tx: &mut Tx, run_id: i64, end: &RunEnd<'_>) -> Result<(), StoreError> {
    let sql = format!(
        "UPDATE runs SET status = $1, outcome = $2, playbook = COALESCE($3, playbook), \
         reason = $4, last_error = COALESCE($5, last_error), duration_ms = $6, \
         finished_at = {} WHERE id = $7",
        tx.backend().now()
    );
    with_tx!(tx, |c| sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(end.status.as_str())
        .bind(end.outcome)
        .bind(end.playbook)
        .bind(end.reason)
        .bind(end.last_error)
        .bind(end.duration_ms)
        .bind(run_id)
        .execute(c)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Marks a run as waiting for another attempt after a transient error.
pub async fn mark_retrying(tx: &mut Tx, run_id: i64, error: &str) -> Result<(), StoreError> {
    with_tx!(tx, |c| sqlx::query(
        "UPDATE runs SET status = 'retrying', last_error = $1 WHERE id = $2"
    )
    .bind(error)
    .bind(run_id)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// One run, as `triaged runs list --json` prints it.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct RunSummary {
    pub id: i64,
    pub event_id: i64,
    pub conversation_id: Option<String>,
    pub topic: Option<String>,
    pub playbook: Option<String>,
    pub status: String,
    pub outcome: Option<String>,
    pub reason: Option<String>,
    pub last_error: Option<String>,
    pub attempts: i64,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub duration_ms: Option<i64>,
}

const COLUMNS: &str = "id, event_id, conversation_id, topic, playbook, status, outcome, reason, \
                       last_error, attempts, started_at, finished_at, duration_ms";

impl Db {
    /// The newest runs first, optionally only those with `status`.
    pub async fn list_runs(
        &self,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<RunSummary>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM runs WHERE ($1 IS NULL OR status = $1) ORDER BY id DESC LIMIT $2"
        );
        Ok(with_pool!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql
        ))
        .bind(status)
        .bind(limit)
        .fetch_all(p)
        .await)?)
    }

    /// One run.
    pub async fn run(&self, id: i64) -> Result<Option<RunSummary>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM runs WHERE id = $1");
        Ok(with_pool!(self, |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql
        ))
        .bind(id)
        .fetch_optional(p)
        .await)?)
    }
}

/// One entry of a run's audit trail.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct RunStep {
    pub seq: i64,
    pub kind: String,
    pub name: Option<String>,
    /// JSON text as recorded.
    pub payload: String,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub duration_ms: Option<i64>,
    pub created_at: String,
}

impl Db {
    /// A run's trail, in order.
    pub async fn run_steps(&self, run_id: i64) -> Result<Vec<RunStep>, StoreError> {
        Ok(with_pool!(self, |p| sqlx::query_as(
            "SELECT seq, kind, name, payload, prompt_tokens, completion_tokens, duration_ms, \
             created_at FROM run_steps WHERE run_id = $1 ORDER BY seq",
        )
        .bind(run_id)
        .fetch_all(p)
        .await)?)
    }
}
