//! The apalis worker: claims jobs and hands each to the [`Runner`](crate::runner::Runner).

use std::{sync::Arc, time::Duration};

use apalis::prelude::{BackendExt, BoxDynError, Data, Strategy, WorkerBuilder, WorkerBuilderExt};
use apalis_postgres::{PostgresStorage, Pubsub};
use apalis_sqlite::SqliteStorage;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Job, QUEUE};
use crate::{
    runner::Runner,
    store::{Db, Pool},
};

/// Queue tuning, from the configuration.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// Concurrent runs in this process.
    pub workers: usize,
    /// How often an idle worker looks for new jobs.
    pub poll_interval: Duration,
    /// Worker heartbeat; jobs held by a worker silent for two heartbeats are re-enqueued.
    pub heartbeat: Duration,
    /// On shutdown, how long runs in flight may take to finish.
    pub grace: Duration,
    /// Ingest's signal that it committed new jobs.
    pub wake: super::Wake,
}

/// Starts the worker; it stops taking jobs when `shutdown` fires and returns once the jobs it holds
/// have finished.
pub fn spawn_worker(
    db: &Db,
    runner: Arc<Runner>,
    settings: &QueueSettings,
    shutdown: CancellationToken,
) -> JoinHandle<Result<(), BoxDynError>> {
    let idle = Arc::clone(&runner);
    let grace = settings.grace;
    let name = process_name();
    let db = db.clone();
    // The same worker over either backend (their types differ, so the body is written once here).
    macro_rules! spawn {
        ($backend:expr) => {{
            let worker = WorkerBuilder::new(name.clone())
                .backend($backend)
                .concurrency(settings.workers)
                .data(runner)
                .build(handle);
            tokio::spawn(async move {
                let stopped = worker
                    .run_with_ctx(move |ctx| {
                        let shutdown = shutdown.clone();
                        let idle = Arc::clone(&idle);
                        async move {
                            shutdown.cancelled().await;
                            // Start no new run, let the runs in flight finish while the worker
                            // keeps running normally (pausing it can leave its claim query's
                            // transaction open, holding SQLite's write lock), then stop.
                            idle.begin_drain();
                            if !idle.wait_idle(grace).await {
                                tracing::warn!("runs still in flight when the grace period ran out");
                            }
                            ctx.stop()
                        }
                    })
                    .await
                    .map_err(|error| {
                        // Said here: the supervisor only sees that the task ended.
                        tracing::error!(%error, "the queue worker stopped");
                        BoxDynError::from(error)
                    });
                // Stopped cleanly: every handler has returned (apalis waits for them) and the
                // results are written, so nothing works on a job still claimed here any more; its
                // event's job key fences a copy that already ran.
                if stopped.is_ok() {
                    match super::release_claimed(&db, &name).await {
                        Ok(0) => {}
                        Ok(released) => tracing::info!(
                            released,
                            "jobs claimed as the worker stopped handed back to the queue"
                        ),
                        Err(error) => tracing::warn!(
                            %error,
                            "jobs claimed as the worker stopped are left for the orphan recovery"
                        ),
                    }
                }
                stopped
            })
        }};
    }
    match db.pool() {
        Pool::Sqlite(pool) => {
            let config = apalis_sqlite::Config::default()
                .queue(QUEUE)
                .batch_size(settings.workers)
                .heartbeat_interval(settings.heartbeat)
                .missed_heartbeats(2);
            // Ingest's wake-up takes a job due now at once (it commits in this process); the
            // interval finds delayed jobs coming due.
            let wake = Strategy::new()
                .stream(settings.wake.wakeups())
                .interval(settings.poll_interval);
            spawn!(
                SqliteStorage::<Job>::new(pool)
                    .with_config(config)
                    .poll_with_strategy(wake)
            )
        }
        Pool::Postgres(pool) => {
            let config = apalis_postgres::Config::default()
                .queue(QUEUE)
                .batch_size(settings.workers)
                .heartbeat_interval(settings.heartbeat)
                .missed_heartbeats(2);
            // This process's ingest wakes the worker at once; LISTEN/NOTIFY does for jobs other
            // replicas commit due now; the interval finds delayed jobs (never notified) and covers
            // notifications lost while the listener reconnects.
            let wake = Strategy::new()
                .stream(settings.wake.wakeups())
                .stream(Pubsub::new(pool.clone(), QUEUE.to_owned()))
                .interval(settings.poll_interval);
            spawn!(
                PostgresStorage::<Job>::new(pool)
                    .with_config(config)
                    .poll_with_strategy(wake)
            )
        }
    }
}

/// The apalis handler. It never fails and never panics outward: the runner records every error on
/// the run (see the module doc of [`crate::queue`]).
///
/// The job runs in its own task: apalis drops in-flight handler futures when the worker stops, and
/// a run must never be cut off half-way. Shutdown waits for the runner to be idle instead
/// ([`Runner::wait_idle`]); if a handler future is dropped the task finishes anyway, and the job
/// row apalis did not get to acknowledge is harmless (its event is processed by then). While
/// draining, `run_job` returns at once and hands the job back in a task of its own: a stopping
/// worker waits for its handlers with its claim query parked, and on SQLite that query may hold the
/// write lock a hand-over needs.
async fn handle(job: Job, runner: Data<Arc<Runner>>) -> Result<(), BoxDynError> {
    let runner = Arc::clone(&runner);
    let _ = tokio::spawn(async move { runner.run_job(job).await }).await;
    Ok(())
}

/// Host, pid and start time: apalis refuses to register a name seen within one heartbeat, which a
/// restarted process would otherwise hit. Also the lease owner of this process's runs.
pub fn process_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!("triaged-{host}-{}-{started}", std::process::id())
}
