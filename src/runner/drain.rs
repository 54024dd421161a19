//! Shutting down: jobs claimed while draining are handed back to the queue, and the shutdown waits
//! for the runner to be idle.

use std::{sync::Arc, time::Duration};

use tokio::time::Instant;

use super::Runner;
use crate::{
    queue::{self, Job, QueueError},
    store::StoreError,
};

/// How long a job handed back while draining waits before it is due: long enough that the
/// draining worker does not claim it again at once, short for the replica that takes it (its
/// worker polls every `TRIAGED_POLL_INTERVAL`; a delayed job is not notified).
const HAND_OVER_DELAY: Duration = Duration::from_secs(1);

impl Runner {
    /// Shutting down: `job` will be acknowledged without having run, so its event gets a new job,
    /// due in [`HAND_OVER_DELAY`], which another replica (or this one's next start) takes.
    ///
    /// The hand-over runs in a task of its own and the apalis handler returns at once: a stopping
    /// apalis worker leaves its claim query parked (not polled, not dropped) while any handler is
    /// in flight, and on SQLite that query holds the write lock the hand-over needs, so a handler
    /// waiting for it would hold the worker, and the shutdown, until the grace ran out. The task
    /// counts as in flight: the shutdown waits for it ([`Runner::wait_idle`]) after the worker
    /// stopped. The delay keeps the draining worker from claiming the same job again every few
    /// milliseconds.
    pub(super) fn hand_over_later(self: &Arc<Self>, job: Job) {
        self.activity.send_modify(|a| a.in_flight += 1);
        let runner = Arc::clone(self);
        tokio::spawn(async move {
            match runner.hand_over(&job).await {
                Ok(true) => tracing::info!(
                    event_id = job.event_id,
                    "shutting down: job handed back to the queue"
                ),
                Ok(false) => {}
                Err(error) => tracing::warn!(
                    event_id = job.event_id,
                    %error,
                    "shutting down: job left for the reconciler"
                ),
            }
            runner.activity.send_modify(|a| a.in_flight -= 1);
        });
    }

    /// Gives a job this process will not run back to the queue as a new job, if it still carries
    /// its event (a stale job, or one whose event is done, is dropped). Returns whether it did.
    async fn hand_over(&self, job: &Job) -> Result<bool, QueueError> {
        let mut tx = self.db.begin_write().await?;
        tx.lock(&format!("triaged.event:{}", job.event_id)).await?;
        let current: Option<(String, Option<String>)> = crate::store::with_tx!(&mut tx, |c| {
            sqlx::query_as("SELECT status, job_key FROM webhook_events WHERE id = $1")
                .bind(job.event_id)
                .fetch_optional(c)
                .await
        })?;
        let key = job.key();
        let Some(("queued", Some(current))) =
            current.as_ref().map(|(s, k)| (s.as_str(), k.clone()))
        else {
            tx.rollback().await?;
            return Ok(false);
        };
        if current != key {
            tx.rollback().await?;
            return Ok(false);
        }
        queue::enqueue(&mut tx, job.event_id, job.attempt, HAND_OVER_DELAY).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Starts draining: no new job runs from now on (see [`Runner::run_job`]).
    pub fn begin_drain(&self) {
        self.draining
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Waits until no job is in flight, or `timeout` passes. Returns whether it became idle.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let mut activity = self.subscribe();
        tokio::time::timeout(timeout, activity.wait_for(|a| a.in_flight == 0))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Waits until no event is left `queued`, or `timeout` passes. Returns whether it drained.
    /// Event-driven: it re-checks only when a job finishes.
    pub async fn drain(&self, timeout: Duration) -> Result<bool, StoreError> {
        let mut finished = self.subscribe();
        let deadline = Instant::now() + timeout;
        loop {
            finished.borrow_and_update();
            let queued: i64 = crate::with_pool!(self.db, |p| {
                sqlx::query_scalar("SELECT COUNT(*) FROM webhook_events WHERE status = 'queued'")
                    .fetch_one(p)
                    .await
            })?;
            if queued == 0 {
                return Ok(true);
            }
            if tokio::time::timeout_at(deadline, finished.changed())
                .await
                .is_err()
            {
                return Ok(false);
            }
        }
    }
}
