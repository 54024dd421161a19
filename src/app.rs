//! Wiring: builds every stage from a [`Config`], runs them, and stops them in order.
//!
//! [`App::start`] binds the listener (port 0 works, for tests), opens and migrates the database,
//! reconciles the queue, and starts the HTTP server, the workers and the janitor, each supervised
//! ([`crate::supervise`]). [`App::run_until`] serves until a stop signal or a dead task;
//! [`App::shutdown`] stops accepting requests, lets in-flight runs finish within the grace period,
//! and closes the database.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::{
    config::{Config, EmbeddedSandbox, IntercomConfig, QueueConfig, RetryConfig, SandboxSettings},
    ingest::{Ingest, writer::Writer},
    intercom::{Identity, IntercomClient, check_startup},
    llm::{Llm, pricing::PriceTable},
    mcp::{McpSettings, McpState},
    playbook::LivePlaybooks,
    queue::{self, Janitor, QueueSettings},
    runner::{RetryPolicy, Runner},
    sandbox::{Sandbox, SandboxConfig, Seed},
    store::Db,
    supervise::Health,
    tools::reply_html::ReplyLinks,
    triage::Triage,
    web,
};

/// What the daemon logs when shutdown begins: it drains runs and keeps storing webhooks.
pub const DRAINING_MESSAGE: &str =
    "shutting down: /readyz answers 503, webhooks are still stored, runs in flight finish";

/// How often the janitor prunes finished jobs and reconciles stranded events.
const JANITOR_EVERY: Duration = Duration::from_secs(60);

/// A running daemon.
#[derive(Debug)]
pub struct App {
    addr: SocketAddr,
    /// Where `/metrics` is served when `TRIAGED_METRICS_LISTEN` is set.
    metrics_addr: Option<SocketAddr>,
    sandbox: Option<Sandbox>,
    intercom: IntercomClient,
    identity: Identity,
    db: Db,
    runner: Arc<Runner>,
    /// Stops the worker and the janitor (new work) first.
    shutdown: CancellationToken,
    /// Stops the HTTP server, once the work has drained.
    stop_http: CancellationToken,
    readiness: web::Readiness,
    grace: Duration,
    /// The least time HTTP stays up after the signal (`TRIAGED_SHUTDOWN_DELAY`).
    linger: Duration,
    health: Health,
    playbooks: Arc<LivePlaybooks>,
    server: JoinHandle<std::io::Result<()>>,
    writer: JoinHandle<Option<()>>,
    worker: Option<JoinHandle<Option<Result<(), apalis::prelude::BoxDynError>>>>,
    janitor: JoinHandle<Option<()>>,
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

        let (intercom_config, sandbox) = match &config.sandbox {
            Some(embedded) => {
                let sandbox = start_sandbox(&config, embedded, addr).await?;
                let intercom = IntercomConfig {
                    base_url: sandbox.base_url(),
                    access_token: config.intercom.access_token.clone(),
                    admin_id: Some(sandbox.bot_admin_id()),
                };
                (intercom, Some(sandbox))
            }
            None => (config.intercom.clone(), None),
        };
        let intercom = IntercomClient::from_config(&intercom_config)
            .directory_ttl(config.directory_ttl)
            .build()
            .map_err(|e| anyhow::anyhow!("INTERCOM_BASE_URL / INTERCOM_ACCESS_TOKEN: {e}"))?;
        let identity = check_startup(&intercom, intercom.admin_id())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let playbooks = match crate::playbook::load_dir(&config.playbooks) {
            Ok(set) => set,
            Err(diagnostics) => {
                let lines: Vec<String> = diagnostics.iter().map(|d| d.to_string()).collect();
                anyhow::bail!(
                    "TRIAGED_PLAYBOOKS: {} has errors (run `triaged playbook check`):\n{}",
                    config.playbooks.display(),
                    lines.join("\n")
                );
            }
        };
        let names: Vec<&str> = playbooks.iter().map(|p| p.name.as_str()).collect();
        tracing::info!(count = names.len(), playbooks = %names.join(", "), "playbooks loaded");
        for warning in playbooks.warnings() {
            tracing::warn!(problem = %warning, "playbook warning");
        }
        let playbooks = Arc::new(LivePlaybooks::new(&config.playbooks, playbooks));
        let prices = PriceTable::with(config.console.prices.clone());
        let llm = Llm::from_config(&config.llm, crate::llm::DEFAULT_TIMEOUT)
            .map_err(|e| anyhow::anyhow!("TRIAGED_LLM_BASE_URL: {e}"))?
            .map(|llm| llm.with_prices(prices.clone()));
        if llm.is_none() {
            tracing::warn!(
                "no LLM configured (TRIAGED_LLM_API_KEY): agent steps will take their fallback"
            );
        }
        tracing::info!(
            admin_id = %identity.admin_id,
            workspace = identity.app_id_code.as_deref().unwrap_or("?"),
            region = %identity.region,
            "connected to Intercom"
        );

        let runner = Runner::new(
            db.clone(),
            retry_policy(&config.retry),
            config.debounce,
            config.lease_ttl,
            config.job_hold,
            Some({
                let mut triage = Triage::new(
                    db.clone(),
                    intercom.clone(),
                    llm,
                    playbooks.clone(),
                    identity.admin_id.clone(),
                    config.max_bot_replies_per_hour,
                );
                triage.llm_daily_budget = config.console.llm_daily_budget;
                triage.package_code = config.app_package_code.clone();
                triage.loop_guard_team = config.loop_guard_team.clone();
                triage.reply_links = ReplyLinks::new(&config.reply_link_domains);
                triage
            }),
        );
        let health = Health::default();
        let wake = queue::Wake::default();
        let worker = (config.queue.workers > 0).then(|| {
            let task = queue::spawn_worker(
                &db,
                runner.clone(),
                &queue_settings(&config.queue, &wake),
                shutdown.child_token(),
            );
            health.adopt("worker", &shutdown, task)
        });
        let janitor = Janitor {
            db: db.clone(),
            every: JANITOR_EVERY,
            retention: config.console.retention,
        };
        let janitor = health.spawn("janitor", &shutdown, janitor.run(shutdown.child_token()));
        tokio::spawn(crate::telemetry::upkeep(shutdown.child_token()));
        let watcher = crate::playbook::watch::run(playbooks.clone(), shutdown.child_token());
        health.spawn("playbook watcher", &shutdown, watcher);
        let (writer, writer_task) = Writer::spawn(db.clone(), wake);
        let writer_task = health.adopt("ingest writer", &shutdown, writer_task);
        let readiness = web::Readiness::default();
        let router = web::router(
            db.clone(),
            Ingest {
                writer,
                secrets: Arc::new(config.webhook.secrets.clone()),
                debounce: config.debounce,
                refusals: Default::default(),
                echoes: Some(echo_filter(crate::triage::rules::Me {
                    admin: identity.admin_id.clone(),
                    package_code: config.app_package_code.clone(),
                })),
            },
            config.webhook.max_body_bytes,
            readiness.clone(),
            health.clone(),
            config.metrics_listen.is_none(),
        )
        .merge(web::ui::router(web::ui::UiState {
            db: db.clone(),
            playbooks: playbooks.clone(),
            intercom: intercom.clone(),
            app_id: identity.app_id_code.clone(),
            trusted_header: config.console.ui_trusted_header.clone(),
            session_ttl: config.console.ui_session_ttl,
        }));
        let stop_http = CancellationToken::new();
        let router = router.merge(crate::mcp::http::router(Arc::new(McpState::new(
            db.clone(),
            intercom.leaving_to_workers(config.mcp.worker_reserve),
            identity.admin_id.clone(),
            McpSettings {
                reply_links: ReplyLinks::new(&config.reply_link_domains),
                rate_limit: config.mcp.rate_limit,
                allowed_hosts: config.mcp.allowed_hosts.clone(),
                allowed_origins: config.mcp.allowed_origins.clone(),
            },
        ))));
        let metrics_addr = match config.metrics_listen {
            Some(metrics_listen) => {
                let metrics_listener =
                    TcpListener::bind(metrics_listen).await.with_context(|| {
                        format!("TRIAGED_METRICS_LISTEN: cannot bind {metrics_listen}")
                    })?;
                let metrics_addr = metrics_listener.local_addr()?;
                let metrics = web::metrics_router(db.clone(), readiness.clone(), health.clone());
                let stop = stop_http.clone();
                let limits = web::serve::Limits {
                    request_timeout: config.http.request_timeout,
                    idle_timeout: config.http.idle_timeout,
                    max_connections: 64,
                };
                // Ends with the main server (same stop token); a scrape needs nothing else.
                tokio::spawn(async move {
                    web::serve::serve(metrics_listener, metrics, limits, stop).await
                });
                tracing::info!(addr = %metrics_addr, "metrics are served on their own address");
                Some(metrics_addr)
            }
            None => None,
        };
        let server_stop = stop_http.clone();
        let limits = web::serve::Limits {
            request_timeout: config.http.request_timeout,
            idle_timeout: config.http.idle_timeout,
            max_connections: config.http.max_connections,
        };
        let server =
            tokio::spawn(
                async move { web::serve::serve(listener, router, limits, server_stop).await },
            );
        tracing::info!(%addr, workers = config.queue.workers, "triaged is listening");
        Ok(Self {
            addr,
            metrics_addr,
            sandbox,
            intercom,
            identity,
            db,
            runner,
            shutdown,
            stop_http,
            readiness,
            grace: config.shutdown_grace,
            linger: config.shutdown_delay,
            health,
            playbooks,
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

    /// The address `/metrics` is served on, when it has one of its own.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The built-in sandbox, when running with one.
    pub fn sandbox(&self) -> Option<&Sandbox> {
        self.sandbox.as_ref()
    }

    /// The Intercom client (shared rate limiter included).
    pub fn intercom(&self) -> &IntercomClient {
        &self.intercom
    }

    /// Who the bot acts as.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The job runner (to wait on finished runs).
    pub fn runner(&self) -> &Arc<Runner> {
        &self.runner
    }

    /// The running playbook set and its reload history.
    pub fn playbooks(&self) -> &Arc<LivePlaybooks> {
        &self.playbooks
    }

    /// Whether the background tasks are alive (what `/readyz` reports).
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Serves until `stop` resolves (SIGTERM) or a background task dies, then shuts down. A dead
    /// task is an error, so `triaged serve` exits non-zero and the orchestrator restarts it.
    pub async fn run_until(
        self,
        stop: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let health = self.health.clone();
        tokio::select! {
            () = stop => self.shutdown().await,
            reason = health.failed() => {
                if let Err(error) = self.shutdown().await {
                    tracing::warn!(%error, "shutting down after a task died");
                }
                anyhow::bail!("{reason}: exiting so the process is restarted")
            }
        }
    }

    /// Drains, then stops: `/readyz` turns 503 at once, the worker starts no new run, the runs in
    /// flight finish (up to the grace period) while the receiver keeps storing webhooks, then HTTP
    /// stops (no sooner than `TRIAGED_SHUTDOWN_DELAY` after the signal) and the database closes.
    /// Errors when runs were still going when the grace ran out (they run again after the next
    /// start: every write is idempotent).
    ///
    /// Keeping ingest open during the drain matters: Intercom retries a refused notification only
    /// once, a minute later, and a load balancer needs a moment to stop routing here: one that
    /// routes by `/readyz` sends webhooks here until its next probe and its sync, however soon the
    /// runs finish, hence the delay.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let signalled = tokio::time::Instant::now();
        let deadline = signalled + self.grace;
        // Draining before saying so: from the line on, `/readyz` answers 503.
        self.readiness.set_draining();
        tracing::info!("{DRAINING_MESSAGE}");
        self.shutdown.cancel();
        let runner = self.runner.clone();
        let stop_http = self.stop_http.clone();
        let drain = async {
            let worker = match self.worker {
                Some(worker) => Some(worker.await),
                None => None,
            };
            let _ = self.janitor.await;
            // The worker takes no new jobs now; let the ones in flight finish.
            let idle = runner
                .wait_idle(deadline.saturating_duration_since(tokio::time::Instant::now()))
                .await;
            // Webhooks routed here before the load balancer saw the 503 still arrive.
            tokio::time::sleep_until(signalled + self.linger).await;
            stop_http.cancel();
            let server = self.server.await;
            // The router (and with it every writer handle) is gone: the writer flushes and ends.
            let _ = self.writer.await;
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
        if let Some(Some(worker)) = worker.transpose().context("worker task")? {
            worker.map_err(|e| anyhow::anyhow!("worker: {e}"))?;
        }
        self.db.close().await;
        if let Some(sandbox) = self.sandbox {
            sandbox.shutdown().await;
        }
        tracing::info!("stopped cleanly");
        Ok(())
    }
}

/// The runner's retry policy from the validated settings.
fn retry_policy(config: &RetryConfig) -> RetryPolicy {
    RetryPolicy {
        retry_for: config.retry_for,
        max_attempts: config.max_attempts,
        base_delay: config.base_delay,
        max_delay: config.max_delay,
    }
}

/// The queue worker's settings from the validated settings.
fn queue_settings(config: &QueueConfig, wake: &queue::Wake) -> QueueSettings {
    QueueSettings {
        workers: config.workers,
        poll_interval: config.poll_interval,
        heartbeat: config.heartbeat,
        grace: config.grace,
        wake: wake.clone(),
    }
}

/// The simulator's configuration for `triaged sandbox`, from its validated settings.
pub fn sandbox_config(settings: SandboxSettings) -> SandboxConfig {
    let mut config = SandboxConfig::demo(settings.listen);
    config.client_secret = settings.client_secret;
    config.access_token = settings.access_token;
    config.webhook_url = settings.webhook_url;
    config.seed = settings.seed.map_or(Seed::Demo, Seed::File);
    config.rate_limit = settings.rate_limit;
    config
}

/// Starts the built-in sandbox of `serve --sandbox`, signing with the daemon's first secret and
/// sending its notifications to the daemon's own webhook endpoint.
/// Ingest's test for echoes of the bot's own writes (triage's rule, handed down).
fn echo_filter(me: crate::triage::rules::Me) -> crate::ingest::EchoFilter {
    crate::ingest::EchoFilter(Arc::new(move |topic: &str, body: &[u8]| {
        crate::triage::is_own_echo(topic, body, &me)
    }))
}

async fn start_sandbox(
    config: &Config,
    embedded: &EmbeddedSandbox,
    daemon: SocketAddr,
) -> anyhow::Result<Sandbox> {
    let mut sandbox = SandboxConfig::demo(embedded.listen);
    if let Some(secret) = config.webhook.secrets.first() {
        sandbox.client_secret = secret.clone();
    }
    if let Some(token) = &config.intercom.access_token {
        sandbox.access_token = token.clone();
    }
    if let Some(seed) = &embedded.seed {
        sandbox.seed = Seed::File(seed.clone());
    }
    sandbox.rate_limit = embedded.rate_limit;
    let port = daemon.port();
    sandbox.webhook_url = Some(format!("http://127.0.0.1:{port}/webhooks/intercom"));
    let sandbox = Sandbox::start(sandbox).await.with_context(|| {
        format!(
            "SANDBOX_LISTEN: cannot start the sandbox on {}",
            embedded.listen
        )
    })?;
    tracing::info!(
        sandbox = %sandbox.base_url(),
        control = %format!("{}/_sandbox/", sandbox.base_url()),
        "running against the built-in Intercom sandbox"
    );
    Ok(sandbox)
}
