//! Wiring: builds every stage from a [`Config`], runs them, and stops them in order.
//!
//! [`App::start`] binds the listener (port 0 works, for tests), opens and migrates the database,
//! reconciles the queue, and starts the HTTP server, the workers and the janitor. [`App::shutdown`]
//! stops accepting requests, lets in-flight runs finish within the grace period, and closes the
//! database.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::{
    config::Config,
    ingest::{Ingest, writer::Writer},
    queue::{self, Janitor},
    runner::Runner,
    store::Db,
    web,
};

/// How often the janitor prunes finished jobs and reconciles stranded events.
const JANITOR_EVERY: Duration = Duration::from_secs(60);

/// A running daemon.
#[derive(Debug)]
pub struct App {
    addr: SocketAddr,
    db: Db,
    runner: Arc<Runner>,
    shutdown: CancellationToken,
    grace: Duration,
    server: JoinHandle<std::io::Result<()>>,
    writer: JoinHandle<()>,
    worker: Option<JoinHandle<Result<(), apalis::prelude::BoxDynError>>>,
    janitor: JoinHandle<()>,
}

impl App {
    /// Starts the daemon described by `config`.
    pub async fn start(config: Config) -> anyhow::Result<Self> {
        // Install the metrics recorder before anything records.
        crate::telemetry::metrics();
        crate::install_crypto_provider();
        let db = Db::open(&config.database_url, config.durability)
            .await
            .context("TRIAGED_DATABASE_URL")?;
        db.migrate().await.context("applying database migrations")?;
        let stranded = queue::reconcile(&db)
            .await
            .context("reconciling the queue")?;
        if stranded > 0 {
            tracing::warn!(stranded, "re-enqueued events whose job was lost");
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("TRIAGED_LISTEN: cannot bind {}", config.listen))?;
        let addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();

        let runner = Runner::new(
            db.clone(),
            config.retry.clone(),
            config.debounce,
            config.job_hold,
        );
        let worker = (config.queue.workers > 0).then(|| {
            queue::spawn_worker(&db, runner.clone(), &config.queue, shutdown.child_token())
        });
        let janitor = tokio::spawn(
            Janitor {
                db: db.clone(),
                every: JANITOR_EVERY,
            }
            .run(shutdown.child_token()),
        );
        let (writer, writer_task) = Writer::spawn(db.clone());
        let router = web::router(
            db.clone(),
            Ingest {
                writer,
                secrets: Arc::new(config.webhook.secrets.clone()),
                debounce: config.debounce,
            },
            config.webhook.max_body_bytes,
        );
        let stop_http = shutdown.child_token();
        let server = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move { stop_http.cancelled().await })
                .await
        });
        tracing::info!(%addr, workers = config.queue.workers, "triaged is listening");
        Ok(Self {
            addr,
            db,
            runner,
            shutdown,
            grace: config.shutdown_grace,
            server,
            writer: writer_task,
            worker,
            janitor,
        })
    }

    /// The address the HTTP server is bound to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The job runner (to wait on finished runs).
    pub fn runner(&self) -> &Arc<Runner> {
        &self.runner
    }

    /// Stops accepting requests, waits for in-flight runs (up to the grace period), closes the
    /// database. Errors when runs were still going when the grace period ran out.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        tracing::info!("shutting down: no new requests; waiting for in-flight runs");
        let deadline = tokio::time::Instant::now() + self.grace;
        self.shutdown.cancel();
        let runner = self.runner.clone();
        let drain = async {
            let server = self.server.await;
            // The router (and with it every writer handle) is gone: the writer flushes and ends.
            let _ = self.writer.await;
            let worker = match self.worker {
                Some(worker) => Some(worker.await),
                None => None,
            };
            let _ = self.janitor.await;
            // The worker takes no new jobs now; let the ones in flight finish.
            let idle = runner
                .wait_idle(deadline.saturating_duration_since(tokio::time::Instant::now()))
                .await;
            (server, worker, idle)
        };
        let grace_ran_out = || {
            format!(
                "TRIAGED_SHUTDOWN_GRACE ({:?}) ran out with runs still in flight; they will run \
                 again after the next start",
                self.grace
            )
        };
        let (server, worker, idle) = tokio::time::timeout_at(deadline, drain)
            .await
            .with_context(grace_ran_out)?;
        if !idle {
            anyhow::bail!(grace_ran_out());
        }
        server.context("HTTP server task")?.context("HTTP server")?;
        if let Some(worker) = worker {
            worker
                .context("worker task")?
                .map_err(|e| anyhow::anyhow!("worker: {e}"))?;
        }
        self.db.close().await;
        tracing::info!("stopped cleanly");
        Ok(())
    }
}
