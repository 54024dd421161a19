//! Keeps the queue honest: re-enqueues events whose job was lost, and prunes finished job rows.
//! Once an hour it also applies the retention ([`Db::prune`]).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{QUEUE, QueueError, depth, enqueue};
use crate::store::Db;

/// Finished job rows older than this are deleted (the audit trail lives in `runs`).
const KEEP_DONE_FOR: Duration = Duration::from_secs(600);

/// Re-enqueues every event still `queued` whose job is missing or already finished: the job row was
/// pruned, or the runner could not record the end of the run. Returns how many were re-enqueued.
pub async fn reconcile(db: &Db) -> Result<usize, QueueError> {
    let stranded: Vec<(i64,)> = sqlx::query_as(
        "SELECT e.id FROM webhook_events e \
         LEFT JOIN Jobs j ON j.job_type = ?1 AND j.idempotency_key = e.job_key \
         WHERE e.status = 'queued' AND (j.id IS NULL OR j.status IN ('Done', 'Killed') \
               OR (j.status = 'Failed' AND j.attempts >= j.max_attempts)) \
         ORDER BY e.id",
    )
    .bind(QUEUE)
    .fetch_all(db.sqlite()?)
    .await?;
    for (event_id,) in &stranded {
        let mut tx = db.begin_write().await?;
        let job = enqueue(&mut tx, *event_id, 1, Duration::ZERO).await?;
        tx.commit().await?;
        tracing::warn!(
            event_id,
            seq = job.seq,
            "re-enqueued an event whose job was gone"
        );
    }
    Ok(stranded.len())
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
        let pruned = sqlx::query(
            "DELETE FROM Jobs WHERE job_type = ? AND status = 'Done' \
             AND done_at < strftime('%s', 'now') - ?",
        )
        .bind(QUEUE)
        .bind(KEEP_DONE_FOR.as_secs() as i64)
        .execute(self.db.sqlite()?)
        .await?
        .rows_affected();
        if pruned > 0 {
            tracing::debug!(pruned, "pruned finished jobs");
        }
        reconcile(&self.db).await?;
        metrics::gauge!("triaged_queue_depth").set(depth(&self.db).await? as f64);
        Ok(())
    }
}
