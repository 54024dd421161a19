//! Keeps the queue honest: re-enqueues events whose job was lost, and prunes finished job rows.
//! Once an hour it also applies the retention ([`Db::prune`]). With several replicas on
//! PostgreSQL, one replica at a time does each of these (a transaction-scoped advisory lock; the
//! others skip that tick).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{QUEUE, QueueError, depth, enqueue, jobs_table};
use crate::store::{Backend, Db, with_tx};

/// Finished job rows older than this are deleted (the audit trail lives in `runs`).
const KEEP_DONE_FOR: Duration = Duration::from_secs(600);

/// Re-enqueues every event still `queued` whose job is missing or already finished: the job row was
/// pruned, or the runner could not record the end of the run. Returns how many were re-enqueued.
///
/// One transaction under the janitor's lock: each event is re-checked and re-enqueued in it, so
/// two replicas reconciling at once cannot both give one event a new job.
pub async fn reconcile(db: &Db) -> Result<usize, QueueError> {
    let mut tx = db.begin_write().await?;
    if !tx.try_lock("triaged.janitor.reconcile").await? {
        tx.rollback().await?;
        return Ok(0);
    }
    let killed = stop_crash_loops(&mut tx).await?;
    if !killed.is_empty() {
        tracing::error!(
            ?killed,
            "jobs whose process died with them on every attempt were stopped; their events failed"
        );
        metrics::counter!("triaged_runs_failed_total", "reason" => CRASHED)
            .increment(killed.len() as u64);
    }
    let sql = format!(
        "SELECT e.id FROM webhook_events e \
         LEFT JOIN {} j ON j.job_type = $1 AND j.idempotency_key = e.job_key \
         WHERE e.status = 'queued' AND (j.id IS NULL OR j.status IN ('Done', 'Killed') \
               OR (j.status = 'Failed' AND j.attempts >= j.max_attempts)) \
         ORDER BY e.id",
        jobs_table(db.backend())
    );
    let stranded: Vec<i64> = with_tx!(&mut tx, |c| sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(QUEUE)
        .fetch_all(c)
        .await)?;
    for event_id in &stranded {
        let job = enqueue(&mut tx, *event_id, 1, Duration::ZERO).await?;
        tracing::warn!(
            event_id,
            seq = job.seq,
            "re-enqueued an event whose job was gone"
        );
    }
    tx.commit().await?;
    Ok(stranded.len())
}

/// The reason recorded on a run whose job was orphaned on every attempt.
const CRASHED: &str = "crashed_repeatedly";

/// A job left `Pending` by this many orphan recoveries (its process died this many times while it
/// held it) is taken for one that kills its process, and stopped. Not the job's `max_attempts`
/// (2, for apalis's own retry of a failed attempt): two restarts in a row while one run is in
/// flight (a deploy, then a node failure; the crash harness's SIGKILLs, which hit it often on
/// PostgreSQL) are no crash loop, and every job the dead process held gets an attempt too. Five
/// leaves room for that while a job that really takes its process down stops after five crashes.
pub const CRASH_LOOP_ATTEMPTS: i64 = 5;

/// Stops the jobs that took their process down on every attempt, and fails their events and runs
/// with reason [`CRASHED`]. Returns the events.
///
/// apalis's orphan recovery (a worker missed its heartbeats: its jobs go back to `Pending` with
/// `attempts + 1`) ignores `max_attempts` on both backends, and a `Pending` job is always claimed
/// again, so a job that crashes its process would cycle through every replica forever. A `Pending`
/// job's attempts count its orphan recoveries (every job starts at 0; a finished attempt leaves it
/// `Done` or `Failed`): at [`CRASH_LOOP_ATTEMPTS`] it is `Killed`, so neither apalis nor the
/// reconciler below runs it again.
async fn stop_crash_loops(tx: &mut crate::store::Tx) -> Result<Vec<i64>, QueueError> {
    let backend = tx.backend();
    let jobs = jobs_table(backend);
    let sql = format!(
        "SELECT e.id, e.job_key FROM webhook_events e \
         JOIN {jobs} j ON j.job_type = $1 AND j.idempotency_key = e.job_key \
         WHERE e.status = 'queued' AND j.status = 'Pending' AND j.attempts >= $2 \
         ORDER BY e.id"
    );
    let looping: Vec<(i64, String)> = with_tx!(tx, |c| sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(QUEUE)
        .bind(CRASH_LOOP_ATTEMPTS)
        .fetch_all(c)
        .await)?;
    let mut killed = Vec::new();
    for (event_id, key) in looping {
        let sql = format!(
            "UPDATE {jobs} SET status = 'Killed' WHERE job_type = $1 AND idempotency_key = $2 \
             AND status = 'Pending'"
        );
        let stopped = with_tx!(tx, |c| sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(QUEUE)
            .bind(&key)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        if stopped == 0 {
            // Claimed in the meantime: its attempt runs.
            continue;
        }
        let now = backend.now();
        let sql = format!(
            "UPDATE runs SET status = 'failed', outcome = 'failed', reason = '{CRASHED}', \
             last_error = 'the process running it died on every attempt', finished_at = {now} \
             WHERE event_id = $1 AND status IN ('running', 'retrying')"
        );
        let closed = with_tx!(tx, |c| sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(event_id)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        if closed == 0 {
            let sql = format!(
                "INSERT INTO runs (event_id, conversation_id, topic, status, outcome, reason, \
                   last_error, finished_at) \
                 SELECT id, conversation_id, topic, 'failed', 'failed', '{CRASHED}', \
                   'the process running it died on every attempt', {now} \
                 FROM webhook_events WHERE id = $1"
            );
            with_tx!(tx, |c| sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(event_id)
                .execute(c)
                .await
                .map(|_| ()))?;
        }
        crate::store::events::finish(tx, event_id, crate::store::events::EventStatus::Failed)
            .await?;
        killed.push(event_id);
    }
    Ok(killed)
}

/// How often retention runs.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// The periodic housekeeping task.
#[derive(Debug, Clone)]
pub struct Janitor {
    pub db: Db,
    pub every: Duration,
    /// `TRIAGED_RETENTION`: raw bodies, trails and write arguments older than this are deleted.
    pub retention: Duration,
}

impl Janitor {
    /// Runs until `shutdown`: prune, reconcile, export the queue depth.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut prune = tokio::time::interval(PRUNE_EVERY);
        prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {
                    if let Err(error) = self.once().await {
                        tracing::warn!(%error, "queue housekeeping failed; will try again");
                    }
                }
                _ = prune.tick() => match self.db.prune(self.retention).await {
                    Ok(pruned) if !pruned.is_empty() => {
                        tracing::info!(?pruned, "retention: deleted data older than TRIAGED_RETENTION");
                    }
                    Ok(_) => {}
                    Err(error) => tracing::warn!(%error, "retention failed; will try again"),
                },
            }
        }
    }

    async fn once(&self) -> Result<(), QueueError> {
        let pruned = self.prune_jobs().await?;
        if pruned > 0 {
            tracing::debug!(pruned, "pruned finished jobs");
        }
        reconcile(&self.db).await?;
        metrics::gauge!("triaged_queue_depth").set(depth(&self.db).await? as f64);
        Ok(())
    }

    /// Deletes finished job rows older than [`KEEP_DONE_FOR`]: they slow every ack as they pile
    /// up, and apalis-postgres has no vacuum of its own. apalis-sqlite keeps `done_at` in Unix
    /// seconds, apalis-postgres as a `timestamptz`.
    async fn prune_jobs(&self) -> Result<u64, QueueError> {
        let mut tx = self.db.begin_write().await?;
        if !tx.try_lock("triaged.janitor.prune").await? {
            tx.rollback().await?;
            return Ok(0);
        }
        let older = match tx.backend() {
            Backend::Sqlite => "CAST(strftime('%s', 'now') AS INTEGER) - $2",
            Backend::Postgres => "now() - make_interval(secs => $2)",
        };
        let sql = format!(
            "DELETE FROM {} WHERE job_type = $1 AND status = 'Done' AND done_at < {older}",
            jobs_table(tx.backend())
        );
        let pruned = with_tx!(&mut tx, |c| sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(QUEUE)
            .bind(KEEP_DONE_FOR.as_secs_f64())
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        tx.commit().await?;
        Ok(pruned)
    }
}
