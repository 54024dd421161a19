//! How a run ends: its run and event rows, the conversation's watermark, a follow-up run when the
//! customer wrote after the snapshot, or a retry as a new delayed job; all inside the run's final
//! transaction.

use std::time::Duration;

use super::{Outcome, RunError, Runner};
use crate::{
    queue::{self, Job, QueueError},
    store::{
        StoreError, conversations,
        events::{self, EventRow, EventStatus},
        leases,
        runs::{self, RunEnd, RunStatus},
    },
};

impl Runner {
    /// Writes how the run ended (run, event, watermark, follow-up or retry) inside the final
    /// transaction. Returns the job's label.
    #[expect(
        clippy::too_many_arguments,
        reason = "one call site, all of the run's end"
    )]
    pub(super) async fn record_end(
        &self,
        tx: &mut crate::store::Tx,
        event: &EventRow,
        job: &Job,
        run_id: i64,
        covered: &[i64],
        result: &Result<Outcome, RunError>,
        duration_ms: i64,
        retry: Option<Duration>,
    ) -> Result<&'static str, QueueError> {
        Ok(match result {
            Ok(outcome) => {
                let end = RunEnd {
                    status: outcome.status,
                    outcome: outcome.outcome,
                    playbook: outcome.playbook.as_deref(),
                    reason: outcome.reason.as_deref(),
                    last_error: None,
                    duration_ms,
                };
                runs::finish(tx, run_id, &end).await?;
                events::finish(tx, event.id, EventStatus::Processed).await?;
                if let (Some(seen), Some(conversation)) =
                    (&outcome.seen, event.conversation_id.as_deref())
                {
                    conversations::set_watermark(tx, conversation, &seen.watermark).await?;
                    if seen.due_again {
                        self.follow_up(tx, conversation, event.id, covered).await?;
                    }
                }
                outcome.outcome
            }
            Err(RunError::Transient(detail)) if retry.is_some() => {
                let delay = retry.unwrap_or_default();
                let next = job.attempt + 1;
                queue::enqueue(tx, event.id, next, delay).await?;
                runs::mark_retrying(tx, run_id, detail).await?;
                tracing::warn!(%detail, ?delay, "run failed, will retry");
                metrics::counter!("triaged_job_retries_total").increment(1);
                "retrying"
            }
            Err(error) => {
                let (reason, detail) = match error {
                    RunError::Transient(d) => ("retries_exhausted", d.as_str()),
                    RunError::Permanent { reason, detail } => (reason.as_str(), detail.as_str()),
                };
                let end = RunEnd {
                    status: RunStatus::Failed,
                    outcome: "failed",
                    playbook: None,
                    reason: Some(reason),
                    last_error: Some(detail),
                    duration_ms,
                };
                runs::finish(tx, run_id, &end).await?;
                events::finish(tx, event.id, EventStatus::Failed).await?;
                tracing::error!(reason, detail, "run failed");
                metrics::counter!("triaged_runs_failed_total", "reason" => reason.to_owned())
                    .increment(1);
                "failed"
            }
        })
    }

    /// The customer wrote after the run's snapshot and no event of the conversation is waiting
    /// for it (its notification was covered by this run): the newest covered event (else the
    /// run's own) is queued again, debounced as usual, for a follow-up run.
    async fn follow_up(
        &self,
        tx: &mut crate::store::Tx,
        conversation: &str,
        event_id: i64,
        covered: &[i64],
    ) -> Result<(), QueueError> {
        let waiting: i64 = crate::store::with_tx!(tx, |c| {
            sqlx::query_scalar(
            "SELECT COUNT(*) FROM webhook_events WHERE conversation_id = $1 AND status = 'queued' \
             AND id != $2",
        )
        .bind(conversation)
        .bind(event_id)
        .fetch_one(c)
        .await
        })?;
        if waiting > 0 {
            return Ok(());
        }
        let again = covered.iter().copied().max().unwrap_or(event_id);
        crate::store::with_tx!(tx, |c| sqlx::query(
            "UPDATE webhook_events SET status = 'queued', coalesced_into = NULL, \
             processed_at = NULL, chain_started_at = NULL WHERE id = $1",
        )
        .bind(again)
        .execute(c)
        .await
        .map(|_| ()))?;
        queue::enqueue(tx, again, 1, self.debounce).await?;
        tracing::info!(
            event_id = again,
            "the customer wrote after the run's snapshot; a follow-up run is due"
        );
        metrics::counter!("triaged_follow_ups_total").increment(1);
        Ok(())
    }

    /// Records a run whose work panicked as `failed` (`internal_error`) and releases its lease.
    pub(super) async fn record_panic(&self, job: &Job, error: &RunError) -> Result<(), StoreError> {
        let run_id = runs::start_or_resume(&self.db, job.event_id, None, None, job.attempt).await?;
        let mut tx = self.db.begin_write().await?;
        let end = RunEnd {
            status: RunStatus::Failed,
            outcome: "failed",
            playbook: None,
            reason: Some("internal_error"),
            last_error: Some(&error.to_string()),
            duration_ms: 0,
        };
        runs::finish(&mut tx, run_id, &end).await?;
        events::finish(&mut tx, job.event_id, EventStatus::Failed).await?;
        if let Some(event) = self.db.event(job.event_id).await?
            && let Some(conversation) = event.conversation_id.as_deref()
        {
            leases::release_held(&mut tx, conversation, &job.key(), &self.owner).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
