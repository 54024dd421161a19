//! `triaged bench pipeline`: the whole path, measured. Never part of the daemon.
//!
//! Starts the daemon in this process as `serve --sandbox` would (the embedded Intercom sandbox
//! with its real rate limit, a temporary SQLite file or an empty PostgreSQL database) with the
//! LLM pointed at a zero-latency stand-in ([`super::model`]); customers then write N messages
//! over M conversations in the sandbox, which sends the signed webhooks through the real
//! receiver. With `--replicas N` (PostgreSQL) N daemons share the database and the sandbox, which
//! sends each notification to the next daemon in turn. When every event is handled it prints
//! runs/s, webhook → run start / first model request / run end latencies, Intercom requests per
//! run by endpoint, 429s, model requests and prompt bytes per run, and the process's resident
//! memory (the daemons, the sandbox and the stand-in together).
//!
//! Everything else is the daemon's usual configuration (`TRIAGED_*` variables), except the
//! database, the addresses, the LLM and what the flags below set.

mod database;
mod figures;

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::Context;
use clap::Parser;

use super::model::{Behaviour, BenchModel};
use crate::{
    app::App,
    config::{Config, IntercomConfig},
    sandbox::{DEFAULT_RATE_LIMIT, Sandbox},
    store::Backend,
};
use figures::{Figures, finished_runs, memory};

/// The demo workspace's customers, who write the benchmark's messages in turn.
const CUSTOMERS: [&str; 2] = ["6762f1261bb69f9f21930001", "6762f1261bb69f9f21930002"];

/// Arguments of `triaged bench pipeline`.
#[derive(Debug, Clone, clap::Args)]
pub struct PipelineArgs {
    /// Customer messages to send.
    #[arg(long, default_value_t = 300)]
    pub messages: usize,
    /// Conversations they are spread over: the first message of each starts it, the others are
    /// replies (which may arrive while the conversation's run is in flight).
    #[arg(long, default_value_t = 300)]
    pub conversations: usize,
    /// What each customer writes.
    #[arg(
        long,
        default_value = "Hello, I was charged twice this month. Can I get a refund?"
    )]
    pub text: String,
    /// Playbook directory.
    #[arg(long, default_value = "./playbooks")]
    pub playbooks: PathBuf,
    /// Run a copy of the playbooks with `mode: live`, as production would (draft otherwise
    /// writes one review note instead of the reply).
    #[arg(long)]
    pub live: bool,
    /// Concurrent runs.
    #[arg(long, default_value_t = 4)]
    pub workers: usize,
    /// Debounce window; 0 measures the pipeline's own overhead.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub debounce: Duration,
    /// What the stand-in model does in a run.
    #[arg(long, value_enum, default_value = "read-then-reply")]
    pub model: Behaviour,
    /// The sandbox's REST budget per 10-second window (Intercom's 10,000 a minute by default);
    /// 0 turns the limit off, to measure the pipeline alone.
    #[arg(long, default_value_t = DEFAULT_RATE_LIMIT)]
    pub rate_limit: u32,
    /// How long to wait for the queue to drain before giving up.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub patience: Duration,
    /// Customer messages per second (0: as fast as the sandbox takes them). A rate the workers
    /// keep up with measures the pipeline's latency rather than the queue's.
    #[arg(long, default_value_t = 0)]
    pub rate: u32,
    /// Run on this PostgreSQL database (`postgres://…`) instead of a temporary SQLite file. It
    /// must exist and be empty (a database with tables is refused); everything the benchmark
    /// made in it is dropped when it ends. Not read from TRIAGED_DATABASE_URL, which names the
    /// daemon's own database.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Daemons to run in this process on the PostgreSQL database, each with --workers workers;
    /// the sandbox sends each notification to the next one in turn, as a Service would.
    #[arg(long, default_value_t = 1)]
    pub replicas: usize,
}

/// Only used to read the daemon's defaults and `TRIAGED_*` settings.
#[derive(Debug, Parser)]
struct Serve {
    #[command(flatten)]
    serve: crate::config::ServeArgs,
}

/// Runs the benchmark and prints its figures; errors when a run failed or nothing ran.
pub async fn run(args: PipelineArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.messages > 0, "--messages must be at least 1");
    anyhow::ensure!(
        (1..=args.messages).contains(&args.conversations),
        "--conversations must be between 1 and --messages ({})",
        args.messages
    );
    anyhow::ensure!(args.replicas >= 1, "--replicas must be at least 1");
    if let Some(url) = &args.database_url {
        anyhow::ensure!(
            Backend::of_url(url) == Backend::Postgres,
            "--database-url takes a postgres:// URL (without it the benchmark uses a temporary \
             SQLite file)"
        );
    }
    anyhow::ensure!(
        args.replicas == 1 || args.database_url.is_some(),
        "--replicas {} needs --database-url postgres://…: on SQLite one process writes",
        args.replicas
    );
    let dir = tempfile::tempdir().context("a temporary directory for the database")?;
    let Some(url) = args.database_url.clone() else {
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        return measure(&args, dir.path(), url).await;
    };
    let fresh = database::Fresh::claim(&url).await?;
    let measured = measure(&args, dir.path(), url).await;
    let cleared = fresh
        .clear()
        .await
        .context("dropping what the benchmark made in --database-url");
    measured.and(cleared)
}

/// Starts the daemons on `database_url`, runs the customers' messages through them, stops them
/// and prints the figures.
async fn measure(args: &PipelineArgs, dir: &Path, database_url: String) -> anyhow::Result<()> {
    let playbooks = if args.live {
        live_copy(&args.playbooks, &dir.join("playbooks"))?
    } else {
        args.playbooks.clone()
    };
    let model = BenchModel::start(args.model)
        .await
        .context("starting the model stand-in")?;
    let mut serve = Serve::try_parse_from(["triaged"])
        .context("reading the TRIAGED_* settings")?
        .serve;
    serve.db.database_url = database_url;
    serve.listen = ([127, 0, 0, 1], 0).into();
    serve.sandbox = true;
    serve.sandbox_listen = ([127, 0, 0, 1], 0).into();
    serve.playbooks = playbooks;
    serve.workers = args.workers;
    serve.debounce = args.debounce;
    serve.llm_base_url = model.base_url();
    serve.llm_api_key = Some("bench".into());
    let mut config = Config::from_serve_args(serve).map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(sandbox) = config.sandbox.as_mut() {
        sandbox.rate_limit = match args.rate_limit {
            0 => u32::MAX,
            n => n,
        };
    }
    let mut apps = Vec::with_capacity(args.replicas);
    if let Err(error) = start_replicas(config, args.replicas, &mut apps).await {
        // The start-up error is the one to report; the daemons that did start stop first.
        let _ = stop(apps).await;
        model.shutdown().await;
        return Err(error);
    }
    let measured = observe(&apps, args, &model).await;
    let stopped = stop(apps).await;
    model.shutdown().await;
    let (runs, figures) = measured?;
    stopped?;
    print!("{}", figures.render(args));
    anyhow::ensure!(runs > 0, "no run finished");
    anyhow::ensure!(
        figures.failed == 0,
        "{} run(s) failed (their reasons are among the outcomes above)",
        figures.failed
    );
    Ok(())
}

/// The first daemon runs the embedded sandbox as `serve --sandbox` does; the others use it as
/// their Intercom, and the sandbox then sends each notification to the next daemon in turn.
async fn start_replicas(
    config: Config,
    replicas: usize,
    apps: &mut Vec<App>,
) -> anyhow::Result<()> {
    apps.push(App::start(config.clone()).await?);
    let sandbox = apps[0]
        .sandbox()
        .context("the benchmark needs the embedded sandbox")?;
    let intercom = IntercomConfig {
        base_url: sandbox.base_url(),
        access_token: config.intercom.access_token.clone(),
        admin_id: Some(sandbox.bot_admin_id()),
    };
    for _ in 1..replicas {
        let mut replica = config.clone();
        replica.sandbox = None;
        replica.intercom = intercom.clone();
        let app = App::start(replica)
            .await
            .context("starting another replica")?;
        apps.push(app);
    }
    if replicas > 1 {
        let urls = apps
            .iter()
            .map(|a| format!("http://{}/webhooks/intercom", a.addr()))
            .collect();
        if let Some(sandbox) = apps[0].sandbox() {
            sandbox.set_webhook_urls(urls);
        }
    }
    Ok(())
}

/// Stops the daemons, the sandbox's (the first) last.
async fn stop(apps: Vec<App>) -> anyhow::Result<()> {
    let mut result = Ok(());
    for app in apps.into_iter().rev() {
        result = result.and(app.shutdown().await);
    }
    result
}

/// Sends the messages and reads back the runs and the counters: the finished runs and the figures.
async fn observe(
    apps: &[App],
    args: &PipelineArgs,
    model: &BenchModel,
) -> anyhow::Result<(usize, Figures)> {
    let sandbox = apps[0]
        .sandbox()
        .context("the benchmark needs the embedded sandbox")?;
    let idle_rss = memory().rss_kib;
    // Start-up's own requests (`/me`, `/admins`) are not the runs'.
    let before = sandbox.stats();
    let elapsed = drive(apps, sandbox, args).await?;
    let traffic = model.traffic();
    let stats = since(&before, &sandbox.stats());
    let runs = finished_runs(&apps[0]).await?;
    let figures = Figures::new(&runs, &traffic, &stats, elapsed, idle_rss);
    Ok((runs.len(), figures))
}

/// Customers write; waits until the webhooks are delivered and every event is handled. Returns
/// the time from the first message to the drained queue.
async fn drive(apps: &[App], sandbox: &Sandbox, args: &PipelineArgs) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut conversations = Vec::with_capacity(args.conversations);
    let mut pace =
        (args.rate > 0).then(|| tokio::time::interval(Duration::from_secs(1) / args.rate));
    for i in 0..args.messages {
        if let Some(pace) = pace.as_mut() {
            pace.tick().await;
        }
        let customer = CUSTOMERS[i % CUSTOMERS.len()];
        if i < args.conversations {
            conversations.push(sandbox.customer_says(None, customer, &args.text).await?);
        } else {
            let id = &conversations[i % args.conversations];
            sandbox
                .customer_says(Some(id), customer, "Any news on this?")
                .await?;
        }
    }
    sandbox.flush_webhooks().await;
    let drained = drain(apps, args.patience).await?;
    anyhow::ensure!(
        drained,
        "the queue did not drain within --patience {:?}",
        args.patience
    );
    let elapsed = started.elapsed();
    // The last runs' own writes come back as notifications: let them arrive while every daemon
    // still listens.
    sandbox.flush_webhooks().await;
    Ok(elapsed)
}

/// Waits until no event is left queued, re-checking whenever a job finishes on any replica
/// (each runner only hears of its own). Returns whether it drained within `patience`.
async fn drain(apps: &[App], patience: Duration) -> anyhow::Result<bool> {
    let deadline = tokio::time::Instant::now() + patience;
    let mut activity: Vec<_> = apps.iter().map(|a| a.runner().subscribe()).collect();
    loop {
        for a in &mut activity {
            a.borrow_and_update();
        }
        // With no time left to wait, the runner's drain only checks the queue.
        if apps[0].runner().drain(Duration::ZERO).await? {
            return Ok(true);
        }
        let changed =
            futures::future::select_all(activity.iter_mut().map(|a| Box::pin(a.changed())));
        if tokio::time::timeout_at(deadline, changed).await.is_err() {
            return Ok(false);
        }
    }
}

/// The sandbox's counters between two readings.
fn since(
    before: &crate::sandbox::SandboxStats,
    after: &crate::sandbox::SandboxStats,
) -> crate::sandbox::SandboxStats {
    let mut per_endpoint = after.per_endpoint.clone();
    for (endpoint, n) in &before.per_endpoint {
        if let Some(count) = per_endpoint.get_mut(endpoint) {
            *count -= (*n).min(*count);
        }
    }
    per_endpoint.retain(|_, n| *n > 0);
    crate::sandbox::SandboxStats {
        requests: after.requests - before.requests.min(after.requests),
        throttled: after.throttled - before.throttled.min(after.throttled),
        per_endpoint,
        ..after.clone()
    }
}

/// A copy of the playbook directory's `*.yaml` files (test cases and seeds left out) with their
/// `mode:` set to `live`.
fn live_copy(from: &Path, to: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    let entries =
        std::fs::read_dir(from).with_context(|| format!("--playbooks {}", from.display()))?;
    for entry in entries {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if !name.ends_with(".yaml") || name.ends_with(".test.yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        std::fs::write(to.join(name), with_live_mode(&text))?;
    }
    Ok(to.to_path_buf())
}

/// `text` with its top-level `mode:` line set to `live` (added when there is none).
fn with_live_mode(text: &str) -> String {
    let mut found = false;
    let mut out: Vec<String> = text
        .lines()
        .map(|line| {
            if line.starts_with("mode:") {
                found = true;
                "mode: live".to_owned()
            } else {
                line.to_owned()
            }
        })
        .collect();
    if !found {
        out.push("mode: live".to_owned());
    }
    out.join("\n") + "\n"
}

#[cfg(test)]
mod tests;
