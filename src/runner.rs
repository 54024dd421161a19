//! Stage: **worker** — what one job does with one event: open (or resume) its run, do the work,
//! and record how it ended, event and run together in one transaction.
//!
//! Every error is recorded on the run. Transient ones are retried as a new delayed job with
//! exponential back-off and jitter until `max_attempts`; then, or for a permanent error, the run
//! ends `failed` with its reason. A panic inside the work is caught and recorded the same way.
//! The runner never returns an error to apalis (see [`crate::queue`]).
//!
//! A conversation's run holds its lease ([`leases`]) from the claim to the final transaction: a
//! heartbeat renews it every third of its ttl, and a run that loses it (it was paused past the
//! ttl and another process took over) writes nothing: its next write finds the fence and stops
//! the run, and its end is not recorded (the run that took over owns the record). The
//! final transaction also moves the conversation's watermark to the run's snapshot and, when a
//! customer part newer than that snapshot is known, makes the conversation due again (one
//! debounced follow-up run).
//!
//! How runs end (`runs.status`): `succeeded`, `skipped` (with a reason: `nothing_new`,
//! `human_active`, `human_assigned`, `handed_off`, `loop_guard`), `failed` (with a reason), or
//! `coalesced` (its event was covered by another run, status and outcome alike). `running` and
//! `retrying` are the only unfinished states.

mod drain;
mod end;
mod heartbeat;
mod retry;

pub use retry::RetryPolicy;

use std::{panic::AssertUnwindSafe, sync::Arc, time::Duration};

use futures::FutureExt;
use heartbeat::Heartbeat;
use tokio::{sync::watch, time::Instant};

use crate::{
    queue::{self, Job, QueueError},
    store::{
        Db, StoreError,
        events::{self, EventRow, EventStatus},
        leases::{self, Claim},
        runs::{self, RunStatus},
    },
};

/// How a successful run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// `no_playbook`, `resolved`, `replied`, `handed_off`, `escalated`, `no_action`, `skipped`.
    pub outcome: &'static str,
    pub playbook: Option<String>,
    pub reason: Option<String>,
    pub status: RunStatus,
    /// What the run saw of its conversation, when it looked.
    pub seen: Option<Seen>,
}

/// What a run leaves behind of the conversation it looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The conversation's new watermark: the newest part of the run's snapshot.
    pub watermark: String,
    /// A customer part newer than the watermark is known: the conversation needs another run.
    pub due_again: bool,
}

/// Why a run did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Worth another attempt later (a database lock, an unreachable service).
    #[error("transient: {0}")]
    Transient(String),
    /// Another attempt would fail the same way; `reason` is a short stable label.
    #[error("{reason}: {detail}")]
    Permanent { reason: String, detail: String },
}

impl From<StoreError> for RunError {
    fn from(e: StoreError) -> Self {
        Self::Transient(e.to_string())
    }
}

/// Counters of the runner's work, for waiting on it without sleeping.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Activity {
    /// Runs started (a resumed run counts again).
    pub runs_started: u64,
    /// Jobs finished, whatever they did (ran, coalesced, waited, were stale).
    pub finished: u64,
    /// Jobs being worked on right now.
    pub in_flight: u64,
}

/// A job that finds its conversation busy tries again after this long.
const LEASE_RETRY: Duration = Duration::from_secs(2);

/// Executes jobs. Shared by all concurrent jobs of the process.
#[derive(Debug)]
pub struct Runner {
    db: Db,
    retry: RetryPolicy,
    lease_ttl: Duration,
    /// This process, as lease owner: host, pid and start time.
    owner: String,
    debounce: Duration,
    /// Bound of the trailing debounce (see [`leases::claim`]).
    coalesce_max_wait: Duration,
    /// Holds each job this long before working (rehearsal and shutdown tests; zero in production).
    hold: Duration,
    /// Conversation triage; `None` only in embeddings without Intercom.
    triage: Option<crate::triage::Triage>,
    /// Set on shutdown: jobs handed over from then on are left for the next start.
    draining: std::sync::atomic::AtomicBool,
    /// Counts started and finished jobs; tests and `drain` wait on it instead of sleeping.
    activity: watch::Sender<Activity>,
}

impl Runner {
    pub fn new(
        db: Db,
        retry: RetryPolicy,
        debounce: Duration,
        lease_ttl: Duration,
        hold: Duration,
        triage: Option<crate::triage::Triage>,
    ) -> Arc<Self> {
        Arc::new(Self {
            triage,
            draining: std::sync::atomic::AtomicBool::new(false),
            db,
            retry,
            lease_ttl,
            owner: crate::queue::process_name(),
            debounce,
            // Four windows: three quick messages coalesce, a non-stop typist is answered anyway.
            coalesce_max_wait: debounce.saturating_mul(4),
            hold,
            activity: watch::Sender::new(Activity::default()),
        })
    }

    /// A receiver that changes each time a run starts or a job finishes (however it ended).
    pub fn subscribe(&self) -> watch::Receiver<Activity> {
        self.activity.subscribe()
    }

    /// Runs one job to its recorded end. Never panics, never returns an error.
    #[tracing::instrument(skip_all, fields(event_id = job.event_id, attempt = job.attempt))]
    pub async fn run_job(self: &Arc<Self>, job: Job) {
        if self.draining.load(std::sync::atomic::Ordering::SeqCst) {
            self.hand_over_later(job);
            return;
        }
        self.activity.send_modify(|a| a.in_flight += 1);
        let outcome = AssertUnwindSafe(self.run_job_inner(&job))
            .catch_unwind()
            .await;
        let label = match outcome {
            Ok(Ok(label)) => label,
            Ok(Err(error)) => {
                // Could not even record the failure (the database is gone): leave the event
                // `queued`; the reconciler gives it a new job when the database is back.
                tracing::error!(%error, "could not record the run; the event stays queued");
                "unrecorded"
            }
            Err(panic) => {
                let detail = panic_text(&panic);
                tracing::error!(detail, "run panicked");
                let error = RunError::Permanent {
                    reason: "internal_error".to_owned(),
                    detail: format!("panic: {detail}"),
                };
                match self.record_panic(&job, &error).await {
                    Ok(()) => "failed",
                    Err(_) => "unrecorded",
                }
            }
        };
        metrics::counter!("triaged_jobs_total", "outcome" => label).increment(1);
        self.activity.send_modify(|a| {
            a.finished += 1;
            a.in_flight -= 1;
        });
    }

    async fn run_job_inner(&self, job: &Job) -> Result<&'static str, QueueError> {
        // apalis schedules to the second; a debounce of 1.5 s waits out the last half here.
        let wait = job.wait_left(std::time::SystemTime::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let Some(event) = self.db.event(job.event_id).await? else {
            tracing::warn!("job for an event that does not exist; dropping the job");
            return Ok("missing_event");
        };
        if event.status != EventStatus::Queued.as_str() {
            // Redelivered after the run was recorded, or coalesced into another run.
            return Ok("already_done");
        }
        let key = job.key();
        if event.job_key.as_deref() != Some(key.as_str()) {
            // A newer job carries this event now (retry, replay, re-enqueue): this one is stale.
            return Ok("stale_job");
        }
        if self.triage.as_ref().is_some_and(|t| t.is_own_echo(&event)) {
            // Intercom's echo of the bot's own write: never a run (no loops).
            let mut tx = self.db.begin_write().await?;
            events::finish(&mut tx, event.id, EventStatus::Ignored).await?;
            tx.commit().await?;
            metrics::counter!("triaged_runs_skipped_total", "reason" => "own_echo").increment(1);
            tracing::info!("the bot's own write echoed back; no run");
            return Ok("own_echo");
        }
        let (lease, covered) = match event.conversation_id.as_deref() {
            Some(conversation) => match self.claim(&event, conversation, job).await? {
                Ok(claimed) => claimed,
                Err(label) => return Ok(label),
            },
            None => (None, Vec::new()),
        };
        let run_id = runs::start_or_resume(
            &self.db,
            event.id,
            event.conversation_id.as_deref(),
            event.topic.as_deref(),
            job.attempt,
        )
        .await?;
        tracing::info!(run_id, "run started");
        self.activity.send_modify(|a| a.runs_started += 1);
        let started = Instant::now();
        let _heartbeat = lease
            .clone()
            .map(|lease| Heartbeat::start(self.db.clone(), lease, self.lease_ttl));
        // Decided before the work: the run must know whether a transient failure can wait for
        // another attempt or must take its fallback now.
        let next_delay = self.retry.delay_before(job.attempt + 1);
        let last = self.retry.is_last(
            job.attempt,
            self.since_first_attempt(run_id).await?,
            next_delay,
        );
        let attempt = crate::triage::Attempt {
            number: job.attempt,
            covered: &covered,
            lease: lease.as_ref(),
            last,
        };
        if !self.hold.is_zero() {
            tokio::time::sleep(self.hold).await;
        }
        // A run that loses its lease is not cut off mid-call (a dropped database call can leave
        // its transaction open): its next write finds the fence and stops, and its end is not
        // recorded below.
        let tally = crate::intercom::Tally::default();
        let result = tally.scope(self.work(&event, run_id, &attempt)).await;
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let mut tx = self.db.begin_write().await?;
        let still_held = match &lease {
            Some(lease) => lease.holds_in(&mut tx).await?,
            None => true,
        };
        if !still_held {
            // Another run took the conversation over: it owns the record from here on.
            tx.rollback().await?;
            tracing::warn!(
                run_id,
                "the run lost its conversation lease; stopped without writing"
            );
            metrics::counter!("triaged_runs_fenced_total").increment(1);
            return Ok("fenced");
        }
        crate::store::usage::add_intercom_requests(&mut tx, run_id, &tally.counts()).await?;
        let retry = (!last).then_some(next_delay);
        let label = self
            .record_end(
                &mut tx,
                &event,
                job,
                run_id,
                &covered,
                &result,
                duration_ms,
                retry,
            )
            .await?;
        if let Some(lease) = &lease {
            leases::release(&mut tx, lease).await?;
        }
        tx.commit().await?;
        if label != "retrying" {
            let playbook = match &result {
                Ok(outcome) => outcome.playbook.clone(),
                Err(_) => self.db.run(run_id).await?.and_then(|r| r.playbook),
            };
            metrics::counter!("triaged_runs_total",
                "playbook" => playbook.unwrap_or_else(|| "none".to_owned()), "outcome" => label)
            .increment(1);
        }
        tracing::info!(run_id, outcome = label, duration_ms, "run finished");
        Ok(label)
    }

    /// Claims the conversation for the job: `Ok(Ok(..))` with the lease and the covered events,
    /// or `Ok(Err(label))` when the job ends here (coalesced, or waiting for the lease).
    async fn claim(
        &self,
        event: &EventRow,
        conversation: &str,
        job: &Job,
    ) -> Result<Result<(Option<leases::Lease>, Vec<i64>), &'static str>, QueueError> {
        let key = job.key();
        let listened = self.triage.as_ref().map(|t| t.listened_topics());
        let mine_listened = self
            .triage
            .as_ref()
            .is_none_or(|t| t.listens_to(event.topic.as_deref().unwrap_or_default()));
        let mut tx = self.db.begin_write().await?;
        let claim = leases::claim(
            &mut tx,
            &leases::ClaimRequest {
                conversation_id: conversation,
                event_id: event.id,
                holder: &key,
                owner: &self.owner,
                ttl: self.lease_ttl,
                debounce: self.debounce,
                max_wait: self.coalesce_max_wait,
                listened: listened.as_deref(),
                mine_listened,
            },
        )
        .await?;
        match claim {
            Claim::Superseded { by } => {
                tx.commit().await?;
                tracing::info!(by, "event coalesced into another one of the conversation");
                metrics::counter!("triaged_events_coalesced_total").increment(1);
                Ok(Err("coalesced"))
            }
            Claim::Busy { holder_event } => {
                queue::enqueue(&mut tx, event.id, job.attempt, LEASE_RETRY).await?;
                tx.commit().await?;
                tracing::info!(holder_event, "conversation busy with another run; waiting");
                metrics::counter!("triaged_lease_waits_total").increment(1);
                Ok(Err("lease_wait"))
            }
            Claim::Acquired { lease, covered } => {
                tx.commit().await?;
                if !covered.is_empty() {
                    tracing::info!(?covered, "run covers earlier events of the conversation");
                    metrics::counter!("triaged_events_coalesced_total")
                        .increment(covered.len() as u64);
                }
                Ok(Ok((Some(lease), covered)))
            }
        }
    }

    /// The work itself: triage for conversation events; other events have no playbook.
    async fn work(
        &self,
        event: &EventRow,
        run_id: i64,
        attempt: &crate::triage::Attempt<'_>,
    ) -> Result<Outcome, RunError> {
        match &self.triage {
            Some(triage) => triage.handle(event, run_id, attempt).await,
            None => Ok(Outcome {
                outcome: "no_playbook",
                playbook: None,
                reason: None,
                status: RunStatus::Succeeded,
                seen: None,
            }),
        }
    }

    /// How long ago the run's first attempt started (its row keeps that time across attempts).
    async fn since_first_attempt(&self, run_id: i64) -> Result<Duration, StoreError> {
        let started = self
            .db
            .run(run_id)
            .await?
            .and_then(|r| r.started_at.parse::<jiff::Timestamp>().ok());
        Ok(started.map_or(Duration::ZERO, |t| {
            Duration::try_from(jiff::Timestamp::now().duration_since(t)).unwrap_or(Duration::ZERO)
        }))
    }
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}
